"""The quotaform provider inside the real terraform, beside hashicorp/aws, against moto.

The provider launcher is installed into a temporary mirror. A test-only CLI
configuration names that mirror and the offline mirror of hashicorp/aws.
Every terraform process runs with HOME in a temporary folder, so nothing is
written to the real ~/.terraform.d. The example configuration
(examples/provider) runs as a user would run it: init, plan and apply, a plan
that its precondition stops, and a plan after CloudWatch received the real idle
series of examples/data/cloudwatch/ec2_cpu_utilization_24ae8d.csv for the
nightly instance (14 days, shifted to end now). The scenario takes about a
minute on 2 cores, most of it in moto answering GetMetricData and in the AWS
provider.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cdk.synth import synth_app
from cdk.terraform import write_local_aws_override
from provider_bridge.local_aws import LocalAws
from provider_bridge.provider.install import Installation, install
from provider_bridge.seeding import load_series_csv, put_series, shift_to_end

pytestmark = [pytest.mark.terraform, pytest.mark.moto]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "provider"
IDLE_SERIES = ROOT / "examples" / "data" / "cloudwatch" / "ec2_cpu_utilization_24ae8d.csv"
AWS_ADDRESS = "registry.terraform.io/hashicorp/aws"
QUOTAFORM_ADDRESS = "registry.terraform.io/quotaform/quotaform"
TERRAFORM_TIMEOUT_SECONDS = 300

# A second rightsizing data source of the example's nightly pool, pinned to the running type.
PINNED_TF = """\
data "quotaform_rightsizing" "nightly_pinned" {
  pool        = "nightly"
  pin_current = true
}

output "nightly_pinned_type" {
  value = data.quotaform_rightsizing.nightly_pinned.instance_type
}
"""

RIGHTSIZED_APP = """\
from cdktf import App

from cdk.constructs import InstancePool, Quota, QuotaformStack, Team

app = App()
stack = QuotaformStack(app, "rightsized")
Team(stack, "data")
InstancePool(stack, "cdk-nightly", team="data", instance_type="m5.2xlarge", count=1,
             allowed_families=["m5"], instance_type_from_rightsizing=True)
Quota(stack, "cdk-nightly-quota", target="cdk-nightly", max_vcpu=8)
app.synth()
"""


@pytest.fixture(scope="module")
def quotaform_mirror(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    return install(tmp_path_factory.mktemp("quotaform-mirror"))


@pytest.fixture(scope="module")
def terraform_env(
    tmp_path_factory: pytest.TempPathFactory,
    provider_mirror: Path,
    quotaform_mirror: Installation,
    moto_server: LocalAws,
) -> dict[str, str]:
    """Environment of every terraform run: both mirrors, moto credentials, a scratch HOME."""
    folder = tmp_path_factory.mktemp("terraform-home")
    config = folder / "cli.tfrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{provider_mirror}"\n'
        f'    include = ["{AWS_ADDRESS}"]\n  }}\n'
        f'  filesystem_mirror {{\n    path    = "{quotaform_mirror.mirror}"\n'
        f'    include = ["{QUOTAFORM_ADDRESS}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{AWS_ADDRESS}", "{QUOTAFORM_ADDRESS}"]\n  }}\n'
        "}\n"
    )
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    return {
        **inherited,
        **moto_server.environment(),
        "HOME": str(folder),
        "TF_CLI_CONFIG_FILE": str(config),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
    }


def _terraform(
    binary: str, workdir: Path, env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [binary, *args, "-no-color"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TERRAFORM_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode in ok, (
        f"terraform {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
    )
    return result


def _show(binary: str, workdir: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    return json.loads(_terraform(binary, workdir, env, "show", "-json", *args).stdout)


def _h1(directory: Path) -> str:
    """Terraform's h1 hash of an unpacked provider folder (Go's dirhash Hash1)."""
    lines = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(directory)}\n"
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    )
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def _flat(text: str) -> str:
    """Join terraform's wrapped message lines into one line."""
    return " ".join(text.split())


