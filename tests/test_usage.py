"""The usage document: reading it, adding it to a check, and writing it from a moto server.

Live resources are created in ca-central-1 of the shared moto server, a region
no other test uses. Prices there, from the catalog data: m5.large 0.107,
m5.xlarge 0.214, c5.xlarge 0.186, t3.medium 0.0464 and r5.large 0.138 USD an
hour, times 730 hours.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import pytest

from cdk.errors import InputError
from cdk.model import load_config
from policies import Decision, check_plan
from policies.documents import Usage, UsageDocument, load_schema
from policies.usage import external_usage, load_usage, managed_ids
from provider_bridge import Catalog
from provider_bridge.local_aws import LocalAws
from quotaform.cli import main

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
PLATFORM = CHECK / "platform.json"
REGION = "ca-central-1"
POOL_TAGS = [{"Key": "quotaform:pool", "Value": "api"},
             {"Key": "quotaform:team", "Value": "payments"}]


def _main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the CLI entry point in this process; return exit code, stdout and stderr."""
    with mock.patch.object(sys, "argv", ["quotaform", *map(str, args)]):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _document(**pools: Any) -> dict[str, Any]:
    return {"version": 1, "generated_at": "2026-01-05T10:00:00Z", "regions": ["us-east-1"],
            "pools": pools}


def _resource(ids: list[str], instances: int, vcpu: int, memory: float,
              cost: float) -> dict[str, Any]:
    return {"kind": "autoscaling-group", "ids": ids, "region": "us-east-1",
            "instance_type": "m5.xlarge",
            "usage": {"instances": instances, "vcpu": vcpu, "memory_gib": memory,
                      "monthly_cost_usd": cost}}


# Another stack runs api-blue (2 x m5.xlarge) and api-green (1 x m5.xlarge).
OTHER_STACK = _document(api={
    "team": "payments",
    "usage": {"instances": 3, "vcpu": 12, "memory_gib": 48.0, "monthly_cost_usd": 420.48},
    "resources": [
        _resource(["api-blue", "arn:aws:autoscaling:us-east-1:1:asg/api-blue"], 2, 8, 32.0,
                  280.32),
        _resource(["api-green"], 1, 4, 16.0, 140.16),
    ],
})


