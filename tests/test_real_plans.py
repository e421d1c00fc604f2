"""Every real plan in tests/fixtures/plans: totals, ``quotaform check`` as a subprocess, bad input.

None of these plans carries quotaform tags, so with the default required tags
every aws_instance, aws_launch_template, aws_autoscaling_group and
aws_db_instance the plan creates or updates is denied. The counts below are
taken from each plan's resource_changes and prior_state by hand, with sizes
and us-east-1 or us-west-1 prices from the catalog.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from unittest import mock

import pytest

from cdk.model import ResourceConfig, load_config
from policies import Decision, check_plan, load_plan, normalize_plan
from policies.documents import Usage
from provider_bridge import Catalog
from provider_bridge.local_aws import LocalAws
from quotaform.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLANS = sorted((FIXTURES / "plans").glob("*.json"))
STRICT = FIXTURES / "check" / "quotaform_strict.json"
LENIENT = FIXTURES / "check" / "quotaform_no_required_tags.json"
PLATFORM = FIXTURES / "check" / "platform.json"
QUOTAFORM = Path(sys.executable).parent / "quotaform"

# Plan prefix -> required-tags denials (0 means the plan passes).
EXPECTED_DENIALS = {
    "01": 9,   # 3 ASGs, 4 DB instances, 1 instance, 1 launch template (create)
    "03": 2,   # the ASG and aws_instance.web[0]
    "07": 15,  # 15 aws_instance creates, in and out of modules
    "09": 8,   # 6 instance creates and 2 DB instances (one create, one update)
    "12": 1,   # the updated aws_instance.web_app_1
    "14": 0,   # no compute resources
    "15": 1,   # aws_instance.web
    "16": 0,   # a secretsmanager secret only
    "17": 0,   # route53 zones and security groups
    "18": 0,   # IAM and data sources
}


# Plan prefix -> totals of every counted resource (instances, vCPU, memory GiB, monthly
# USD), before and after the plan. Per instance: t2.micro 1 vCPU 1 GiB 8.47 USD,
# t2.small 1/2/16.79, t3.nano 2/0.5/3.80, t3.micro 2/1/7.59, t3.small 2/2/15.18,
# t3.medium 2/4/30.37, t3.large 2/8/60.74, t3.xlarge 4/16/121.47 (us-east-1); RDS
# classes as the EC2 type of the same name.
EXPECTED_TOTALS = {
    # lc1 and lt1: 2 x t3.small each; the mixed ASG: max_size 10 over t3.medium (weight
    # 2: 5 instances, 10 vCPU) and t3.large (weight 4: 3 instances, 24 GiB, 182.21 USD);
    # db.t2.micro, 2 x db.t2.small, db.t3.xlarge; instance1 t3.micro.
    "01": (Usage(), Usage(instances=14, vcpu=27, memory_gib=54.0, monthly_cost_usd=414.06)),
    # The ASG: max_size 10 of its launch configuration's t2.micro; web[0] t2.micro.
    "03": (Usage(), Usage(instances=11, vcpu=11, memory_gib=11.0, monthly_cost_usd=93.15)),
    # 2 x t2.micro + 13 x t3.micro; no provider region, so no price.
    "07": (Usage(), Usage(instances=15, vcpu=28, memory_gib=15.0, monthly_cost_usd=0.0)),
    # 6 t3.nano no-ops + db_1 (db.t3.micro) before; 6 more t3.nano and db_2 after.
    "09": (Usage(instances=7, vcpu=14, memory_gib=4.0, monthly_cost_usd=30.39),
           Usage(instances=14, vcpu=28, memory_gib=8.0, monthly_cost_usd=60.78)),
    # A -target plan: web_app_2 (t3.micro) only in prior_state; web_app_1 t3.micro -> small.
    "12": (Usage(instances=2, vcpu=4, memory_gib=2.0, monthly_cost_usd=15.18),
           Usage(instances=2, vcpu=4, memory_gib=3.0, monthly_cost_usd=22.77)),
    "14": (Usage(), Usage()),
    # t3.micro in us-west-1 at 0.0124 USD an hour.
    "15": (Usage(), Usage(instances=1, vcpu=2, memory_gib=1.0, monthly_cost_usd=9.05)),
    "16": (Usage(), Usage()),
    "17": (Usage(), Usage()),
    "18": (Usage(), Usage()),
}


def _main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``quotaform check`` in this process through the CLI entry point; return the exit
    code, standard output and standard error."""
    with mock.patch.object(sys, "argv", ["quotaform", "check", *map(str, args)]):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUOTAFORM), "check", *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_fixture_list_is_complete() -> None:
    assert sorted(path.name[:2] for path in PLANS) == sorted(EXPECTED_DENIALS)
    assert sorted(path.name[:2] for path in PLANS) == sorted(EXPECTED_TOTALS)


