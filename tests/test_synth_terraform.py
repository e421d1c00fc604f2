"""The synthesized example through the real terraform, the hashicorp/aws provider and moto.

One module-scoped workspace runs init, validate and the provider schema. A
second fixture plans and applies it once against the shared moto server and
plans again (about 40 s in all on 2 cores here). Expected addresses, types and tags are
typed out from examples/app.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cdk.synth import synth_app
from cdk.terraform import LOCAL_OVERRIDE_FILE, TerraformWorkspace, write_local_aws_override
from provider_bridge.local_aws import LocalAws

pytestmark = [pytest.mark.terraform, pytest.mark.moto]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_APP = ROOT / "examples" / "app.py"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
REGION = "us-east-1"

# Terraform meta-arguments: they configure the resource, so the provider schema lacks them.
META_ARGUMENTS = {"//", "provider", "count", "for_each", "depends_on", "lifecycle"}

# Pool options the example leaves out, so their attributes are checked from this app.
FEATURE_APP = """\
from cdktf import App

from cdk.constructs import AsgPool, DbPool, QuotaformStack, Team

app = App()
stack = QuotaformStack(app, "features")
Team(stack, "web")
AsgPool(stack, "front", team="web", instance_type="t3.medium", min_size=1, max_size=6,
        desired_capacity=2, availability_zones=["us-east-1a", "us-east-1b"],
        tags={"cost-center": "cc-17"})
DbPool(stack, "orders", team="web", instance_type="db.m5.large", count=2)
app.synth()
"""

EXPECTED_ADDRESSES = [
    "aws_autoscaling_group.api",
    "aws_instance.batch[0]",
    "aws_instance.batch[1]",
    "aws_instance.etl[0]",
    "aws_instance.reporting[0]",
    "aws_launch_template.api",
]

# aws_instance address -> (instance type, pool, team)
EXPECTED_INSTANCES = {
    "aws_instance.batch[0]": ("c5.xlarge", "batch", "data"),
    "aws_instance.batch[1]": ("c5.xlarge", "batch", "data"),
    "aws_instance.etl[0]": ("c5.large", "etl", "data"),
    "aws_instance.reporting[0]": ("m5.2xlarge", "reporting", "data"),
}


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory, terraform_bin: str, provider_mirror: Path,
    moto_server: LocalAws,
) -> TerraformWorkspace:
    """The synthesized example stack after ``terraform init`` from the offline mirror."""
    [result] = synth_app(EXAMPLE_APP, tmp_path_factory.mktemp("example-tf"))
    workspace = TerraformWorkspace(
        result.tf_json.parent, terraform=terraform_bin, env=moto_server.environment()
    )
    workspace.init()
    return workspace


@pytest.fixture(scope="module")
def provider_schema(workspace: TerraformWorkspace) -> dict[str, Any]:
    """The resource schemas of the installed hashicorp/aws provider."""
    schemas = workspace.providers_schema()["provider_schemas"]
    return schemas[AWS_PROVIDER]["resource_schemas"]


@pytest.fixture(scope="module")
def feature_tf_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("features")
    app = folder / "features.py"
    app.write_text(FEATURE_APP)
    [result] = synth_app(app, folder / "out")
    return json.loads(result.tf_json.read_text())


@dataclass(frozen=True)
class Applied:
    plan: dict[str, Any]
    state: dict[str, Any]
    replan: dict[str, Any]


@pytest.fixture(scope="module")
def applied(workspace: TerraformWorkspace, moto_server: LocalAws) -> Applied:
    """Plan and apply the example against moto once, then plan again."""
    write_local_aws_override(workspace.workdir, moto_server.endpoint_url, REGION)
    planfile = workspace.plan()
    plan = workspace.show_json(planfile)
    workspace.apply(planfile)
    state = workspace.state_json()
    replan = workspace.show_json(workspace.plan("replan.tfplan"))
    return Applied(plan=plan, state=state, replan=replan)


def _fits(schema_type: Any, value: Any) -> bool:
    """Return whether a JSON value can be given to an attribute of this terraform type."""
    if isinstance(value, str) and value.startswith("${"):
        return True  # a reference; terraform checks its type when it resolves it
    if schema_type == "string":
        return isinstance(value, str)
    if schema_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if schema_type == "bool":
        return isinstance(value, bool)
    kind, element = schema_type[0], schema_type[1]
    if kind == "map":
        return isinstance(value, dict) and all(_fits(element, item) for item in value.values())
    if kind in ("list", "set"):
        return isinstance(value, list) and all(_fits(element, item) for item in value)
    return False


def _schema_problems(block: dict[str, Any], body: dict[str, Any], where: str) -> list[str]:
    """List what in ``body`` the provider's schema ``block`` does not accept."""
    attributes = block.get("attributes", {})
    nested = block.get("block_types", {})
    problems = [
        f"{where}.{name}: required attribute is missing"
        for name, attribute in attributes.items()
        if attribute.get("required") and name not in body
    ]
    for name, value in body.items():
        path = f"{where}.{name}"
        if name in attributes:
            attribute = attributes[name]
            if not (attribute.get("required") or attribute.get("optional")):
                problems.append(f"{path}: computed only, cannot be set")
            if not _fits(attribute["type"], value):
                problems.append(f"{path}: {value!r} does not fit type {attribute['type']}")
        elif name in nested:
            block_type = nested[name]
            items = value if isinstance(value, list) else [value]
            if len(items) > block_type.get("max_items", len(items)):
                problems.append(f"{path}: {len(items)} blocks, at most {block_type['max_items']}")
            for index, item in enumerate(items):
                problems.extend(_schema_problems(block_type["block"], item, f"{path}[{index}]"))
        else:
            problems.append(f"{path}: not in the provider schema")
    return problems


