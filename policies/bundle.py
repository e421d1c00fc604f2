"""OPA bundles of our policies and, optionally, a data document, for teams that run OPA.

A bundle is a gzipped tar file as OPA reads it (``opa run --server bundle.tar.gz``
or a bundle service):

- ``.manifest``: the roots the bundle owns, a revision and our digests;
- ``quotaform/<package path>/<file>.rego``: every shipped policy, without tests;
- ``quotaform/data.json``: the data document, loaded at ``data.quotaform``;
- ``quotaform/policy_bundle/data.json``: the digest of the policies, which
  ``--engine opa`` reads to confirm that the server runs these policies.

Without a data document the bundle owns only the policy packages and
``quotaform/policy_bundle``, so the declarations can reach the server another
way (the Data API or a second bundle) under ``data.quotaform``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import re
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import orjson

from cdk.errors import ExecutionError, InputError
from policies.engine import policy_files

logger = logging.getLogger(__name__)

# Path in OPA's data tree of the bundle's own description.
STATUS_ROOT = "quotaform/policy_bundle"
DATA_ROOT = "quotaform"

# Tar headers and the gzip header carry this time, so equal inputs give equal bytes.
_FIXED_MTIME = 0

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


def policies_digest(policies: list[tuple[str, str]]) -> str:
    """Return a SHA-256 digest of the policies' names and texts, in their order."""
    digest = hashlib.sha256()
    for name, text in policies:
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return f"sha256:{digest.hexdigest()}"


def data_digest(data: dict[str, Any]) -> str:
    """Return a SHA-256 digest of a data document in canonical JSON (sorted keys)."""
    return f"sha256:{hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()}"


def _package(name: str, text: str) -> str:
    match = _PACKAGE.search(text)
    if match is None:
        raise ExecutionError(f"policy {name} has no package line, so it cannot go in a bundle")
    package = match.group(1)
    if not package.startswith("quotaform."):
        raise ExecutionError(f"policy {name}: package {package} is outside quotaform.*, "
                             "the only namespace a quotaform bundle owns")
    return package


def bundle_files(policies: list[tuple[str, str]] | None = None,
                 data: dict[str, Any] | None = None) -> dict[str, bytes]:
    """Return the bundle's files by path, ``.manifest`` first."""
    policies = policy_files() if policies is None else policies
    digest = policies_digest(policies)

    modules: dict[str, bytes] = {}
    roots: set[str] = {STATUS_ROOT}
    for name, text in policies:
        package_path = _package(name, text).replace(".", "/")
        # Two segments, such as quotaform/rules: every rule package lies under one root.
        roots.add("/".join(package_path.split("/")[:2]))
        modules[f"{package_path}/{Path(name).name}"] = text.encode()
    if data is not None:
        roots = {DATA_ROOT}

    metadata: dict[str, Any] = {"policies_digest": digest}
    revision = digest.removeprefix("sha256:")[:16]
    if data is not None:
        metadata["data_digest"] = data_digest(data)
        revision += "-" + metadata["data_digest"].removeprefix("sha256:")[:16]
    manifest = {
        "revision": revision,
        "roots": sorted(roots),
        "rego_version": 1,
        "metadata": {"quotaform": metadata},
    }

    files = {".manifest": orjson.dumps(manifest, option=orjson.OPT_INDENT_2)}
    files.update(sorted(modules.items()))
    if data is not None:
        files[f"{DATA_ROOT}/data.json"] = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    files[f"{STATUS_ROOT}/data.json"] = orjson.dumps({"policies_digest": digest})
    return files


def write_bundle(path: Path, policies: list[tuple[str, str]] | None = None,
                 data: dict[str, Any] | None = None) -> list[str]:
    """Write the bundle to ``path`` atomically and return the paths it contains."""
    if not path.name.endswith((".tar.gz", ".tgz")):
        # OPA and tar pick the format by name; a .zip name would hide a gzipped tar file.
        raise InputError(f"-o {path}: a bundle is a gzipped tar file, so its name must end "
                         "in .tar.gz or .tgz, such as bundle.tar.gz")
    files = bundle_files(policies, data)
    archive = io.BytesIO()
    with gzip.GzipFile(fileobj=archive, mode="wb", mtime=_FIXED_MTIME) as compressed, \
            tarfile.open(fileobj=compressed, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = _FIXED_MTIME
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))

    directory = path.parent
    if not directory.is_dir():
        raise InputError(f"-o {path}: the directory {directory} does not exist; create it first")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise InputError(f"-o {path}: could not write in {directory} ({exc.strerror})") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(archive.getvalue())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(f"-o {path}: could not write the bundle ({exc.strerror})") from exc
    logger.info("wrote bundle=%s files=%d bytes=%d", path, len(files), len(archive.getvalue()))
    return list(files)
