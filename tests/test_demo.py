"""`quotaform demo` end to end, as a user runs it: one process, a moto server, real series.

The expected type changes and savings follow from the recorded series, the
memory of the current types (memory is not measured, so no type may have less)
and the on-demand prices of us-east-1 (USD an hour: m5.2xlarge 0.384,
r5.xlarge 0.252, c5.xlarge 0.17, m5.large 0.096, c5.large 0.085) over 730 hours
a month.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent
QUOTAFORM = [str(Path(sys.executable).parent / "quotaform")]

APP_DIFF_LINES = (
    '-    InstancePool(stack, "reporting", team="data", instance_type="m5.2xlarge", count=1,\n'
    '+    InstancePool(stack, "reporting", team="data", instance_type="r5.xlarge", count=1,\n'
    '-    InstancePool(stack, "batch", team="data", instance_type="c5.xlarge", count=2,\n'
    '+    InstancePool(stack, "batch", team="data", instance_type="m5.large", count=2,\n'
    '-    InstancePool(stack, "etl", team="data", instance_type="c5.large", count=1,\n'
    '+    InstancePool(stack, "etl", team="data", instance_type="c5.xlarge", count=1,\n'
)


def _environment(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(COLUMNS="120", PYTHONPATH=str(ROOT), **extra)
    return env


def _demo(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUOTAFORM, "demo", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def _assert_main_job(output: str) -> None:
    """The denial with its reason, the pass, three changes with savings and the diff."""
    assert "PASS app.py: no denials" in output
    assert "DENIED app_scale_out.py: 2 denial(s)" in output
    assert "pool 'api' would use 48 vCPU" in output
    assert "over its quota of 16 (+32)" in output
    assert "pool 'api' would run 12 instances" in output
    assert '~ instance_type = "m5.2xlarge" -> "r5.xlarge"' in output
    assert '~ instance_type = "c5.xlarge" -> "m5.large"' in output
    assert '~ instance_type = "c5.large" -> "c5.xlarge"' in output
    # reporting 96.36 + batch 2 x 54.02 - etl 62.05
    assert "Total savings: $142.35 a month from 3 proposed changes." in output
    assert "--- a/examples/app.py\n+++ b/examples/app.py\n" in output
    for line in APP_DIFF_LINES:
        assert line in output
    assert "3 change(s) proposed" in output


def test_demo_with_terraform(terraform_bin: str, provider_mirror: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = _demo("--work-dir", str(work), cwd=tmp_path,
                   env=_environment(QUOTAFORM_TF_PLUGIN_MIRROR=str(provider_mirror)))

    assert result.returncode == 0, result.stdout + result.stderr
    _assert_main_job(result.stdout)
    assert "terraform init and plan the example app" in result.stdout
    assert "[7/7]" in result.stdout
    # The applied state is the inventory: the api group and four instances.
    state = orjson.loads((work / "state.json").read_bytes())
    addresses = sorted(r["address"] for r in state["values"]["root_module"]["resources"])
    assert addresses == [
        "aws_autoscaling_group.api", "aws_instance.batch[0]", "aws_instance.batch[1]",
        "aws_instance.etl[0]", "aws_instance.reporting[0]", "aws_launch_template.api",
    ]
    # The plans are kept as JSON, ready for quotaform check.
    scaled_plan = orjson.loads((work / "scale-out-plan.json").read_bytes())
    changed = [c["address"] for c in scaled_plan["resource_changes"]
               if c["change"]["actions"] != ["no-op"]]
    assert changed == ["aws_autoscaling_group.api"]
    assert (work / "base-plan.json").is_file()
    # The demo reads the app, it never changes it.
    assert 'instance_type="m5.2xlarge"' in (ROOT / "examples" / "app.py").read_text()


def test_demo_without_terraform_uses_boto3(tmp_path: Path) -> None:
    # The directories of node and python, without the one that contains terraform.
    path = os.pathsep.join(
        entry for entry in os.environ["PATH"].split(os.pathsep)
        if entry and not (Path(entry) / "terraform").exists() and not (Path(entry) / "tofu").exists()
    )
    result = _demo(cwd=tmp_path, env=_environment(PATH=path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("terraform not found on PATH") == 1
    assert "Create the example pools with boto3" in result.stdout
    assert "when fully allocated" in result.stdout
    _assert_main_job(result.stdout)


def test_demo_interrupted_stops_server_and_cleans_up(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    process = subprocess.Popen(
        [*QUOTAFORM, "demo", "--no-terraform"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=_environment(TMPDIR=str(temp)), cwd=tmp_path, start_new_session=True,
    )
    endpoint = ""
    assert process.stdout is not None
    for line in process.stdout:
        if "AWS endpoint:" in line:
            endpoint = line.split("AWS endpoint:")[1].strip()
            break
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    time.sleep(1.0)
    # A terminal's Ctrl-C reaches the whole foreground process group.
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert stderr.strip().endswith("interrupted")
    assert "Traceback" not in stderr
    assert list(temp.iterdir()) == []
    port = int(endpoint.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
