"""The process settings of one-shot commands: a paused collector and a fast, flushed exit."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from policies import Decision
from quotaform import runtime

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
QUOTAFORM = Path(sys.executable).parent / "quotaform"


class _Token:
    """An object that a weak reference can watch."""


def test_paused_collection_disables_then_restores() -> None:
    assert gc.isenabled()
    with runtime.paused_collection():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_paused_collection_restores_after_error() -> None:
    with pytest.raises(ValueError, match="boom"), runtime.paused_collection():
        raise ValueError("boom")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_paused_collection_keeps_disabled_state() -> None:
    gc.disable()
    try:
        with runtime.paused_collection():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_paused_collection_keeps_frozen_objects_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with runtime.paused_collection():
            pass
        assert gc.isenabled()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_retain_without_arming_keeps_nothing() -> None:
    # This process never arms the fast exit, so retained objects are freed as usual.
    token = _Token()
    watcher = weakref.ref(token)
    runtime.retain(token)
    del token
    assert watcher() is None


def test_exit_now_without_arming_returns() -> None:
    assert runtime.exit_now(0) is None


def test_in_process_check_restores_collector(capsys: pytest.CaptureFixture[str]) -> None:
    from quotaform.cli import main

    argv = ["quotaform", "check", str(CHECK / "plan_api_scale_out.json"), "--data",
            str(CHECK / "platform.json")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as raised:
            main()
    assert raised.value.code == 1
    assert "DENIED plan_api_scale_out.json: 2 denial(s)" in capsys.readouterr().out
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(("max_size", "expected_code"), [(6, 1), (3, 0)])
def test_fast_exit_flushes_redirected_report(tmp_path: Path, max_size: int,
                                             expected_code: int) -> None:
    """Output redirected to a file is block-buffered, so the fast exit must flush it."""
    plan = json.loads((CHECK / "plan_api_scale_out.json").read_text())
    plan["resource_changes"][1]["change"]["after"]["max_size"] = max_size
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    report = tmp_path / "decision.json"
    sarif = tmp_path / "results.sarif"

    # Without PYTHONUNBUFFERED, which would make every write reach the file at once.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    with report.open("w") as stdout:
        result = subprocess.run(
            [str(QUOTAFORM), "check", str(plan_path), "--data", str(CHECK / "platform.json"),
             "--format", "json", "--output", f"sarif:{sarif}"],
            stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60, check=False, env=env)

    assert result.returncode == expected_code, result.stderr
    decision = Decision.model_validate_json(report.read_text())
    assert decision.allowed is (expected_code == 0)
    assert json.loads(sarif.read_text())["version"] == "2.1.0"


def test_console_script_input_error_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"
    result = subprocess.run(
        [str(QUOTAFORM), "check", str(missing), "--data", str(CHECK / "platform.json")],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"{missing}: file not found" in result.stderr
    assert "Traceback" not in result.stderr
