"""Rightsizing reports: totals per pool and team, blocked changes, Markdown and JSON.

The end-to-end test runs `quotaform rightsize` against the moto server in
eu-west-1, which no other test seeds, with a plain Terraform file as the
source to patch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from cdk.model import Allocation, Optimization, Pool, ResourceConfig, Team
from provider_bridge.local_aws import LocalAws
from provider_bridge.metrics import cloudwatch_client
from provider_bridge.report import (
    SkippedChange,
    build_report,
    markdown_report,
    team_savings,
    total_line,
)
from provider_bridge.rightsizing import Recommendation
from provider_bridge.seeding import load_series_csv, put_series

ROOT = Path(__file__).resolve().parent.parent
SERIES = ROOT / "examples" / "data" / "cloudwatch"
REGION = "eu-west-1"


def _rec(pool: str, team: str, action: str, current: float, recommended: float,
         **fields: Any) -> Recommendation:
    values: dict[str, Any] = {
        "pool": pool, "team": team, "kind": "instances", "region": "us-east-1",
        "resource_ids": ["i-1"], "current_type": "m5.2xlarge", "recommended_type": None,
        "action": action, "rule": None, "p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0,
        "samples": 4032, "monthly_cost_current": current,
        "monthly_cost_recommended": recommended,
        "monthly_savings": round(current - recommended, 2), "reason": "why",
    }
    values.update(fields)
    return Recommendation(**values)


RECOMMENDATIONS = [
    _rec("reporting", "data", "downsize", 280.32, 70.08, recommended_type="m5.large",
         rule="downsize-underused", outranked_rules=["burst-low"]),
    _rec("api", "payments", "upsize", 280.32, 560.64, recommended_type="m5.4xlarge",
         rule="upsize-saturated", blocked_by=["pool-vcpu-quota"]),
    _rec("archive", "data", "stop-idle", 140.16, 0.0, rule="idle"),
    _rec("batch", "data", "scale-in", 248.2, 124.1, current_type="c5.xlarge",
         recommended_count=1, count_changes={"count": 1}, count_before={"count": 2},
         rule="scale-in-p95"),
]


def test_totals_count_only_proposed_changes() -> None:
    report = build_report(RECOMMENDATIONS)

    assert report.total_monthly_savings == pytest.approx(210.24 + 124.1)
    assert report.advisory_monthly_savings == pytest.approx(140.16)
    assert total_line(RECOMMENDATIONS) == (
        "Total savings: $334.34 a month from 2 proposed changes; 1 change blocked by policy; "
        "$140.16 more if the idle pools are stopped.")


def test_team_savings_sum_pools() -> None:
    rows = {row.team: row for row in team_savings(RECOMMENDATIONS)}

    assert rows["data"].pools == 3
    assert rows["data"].proposed == 2
    assert rows["data"].monthly_cost_current == pytest.approx(280.32 + 140.16 + 248.2)
    assert rows["data"].monthly_savings == pytest.approx(334.34)
    assert rows["payments"].monthly_savings == 0.0
    assert rows["payments"].monthly_cost_recommended == pytest.approx(280.32)


def test_markdown_has_every_section() -> None:
    skipped = [SkippedChange(pool="batch", attribute="count",
                             reason="app.py:9: count= cannot be changed safely")]
    text = markdown_report(build_report(RECOMMENDATIONS, "summary\n", "--- a/app.py\n",
                                        skipped))

    assert text.startswith("# Rightsizing report\n\n**$334.34 a month** from 2 proposed "
                           "changes over 4 pools; 1 blocked by policy, 1 advisory")
    assert "| data | 3 | 2 | 668.68 | 334.34 | 334.34 |" in text
    assert "| payments | 1 | 0 | 280.32 | 280.32 | 0.00 |" in text
    assert "| **total** | 4 | 2 | 949.00 | 614.66 | **334.34** |" in text
    assert ("| reporting | data | 1 | m5.2xlarge | m5.large | downsize | "
            "`downsize-underused` | 2 | 4 | 210.24 |") in text
    assert "| batch | data | 1 | c5.xlarge | 1 x c5.xlarge | scale-in |" in text
    assert "| api | m5.2xlarge -> m5.4xlarge | `pool-vcpu-quota` | -280.32 |" in text
    assert "- **batch** `count`: app.py:9: count= cannot be changed safely" in text
    assert ("- **reporting** (rule `downsize-underused`; outranked: `burst-low`): why"
            in text)
    assert "```diff\n--- a/app.py\n```" in text


def test_markdown_escapes_table_cells() -> None:
    rec = _rec("reporting", "data|ops", "keep", 10.0, 10.0)

    text = markdown_report(build_report([rec]))

    assert "| data\\|ops |" in text


# End to end: one idle instance declared in a .tf file, rightsized through the CLI.

MAIN_TF = '''\
resource "aws_instance" "reporting" {
  ami           = "ami-12c6146b"
  instance_type = "m5.2xlarge" # month-end reports
  tags = {
    "quotaform:pool" = "reporting"
  }
}
'''


@pytest.fixture(scope="module")
def idle_platform(moto_server: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One m5.2xlarge with two days of the idle series, and the state and model files."""
    directory = tmp_path_factory.mktemp("report")
    ec2 = boto3.session.Session().client("ec2", region_name=REGION,
                                         endpoint_url=moto_server.endpoint_url,
                                         aws_access_key_id="testing",
                                         aws_secret_access_key="testing")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 InstanceType="m5.2xlarge")["Instances"][0]["InstanceId"]
    _, values = load_series_csv(SERIES / "ec2_cpu_utilization_24ae8d.csv")
    values = values[-600:]
    now = int(dt.datetime.now(dt.UTC).timestamp()) // 300 * 300 - 300
    end = np.datetime64(dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None), "s")
    stamps = end - np.arange(values.size)[::-1] * 300
    with pytest.MonkeyPatch.context() as patch:
        for name, value in moto_server.environment().items():
            patch.setenv(name, value)
        put_series(cloudwatch_client(REGION, moto_server.endpoint_url), "AWS/EC2",
                   "CPUUtilization", {"InstanceId": instance}, stamps, values)

    state = {"format_version": "1.0", "values": {"root_module": {"resources": [{
        "address": "aws_instance.reporting", "mode": "managed", "type": "aws_instance",
        "name": "reporting",
        "values": {"id": instance, "instance_type": "m5.2xlarge",
                   "availability_zone": f"{REGION}a",
                   "tags": {"quotaform:pool": "reporting", "quotaform:team": "data"}},
    }]}}}
    # No memory metric is seeded; cpu-only lets the idle m5.2xlarge (32 GiB) move to
    # m5.large (8 GiB), the change these tests patch.
    config = ResourceConfig(
        allocation=Allocation(
            teams=[Team(name="data")],
            pools=[Pool(name="reporting", kind="instances", team="data", region=REGION,
                        instance_type="m5.2xlarge")]),
        optimization=Optimization(unmeasured_memory="cpu-only"))
    (directory / "state.json").write_text(json.dumps(state))
    (directory / "quotaform.json").write_text(json.dumps(config.model_dump(mode="json")))
    (directory / "main.tf").write_text(MAIN_TF)
    return directory


