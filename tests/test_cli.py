"""The command line entry point: subcommands loaded on use, and what a check imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from quotaform.cli import COMMANDS

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
QUOTAFORM = Path(sys.executable).parent / "quotaform"

# Libraries of the rightsizing bridge and the demo that a check never needs.
HEAVY_MODULES = ("boto3", "botocore", "numpy", "libcst", "moto", "provider_bridge.analysis",
                 "provider_bridge.inventory", "provider_bridge.patch", "quotaform.demo")

_CHECK_IN_PROCESS = """
import json, sys
from quotaform.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(name for name in {heavy} if name in sys.modules)))
"""


def test_check_loads_no_cloud_or_patch_libraries() -> None:
    script = _CHECK_IN_PROCESS.format(heavy=repr(HEAVY_MODULES))
    result = subprocess.run(
        [sys.executable, "-c", script, "check", str(CHECK / "plan_api_scale_out.json"),
         "--data", str(CHECK / "platform.json"), "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert loaded == []


def test_bridge_import_skips_cloud_libraries() -> None:
    script = ("import json, sys, provider_bridge; "
              f"print(json.dumps(sorted(n for n in {HEAVY_MODULES!r} if n in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_provider_bridge_exports_every_public_name() -> None:
    import importlib

    import provider_bridge

    for name in provider_bridge.__all__:
        module = importlib.import_module(f"provider_bridge.{provider_bridge._EXPORTS[name]}")
        assert getattr(provider_bridge, name) is getattr(module, name), name
    assert set(provider_bridge.__all__) <= set(dir(provider_bridge))


def test_provider_bridge_unknown_name_raises() -> None:
    import provider_bridge

    with pytest.raises(AttributeError, match="'provider_bridge' has no attribute 'no_such_name'"):
        provider_bridge.no_such_name  # noqa: B018


def test_help_lists_every_command_in_order() -> None:
    result = subprocess.run([str(QUOTAFORM), "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    positions = [result.stdout.find(f" {name} ") for name in COMMANDS]
    assert -1 not in positions, result.stdout
    assert positions == sorted(positions)


def test_every_command_loads_with_help() -> None:
    for name in COMMANDS:
        result = subprocess.run([str(QUOTAFORM), name, "--help"], capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, (name, result.stderr)
        assert f"Usage: quotaform {name}" in result.stdout, name


def test_unknown_command_exits_2() -> None:
    result = subprocess.run([str(QUOTAFORM), "nope"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert "No such command 'nope'" in result.stderr