def _without_meta_arguments(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name not in META_ARGUMENTS}


def _emitted(tf_json: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (resource_type, name, body)
        for resource_type, by_name in tf_json["resource"].items()
        for name, body in by_name.items()
    ]


def test_validate_reports_valid(workspace: TerraformWorkspace) -> None:
    report = workspace.validate()
    assert report["valid"] is True
    assert report["error_count"] == 0
    assert report["warning_count"] == 0


def test_schema_walk_finds_unknown_attributes(provider_schema: dict[str, Any]) -> None:
    body = {
        "ami": "ami-12c6146b",
        "instance_typo": "m5.large",
        "tags": ["quotaform:pool"],
        "arn": "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
        "count": 2,
    }
    block = provider_schema["aws_instance"]["block"]
    problems = _schema_problems(block, _without_meta_arguments(body), "aws_instance.x")
    assert sorted(problems) == [
        "aws_instance.x.arn: computed only, cannot be set",
        "aws_instance.x.instance_typo: not in the provider schema",
        "aws_instance.x.tags: ['quotaform:pool'] does not fit type ['map', 'string']",
    ]


def test_schema_walk_checks_nested_blocks(provider_schema: dict[str, Any]) -> None:
    body = {
        "max_size": 1,
        "tag": [{"key": "quotaform:pool", "value": "api", "propagate": True}],
        "launch_template": [{"id": "lt-1"}, {"id": "lt-2"}],
    }
    block = provider_schema["aws_autoscaling_group"]["block"]
    problems = _schema_problems(block, body, "aws_autoscaling_group.x")
    assert sorted(problems) == [
        "aws_autoscaling_group.x.launch_template: 2 blocks, at most 1",
        "aws_autoscaling_group.x.min_size: required attribute is missing",
        "aws_autoscaling_group.x.tag[0].propagate: not in the provider schema",
        "aws_autoscaling_group.x.tag[0].propagate_at_launch: required attribute is missing",
    ]


def test_emitted_attributes_in_provider_schema(
    workspace: TerraformWorkspace, provider_schema: dict[str, Any],
    feature_tf_json: dict[str, Any],
) -> None:
    example_tf_json = json.loads((workspace.workdir / "cdk.tf.json").read_text())
    emitted = _emitted(example_tf_json) + _emitted(feature_tf_json)
    assert {resource_type for resource_type, _, _ in emitted} == {
        "aws_launch_template", "aws_autoscaling_group", "aws_instance", "aws_db_instance",
    }

    problems = []
    for resource_type, name, body in emitted:
        block = provider_schema[resource_type]["block"]
        settable = _without_meta_arguments(body)
        problems.extend(_schema_problems(block, settable, f"{resource_type}.{name}"))
    assert problems == []


def test_plan_creates_every_pool_resource(applied: Applied) -> None:
    changes = {change["address"]: change["change"]["actions"]
               for change in applied.plan["resource_changes"]}
    assert sorted(changes) == EXPECTED_ADDRESSES
    assert set(map(tuple, changes.values())) == {("create",)}


