"""Inventory from Terraform state JSON, with Auto Scaling members from a moto server."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from cdk.errors import InputError
from provider_bridge.inventory import load_inventory
from provider_bridge.local_aws import LocalAws

REGION = "eu-west-1"


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

    assert "plan.json: this is a plan, not a state" in str(caught.value)
    assert "terraform show -json" in str(caught.value)


def test_not_json_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_inventory(_write(tmp_path, "resource \"aws_instance\" {}", "main.tf"))

    assert "main.tf: not valid JSON" in str(caught.value)


def test_other_json_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_inventory(_write(tmp_path, {"allocation": {}}, "quotaform.json"))

    assert "quotaform.json: not Terraform JSON output" in str(caught.value)


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
