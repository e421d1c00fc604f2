"""Every real plan in tests/fixtures/plans through ``quotaform check`` as a subprocess.

None of these plans carries quotaform tags, so with the default required tags
every aws_instance, aws_launch_template, aws_autoscaling_group and
aws_db_instance the plan creates or updates is denied. The counts below are
taken from each plan's resource_changes by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdk.model import load_config
from policies import Decision, check_plan, load_plan
from provider_bridge import Catalog
from provider_bridge.local_aws import LocalAws

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


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUOTAFORM), "check", *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_fixture_list_is_complete() -> None:
    assert sorted(path.name[:2] for path in PLANS) == sorted(EXPECTED_DENIALS)


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


# A plan written here by the real terraform and hashicorp/aws provider: two
# instances of a pool module (for_each), each an ASG whose launch template id
# is unknown at plan time.
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