def test_plan_keeps_launch_template_reference(applied: Applied) -> None:
    resources = applied.plan["configuration"]["root_module"]["resources"]
    [group] = [item for item in resources if item["address"] == "aws_autoscaling_group.api"]
    [template] = group["expressions"]["launch_template"]
    assert "aws_launch_template.api.id" in template["id"]["references"]


def _state_resources(applied: Applied) -> dict[str, dict[str, Any]]:
    return {item["address"]: item["values"]
            for item in applied.state["values"]["root_module"]["resources"]}


def test_state_holds_pool_resources(applied: Applied, workspace: TerraformWorkspace) -> None:
    resources = _state_resources(applied)
    assert sorted(resources) == EXPECTED_ADDRESSES
    assert (workspace.workdir / "terraform.tfstate").is_file()


def test_state_instances_typed_and_tagged(applied: Applied) -> None:
    resources = _state_resources(applied)
    for address, (instance_type, pool, team) in EXPECTED_INSTANCES.items():
        values = resources[address]
        assert values["instance_type"] == instance_type, address
        assert values["tags"] == {"quotaform:pool": pool, "quotaform:team": team}, address


def test_state_group_uses_template(applied: Applied) -> None:
    resources = _state_resources(applied)
    template = resources["aws_launch_template.api"]
    group = resources["aws_autoscaling_group.api"]
    assert template["instance_type"] == "m5.xlarge"
    assert template["tags"] == {"quotaform:pool": "api", "quotaform:team": "payments"}
    assert [item["id"] for item in group["launch_template"]] == [template["id"]]
    assert group["min_size"] == 2
    assert group["max_size"] == 4


def test_second_plan_has_no_changes(applied: Applied) -> None:
    actions = {change["address"]: change["change"]["actions"]
               for change in applied.replan["resource_changes"]}
    assert sorted(actions) == EXPECTED_ADDRESSES
    assert {address: action for address, action in actions.items() if action != ["no-op"]} == {}


def _tags(instance: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}


def test_boto3_sees_tagged_instances(applied: Applied, moto_server: LocalAws) -> None:
    resources = _state_resources(applied)
    ids = {resources[address]["id"]: address for address in EXPECTED_INSTANCES}
    ec2 = moto_server.client("ec2")

    reservations = ec2.describe_instances(InstanceIds=sorted(ids))["Reservations"]
    instances = [item for reservation in reservations for item in reservation["Instances"]]

    assert sorted(item["InstanceId"] for item in instances) == sorted(ids)
    for instance in instances:
        instance_type, pool, team = EXPECTED_INSTANCES[ids[instance["InstanceId"]]]
        assert instance["InstanceType"] == instance_type
        assert _tags(instance) == {"quotaform:pool": pool, "quotaform:team": team}


def test_boto3_sees_group_instances_tagged(applied: Applied, moto_server: LocalAws) -> None:
    group_name = _state_resources(applied)["aws_autoscaling_group.api"]["id"]
    autoscaling = moto_server.client("autoscaling")
    ec2 = moto_server.client("ec2")

    [group] = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[group_name]
    )["AutoScalingGroups"]
    member_ids = sorted(item["InstanceId"] for item in group["Instances"])
    assert len(member_ids) == 2  # min_size 2, no desired_capacity
    reservations = ec2.describe_instances(InstanceIds=member_ids)["Reservations"]
    members = [item for reservation in reservations for item in reservation["Instances"]]

    assert {(tag["Key"], tag["Value"], tag["PropagateAtLaunch"]) for tag in group["Tags"]} == {
        ("quotaform:pool", "api", True), ("quotaform:team", "payments", True),
    }
    for member in members:
        assert member["InstanceType"] == "m5.xlarge"
        assert _tags(member)["quotaform:pool"] == "api"
        assert _tags(member)["quotaform:team"] == "payments"


def test_local_override_points_at_moto(applied: Applied, workspace: TerraformWorkspace,
                                       moto_server: LocalAws) -> None:
    override = json.loads((workspace.workdir / LOCAL_OVERRIDE_FILE).read_text())
    provider = override["provider"]["aws"]
    assert provider["region"] == REGION
    assert provider["endpoints"][0]["ec2"] == moto_server.endpoint_url
    assert provider["endpoints"][0]["autoscaling"] == moto_server.endpoint_url
    assert override["resource"] == {
        "aws_launch_template": {"api": {"lifecycle": {"ignore_changes": ["tag_specifications"]}}}
    }