def _rightsize(directory: Path, aws: LocalAws, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from quotaform.cli import main; main()", "rightsize",
               "--state", str(directory / "state.json"),
               "--data", str(directory / "quotaform.json"),
               "--endpoint-url", aws.endpoint_url, "--region", REGION,
               "--lookback-days", "2", *args]
    env = {**os.environ, **aws.environment()}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=directory,
                          timeout=120, check=False)


def test_rightsize_markdown_patches_terraform(idle_platform: Path, moto_server: LocalAws) -> None:
    pytest.importorskip("policies", reason="the policy gate re-checks each change")

    result = _rightsize(idle_platform, moto_server, "--app", "main.tf", "--format", "markdown")

    assert result.returncode == 0, result.stderr
    # eu-west-1: m5.2xlarge $0.428 and m5.large $0.107 an hour.
    assert "**$234.33 a month** from 1 proposed change over 1 pool" in result.stdout
    assert "| reporting | data | 1 | m5.2xlarge | m5.large | downsize |" in result.stdout
    assert '-  instance_type = "m5.2xlarge" # month-end reports' in result.stdout
    assert '+  instance_type = "m5.large" # month-end reports' in result.stdout
    assert (idle_platform / "main.tf").read_text() == MAIN_TF


def test_rightsize_write_patches_tf_file(idle_platform: Path, moto_server: LocalAws,
                                         tmp_path: Path) -> None:
    pytest.importorskip("policies", reason="the policy gate re-checks each change")
    target = tmp_path / "main.tf"
    target.write_text(MAIN_TF)

    result = _rightsize(idle_platform, moto_server, "--app", str(target), "--write",
                        "--format", "json")

    assert result.returncode == 0, result.stderr
    assert target.read_text() == MAIN_TF.replace('"m5.2xlarge"', '"m5.large"')
    assert (tmp_path / "main.tf.orig").read_text() == MAIN_TF
    report = json.loads(result.stdout)
    assert report["skipped"] == []
    assert report["teams"][0]["team"] == "data"