def test_every_plan_has_its_source_notice() -> None:
    notice = (FIXTURES / "plans" / "SOURCES.md").read_text()
    for path in PLANS:
        assert f"| {path.name} |" in notice, path.name


@pytest.mark.parametrize("path", PLANS, ids=lambda path: path.name[:2])
def test_real_plan_totals(path: Path, catalog: Catalog) -> None:
    document = normalize_plan(load_plan(path), ResourceConfig(), catalog)
    before, after = EXPECTED_TOTALS[path.name[:2]]
    assert document.totals.before == before
    assert document.totals.after == after


@pytest.mark.parametrize("path", PLANS, ids=lambda path: path.name[:2])
def test_real_plan_exit_code_and_denials(path: Path) -> None:
    result = _run(path, "--data", STRICT, "--format", "json")
    expected = EXPECTED_DENIALS[path.name[:2]]

    assert "Traceback" not in result.stderr
    assert result.returncode == (1 if expected else 0), result.stderr
    decision = Decision.model_validate_json(result.stdout)
    assert len(decision.violations) == expected
    assert {item.rule for item in decision.violations} <= {"required-tags"}
    for item in decision.violations:
        assert item.message == (
            f"{item.address} is missing required tags quotaform:pool, quotaform:team; "
            "add them to the resource or its pool's tags"
        )


@pytest.mark.parametrize("path", PLANS, ids=lambda path: path.name[:2])
def test_real_plan_passes_without_required_tags(path: Path, catalog: Catalog) -> None:
    config = load_config(LENIENT, catalog)
    decision = check_plan(load_plan(path), config, catalog, source=path.name)
    assert decision.allowed is True
    assert decision.warnings == []


def test_real_plan_tagged_into_pool(tmp_path: Path) -> None:
    """Plan 07 with every instance tagged into pool 'frontend' (quota 4 vCPU, 2 instances)."""
    (source,) = [path for path in PLANS if path.name.startswith("07_")]
    plan = json.loads(source.read_text())
    for change in plan["resource_changes"]:
        if change["type"] == "aws_instance":
            change["change"]["after"]["tags"]["quotaform:pool"] = "frontend"
            change["change"]["after"]["tags"]["quotaform:team"] = "web"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))

    result = _run(path, "--data", STRICT, "--format", "json")

    assert result.returncode == 1, result.stderr
    decision = Decision.model_validate_json(result.stdout)
    # 2 x t2.micro (1 vCPU) + 13 x t3.micro (2 vCPU) = 28 vCPU in 15 instances.
    assert [(item.rule, item.message) for item in decision.violations] == [
        ("allowed-instance-types", "aws_instance.server[0] uses instance type 't2.micro', "
                                   "which pool 'frontend' does not allow (allowed: t3.*)"),
        ("allowed-instance-types", "aws_instance.server[1] uses instance type 't2.micro', "
                                   "which pool 'frontend' does not allow (allowed: t3.*)"),
        ("pool-instance-quota", "pool 'frontend' would run 15 instances after this plan, over "
                                "its quota of 2 (+13); lower max_size or raise the quota"),
        ("pool-vcpu-quota", "pool 'frontend' would use 28 vCPU after this plan, over its quota "
                            "of 4 (+24); lower max_size or raise the quota"),
        ("team-vcpu-quota", "team 'web' would use 28 vCPU after this plan across pools frontend, "
                            "over its quota of 8 (+20); shrink one of its pools or raise the "
                            "quota"),
    ]


