"""`quotaform rightsize` end to end: a hand-written state, instances and metrics in moto.

The pools run in us-west-2 of the shared moto server, which no other test
seeds, because moto's GetMetricData cost grows with every point in the window.
Metrics cover the last three days; the command reads two (576 points), which
keeps moto fast.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from cdk.model import Allocation, Optimization, Pool, Quota, ResourceConfig, Team
from provider_bridge.local_aws import LocalAws
from provider_bridge.metrics import cloudwatch_client
from provider_bridge.seeding import put_series

ROOT = Path(__file__).resolve().parent.parent
SERIES = ROOT / "examples" / "data" / "cloudwatch"
REGION = "us-west-2"
SEEDED = 864  # three days of 5-minute points

APP = '''\
from cdktf import App
from cdk.constructs import AsgPool, InstancePool, Quota, QuotaformStack, Team


def build_platform(app: App, *, api_max_size: int = 4) -> QuotaformStack:
    stack = QuotaformStack(app, "platform", region="us-west-2")
    Team(stack, "payments")
    Team(stack, "data")
    AsgPool(stack, "api", team="payments", instance_type="m5.xlarge",
            min_size=2, max_size=api_max_size, allowed_families=["m5", "m6i"])
    InstancePool(stack, "reporting", team="data", instance_type="m5.2xlarge", count=1)  # month-end
    InstancePool(stack, "batch", team="data", instance_type="c5.xlarge", count=2)
    InstancePool(stack, "etl", team="data", instance_type="c5.large", count=1,
                 allowed_families=["c5"])
    Quota(stack, "api-quota", target="api", max_vcpu=16, max_instances=4)
    return stack
'''


def _values(name: str) -> np.ndarray:
    with (SERIES / f"ec2_cpu_utilization_{name}.csv").open() as handle:
        return np.array([float(row["value"]) for row in csv.DictReader(handle)])


def _aligned_now() -> dt.datetime:
    now = int(dt.datetime.now(dt.UTC).timestamp()) // 300 * 300
    return dt.datetime.fromtimestamp(now, dt.UTC)


def _client(aws: LocalAws, service: str) -> Any:
    return boto3.session.Session().client(service, region_name=REGION,
                                          endpoint_url=aws.endpoint_url)


def _tags(pool: str, team: str) -> dict[str, str]:
    return {"quotaform:pool": pool, "quotaform:team": team}


def _instance(address: str, instance_id: str, instance_type: str, pool: str) -> dict:
    return {"address": address, "mode": "managed", "type": "aws_instance",
            "name": address.split(".")[1].split("[")[0],
            "values": {"id": instance_id, "instance_type": instance_type,
                       "tags": _tags(pool, "data"), "availability_zone": f"{REGION}a"}}


def _config() -> ResourceConfig:
    pools = [
        Pool(name="api", kind="asg", team="payments", region=REGION, instance_type="m5.xlarge",
             min_size=2, max_size=4, allowed_families=["m5", "m6i"]),
        Pool(name="reporting", kind="instances", team="data", region=REGION,
             instance_type="m5.2xlarge"),
        Pool(name="batch", kind="instances", team="data", region=REGION,
             instance_type="c5.xlarge", count=2),
        Pool(name="etl", kind="instances", team="data", region=REGION, instance_type="c5.large",
             allowed_families=["c5"]),
    ]
    # No memory metric is seeded; cpu-only lets the idle m5.2xlarge (32 GiB) move to
    # m5.large (8 GiB), the change these tests patch.
    return ResourceConfig(
        allocation=Allocation(
            teams=[Team(name="payments"), Team(name="data")], pools=pools,
            quotas=[Quota(target="api", max_vcpu=16, max_instances=4)],
        ),
        optimization=Optimization(unmeasured_memory="cpu-only"),
    )


@pytest.fixture(scope="module")
def platform(
    moto_server: LocalAws, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Instances, an Auto Scaling group, three days of metrics and the input files."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in moto_server.environment().items():
            patch.setenv(name, value)
        yield _build_platform(moto_server, tmp_path_factory.mktemp("rightsize"))


def _build_platform(moto_server: LocalAws, directory: Path) -> dict[str, Any]:
    ec2, autoscaling = _client(moto_server, "ec2"), _client(moto_server, "autoscaling")
    group = f"api-{uuid.uuid4().hex[:8]}"
    template = ec2.create_launch_template(
        LaunchTemplateName=group,
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "m5.xlarge"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=2, MaxSize=4, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        AvailabilityZones=[f"{REGION}a"],
    )
    members = [i["InstanceId"] for i in autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]]

    def run(instance_type: str, count: int) -> list[str]:
        reply = ec2.run_instances(ImageId="ami-12c6146b", MinCount=count, MaxCount=count,
                                  InstanceType=instance_type)
        return [item["InstanceId"] for item in reply["Instances"]]

    reporting, batch, etl = run("m5.2xlarge", 1), run("c5.xlarge", 2), run("c5.large", 1)
    seeded = {
        members[0]: _values("825cc2")[-SEEDED:], members[1]: _values("825cc2")[-SEEDED:],
        reporting[0]: _values("24ae8d")[-SEEDED:],
        batch[0]: _values("5f5533")[-SEEDED:], batch[1]: _values("53ea38")[-SEEDED:],
        etl[0]: _values("77c1ca")[-108:],  # 9 hours
    }
    end = np.datetime64(_aligned_now().replace(tzinfo=None), "s") - 300
    cloudwatch = cloudwatch_client(REGION, moto_server.endpoint_url)
    for instance_id, values in seeded.items():
        stamps = end - np.arange(values.size)[::-1] * 300
        put_series(cloudwatch, "AWS/EC2", "CPUUtilization", {"InstanceId": instance_id},
                   stamps, values)

    state = {"format_version": "1.0", "terraform_version": "1.9.5", "values": {"root_module": {
        "resources": [
            {"address": "aws_launch_template.api", "mode": "managed",
             "type": "aws_launch_template", "name": "api",
             "values": {"id": template, "name": group, "instance_type": "m5.xlarge"}},
            {"address": "aws_autoscaling_group.api", "mode": "managed",
             "type": "aws_autoscaling_group", "name": "api",
             "values": {"name": group, "availability_zones": [f"{REGION}a"],
                        "launch_template": [{"id": template, "version": "$Latest"}],
                        "tag": [{"key": k, "value": v, "propagate_at_launch": True}
                                for k, v in _tags("api", "payments").items()]}},
            _instance("aws_instance.reporting[0]", reporting[0], "m5.2xlarge", "reporting"),
            _instance("aws_instance.etl[0]", etl[0], "c5.large", "etl"),
        ],
        "child_modules": [{"address": "module.batch", "resources": [
            _instance(f"module.batch.aws_instance.batch[{i}]", batch[i], "c5.xlarge", "batch")
            for i in range(2)
        ]}],
    }}}
    (directory / "state.json").write_text(json.dumps(state))
    (directory / "quotaform.json").write_text(json.dumps(_config().model_dump(mode="json")))
    (directory / "app.py").write_text(APP)
    return {"dir": directory, "seeded": seeded, "members": members, "endpoint": moto_server}


def _run(platform: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    directory: Path = platform["dir"]
    env = {**os.environ, **platform["endpoint"].environment()}
    command = [sys.executable, "-c", "from quotaform.cli import main; main()", "rightsize",
               "--state", str(directory / "state.json"),
               "--data", str(directory / "quotaform.json"),
               "--endpoint-url", platform["endpoint"].endpoint_url, "--region", REGION, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=directory,
                          timeout=120, check=False)


def _run_in_one_period(platform: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    # The command's window ends at the current 5-minute boundary; a run that
    # straddles one would read a window one point shorter than expected.
    for _ in range(2):
        before = _aligned_now()
        result = _run(platform, *args)
        if _aligned_now() == before:
            return result
    pytest.fail("two runs in a row crossed a 5-minute boundary")


def _p95(values: np.ndarray) -> float:
    return statistics.quantiles(values.tolist(), n=100, method="inclusive")[94]


def test_rightsize_json_end_to_end(platform: dict[str, Any]) -> None:
    pytest.importorskip("policies", reason="the policy gate re-checks each change")
    result = _run_in_one_period(platform, "--app", "app.py", "--lookback-days", "2",
                                "--format", "json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_pool = {item["pool"]: item for item in report["recommendations"]}
    assert sorted(by_pool) == ["api", "batch", "etl", "reporting"]

    reporting = by_pool["reporting"]
    assert reporting["action"] == "downsize"
    assert reporting["recommended_type"] == "m5.large"
    assert reporting["samples"] == 576
    assert reporting["p95"] == pytest.approx(_p95(_values("24ae8d")[-576:]), abs=1e-9)
    assert reporting["monthly_savings"] == pytest.approx((0.384 - 0.096) * 730)
    assert reporting["blocked_by"] == []

    api = by_pool["api"]
    assert api["action"] == "upsize"
    assert api["recommended_type"] == "m5.2xlarge"
    assert sorted(api["resource_ids"]) == sorted(platform["members"])
    assert api["blocked_by"] == ["pool-vcpu-quota"]
    assert "Not proposed: policy rule pool-vcpu-quota" in api["reason"]

    assert by_pool["batch"]["action"] == "keep"
    assert by_pool["batch"]["p95"] == pytest.approx(_p95(_values("5f5533")[-576:]), abs=1e-9)
    assert by_pool["etl"]["action"] == "insufficient-data"
    assert by_pool["etl"]["reason"].startswith("insufficient data: 9 h of 2 d")

    assert report["total_monthly_savings"] == pytest.approx(210.24)
    assert report["summary"] == (
        '  # pool "reporting" (team data) will be updated in-place\n'
        '  ~ instance_type = "m5.2xlarge" -> "m5.large"\n'
        "1 pool to change.\n"
    )
    assert report["diff"] == (
        "--- a/app.py\n"
        "+++ b/app.py\n"
        "@@ -8,7 +8,7 @@\n"
        '     Team(stack, "data")\n'
        '     AsgPool(stack, "api", team="payments", instance_type="m5.xlarge",\n'
        '             min_size=2, max_size=api_max_size, allowed_families=["m5", "m6i"])\n'
        '-    InstancePool(stack, "reporting", team="data", instance_type="m5.2xlarge", '
        "count=1)  # month-end\n"
        '+    InstancePool(stack, "reporting", team="data", instance_type="m5.large", '
        "count=1)  # month-end\n"
        '     InstancePool(stack, "batch", team="data", instance_type="c5.xlarge", count=2)\n'
        '     InstancePool(stack, "etl", team="data", instance_type="c5.large", count=1,\n'
        '                  allowed_families=["c5"])\n'
    )
    assert (platform["dir"] / "app.py").read_text() == APP


def test_rightsize_json_matches_schema(platform: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from provider_bridge.report import report_schema

    result = _run(platform, "--lookback-days", "2", "--format", "json")

    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), report_schema())


def test_rightsize_table_output(platform: dict[str, Any]) -> None:
    pytest.importorskip("policies", reason="the policy gate re-checks each change")
    result = _run(platform, "--app", "app.py", "--lookback-days", "2")

    assert result.returncode == 0, result.stderr
    assert "Rightsizing recommendations" in result.stdout
    assert "Total savings: $210.24 a month from 1 proposed change; 1 change blocked by policy." \
        in result.stdout
    assert '~ instance_type = "m5.2xlarge" -> "m5.large"' in result.stdout
    assert "+++ b/app.py" in result.stdout
    # Not a terminal: no progress bar on either stream.
    assert "CloudWatch" not in result.stderr


def test_rightsize_write_patches_app(platform: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("policies", reason="the policy gate re-checks each change")
    app = tmp_path / "app.py"
    app.write_text(APP)

    result = _run(platform, "--app", str(app), "--write", "--lookback-days", "2",
                  "--format", "json")

    assert result.returncode == 0, result.stderr
    assert 'instance_type="m5.large", count=1)  # month-end' in app.read_text()
    assert (tmp_path / "app.py.orig").read_text() == APP


@pytest.mark.parametrize(("args", "message"), [
    (("--format", "xml"), "--format 'xml' is invalid; use one of: table, json"),
    (("--write",), "--write needs --app"),
    (("--app", "missing.py"), "missing.py: file not found"),
    (("--period", "90"), "period 90 s is invalid"),
])
def test_rightsize_rejects_bad_options(platform: dict[str, Any], args: tuple[str, ...],
                                       message: str) -> None:
    result = _run(platform, *args)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_rightsize_rejects_plan_as_state(platform: dict[str, Any]) -> None:
    plan = platform["dir"] / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "planned_values": {},
                                "resource_changes": []}))

    result = _run(platform, "--state", str(plan))

    assert result.returncode == 2
    assert "plan.json: this is a plan, not a state" in result.stderr
    assert "Traceback" not in result.stderr