def _write(tmp_path: Path, document: dict[str, Any], name: str = "usage.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


# Reading the document


def test_load_valid_document(tmp_path: Path) -> None:
    document = load_usage(_write(tmp_path, OTHER_STACK))
    assert document.pools["api"].usage.vcpu == 12
    assert [item.ids[0] for item in document.pools["api"].resources] == ["api-blue",
                                                                          "api-green"]


def test_document_matches_its_schema() -> None:
    jsonschema.validate(OTHER_STACK, load_schema("usage.schema.json"))


def test_totals_without_resources_are_accepted(tmp_path: Path) -> None:
    document = _document(batch={"usage": {"instances": 2, "vcpu": 8}})
    loaded = load_usage(_write(tmp_path, document))
    assert loaded.pools["batch"].usage == Usage(instances=2, vcpu=8)


@pytest.mark.parametrize(("content", "expected"), [
    ("", "the file is empty; write it with 'quotaform usage --data quotaform.json -o "
         "usage.json'"),
    ('{"version": 1, "pools": {', "not valid JSON at line 1, column 26"),
    ("[]", "expected a JSON object with 'version' and 'pools', found a list"),
    ('{"version": 2, "pools": {}}', "usage document version 2 is newer than this quotaform "
                                    "reads (1)"),
    ('{"format_version": "1.2", "resource_changes": []}',
     "this looks like a Terraform plan (pass it as the plan argument), not a usage document"),
    (PLATFORM.read_text(), "this looks like a quotaform.json data document (pass it with "
                           "--data), not a usage document"),
], ids=["empty", "truncated", "list", "newer-version", "plan", "data"])
def test_load_rejects(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "usage.json"
    path.write_text(content)
    with pytest.raises(InputError) as error:
        load_usage(path)
    assert str(error.value).startswith(f"{path}: ")
    assert expected in str(error.value)


def test_load_rejects_usage_not_summing_up(tmp_path: Path) -> None:
    document = json.loads(json.dumps(OTHER_STACK))
    document["pools"]["api"]["usage"]["vcpu"] = 10
    path = _write(tmp_path, document)
    with pytest.raises(InputError) as error:
        load_usage(path)
    message = str(error.value)
    assert message.startswith(f"{path}: invalid usage document")
    assert "pools.api: usage" in message
    assert "is not the sum of the listed resources" in message


def test_load_rejects_resource_without_ids(tmp_path: Path) -> None:
    document = json.loads(json.dumps(OTHER_STACK))
    document["pools"]["api"]["resources"][1]["ids"] = []
    with pytest.raises(InputError, match=r"pools\.api\.resources\.1\.ids: List should have "
                                         r"at least 1 item"):
        load_usage(_write(tmp_path, document))


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="usage.json: file not found; write it with "
                                         "'quotaform usage"):
        load_usage(tmp_path / "usage.json")


# Adding it to a check


def test_plan_managed_resources_are_skipped() -> None:
    document = UsageDocument.model_validate(OTHER_STACK)
    pools = external_usage(document, {"api-green"}, "usage.json")
    assert pools["api"].usage == Usage(instances=2, vcpu=8, memory_gib=32.0,
                                       monthly_cost_usd=280.32)


def test_managed_ids_of_counted_types_only() -> None:
    plan = {"format_version": "1.2", "resource_changes": [
        {"address": "aws_autoscaling_group.web", "type": "aws_autoscaling_group",
         "change": {"actions": ["update"], "before": {"id": "web", "arn": "arn:asg/web"},
                    "after": {"id": "web", "arn": "arn:asg/web"}}},
        {"address": "aws_iam_role.web", "type": "aws_iam_role",
         "change": {"actions": ["no-op"], "before": {"id": "api-blue"}, "after": {}}},
    ], "prior_state": {"values": {"root_module": {"resources": [
        {"address": "aws_db_instance.db", "type": "aws_db_instance",
         "values": {"id": "db-ABC", "identifier": "reports"}},
    ]}}}}
    ids = managed_ids(plan, ["aws_autoscaling_group", "aws_db_instance"])
    # The IAM role's id is not a compute id, so it may not hide usage.
    assert ids == {"web", "arn:asg/web", "db-ABC", "reports"}


def test_usage_outside_plan_counts_against_quota(catalog: Catalog) -> None:
    plan = json.loads((CHECK / "plan_api_scale_out.json").read_text())
    plan["resource_changes"][1]["change"]["after"]["max_size"] = 4
    config = load_config(PLATFORM, catalog)
    alone = check_plan(plan, config, catalog)
    usage = UsageDocument.model_validate(OTHER_STACK)
    decision = check_plan(plan, config, catalog, usage=usage)

    assert alone.allowed is True
    # The plan's 4 x m5.xlarge (16 vCPU) plus 3 more from the other stack (12 vCPU): over
    # the quota on both sides, but the plan does not grow the pool, so it is not denied.
    assert [item.message for item in decision.violations if item.pool == "api"] == []
    rows = {(row.target, row.metric): row for row in decision.quotas}
    assert (rows[("api", "instances")].before, rows[("api", "instances")].after) == (7, 7)
    assert (rows[("api", "vcpu")].before, rows[("api", "vcpu")].after) == (28, 28)


def test_usage_outside_plan_with_growth_denies(catalog: Catalog) -> None:
    plan = json.loads((CHECK / "plan_api_scale_out.json").read_text())
    plan["resource_changes"][1]["change"]["after"]["max_size"] = 5
    config = load_config(PLATFORM, catalog)
    decision = check_plan(plan, config, catalog, usage=UsageDocument.model_validate(OTHER_STACK))
    # 5 + 3 instances, 20 + 12 vCPU.
    assert [item.message for item in decision.violations] == [
        "pool 'api' would run 8 instances after this plan, over its quota of 4 (+4); "
        "lower max_size or raise the quota",
        "pool 'api' would use 32 vCPU after this plan, over its quota of 16 (+16); "
        "lower max_size or raise the quota",
    ]


def test_usage_of_team_pools_counts_for_team(catalog: Catalog) -> None:
    plan = json.loads((CHECK / "plan_data_pools.json").read_text())
    config = load_config(PLATFORM, catalog)
    other = _document(etl={"team": "data", "usage": {"instances": 1, "vcpu": 2}})
    decision = check_plan(plan, config, catalog, usage=UsageDocument.model_validate(other))
    (row,) = [row for row in decision.quotas if row.scope == "team"]
    # The plan alone takes team data from 16 to 50 vCPU (batch 8 -> 40, etl 0 -> 2,
    # reporting 8); the etl usage adds 2 to both.
    assert (row.before, row.after) == (18, 52)


def test_cli_check_with_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = json.loads((CHECK / "plan_api_scale_out.json").read_text())
    plan["resource_changes"][1]["change"]["after"]["max_size"] = 4
    plan_path = _write(tmp_path, plan, "plan.json")

    passing = _main(capsys, "check", plan_path, "--data", PLATFORM, "--format", "json")
    code, out, err = _main(capsys, "check", plan_path, "--data", PLATFORM, "--format", "json",
                           "--usage", _write(tmp_path, OTHER_STACK))

    assert passing[0] == 0, passing[2]
    assert code == 0, err
    rows = Decision.model_validate_json(out).quotas
    assert (rows[0].target, rows[0].metric, rows[0].after) == ("api", "instances", 7)


def test_cli_check_rejects_plan_as_usage(capsys: pytest.CaptureFixture[str]) -> None:
    plan_path = CHECK / "plan_api_scale_out.json"
    code, out, err = _main(capsys, "check", plan_path, "--data", PLATFORM, "--usage", plan_path)
    assert code == 2
    assert out == ""
    assert err == (f"error: {plan_path}: this looks like a Terraform plan (pass it as the plan "
                   "argument), not a usage document; write it with 'quotaform usage --data "
                   "quotaform.json -o usage.json'\n")


def test_cli_check_rejects_usage_as_plan(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    usage = _write(tmp_path, OTHER_STACK)
    code, _, err = _main(capsys, "check", usage, "--data", PLATFORM)
    assert code == 2
    assert err.startswith(f"error: {usage}: this is a quotaform usage document, not a plan; "
                          "pass it with --usage")


# Writing it from the live account


@pytest.fixture(scope="module")
def live_account(moto_server: LocalAws) -> dict[str, str]:
    """Create tagged and untagged compute in ca-central-1 of the moto server."""
    aws = LocalAws(endpoint_url=moto_server.endpoint_url, region=REGION)
    ec2, autoscaling = aws.client("ec2"), aws.client("autoscaling")
    rds, eks = aws.client("rds"), aws.client("eks")
    tagged = [{"ResourceType": "instance", "Tags": POOL_TAGS}]

    running = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="m5.large", MinCount=3,
                                MaxCount=3, TagSpecifications=tagged)["Instances"]
    gone = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="m5.large", MinCount=1,
                             MaxCount=1, TagSpecifications=tagged)["Instances"][0]
    ec2.stop_instances(InstanceIds=[running[2]["InstanceId"]])
    ec2.terminate_instances(InstanceIds=[gone["InstanceId"]])
    ec2.run_instances(ImageId="ami-12c6146b", InstanceType="c5.large", MinCount=1, MaxCount=1)

    batch = ec2.create_launch_template(
        LaunchTemplateName="batch", LaunchTemplateData={"ImageId": "ami-12c6146b",
                                                        "InstanceType": "c5.xlarge"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [
            {"Key": "quotaform:pool", "Value": "batch"}]}],
    )["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="batch-workers", MinSize=1, MaxSize=5,
        AvailabilityZones=[f"{REGION}a"],
        LaunchTemplate={"LaunchTemplateId": batch["LaunchTemplateId"], "Version": "$Latest"},
    )
    web = ec2.create_launch_template(
        LaunchTemplateName="api-mixed",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "m5.large"},
    )["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="api-mixed", MinSize=0, MaxSize=8,
        AvailabilityZones=[f"{REGION}a"],
        MixedInstancesPolicy={"LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": web["LaunchTemplateId"],
                                            "Version": "$Default"},
            "Overrides": [{"InstanceType": "m5.large", "WeightedCapacity": "2"},
                          {"InstanceType": "m5.xlarge", "WeightedCapacity": "4"}],
        }},
        Tags=[{**tag, "PropagateAtLaunch": True} for tag in POOL_TAGS],
    )
    role = "arn:aws:iam::123456789012:role/eks"
    eks.create_cluster(name="k8s", roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(clusterName="k8s", nodegroupName="workers", nodeRole=role,
                         subnets=["subnet-1"], instanceTypes=["t3.medium"],
                         scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 1},
                         tags={"quotaform:pool": "api"})
    rds.create_db_instance(DBInstanceIdentifier="reports", DBInstanceClass="db.r5.large",
                           Engine="postgres", MasterUsername="admin",
                           MasterUserPassword="not-a-real-password", AllocatedStorage=20,
                           Tags=[{"Key": "quotaform:pool", "Value": "reporting"}])
    return {"stopped": running[2]["InstanceId"], "terminated": gone["InstanceId"]}


