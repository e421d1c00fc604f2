"""Start the provider process; the launcher runs this file by path, not as a module.

Importing ``provider_bridge.provider`` the usual way would first run
``provider_bridge/__init__.py``, which imports boto3, numpy and pydantic
(0.45 s on the 2-core machine of bench/README.md). Terraform starts a
provider five times for one plan (terraform 1.11), mostly to read its
schema, so that cost would be paid five times. This
file creates the ``provider_bridge`` package object without running its
``__init__``. Submodules import as usual, and ``complete_package`` runs the
``__init__`` later, when a data source reads AWS and needs those libraries
anyway.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

PACKAGE = "provider_bridge"
_DEFERRED = "__quotaform_deferred_init__"
_lock = threading.Lock()


def defer_package_init() -> None:
    """Register ``provider_bridge`` in ``sys.modules`` without executing its ``__init__``."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:
        raise ImportError(
            f"{PACKAGE} is not installed for {sys.executable}; reinstall "
            "quotaform and run 'quotaform provider install' again"
        )
    package = importlib.util.module_from_spec(spec)
    setattr(package, _DEFERRED, True)
    sys.modules[PACKAGE] = package


def complete_package() -> None:
    """Run the deferred ``provider_bridge/__init__.py``, once; a no-op after a normal import."""
    with _lock:
        package = sys.modules.get(PACKAGE)
        if package is None or not getattr(package, _DEFERRED, False):
            return
        package.__spec__.loader.exec_module(package)  # type: ignore[union-attr]
        delattr(package, _DEFERRED)


def main() -> int:
    # Run as a script, Python puts this file's folder first on sys.path, where
    # modules such as schema.py would shadow top-level modules of that name.
    script_folder = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if entry and Path(entry).resolve() != script_folder]
    defer_package_init()
    from provider_bridge.provider.server import serve

    return serve(sys.argv)


if __name__ == "__main__":
    sys.exit(main())
