"""Synthesize a CDKTF app: Terraform JSON and the quotaform model for every stack.

``synth_app`` runs the app in a child Python process (``python -m cdk.synth``)
because cdktf starts a Node.js runtime that lives as long as its process and
keeps the state of every construct the app built; a child process gives each
synth a clean runtime and keeps Node out of the caller. The child runs the app
as ``__main__`` with ``CDKTF_OUTDIR`` set, so the app's own ``app.synth()``
writes ``OUT/stacks/<stack>/cdk.tf.json``; the child then writes
``quotaform.json`` beside it for every ``QuotaformStack`` and reports the paths
in a JSON result file.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from cdk.errors import ExecutionError, InputError, QuotaformError

log = logging.getLogger(__name__)

CONFIG_FILE = "quotaform.json"
TERRAFORM_FILE = "cdk.tf.json"
# Node.js 20 starts slowly on a cold cache; the example app synthesizes in
# about 4 s here, so 10 minutes only catches an app that hangs.
SYNTH_TIMEOUT_SECONDS = 600
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SynthResult:
    """The files written for one stack."""

    stack: str
    tf_json: Path
    config_json: Path


@functools.cache
def _node_major_version() -> str | None:
    node = os.environ.get("JSII_NODE") or shutil.which("node")
    if node is None:
        return None
    try:
        output = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", output.strip())
    return match.group(1) if match else None


def silence_node_version_warning(environ: MutableMapping[str, str]) -> None:
    """Turn off the jsii banner about an outdated Node.js release in ``environ``.

    jsii 1.142 prints the banner on every start. It reads
    ``JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION`` while a Node release is
    deprecated, and once jsii support ended (Node 20 here), only
    ``JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION`` holding that major version.
    Values the user set win. Must run before ``cdktf`` is imported.
    """
    environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    major = _node_major_version()
    if major is not None:
        environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", major)


def synth_app(app_path: Path | str, out_dir: Path | str) -> list[SynthResult]:
    """Run the CDKTF app at ``app_path`` and write each stack's files under ``out_dir``.

    Raises ``InputError`` for a missing app, an app that raises and an invalid
    declaration, ``ExecutionError`` when the child process fails on its own.
    """
    app = Path(app_path)
    out = Path(out_dir)
    if app.is_dir():
        raise InputError(
            f"{app}: is a directory; pass the CDKTF app file in it, such as {app / 'app.py'}"
        )
    if not app.is_file():
        raise InputError(
            f"{app}: file not found; pass the path of a CDKTF app such as examples/app.py"
        )
    if app.suffix != ".py":
        raise InputError(f"{app}: not a Python file; pass a CDKTF app written in Python (.py)")
    _make_output_dir(out)

    result_file = out / ".quotaform-synth-result.json"
    result_file.unlink(missing_ok=True)
    started = time.monotonic()
    log.info("synth started app=%s out=%s", app, out)
    try:
        _run_child(app, out, result_file)
        result = orjson.loads(result_file.read_bytes())
    finally:
        result_file.unlink(missing_ok=True)

    if "error" in result:
        error = InputError if result.get("kind") == "input" else ExecutionError
        raise error(result["error"])
    stacks = [
        SynthResult(item["stack"], Path(item["tf_json"]), Path(item["config_json"]))
        for item in result["stacks"]
    ]
    log.info("synth finished stacks=%d seconds=%.1f", len(stacks), time.monotonic() - started)
    return stacks


def _make_output_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--output {out}: is a file, not a folder; pass a folder for the "
                         "synthesized stacks, such as cdktf.out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--output {out}: the folder cannot be created ({exc.strerror}); "
                         "pass a folder in a writable place, such as cdktf.out") from exc


def _run_child(app: Path, out: Path, result_file: Path) -> None:
    env = dict(os.environ)
    env["CDKTF_OUTDIR"] = str(out.resolve())
    # The child must import ``cdk`` even when quotaform runs from a source tree.
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if part
    )
    silence_node_version_warning(env)
    command = [sys.executable, "-m", "cdk.synth", str(app.resolve()), str(result_file.resolve())]
    # jsii unpacks its runtime into TMPDIR and removes it only on a clean exit;
    # a private folder is removed here even when the child is killed.
    with tempfile.TemporaryDirectory(prefix="quotaform-synth-") as child_temp:
        env["TMPDIR"] = child_temp
        child = _run(command, env, app)
    log.debug("synth child exit=%d stdout=%s stderr=%s", child.returncode, child.stdout,
              child.stderr)
    if not result_file.is_file():
        tail = "\n".join(child.stderr.strip().splitlines()[-5:])
        raise ExecutionError(
            f"{app}: the synth process exited with status {child.returncode} without a "
            f"result; is Node.js installed (cdktf needs it)?\n{tail}"
        )


def _run(command: list[str], env: dict[str, str], app: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=SYNTH_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as exc:
        raise ExecutionError(
            f"{app}: synth did not finish within {SYNTH_TIMEOUT_SECONDS} s; "
            "check the app for a loop or a blocking call"
        ) from exc


# The rest of this module runs in the child process.


def _locate(exc: BaseException, app: Path) -> str:
    """Return ``file:line`` and source of the deepest traceback frame in the app's folder.

    A SyntaxError names its own place, because the traceback ends in the runpy frame
    that compiled the file.
    """
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        where = f"{_display(Path(exc.filename))}:{exc.lineno}"
        text = (exc.text or "").strip()
        return f"{where}: {text}" if text else where
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return str(app)
    app_dir = app.parent
    own = [f for f in frames if Path(f.filename).resolve().is_relative_to(app_dir)]
    frame = (own or frames)[-1]
    where = f"{_display(Path(frame.filename))}:{frame.lineno}"
    return f"{where}: {frame.line}" if frame.line else where


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _describe_failure(exc: BaseException, app: Path) -> str:
    if isinstance(exc, QuotaformError):
        return f"{_locate(exc, app)}\n{exc}"
    message = str(exc).strip() or "(no message)"
    return (
        f"{_display(app)}: the app raised {type(exc).__name__}: {message}\n"
        f"  at {_locate(exc, app)}\n"
        "fix the app and run 'quotaform synth' again"
    )


def _stack_results(app: Path, started: float) -> list[dict[str, str]]:
    """Write ``quotaform.json`` for every QuotaformStack the app built."""
    constructs_module = sys.modules.get("cdk.constructs")
    stacks = constructs_module.QuotaformStack.instances() if constructs_module else []
    if not stacks:
        raise InputError(
            f"{_display(app)}: the app declares no QuotaformStack; build one with "
            "QuotaformStack(app, 'name') from cdk.constructs"
        )
    results = []
    for stack in stacks:
        tf_json = stack.output_directory() / TERRAFORM_FILE
        # A file older than this run is left over from an earlier synth.
        if not tf_json.is_file() or tf_json.stat().st_mtime < started:
            raise InputError(
                f"{_display(app)}: stack '{stack.name}' was not synthesized; "
                "end the app with app.synth()"
            )
        config_json = tf_json.with_name(CONFIG_FILE)
        document = stack.config.model_dump(mode="json")
        config_json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        results.append(
            {"stack": stack.name, "tf_json": str(tf_json), "config_json": str(config_json)}
        )
    return results


def _run_app(app: Path) -> dict:
    started = time.time() - 1.0  # file systems with coarse mtimes round down
    sys.path.insert(0, str(app.parent))
    try:
        runpy.run_path(str(app), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return {"kind": "input", "error": f"{_display(app)}: the app exited with {exc.code}"}
    except BaseException as exc:  # noqa: BLE001 - any failure of user code becomes one message
        constructs_module = sys.modules.get("cdk.constructs")
        stored = constructs_module.QuotaformStack.validation_error() if constructs_module else None
        if stored is not None:
            return {"kind": "input", "error": f"{_display(app)}: {stored}"}
        return {"kind": "input", "error": _describe_failure(exc, app)}
    try:
        return {"stacks": _stack_results(app, started)}
    except QuotaformError as exc:
        return {"kind": "input", "error": str(exc)}


def main(argv: list[str]) -> int:
    """Child entry point: ``python -m cdk.synth APP RESULT_FILE``."""
    silence_node_version_warning(os.environ)
    app, result_file = Path(argv[0]), Path(argv[1])
    result = _run_app(app)
    result_file.write_bytes(orjson.dumps(result))
    return 0 if "stacks" in result else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