@pytest.fixture(scope="module")
def written(live_account: dict[str, str], moto_server: LocalAws,
            tmp_path_factory: pytest.TempPathFactory) -> UsageDocument:
    path = tmp_path_factory.mktemp("usage") / "usage.json"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in moto_server.environment().items():
            patch.setenv(name, value)
        patch.setattr(sys, "argv", ["quotaform", "usage", "--data", str(PLATFORM), "--region",
                                    REGION, "--endpoint-url", moto_server.endpoint_url,
                                    "-o", str(path)])
        with pytest.raises(SystemExit) as exit_info:
            main()
    assert exit_info.value.code == 0
    return load_usage(path)


@pytest.mark.moto
def test_usage_command_pools(written: UsageDocument) -> None:
    assert sorted(written.pools) == ["api", "batch", "reporting"]
    assert written.regions == [REGION]
    assert written.pools["batch"].team == "data"


@pytest.mark.moto
def test_usage_command_api_pool(written: UsageDocument, live_account: dict[str, str]) -> None:
    api = written.pools["api"]
    kinds = sorted((item.kind, item.usage.instances) for item in api.resources)
    # 2 running + 1 stopped m5.large; api-mixed: max 8 units over m5.large (weight 2: 4
    # instances) and m5.xlarge (weight 4: 2); the node group: 3 x t3.medium.
    assert kinds == [("autoscaling-group", 4), ("ec2-instance", 1), ("ec2-instance", 1),
                     ("ec2-instance", 1), ("eks-node-group", 3)]
    assert api.usage.instances == 10
    assert api.usage.vcpu == 20
    assert api.usage.memory_gib == 68.0
    # 3 x 78.11 + 312.44 + 3 x 33.872 (101.62) USD.
    assert api.usage.monthly_cost_usd == 648.39
    ids = {resource_id for item in api.resources for resource_id in item.ids}
    assert live_account["stopped"] in ids
    assert live_account["terminated"] not in ids