def test_real_plan_text_report_has_verdict() -> None:
    (source,) = [path for path in PLANS if path.name.startswith("12_")]
    result = _run(source, "--data", STRICT)
    assert result.returncode == 1
    assert "pool frontend" in result.stdout
    assert result.stdout.rstrip().endswith(f"DENIED {source.name}: 1 denial(s)")


def test_real_plan01_over_every_pool_metric(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Plan 01 with every counted resource tagged into one pool with a limit on each metric."""
    (source,) = [path for path in PLANS if path.name.startswith("01_")]
    plan = json.loads(source.read_text())
    counted = {"aws_autoscaling_group", "aws_db_instance", "aws_instance"}
    for change in plan["resource_changes"]:
        if change["type"] in counted:
            change["change"]["after"]["tags"] = {"quotaform:pool": "mixed",
                                                 "quotaform:team": "web"}
    data = {"version": 1, "allocation": {
        "teams": [{"name": "web"}],
        "pools": [{"name": "mixed", "kind": "asg", "team": "web", "instance_type": "t3.small"}],
        "quotas": [{"scope": "pool", "target": "mixed", "max_instances": 10, "max_vcpu": 20,
                    "max_memory_gib": 50, "max_monthly_cost_usd": 400},
                   {"scope": "team", "target": "web", "max_instances": 14}],
    }}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "quotaform.json").write_text(json.dumps(data))

    code, out, err = _main(capsys, tmp_path / "plan.json", "--data",
                           tmp_path / "quotaform.json", "--format", "json")

    assert code == 1, err
    decision = Decision.model_validate_json(out)
    quota_rules = {"pool-instance-quota", "pool-vcpu-quota", "pool-memory-quota",
                   "pool-monthly-cost-quota", "team-instance-quota"}
    hint = "lower max_size or raise the quota"
    # 14 instances, 27 vCPU, 54 GiB, 414.06 USD (see EXPECTED_TOTALS); the team is at 14.
    assert [(item.rule, item.message) for item in decision.violations
            if item.rule in quota_rules] == [
        ("pool-instance-quota", "pool 'mixed' would run 14 instances after this plan, over "
                                f"its quota of 10 (+4); {hint}"),
        ("pool-memory-quota", "pool 'mixed' would use 54 GiB of memory after this plan, over "
                              f"its quota of 50 GiB (+4); {hint}"),
        ("pool-monthly-cost-quota", "pool 'mixed' would cost 414.06 USD a month on demand "
                                    "after this plan, over its quota of 400 USD (+14.06); "
                                    f"{hint}"),
        ("pool-vcpu-quota", "pool 'mixed' would use 27 vCPU after this plan, over its quota "
                            f"of 20 (+7); {hint}"),
    ]


# Bad input: one message naming the file and the fix, exit 2, no traceback.

_STATE_FILE = '{"version": 4, "terraform_version": "1.9.5", "serial": 7, "lineage": "ab", ' \
              '"outputs": {}, "resources": []}'
_HCL = 'resource "aws_instance" "web" {\n  ami           = "ami-12c6146b"\n}\n'


@pytest.mark.parametrize(("content", "expected"), [
    ("this is not json", "not valid JSON at line 1, column 1"),
    ('{"format_version": "1.2", "resource_changes": [{"address": "aws_in',
     "the JSON ends early at line 1"),
    (_STATE_FILE, "this is a Terraform state file (terraform.tfstate), not a plan"),
    (_HCL, "this looks like Terraform configuration (HCL), not a plan"),
    ('{"format_version": "2.0", "resource_changes": []}',
     "plan format_version 2.0 is newer than this quotaform reads (0.x and 1.x); upgrade "
     "quotaform"),
    ("", "the file is empty"),
    ("{}", "the plan is an empty JSON object"),
    (PLATFORM.read_text(), "this is a quotaform.json data document, not a plan; pass it with "
                           "--data and give the plan JSON"),
], ids=["not-json", "truncated", "state-file", "hcl", "newer-format", "empty-file",
        "empty-object", "data-as-plan"])
def test_cli_rejects_bad_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                              expected: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    code, out, err = _main(capsys, path, "--data", PLATFORM)
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {path}: ")
    assert expected in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_rejects_plan_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    (source,) = [path for path in PLANS if path.name.startswith("15_")]
    code, _, err = _main(capsys, source, "--data", source)
    assert code == 2
    assert err == (
        f"error: {source}: this is a Terraform plan, not a quotaform.json; give the plan as "
        "the first argument and pass the quotaform.json that 'quotaform synth' writes as "
        "--data\n")


def test_cli_rejects_invalid_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(PLATFORM.read_text())
    data["allocation"]["quotas"][0]["max_memory_gib"] = -1
    path = tmp_path / "quotaform.json"
    path.write_text(json.dumps(data))
    (plan,) = [item for item in PLANS if item.name.startswith("15_")]
    code, _, err = _main(capsys, plan, "--data", path)
    assert code == 2
    assert err.startswith(f"error: {path}: invalid declaration")
    assert "allocation.quotas.0.max_memory_gib" in err
    assert "Traceback" not in err


# A plan written here by the real terraform and hashicorp/aws provider: two
# instances of a pool module (for_each), each an ASG whose launch template id
# is unknown at plan time; a weighted mixed instances group and an EKS node group.
ROOT_MODULE = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

module "api" {
  source        = "./pool"
  for_each      = { blue = "m5.xlarge", green = "m5.large" }
  name          = each.key
  instance_type = each.value
}

resource "aws_launch_template" "reports" {
  name_prefix   = "reports-"
  image_id      = "ami-12c6146b"
  instance_type = "m5.large"
  tags          = { "quotaform:pool" = "reporting", "quotaform:team" = "data" }
}

resource "aws_autoscaling_group" "reports" {
  name               = "reports"
  min_size           = 0
  max_size           = 8
  availability_zones = ["us-east-1a"]
  mixed_instances_policy {
    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.reports.id
      }
      override {
        instance_type     = "m5.large"
        weighted_capacity = "2"
      }
      override {
        instance_type     = "m5.xlarge"
        weighted_capacity = "4"
      }
    }
  }
  tag {
    key                 = "quotaform:pool"
    value               = "reporting"
    propagate_at_launch = true
  }
  tag {
    key                 = "quotaform:team"
    value               = "data"
    propagate_at_launch = true
  }
}

resource "aws_eks_node_group" "batch" {
  cluster_name    = "k8s"
  node_group_name = "batch"
  node_role_arn   = "arn:aws:iam::123456789012:role/eks-nodes"
  subnet_ids      = ["subnet-12345678"]
  instance_types  = ["c5.large", "c5.xlarge"]
  tags            = { "quotaform:pool" = "batch", "quotaform:team" = "data" }
  scaling_config {
    desired_size = 1
    max_size     = 3
    min_size     = 1
  }
}
"""

POOL_MODULE = """
variable "name" { type = string }
variable "instance_type" { type = string }

resource "aws_launch_template" "web" {
  name_prefix   = "api-${var.name}-"
  image_id      = "ami-12c6146b"
  instance_type = var.instance_type
  tags          = { "quotaform:pool" = "api", "quotaform:team" = "payments" }
}

resource "aws_autoscaling_group" "web" {
  name               = "api-${var.name}"
  min_size           = 1
  max_size           = 3
  availability_zones = ["us-east-1a"]
  launch_template {
    id      = aws_launch_template.web.id
    version = "$Latest"
  }
  tag {
    key                 = "quotaform:pool"
    value               = "api"
    propagate_at_launch = true
  }
  tag {
    key                 = "quotaform:team"
    value               = "payments"
    propagate_at_launch = true
  }
}
"""


@pytest.fixture(scope="module")
def module_asg_plan(tmp_path_factory: pytest.TempPathFactory, terraform_bin: str,
                    provider_mirror: Path, moto_server: LocalAws) -> Path:
    """Run terraform init, plan and show -json once against the moto server."""
    work = tmp_path_factory.mktemp("terraform")
    (work / "pool").mkdir()
    (work / "main.tf").write_text(ROOT_MODULE)
    (work / "pool" / "main.tf").write_text(POOL_MODULE)
    (work / "cli.tfrc").write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{ path = "{provider_mirror}" }}\n'
        "}\n"
    )
    env = {
        **os.environ, **moto_server.environment(),
        "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"),
        "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
    }
    for command in (["init", "-input=false"], ["plan", "-input=false", "-out=tfplan"]):
        result = subprocess.run([terraform_bin, *command, "-no-color"], cwd=work, env=env,
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr
    show = subprocess.run([terraform_bin, "show", "-json", "tfplan"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=120, check=True)
    (work / "plan.json").write_text(show.stdout)
    return work / "plan.json"


@pytest.mark.terraform
@pytest.mark.moto
def test_terraform_module_asg_resolution(module_asg_plan: Path) -> None:
    result = _run(module_asg_plan, "--data", PLATFORM, "--format", "json")

    assert result.returncode == 1, result.stderr
    decision = Decision.model_validate_json(result.stdout)
    # blue: 3 x m5.xlarge (4 vCPU) + green: 3 x m5.large (2 vCPU) = 18 vCPU in 6 instances.
    assert [item.message for item in decision.violations] == [
        "pool 'api' would run 6 instances after this plan, over its quota of 4 (+2); "
        "lower max_size or raise the quota",
        "pool 'api' would use 18 vCPU after this plan, over its quota of 16 (+2); "
        "lower max_size or raise the quota",
    ]


@pytest.mark.terraform
@pytest.mark.moto
def test_terraform_mixed_group_and_node_group(module_asg_plan: Path, catalog: Catalog) -> None:
    config = load_config(PLATFORM, catalog)
    document = normalize_plan(load_plan(module_asg_plan), config, catalog)
    resources = {facts.address: facts for facts in document.resources}

    group = resources["aws_autoscaling_group.reports"]
    # max_size 8 units: m5.large (weight 2) alone 4 instances, 8 vCPU, 32 GiB;
    # m5.xlarge (weight 4) alone 2 instances, 8 vCPU, 32 GiB.
    assert [(item.instance_type, item.weighted_capacity, item.instances)
            for item in group.overrides] == [("m5.large", 2, 4), ("m5.xlarge", 4, 2)]
    assert group.usage_after.instances == 4
    assert group.usage_after.vcpu == 8
    assert group.usage_after.memory_gib == 32.0
    assert group.pool == "reporting"

    nodes = resources["aws_eks_node_group.batch"]
    # scaling_config max_size 3 of instance_types[0], c5.large: 2 vCPU, 4 GiB.
    assert nodes.instance_type == "c5.large"
    assert nodes.usage_after.instances == 3
    assert nodes.usage_after.vcpu == 6
    assert nodes.usage_after.memory_gib == 12.0
    assert document.unsized == []
    # Team data: reporting 8 + batch 6 vCPU.
    assert document.teams["data"].vcpu == 14
