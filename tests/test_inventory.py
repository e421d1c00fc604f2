"""Inventory from Terraform state JSON, with Auto Scaling members from a moto server."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from cdk.errors import InputError
from provider_bridge.inventory import (
    load_inventory,
    plan_region,
    plan_resources,
    read_inventory,
    read_plan,
)
from provider_bridge.local_aws import LocalAws

REGION = "eu-west-1"
PLANS = Path(__file__).resolve().parent / "fixtures" / "plans"


def _tags(pool: str, team: str) -> dict[str, str]:
    return {"quotaform:pool": pool, "quotaform:team": team, "Name": pool}


def _instance(address: str, instance_id: str, instance_type: str, tags: dict | None) -> dict:
    return {
        "address": address, "mode": "managed", "type": "aws_instance",
        "name": address.split(".")[-1].split("[")[0],
        "values": {
            "id": instance_id, "instance_type": instance_type, "tags": tags, "tags_all": tags,
            "arn": f"arn:aws:ec2:{REGION}:123456789012:instance/{instance_id}",
            "availability_zone": f"{REGION}a",
        },
    }


def _state(root: dict) -> dict:
    return {"format_version": "1.0", "terraform_version": "1.9.5", "values": {"root_module": root}}


def _write(tmp_path: Path, document: Any, name: str = "state.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_instances_in_nested_modules(tmp_path: Path) -> None:
    root = {
        "resources": [_instance("aws_instance.batch[0]", "i-0001", "c5.xlarge",
                                _tags("batch", "data"))],
        "child_modules": [{
            "address": "module.data",
            "resources": [_instance("module.data.aws_instance.batch[1]", "i-0002", "c5.xlarge",
                                    _tags("batch", "data"))],
            "child_modules": [{
                "address": "module.data.module.reports",
                "resources": [_instance("module.data.module.reports.aws_instance.main",
                                        "i-0003", "m5.2xlarge", _tags("reporting", "data"))],
            }],
        }],
    }

    pools = load_inventory(_write(tmp_path, _state(root)))

    assert sorted(pools) == ["batch", "reporting"]
    assert sorted(r.resource_id for r in pools["batch"].resources) == ["i-0001", "i-0002"]
    reporting = pools["reporting"].resources[0]
    assert reporting.instance_type == "m5.2xlarge"
    assert reporting.team == "data"
    assert reporting.region == REGION
    assert reporting.address == "module.data.module.reports.aws_instance.main"
    assert pools["batch"].kind == "instances"


def test_untagged_resources_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = {"resources": [
        _instance("aws_instance.bastion", "i-0009", "t3.micro", {"Name": "bastion"}),
        _instance("aws_instance.nulltags", "i-0010", "t3.micro", None),
        _instance("aws_instance.etl", "i-0011", "c5.large", _tags("etl", "data")),
    ]}

    with caplog.at_level(logging.DEBUG, logger="provider_bridge.inventory"):
        pools = load_inventory(_write(tmp_path, _state(root)))

    assert list(pools) == ["etl"]
    assert "skipped aws_instance.bastion: no quotaform:pool tag" in caplog.text
    assert "skipped aws_instance.nulltags: no quotaform:pool tag" in caplog.text


def test_db_instance_uses_identifier(tmp_path: Path) -> None:
    root = {"resources": [{
        "address": "aws_db_instance.orders", "mode": "managed", "type": "aws_db_instance",
        "name": "orders",
        "values": {"id": "db-ABCDEF", "identifier": "orders", "instance_class": "db.m5.large",
                   "tags": _tags("orders-db", "payments"),
                   "arn": "arn:aws:rds:us-west-2:123456789012:db:orders"},
    }]}

    pools = load_inventory(_write(tmp_path, _state(root)))

    resource = pools["orders-db"].resources[0]
    assert resource.resource_id == "orders"
    assert resource.kind == "db"
    assert resource.instance_type == "db.m5.large"
    assert resource.region == "us-west-2"


def _asg_state(group: str, template_id: str) -> dict:
    return _state({"resources": [
        {"address": "aws_launch_template.api", "mode": "managed", "type": "aws_launch_template",
         "name": "api", "values": {"id": template_id, "name": group, "instance_type": "m5.xlarge",
                                   "tags": {}}},
        {"address": "aws_autoscaling_group.api", "mode": "managed",
         "type": "aws_autoscaling_group", "name": "api",
         "values": {
             "name": group, "min_size": 2, "max_size": 4,
             "arn": f"arn:aws:autoscaling:{REGION}:123456789012:autoScalingGroup:x:"
                    f"autoScalingGroupName/{group}",
             "launch_template": [{"id": template_id, "name": group, "version": "$Latest"}],
             "tag": [
                 {"key": "quotaform:pool", "value": "api", "propagate_at_launch": True},
                 {"key": "quotaform:team", "value": "payments", "propagate_at_launch": True},
             ],
         }},
    ]})


def _client(aws: LocalAws, service: str) -> Any:
    return boto3.session.Session().client(service, region_name=REGION,
                                          endpoint_url=aws.endpoint_url)


def test_asg_members_come_from_autoscaling(tmp_path: Path, aws_env: LocalAws) -> None:
    group = f"api-{uuid.uuid4().hex[:8]}"
    ec2 = _client(aws_env, "ec2")
    autoscaling = _client(aws_env, "autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName=group,
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "m5.xlarge"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=2, MaxSize=4, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        AvailabilityZones=[f"{REGION}a"],
    )
    described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    expected = sorted(i["InstanceId"] for i in described["AutoScalingGroups"][0]["Instances"])

    pools = load_inventory(_write(tmp_path, _asg_state(group, template)),
                           autoscaling=lambda region: _client(aws_env, "autoscaling"))

    api = pools["api"]
    assert api.kind == "asg"
    assert api.asg_names == [group]
    assert len(expected) == 2
    assert sorted(r.resource_id for r in api.resources) == expected
    assert {r.instance_type for r in api.resources} == {"m5.xlarge"}
    assert {r.kind for r in api.resources} == {"asg-member"}
    assert api.team == "payments"


def test_asg_without_aws_access_keeps_template_type(tmp_path: Path) -> None:
    pools = load_inventory(_write(tmp_path, _asg_state("api-offline", "lt-0123")))

    assert pools["api"].resources == []
    assert pools["api"].instance_types == ["m5.xlarge"]


def test_plan_is_rejected(tmp_path: Path) -> None:
    plan = {"format_version": "1.2", "planned_values": {"root_module": {}},
            "resource_changes": []}

    with pytest.raises(InputError) as caught:
        load_inventory(_write(tmp_path, plan, "plan.json"))

    assert "plan.json: this is a plan, not a state; pass it with --plan" in str(caught.value)
    assert "terraform show -json" in str(caught.value)


def test_not_json_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_inventory(_write(tmp_path, "resource \"aws_instance\" {}", "main.tf"))

    assert "main.tf: not valid JSON" in str(caught.value)


def test_other_json_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_inventory(_write(tmp_path, {"allocation": {}}, "quotaform.json"))

    assert "quotaform.json: not Terraform JSON output (no 'format_version') and not a state " \
        "file" in str(caught.value)


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_inventory(tmp_path / "absent.json")

    assert "absent.json: file not found" in str(caught.value)


def test_empty_state_has_no_pools(tmp_path: Path) -> None:
    assert load_inventory(_write(tmp_path, {"format_version": "1.0"})) == {}


def test_resource_without_required_attribute(tmp_path: Path) -> None:
    broken = _instance("aws_instance.etl", "i-0011", "c5.large", _tags("etl", "data"))
    del broken["values"]["instance_type"]

    with pytest.raises(InputError) as caught:
        load_inventory(_write(tmp_path, _state({"resources": [broken]})))

    assert "resource aws_instance.etl has no attribute 'instance_type'" in str(caught.value)


def _tfstate(resources: list[dict], version: int = 4) -> dict:
    return {"version": version, "terraform_version": "1.9.5", "serial": 3,
            "lineage": "8a7b", "outputs": {}, "resources": resources}


def _tfstate_instances(module: str | None, name: str, instances: list[tuple[Any, str, str]],
                       pool: str) -> dict:
    block: dict[str, Any] = {
        "mode": "managed", "type": "aws_instance", "name": name,
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [
            {**({"index_key": key} if key is not None else {}), "schema_version": 1,
             "attributes": {
                 "id": instance_id, "instance_type": instance_type,
                 "tags": _tags(pool, "data"),
                 "arn": f"arn:aws:ec2:{REGION}:210987654321:instance/{instance_id}",
             }}
            for key, instance_id, instance_type in instances
        ],
    }
    if module:
        block["module"] = module
    return block


def test_state_file_addresses_follow_terraform(tmp_path: Path) -> None:
    document = _tfstate([
        _tfstate_instances(None, "batch", [(0, "i-0001", "c5.xlarge"), (1, "i-0002", "c5.xlarge")],
                           "batch"),
        _tfstate_instances("module.data", "etl", [("eu", "i-0003", "c5.large")], "etl"),
        _tfstate_instances("module.data.module.reports", "main", [(None, "i-0004", "m5.large")],
                           "reporting"),
        {"mode": "data", "type": "aws_instance", "name": "lookup",
         "instances": [{"attributes": {"id": "i-0009", "instance_type": "t3.micro",
                                       "tags": _tags("batch", "data")}}]},
    ])

    pools = load_inventory(_write(tmp_path, document, "terraform.tfstate"))

    addresses = {r.resource_id: r.address for p in pools.values() for r in p.resources}
    assert addresses == {
        "i-0001": "aws_instance.batch[0]",
        "i-0002": "aws_instance.batch[1]",
        "i-0003": 'module.data.aws_instance.etl["eu"]',
        "i-0004": "module.data.module.reports.aws_instance.main",
    }
    assert pools["etl"].resources[0].account_id == "210987654321"
    assert pools["etl"].resources[0].region == REGION


def test_state_file_skips_deposed_instances(tmp_path: Path) -> None:
    block = _tfstate_instances(None, "api", [(None, "i-0005", "m5.large")], "api")
    block["instances"].append({"deposed": "00000001", "schema_version": 1,
                               "attributes": {**block["instances"][0]["attributes"],
                                              "id": "i-old"}})

    pools = load_inventory(_write(tmp_path, _tfstate([block]), "terraform.tfstate"))

    assert [r.resource_id for r in pools["api"].resources] == ["i-0005"]


def test_old_state_file_version_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_inventory(_write(tmp_path, _tfstate([], version=3), "terraform.tfstate"))

    assert "terraform.tfstate: state file format version 3 is not supported" in str(caught.value)


def _change(address: str, actions: list[str], after: dict | None,
            kind: str = "aws_instance") -> dict:
    return {"address": address, "mode": "managed", "type": kind, "name": address.split(".")[-1],
            "change": {"actions": actions, "before": None, "after": after}}


def _plan(changes: list[dict], region: Any = "eu-west-1") -> dict:
    return {
        "format_version": "1.2", "terraform_version": "1.9.5",
        "planned_values": {"root_module": {}}, "resource_changes": changes,
        "configuration": {"provider_config": {"aws": {"name": "aws", "expressions": {
            "region": region}}}},
        "variables": {"region": {"value": "ap-south-1"}},
    }


def test_plan_reads_values_after_the_change(tmp_path: Path) -> None:
    tags = _tags("web", "shop")
    plan = _plan([
        _change("aws_instance.web[0]", ["update"],
                {"id": "i-0100", "instance_type": "m5.large", "tags": tags}),
        _change("aws_instance.web[1]", ["no-op"],
                {"id": "i-0101", "instance_type": "m5.xlarge", "tags": tags}),
        _change("aws_instance.web[2]", ["create"], {"instance_type": "m5.large", "tags": tags}),
        _change("aws_instance.web[3]", ["delete", "create"],
                {"instance_type": "m5.large", "tags": tags}),
        _change("aws_instance.web[4]", ["delete"], None),
    ], region={"constant_value": "eu-west-1"})

    pools = load_inventory(_write(tmp_path, plan, "plan.json"), input_format="plan")

    web = pools["web"]
    assert [(r.resource_id, r.instance_type) for r in web.resources] == [
        ("i-0100", "m5.large"), ("i-0101", "m5.xlarge")]
    assert web.not_created == ["aws_instance.web[2]", "aws_instance.web[3]"]
    assert {r.region for r in web.resources} == {"eu-west-1"}


def test_plan_region_from_variable() -> None:
    plan = _plan([], region={"references": ["var.region"]})

    assert plan_region(plan) == "ap-south-1"


def test_plan_without_changes_list_uses_planned_values(tmp_path: Path) -> None:
    plan = {"format_version": "1.0", "planned_values": {"root_module": {"child_modules": [
        {"address": "module.app", "resources": [
            _instance("module.app.aws_instance.web", "i-0200", "c5.large", _tags("web", "t"))]},
    ]}}}

    pools = load_inventory(_write(tmp_path, plan, "plan.json"), input_format="plan")

    assert [r.address for r in pools["web"].resources] == ["module.app.aws_instance.web"]


@pytest.mark.parametrize(("document", "name", "fragment"), [
    ({"format_version": "1.0", "values": {"root_module": {}}}, "state.json",
     "state.json: this is a state, not a plan"),
    (_tfstate([]), "terraform.tfstate", "terraform.tfstate: this is a state file, not a plan"),
    ({"allocation": {}}, "quotaform.json", "quotaform.json: not Terraform JSON output"),
])
def test_plan_input_rejects_other_files(tmp_path: Path, document: dict, name: str,
                                        fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        read_plan(_write(tmp_path, document, name))

    assert fragment in str(caught.value)
    assert "--state" in str(caught.value) or "terraform show -json" in str(caught.value)


def test_binary_plan_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "plan.tfplan"
    path.write_bytes(b"PK\x03\x04binary")

    with pytest.raises(InputError) as caught:
        read_inventory(path, input_format="plan")

    assert "plan.tfplan: is a binary plan file, not JSON; convert it with " \
        "'terraform show -json plan.tfplan > plan.json'" in str(caught.value)


def test_real_plan_no_op_and_create(tmp_path: Path) -> None:
    # A plan written by terraform 0.14.11: some instances exist (no-op, update),
    # others are created. Its resources carry no pool tag, so one is added.
    source = PLANS / "09_infracost-instances-rds-nested-modules-depth3_tf0.14.11.json"
    plan = json.loads(source.read_text())
    for change in plan["resource_changes"]:
        if change["type"] in ("aws_instance", "aws_db_instance") and change["change"]["after"]:
            change["change"]["after"]["tags"] = _tags("fleet", "platform")

    pools = load_inventory(_write(tmp_path, plan, "plan.json"), input_format="plan")

    fleet = pools["fleet"]
    assert sorted(r.address for r in fleet.resources) == [
        "aws_instance.instance_1",
        "aws_instance.instance_counted[0]",
        'aws_instance.instance_named["test.1"]',
        "module.db.module.db_1.module.db_instance.aws_db_instance.this[0]",
        "module.instances.aws_instance.module_instance_1",
        "module.instances.aws_instance.module_instance_counted[0]",
        'module.instances.aws_instance.module_instance_named["test.1"]',
    ]
    assert len(fleet.not_created) == 7
    assert {r.region for r in fleet.resources} == {"us-east-1"}


@pytest.mark.parametrize("name", sorted(p.name for p in PLANS.glob("*.json")))
def test_real_plans_have_no_pools_without_tags(tmp_path: Path, name: str) -> None:
    document = json.loads((PLANS / name).read_text())

    resources = plan_resources(document)

    expected = [c["address"] for c in document.get("resource_changes", [])
                if c.get("mode") == "managed" and c["change"]["actions"] != ["delete"]]
    assert [r.address for r in resources] == expected
    assert read_inventory(PLANS / name, input_format="plan") == {}


def test_legacy_group_tag_list(tmp_path: Path) -> None:
    # AWS provider 2 wrote an Auto Scaling group's tags as a list of maps.
    source = PLANS / "03_tfcompliance-asg-launchconfig-elb-count_tf0.12.3.json"
    plan = json.loads(source.read_text())
    [group] = [c for c in plan["resource_changes"] if c["type"] == "aws_autoscaling_group"]
    group["change"]["after"]["tags"] = [
        {"key": "quotaform:pool", "value": "legacy", "propagate_at_launch": "true"},
        {"key": "quotaform:team", "value": "ops", "propagate_at_launch": "true"},
    ]

    pools = load_inventory(_write(tmp_path, plan, "plan.json"), input_format="plan")

    assert pools["legacy"].not_created == ["aws_autoscaling_group.example"]
    assert pools["legacy"].team == "ops"
    assert pools["legacy"].kind == "asg"


# --- The real terraform and hashicorp/aws provider against moto ---------------------------

TF_REGION = "us-east-2"


def _tf_config(instance_type: str) -> dict[str, Any]:
    pool_tags = [{"key": k, "value": v, "propagate_at_launch": True}
                 for k, v in _tags("api", "shop").items()]
    return {"resource": {
        "aws_instance": {"web": {"count": 2, "ami": "ami-12c6146b",
                                 "instance_type": instance_type, "tags": _tags("web", "shop")}},
        "aws_launch_template": {"api": {"name": "inventory-api", "image_id": "ami-12c6146b",
                                        "instance_type": "m5.large"}},
        "aws_autoscaling_group": {"api": {
            "name": "inventory-api", "min_size": 1, "max_size": 3, "desired_capacity": 1,
            "availability_zones": [f"{TF_REGION}a"], "wait_for_capacity_timeout": "0",
            "launch_template": {"id": "${aws_launch_template.api.id}", "version": "$Latest"},
            "tag": pool_tags,
        }},
    }}


@dataclass(frozen=True)
class Terraformed:
    state_json: Path
    state_file: Path


@pytest.fixture(scope="module")
def terraformed(tmp_path_factory: pytest.TempPathFactory, terraform_bin: str,
                provider_mirror: Path, moto_server: LocalAws) -> Terraformed:
    """Two tagged instances and a tagged group applied by terraform to moto.

    Plans written by terraform are covered by the fixtures in tests/fixtures/plans,
    so this fixture runs only init, apply and show.
    """
    from cdk.terraform import TerraformWorkspace, write_local_aws_override

    workdir = tmp_path_factory.mktemp("inventory-tf")
    (workdir / "main.tf.json").write_text(json.dumps(_tf_config("t3.micro")))
    write_local_aws_override(workdir, moto_server.endpoint_url, TF_REGION)
    workspace = TerraformWorkspace(workdir, terraform=terraform_bin,
                                   env=moto_server.environment())
    workspace.init()
    workspace.apply()
    return Terraformed(_write(workdir, workspace.state_json(), "state.json"),
                       workdir / "terraform.tfstate")


@pytest.mark.terraform
@pytest.mark.moto
def test_terraform_state_both_formats_agree(terraformed: Terraformed) -> None:
    shown = read_inventory(terraformed.state_json)
    raw = read_inventory(terraformed.state_file)

    assert shown == raw
    web = shown["web"]
    assert sorted(r.address for r in web.resources) == ["aws_instance.web[0]",
                                                        "aws_instance.web[1]"]
    assert {r.instance_type for r in web.resources} == {"t3.micro"}
    assert {r.region for r in web.resources} == {TF_REGION}
    [group] = shown["api"].groups
    assert (group.name, group.template_type, group.min_size, group.max_size) == (
        "inventory-api", "m5.large", 1, 3)
    # The local override skips the account lookup, so only the group's ARN,
    # which moto writes, names the account.
    assert group.account_id == "123456789012"


@pytest.mark.terraform
@pytest.mark.moto
def test_terraform_state_completed_from_aws(terraformed: Terraformed,
                                            moto_server: LocalAws) -> None:
    from provider_bridge.aws import AwsAccess
    from provider_bridge.discovery import complete_from_aws

    pools = read_inventory(terraformed.state_json)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in moto_server.environment().items():
            patch.setenv(name, value)
        complete_from_aws(pools, AwsAccess(endpoint_url=moto_server.endpoint_url))

    members = pools["api"].resources
    assert len(members) == 1
    assert members[0].kind == "asg-member"
    assert members[0].instance_type == "m5.large"
    assert members[0].asg_name == "inventory-api"
    assert all(r.launch_time is not None for p in pools.values() for r in p.resources)