@pytest.mark.moto
def test_usage_command_group_takes_template_tags(written: UsageDocument) -> None:
    (group,) = written.pools["batch"].resources
    # batch-workers has no pool tag; its launch template has. 5 x c5.xlarge; the
    # instance the group launched is not counted again.
    assert group.ids[0] == "batch-workers"
    assert group.usage == Usage(instances=5, vcpu=20, memory_gib=40.0, monthly_cost_usd=678.9)


@pytest.mark.moto
def test_usage_command_database(written: UsageDocument) -> None:
    (database,) = written.pools["reporting"].resources
    assert database.kind == "db-instance"
    assert database.ids[0] == "reports"
    assert database.usage == Usage(instances=1, vcpu=2, memory_gib=16.0,
                                   monthly_cost_usd=100.74)


@pytest.mark.moto
def test_usage_command_output_matches_schema(written: UsageDocument) -> None:
    jsonschema.validate(written.model_dump(mode="json"), load_schema("usage.schema.json"))


@pytest.mark.moto
def test_check_skips_live_group_the_plan_manages(written: UsageDocument,
                                                 catalog: Catalog) -> None:
    group = {"name": "api-mixed", "max_size": 10,
             "tag": [{"key": "quotaform:pool", "value": "api"},
                     {"key": "quotaform:team", "value": "payments"}],
             "mixed_instances_policy": [{"launch_template": [{"override": [
                 {"instance_type": "m5.large", "weighted_capacity": "2"},
                 {"instance_type": "m5.xlarge", "weighted_capacity": "4"}]}]}]}
    plan = {"format_version": "1.2", "resource_changes": [{
        "address": "aws_autoscaling_group.api", "mode": "managed",
        "type": "aws_autoscaling_group",
        "change": {"actions": ["update"], "before": {**group, "id": "api-mixed", "max_size": 8},
                   "after": {**group, "id": "api-mixed"}},
    }]}
    config = load_config(PLATFORM, catalog)
    decision = check_plan(plan, config, catalog, usage=written)
    rows = {(row.target, row.metric): row for row in decision.quotas}
    # Outside the plan: 3 m5.large + 3 t3.medium (6 instances, 12 vCPU). The group:
    # 8 units (4 instances, 8 vCPU) -> 10 units (5 m5.large or 3 m5.xlarge: 12 vCPU).
    assert (rows[("api", "instances")].before, rows[("api", "instances")].after) == (10, 11)
    assert (rows[("api", "vcpu")].before, rows[("api", "vcpu")].after) == (20, 24)


def test_usage_command_without_regions(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "quotaform.json"
    data.write_text('{"version": 1}')
    code, _, err = _main(capsys, "usage", "--data", data)
    assert code == 2
    assert err == (f"error: {data} declares no pools, so no region is known; pass --region "
                   "REGION (repeatable)\n")


def test_usage_command_rejects_plan_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    plan = CHECK / "plan_api_scale_out.json"
    code, _, err = _main(capsys, "usage", "--data", plan)
    assert code == 2
    assert err.startswith(f"error: {plan}: this is a Terraform plan, not a quotaform.json")
