"""Install the provider into a local filesystem mirror, as a launcher script.

Terraform installs a provider that no registry serves from a filesystem
mirror. In the unpacked layout a mirror contains the executable at
``HOSTNAME/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION``.
Here that executable is a small shell script that runs the provider with the
Python interpreter quotaform is installed in. ``terraform init`` links the
folder into ``.terraform/providers`` and records its ``h1:`` hash in
``.terraform.lock.hcl``, so the provider can be locked and mixed with
providers from other mirrors or the registry.

Without a ``provider_installation`` block in the CLI configuration,
Terraform searches the implied local mirror directories, on Linux and macOS
``~/.terraform.d/plugins`` first. With such a block, only the mirrors it
names are searched, so the block must name this mirror too.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cdk.errors import ExecutionError, InputError
from provider_bridge.provider.address import (
    LAUNCHER_NAME,
    PROVIDER_ADDRESS,
    PROVIDER_VERSION,
)

_ARCHITECTURES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
    "armv7l": "arm",
    "armv6l": "arm",
}
_PROVIDER_INSTALLATION = re.compile(r"^\s*provider_installation\s*\{", re.MULTILINE)


@dataclass(frozen=True)
class Installation:
    """The written launcher, its mirror and the interpreter it runs."""

    mirror: Path
    launcher: Path
    python: str
    implied: bool

    @property
    def package_dir(self) -> Path:
        return self.launcher.parent


def default_mirror() -> Path:
    """Return the first implied local mirror directory of Terraform on this system."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "terraform.d" / "plugins"
    return Path.home() / ".terraform.d" / "plugins"


def implied_mirrors() -> list[Path]:
    """Return the directories Terraform searches without a provider_installation block."""
    if sys.platform == "win32":
        return [default_mirror()]
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    data_dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    found = [default_mirror(), Path(data_home) / "terraform" / "plugins"]
    found += [Path(entry) / "terraform" / "plugins" for entry in data_dirs.split(":") if entry]
    if sys.platform == "darwin":
        found.append(Path.home() / "Library" / "Application Support" / "io.terraform" / "plugins")
    return found


def platform_target() -> str:
    """Return Terraform's OS_ARCH name of this machine, such as linux_amd64."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = _ARCHITECTURES.get(machine)
    if arch is None:
        raise ExecutionError(
            f"unsupported processor architecture {machine!r}; Terraform "
            f"names {', '.join(sorted(set(_ARCHITECTURES.values())))}"
        )
    return f"{system}_{arch}"


def bootstrap_path() -> Path:
    """Return the file the launcher runs: bootstrap.py of the installed package."""
    return Path(__file__).resolve().with_name("bootstrap.py")


def launcher_text(python: str, bootstrap: Path) -> str:
    """Return the launcher script that starts ``bootstrap`` with ``python``."""
    return (
        "#!/bin/sh\n"
        "# Terraform provider quotaform/quotaform, written by 'quotaform provider install'.\n"
        "# It runs the provider with the Python that quotaform is installed in; run that\n"
        "# command again after moving or reinstalling quotaform.\n"
        # -P keeps the current folder off sys.path, so files of the Terraform
        # working folder cannot shadow modules.
        f'exec {shlex.quote(python)} -P {shlex.quote(str(bootstrap))} "$@"\n'
    )


def install(mirror: Path | None = None, *, python: str | None = None) -> Installation:
    """Write the launcher into ``mirror`` (default: the implied local mirror) and return where."""
    if sys.platform == "win32":
        raise ExecutionError(
            "the provider launcher is a shell script; install it on Linux or macOS, or under WSL"
        )
    root = (mirror or default_mirror()).expanduser()
    if root.exists() and not root.is_dir():
        raise InputError(f"{root}: not a folder; pass --dir with a folder for the mirror")
    interpreter = python or sys.executable
    if not (Path(interpreter).is_file() and os.access(interpreter, os.X_OK)):
        raise InputError(
            f"--python {interpreter}: not an executable file; pass the Python "
            "interpreter that quotaform is installed in, such as .venv/bin/python"
        )
    target = root / PROVIDER_ADDRESS / PROVIDER_VERSION / platform_target()
    try:
        target.mkdir(parents=True, exist_ok=True)
        launcher = target / LAUNCHER_NAME
        _write_executable(launcher, launcher_text(interpreter, bootstrap_path()))
    except OSError as exc:
        raise ExecutionError(
            f"could not write the provider launcher into {target}: "
            f"{exc.strerror}; pass --dir with a folder you can write"
        ) from exc
    implied = any(_same(root, candidate) for candidate in implied_mirrors())
    return Installation(root, launcher, interpreter, implied)


def _same(left: Path, right: Path) -> bool:
    return left.resolve() == right.resolve()


def _write_executable(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + rename), mode 0755."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, 0o755)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cli_config_block(mirror: Path) -> str:
    """Return the provider_installation block that installs quotaform from ``mirror``.

    ``direct`` excludes the provider, so Terraform never requests it from the
    public registry. Other providers still come from the registry.
    """
    path = str(mirror.resolve()).replace("\\", "\\\\").replace('"', '\\"')
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{path}"\n'
        f'    include = ["{PROVIDER_ADDRESS}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{PROVIDER_ADDRESS}"]\n'
        "  }\n"
        "}\n"
    )


def cli_config_files() -> list[Path]:
    """Return the CLI configuration files Terraform reads on this system, existing or not."""
    named = os.environ.get("TF_CLI_CONFIG_FILE")
    if sys.platform == "win32":
        main = Path(os.environ.get("APPDATA", Path.home())) / "terraform.rc"
    else:
        main = Path.home() / ".terraformrc"
    # Terraform also merges every *.tfrc file of its CLI configuration folder.
    folder = default_mirror().parent
    return [Path(named) if named else main, *sorted(folder.glob("*.tfrc"))]


def explicit_installation_config() -> Path | None:
    """Return the CLI configuration file that has a provider_installation block, if any.

    NOTE: a plain text search, so a block inside a comment counts too; the
    message built from it only advises.
    """
    for path in cli_config_files():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if _PROVIDER_INSTALLATION.search(text):
            return path
    return None