def _data_source(plan: dict[str, Any], address: str) -> dict[str, Any]:
    resources = plan["prior_state"]["values"]["root_module"]["resources"]
    [found] = [item for item in resources if item["address"] == address]
    return found["values"]


def _change(plan: dict[str, Any], address: str) -> dict[str, Any]:
    [found] = [item for item in plan["resource_changes"] if item["address"] == address]
    return found["change"]


def _managed_instances(state_file: Path) -> dict[str, dict[str, Any]]:
    """Return the attributes of each managed resource instance of a state file, by address."""
    found = {}
    for resource in json.loads(state_file.read_text())["resources"]:
        if resource["mode"] != "managed":
            continue
        for instance in resource["instances"]:
            key = instance.get("index_key")
            suffix = "" if key is None else f"[{key}]"
            found[f"{resource['type']}.{resource['name']}{suffix}"] = instance["attributes"]
    return found


def _seed_idle(aws: LocalAws, instance_id: str) -> None:
    stamps, values = load_series_csv(IDLE_SERIES)
    now = dt.datetime.now(dt.UTC)
    end = dt.datetime.fromtimestamp(int(now.timestamp()) // 300 * 300 - 300, dt.UTC)
    put_series(
        aws.client("cloudwatch"),
        "AWS/EC2",
        "CPUUtilization",
        {"InstanceId": instance_id},
        shift_to_end(stamps, end),
        values,
    )


@dataclass(frozen=True)
class Scenario:
    workdir: Path
    lock: str
    first_plan: dict[str, Any]
    state: dict[str, dict[str, Any]]
    over_quota: subprocess.CompletedProcess[str]
    rightsized: subprocess.CompletedProcess[str]
    rightsized_plan: dict[str, Any]
    other_instance: str


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory,
    terraform_bin: str,
    terraform_env: dict[str, str],
    moto_server: LocalAws,
) -> Scenario:
    """Run the example: init, plan + apply, an over-quota plan, a plan after seeding."""
    workdir = tmp_path_factory.mktemp("provider-example")
    for name in ("main.tf", "quotaform.json"):
        shutil.copyfile(EXAMPLE / name, workdir / name)
    (workdir / "pinned.tf").write_text(PINNED_TF)
    write_local_aws_override(workdir, moto_server.endpoint_url, moto_server.region)
    endpoint = f"-var=aws_endpoint={moto_server.endpoint_url}"
    # Another team's analytics instance, outside this configuration: 4 of the 8 vCPU.
    other = moto_server.client("ec2").run_instances(
        ImageId="ami-12c6146b",
        InstanceType="m5.xlarge",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "quotaform:pool", "Value": "analytics"},
                    {"Key": "quotaform:team", "Value": "data"},
                ],
            }
        ],
    )["Instances"][0]["InstanceId"]

    def run(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        return _terraform(terraform_bin, workdir, terraform_env, *args, ok=ok)

    run("init", "-input=false")
    lock = (workdir / ".terraform.lock.hcl").read_text()
    run("plan", "-input=false", endpoint, "-out=first.tfplan")
    first_plan = _show(terraform_bin, workdir, terraform_env, "first.tfplan")
    run("apply", "-input=false", "first.tfplan")
    state = _managed_instances(workdir / "terraform.tfstate")

    over_quota = run("plan", "-input=false", endpoint, "-var=analytics_workers=2", ok=(1,))

    _seed_idle(moto_server, state["aws_instance.nightly"]["id"])
    rightsized = run("plan", "-input=false", endpoint, "-out=second.tfplan")
    rightsized_plan = _show(terraform_bin, workdir, terraform_env, "second.tfplan")
    return Scenario(
        workdir, lock, first_plan, state, over_quota, rightsized, rightsized_plan, other
    )


def test_init_locks_both_providers(scenario: Scenario, quotaform_mirror: Installation) -> None:
    blocks = dict(re.findall(r'provider "([^"]+)" \{(.*?)\n\}', scenario.lock, re.DOTALL))
    assert sorted(blocks) == [AWS_ADDRESS, QUOTAFORM_ADDRESS]
    quotaform = blocks[QUOTAFORM_ADDRESS]
    assert re.search(r'version\s+= "0.1.0"', quotaform)
    assert f'"{_h1(quotaform_mirror.package_dir)}"' in quotaform
    assert 'constraints = "~> 0.1"' in quotaform


def test_init_links_mirror_package(scenario: Scenario, quotaform_mirror: Installation) -> None:
    installed = (
        scenario.workdir
        / ".terraform"
        / "providers"
        / QUOTAFORM_ADDRESS
        / "0.1.0"
        / quotaform_mirror.package_dir.name
    )
    assert installed.resolve() == quotaform_mirror.package_dir.resolve()


def test_first_plan_reads_pool_headroom(scenario: Scenario) -> None:
    pool = _data_source(scenario.first_plan, "data.quotaform_pool.analytics")
    assert pool["resource_ids"] == [scenario.other_instance]
    assert pool["max_vcpu"] == 8
    assert pool["vcpu"] == 4
    assert pool["headroom_vcpu"] == 4
    assert pool["headroom_instances"] == 1
    assert pool["within_quota"] is True


def test_first_plan_uses_declared_type(scenario: Scenario) -> None:
    change = _change(scenario.first_plan, "aws_instance.nightly")
    assert change["actions"] == ["create"]
    assert change["after"]["instance_type"] == "m5.2xlarge"
    rightsizing = _data_source(scenario.first_plan, "data.quotaform_rightsizing.nightly")
    assert rightsizing["action"] == "insufficient-data"


def test_first_plan_outputs_function_values(scenario: Scenario) -> None:
    outputs = scenario.first_plan["planned_values"]["outputs"]
    assert outputs["worker_monthly_cost_usd"]["value"] == pytest.approx(0.192 * 730)
    assert outputs["analytics_headroom_vcpu"]["value"] == 4


def test_apply_creates_tagged_instances(scenario: Scenario, moto_server: LocalAws) -> None:
    worker = scenario.state["aws_instance.analytics_worker[0]"]
    nightly = scenario.state["aws_instance.nightly"]
    assert worker["instance_type"] == "m5.xlarge"
    assert worker["tags"]["quotaform:pool"] == "analytics"
    assert nightly["instance_type"] == "m5.2xlarge"
    reservations = moto_server.client("ec2").describe_instances(
        InstanceIds=[worker["id"], nightly["id"]]
    )["Reservations"]
    assert sorted(i["InstanceType"] for r in reservations for i in r["Instances"]) == [
        "m5.2xlarge",
        "m5.xlarge",
    ]


def test_precondition_stops_over_quota_plan(scenario: Scenario) -> None:
    message = _flat(scenario.over_quota.stderr)
    assert "Error: Resource precondition failed" in message
    assert (
        "Pool analytics has 4 vCPU of headroom (quota 8 vCPU, 4 vCPU in use on 1 "
        "instances), but 2 x m5.xlarge need 8 vCPU."
    ) in message
    assert (
        "Pool analytics has room for 1 more instances (quota 2, 1 in use), but 2 "
        "workers are planned."
    ) in message


def test_rightsizing_changes_planned_type(scenario: Scenario) -> None:
    change = _change(scenario.rightsized_plan, "aws_instance.nightly")
    assert change["actions"] == ["update"]
    assert change["before"]["instance_type"] == "m5.2xlarge"
    assert change["after"]["instance_type"] == "m5.large"


def test_rightsizing_reports_rule_and_figures(scenario: Scenario) -> None:
    rightsizing = _data_source(scenario.rightsized_plan, "data.quotaform_rightsizing.nightly")
    assert rightsizing["rule"] == "downsize-underused"
    assert rightsizing["recommended_type"] == "m5.large"
    assert rightsizing["p95_cpu"] < 20
    assert rightsizing["samples"] >= 4000  # 14 days at 5 minutes are 4,032 periods
    assert rightsizing["monthly_savings_usd"] == pytest.approx((0.384 - 0.096) * 730)


def test_workers_within_quota_stay_unchanged(scenario: Scenario) -> None:
    change = _change(scenario.rightsized_plan, "aws_instance.analytics_worker[0]")
    assert change["actions"] == ["no-op"]


def test_pinned_type_stays_with_warning(scenario: Scenario) -> None:
    outputs = scenario.rightsized_plan["planned_values"]["outputs"]
    assert outputs["nightly_pinned_type"]["value"] == "m5.2xlarge"
    output = _flat(scenario.rightsized.stdout + scenario.rightsized.stderr)
    assert "Warning: Rightsizing of nightly recommends m5.large" in output
    assert 'set accepted_type = "m5.large" to plan the change' in output


def test_example_is_formatted(terraform_bin: str) -> None:
    result = subprocess.run(
        [terraform_bin, "fmt", "-check", "-diff", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


# --- the provider on its own, from the implied local mirror -------------------------------


def test_implied_mirror_serves_functions(
    tmp_path: Path, terraform_bin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    empty_config = tmp_path / "empty.tfrc"
    empty_config.write_text("")
    monkeypatch.setenv("HOME", str(home))
    installed = install()
    assert installed.mirror == home / ".terraform.d" / "plugins"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=str(empty_config))
    workdir = tmp_path / "config"
    workdir.mkdir()
    (workdir / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        '    quotaform = { source = "quotaform/quotaform" }\n  }\n}\n'
        'output "vcpus" { value = provider::quotaform::vcpus("m5.2xlarge") }\n'
        'output "cost" { value = provider::quotaform::monthly_cost("c5.large", "us-east-1") }\n'
    )
    _terraform(terraform_bin, workdir, env, "init", "-input=false")
    lock = (workdir / ".terraform.lock.hcl").read_text()
    assert f'provider "{QUOTAFORM_ADDRESS}"' in lock
    _terraform(terraform_bin, workdir, env, "apply", "-input=false", "-auto-approve")
    outputs = json.loads(_terraform(terraform_bin, workdir, env, "output", "-json").stdout)
    assert outputs["vcpus"]["value"] == 8
    assert outputs["cost"]["value"] == pytest.approx(0.085 * 730)


def test_function_error_reaches_terraform(
    tmp_path: Path, terraform_bin: str, terraform_env: dict[str, str]
) -> None:
    (tmp_path / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        '    quotaform = { source = "quotaform/quotaform" }\n  }\n}\n'
        'output "vcpus" { value = provider::quotaform::vcpus("m5.lage") }\n'
    )
    _terraform(terraform_bin, tmp_path, terraform_env, "init", "-input=false")
    result = _terraform(terraform_bin, tmp_path, terraform_env, "validate", ok=(1,))
    message = _flat(result.stderr)
    assert "Unknown instance type 'm5.lage'" in message
    assert "did you mean m5.large" in message


# --- CDKTF constructs that opt in -----------------------------------------------------------


def test_construct_plans_type_from_rightsizing(
    tmp_path: Path,
    terraform_bin: str,
    terraform_env: dict[str, str],
    moto_server: LocalAws,
) -> None:
    app = tmp_path / "app.py"
    app.write_text(RIGHTSIZED_APP)
    [result] = synth_app(app, tmp_path / "out")
    workdir = result.tf_json.parent
    write_local_aws_override(workdir, moto_server.endpoint_url, moto_server.region)
    (workdir / "quotaform_override.tf.json").write_text(
        json.dumps({"provider": {"quotaform": {"endpoint": moto_server.endpoint_url}}})
    )

    _terraform(terraform_bin, workdir, terraform_env, "init", "-input=false")
    planned = _terraform(
        terraform_bin, workdir, terraform_env, "plan", "-input=false", "-out=tfplan"
    )
    assert "Warning" not in planned.stdout + planned.stderr
    plan = _show(terraform_bin, workdir, terraform_env, "tfplan")
    change = _change(plan, "aws_instance.cdk-nightly[0]")
    assert change["actions"] == ["create"]
    assert change["after"]["instance_type"] == "m5.2xlarge"
    rightsizing = _data_source(plan, "data.quotaform_rightsizing.cdk-nightly")
    assert rightsizing["pool"] == "cdk-nightly"
    assert rightsizing["action"] == "insufficient-data"
