"""Live discovery by pool tags across regions, profiles and assumed roles, on a moto server.

moto keeps one set of resources per account, and credentials that sts:AssumeRole
returns belong to the role's account, so a role ARN in 222222222222 reaches
other instances than the default credentials (account 123456789012). Profiles
come from a temporary AWS config file that names the moto endpoint.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from cdk.errors import InputError
from cdk.model import Allocation, Pool, ResourceConfig, Team
from provider_bridge.aws import AwsAccess, CredentialSource, credential_sources, validate_regions
from provider_bridge.discovery import discover
from provider_bridge.local_aws import LocalAws
from provider_bridge.metrics import cloudwatch_client
from provider_bridge.seeding import put_series

pytestmark = pytest.mark.moto

ROOT = Path(__file__).resolve().parent.parent
SERIES = ROOT / "examples" / "data" / "cloudwatch"
MAIN, SECOND = "ap-northeast-1", "ap-northeast-2"
DEFAULT_ACCOUNT = "123456789012"
ROLE_ACCOUNT = "222222222222"
PROFILE_ACCOUNT = "333333333333"
ROLE_ARN = f"arn:aws:iam::{ROLE_ACCOUNT}:role/quotaform-reader"
AMI = "ami-12c6146b"


def _tags(pool: str, team: str = "shop") -> list[dict[str, str]]:
    return [{"Key": "quotaform:pool", "Value": pool}, {"Key": "quotaform:team", "Value": team}]


def _run(session: boto3.session.Session, endpoint: str, region: str, instance_type: str,
         count: int = 1, tags: list[dict[str, str]] | None = None) -> list[str]:
    ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint)
    extra = {"TagSpecifications": [{"ResourceType": "instance", "Tags": tags}]} if tags else {}
    reply = ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count,
                              InstanceType=instance_type, **extra)
    return [item["InstanceId"] for item in reply["Instances"]]


def _role_session(endpoint: str) -> boto3.session.Session:
    sts = boto3.session.Session().client("sts", region_name=MAIN, endpoint_url=endpoint)
    credentials = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="test-setup")["Credentials"]
    return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                 aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"])


@pytest.fixture(scope="module")
def fleet(moto_server: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Tagged and untagged compute in two regions and two accounts, and a config file."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in moto_server.environment().items():
            patch.setenv(name, value)
        yield _build_fleet(moto_server.endpoint_url, tmp_path_factory.mktemp("discovery"))


def _build_fleet(endpoint: str, directory: Path) -> dict[str, Any]:
    session = boto3.session.Session()
    fleet: dict[str, Any] = {"endpoint": endpoint}
    fleet["web"] = _run(session, endpoint, MAIN, "m5.large", 2, _tags("web"))
    fleet["untagged"] = _run(session, endpoint, MAIN, "m5.large")
    [stopped] = _run(session, endpoint, MAIN, "m5.large", 1, _tags("web"))
    session.client("ec2", region_name=MAIN, endpoint_url=endpoint).stop_instances(
        InstanceIds=[stopped])
    fleet["stopped"] = stopped
    fleet["second"] = _run(session, endpoint, SECOND, "c5.large", 1, _tags("web"))

    ec2 = session.client("ec2", region_name=MAIN, endpoint_url=endpoint)
    template = ec2.create_launch_template(
        LaunchTemplateName="discovery-api",
        LaunchTemplateData={"ImageId": AMI, "InstanceType": "c5.xlarge"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling = session.client("autoscaling", region_name=MAIN, endpoint_url=endpoint)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="discovery-api", MinSize=1, MaxSize=4, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        AvailabilityZones=[f"{MAIN}a"],
        Tags=[{**tag, "PropagateAtLaunch": False, "ResourceId": "discovery-api",
               "ResourceType": "auto-scaling-group"} for tag in _tags("api", "payments")],
    )
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["discovery-api"])
    fleet["members"] = sorted(i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"])

    rds = session.client("rds", region_name=MAIN, endpoint_url=endpoint)
    for identifier, tags in (("orders-db", _tags("orders", "payments")), ("scratch-db", [])):
        rds.create_db_instance(DBInstanceIdentifier=identifier, DBInstanceClass="db.m5.large",
                               Engine="postgres", MasterUsername="admin",
                               MasterUserPassword="secret-password", AllocatedStorage=20,
                               Tags=tags)

    fleet["role_web"] = _run(_role_session(endpoint), endpoint, MAIN, "m5.xlarge", 1,
                             _tags("web"))
    fleet["config"] = _write_profiles(directory / "aws-config", endpoint)
    fleet["dir"] = directory
    return fleet


def _write_profiles(path: Path, endpoint: str) -> Path:
    path.write_text(
        "[profile base]\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n"
        f"region = {MAIN}\nendpoint_url = {endpoint}\n\n"
        "[profile twin]\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n"
        f"region = {MAIN}\nendpoint_url = {endpoint}\n\n"
        "[profile member]\n"
        f"role_arn = arn:aws:iam::{PROFILE_ACCOUNT}:role/reader\nsource_profile = base\n"
        f"region = {MAIN}\nendpoint_url = {endpoint}\n"
    )
    return path


@pytest.fixture
def profiles(fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The fleet with AWS_CONFIG_FILE pointing at the temporary profiles and no key variables."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(fleet["config"]))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return fleet


def _ids(pools: dict, pool: str) -> list[str]:
    return sorted(r.resource_id for r in pools[pool].resources)


def test_discover_finds_tagged_compute(fleet: dict[str, Any], aws_env: LocalAws) -> None:
    access = AwsAccess(endpoint_url=aws_env.endpoint_url, default_region=MAIN)

    pools = discover(access, [MAIN, SECOND])

    assert sorted(pools) == ["api", "orders", "web"]
    assert _ids(pools, "web") == sorted(fleet["web"] + fleet["second"])
    by_id = {r.resource_id: r for r in pools["web"].resources}
    assert by_id[fleet["second"][0]].region == SECOND
    assert by_id[fleet["second"][0]].instance_type == "c5.large"
    assert {r.kind for r in pools["web"].resources} == {"instance"}
    assert {r.account_id for r in pools["web"].resources} == {DEFAULT_ACCOUNT}
    assert all(r.launch_time is not None for r in pools["web"].resources)
    assert fleet["stopped"] not in by_id
    assert not set(fleet["untagged"]) & set(by_id)


def test_discover_group_members_and_sizes(fleet: dict[str, Any], aws_env: LocalAws) -> None:
    pools = discover(AwsAccess(endpoint_url=aws_env.endpoint_url), [MAIN])

    api = pools["api"]
    assert api.kind == "asg"
    assert api.team == "payments"
    [group] = api.groups
    assert (group.name, group.template_type) == ("discovery-api", "c5.xlarge")
    assert (group.min_size, group.max_size, group.desired_capacity) == (1, 4, 2)
    assert api.asg_names == ["discovery-api"]
    assert _ids(pools, "api") == fleet["members"]
    assert {r.kind for r in api.resources} == {"asg-member"}
    assert {r.asg_name for r in api.resources} == {"discovery-api"}
    assert all(r.launch_time is not None for r in api.resources)


def test_discover_db_instances_by_tag(fleet: dict[str, Any], aws_env: LocalAws) -> None:
    pools = discover(AwsAccess(endpoint_url=aws_env.endpoint_url), [MAIN])

    [db] = pools["orders"].resources
    assert (db.resource_id, db.kind, db.instance_type) == ("orders-db", "db", "db.m5.large")
    assert db.account_id == DEFAULT_ACCOUNT
    assert db.launch_time is not None
    assert "scratch-db" not in {r.resource_id for p in pools.values() for r in p.resources}


def test_pool_in_two_regions_is_reported(fleet: dict[str, Any], aws_env: LocalAws,
                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="provider_bridge.inventory"):
        discover(AwsAccess(endpoint_url=aws_env.endpoint_url), [MAIN, SECOND])

    assert f"pool web has resources in {MAIN} and {SECOND}" in caplog.text


def test_role_reaches_other_account(fleet: dict[str, Any], aws_env: LocalAws) -> None:
    access = AwsAccess([CredentialSource(role_arn=ROLE_ARN)], endpoint_url=aws_env.endpoint_url)

    pools = discover(access, [MAIN])

    assert sorted(pools) == ["web"]
    assert _ids(pools, "web") == fleet["role_web"]
    assert pools["web"].resources[0].account_id == ROLE_ACCOUNT
    assert pools["web"].resources[0].source == CredentialSource(role_arn=ROLE_ARN)


def test_default_and_role_list_both_accounts(fleet: dict[str, Any], aws_env: LocalAws) -> None:
    role = CredentialSource(role_arn=ROLE_ARN)
    access = AwsAccess([CredentialSource(), role], endpoint_url=aws_env.endpoint_url)

    pools = discover(access, [MAIN])

    assert _ids(pools, "web") == sorted(fleet["web"] + fleet["role_web"])
    accounts = {r.resource_id: r.account_id for r in pools["web"].resources}
    assert accounts[fleet["role_web"][0]] == ROLE_ACCOUNT
    assert accounts[fleet["web"][0]] == DEFAULT_ACCOUNT
    assert access.source_for_account(ROLE_ACCOUNT) == role
    assert access.source_for_account(DEFAULT_ACCOUNT) == CredentialSource()


def test_profiles_reach_their_accounts(profiles: dict[str, Any]) -> None:
    member = boto3.session.Session(profile_name="member")
    [other] = _run(member, profiles["endpoint"], MAIN, "t3.large", 1, _tags("batch"))
    access = AwsAccess([CredentialSource("base"), CredentialSource("member")],
                       endpoint_url=profiles["endpoint"], default_region=MAIN)

    pools = discover(access, [MAIN])

    assert _ids(pools, "batch") == [other]
    assert pools["batch"].resources[0].account_id == PROFILE_ACCOUNT
    assert pools["batch"].resources[0].source == CredentialSource("member")
    assert _ids(pools, "web") == sorted(profiles["web"])
    assert access.account_id(CredentialSource("member")) == PROFILE_ACCOUNT


def test_two_profiles_of_one_account_list_once(profiles: dict[str, Any]) -> None:
    access = AwsAccess([CredentialSource("base"), CredentialSource("twin")],
                       endpoint_url=profiles["endpoint"])

    pools = discover(access, [MAIN])

    assert _ids(pools, "web") == sorted(profiles["web"])
    assert {r.source for r in pools["web"].resources} == {CredentialSource("base")}


def test_unknown_profile_is_input_error(profiles: dict[str, Any]) -> None:
    access = AwsAccess([CredentialSource("absent")], endpoint_url=profiles["endpoint"])

    with pytest.raises(InputError) as caught:
        discover(access, [MAIN])

    assert "AWS profile 'absent' not found in the AWS config files" in str(caught.value)


@pytest.mark.parametrize(("profiles_given", "roles", "expected"), [
    ((), (), [CredentialSource()]),
    (("a", "b", "a"), (), [CredentialSource("a"), CredentialSource("b")]),
    (("a",), (ROLE_ARN,), [CredentialSource("a", ROLE_ARN)]),
    ((), (ROLE_ARN,), [CredentialSource(None, ROLE_ARN)]),
])
def test_credential_sources_combine_options(profiles_given: tuple[str, ...],
                                            roles: tuple[str, ...],
                                            expected: list[CredentialSource]) -> None:
    assert credential_sources(profiles_given, roles) == expected


@pytest.mark.parametrize(("profiles_given", "roles", "fragment"), [
    ((), ("arn:aws:iam::12345:role/x",), "--role-arn 'arn:aws:iam::12345:role/x' is not an IAM "
     "role ARN"),
    (("a", "b"), (ROLE_ARN,), "pass at most one --profile with --role-arn"),
])
def test_credential_sources_reject_bad_options(profiles_given: tuple[str, ...],
                                               roles: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        credential_sources(profiles_given, roles)

    assert fragment in str(caught.value)


def test_region_names_are_checked() -> None:
    assert validate_regions(["eu-west-1", "us-gov-west-1", "eu-west-1"]) == ["eu-west-1",
                                                                          "us-gov-west-1"]
    with pytest.raises(InputError) as caught:
        validate_regions(["eu_west_1"])

    assert "--region 'eu_west_1' is not an AWS region name" in str(caught.value)


# --- The command line ----------------------------------------------------------------------

CLI_REGION = "ap-northeast-3"
SEEDED = 576  # two days of 5-minute points


def _values(name: str) -> np.ndarray:
    with (SERIES / f"ec2_cpu_utilization_{name}.csv").open() as handle:
        return np.array([float(row["value"]) for row in csv.DictReader(handle)])


@pytest.fixture(scope="module")
def live_platform(fleet: dict[str, Any], moto_server: LocalAws) -> dict[str, Any]:
    """One tagged instance per account in the CLI region, two days of CPU each, a config."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in moto_server.environment().items():
            patch.setenv(name, value)
        endpoint = moto_server.endpoint_url
        own = _run(boto3.session.Session(), endpoint, CLI_REGION, "m5.2xlarge", 1, _tags("svc"))
        role = _run(_role_session(endpoint), endpoint, CLI_REGION, "m5.2xlarge", 1, _tags("svc"))
        now = int(dt.datetime.now(dt.UTC).timestamp()) // 300 * 300
        # Three days of points; the command reads the last two.
        stamps = np.datetime64(now - 300, "s") - np.arange(864)[::-1] * 300
        put_series(cloudwatch_client(CLI_REGION, endpoint), "AWS/EC2", "CPUUtilization",
                   {"InstanceId": own[0]}, stamps, _values("24ae8d")[-864:])
        put_series(_role_session(endpoint).client("cloudwatch", region_name=CLI_REGION,
                                                  endpoint_url=endpoint),
                   "AWS/EC2", "CPUUtilization", {"InstanceId": role[0]}, stamps,
                   _values("5f5533")[-864:])
    config = ResourceConfig(allocation=Allocation(
        teams=[Team(name="shop")],
        pools=[Pool(name="svc", kind="instances", team="shop", region=CLI_REGION,
                    instance_type="m5.2xlarge", count=1)],
    ))
    data = fleet["dir"] / "quotaform.json"
    data.write_text(json.dumps(config.model_dump(mode="json")))
    return {"own": own[0], "role": role[0], "data": data, "endpoint": moto_server}


def _cli(platform: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **platform["endpoint"].environment()}
    command = [sys.executable, "-c", "from quotaform.cli import main; main()", "rightsize",
               "--data", str(platform["data"]), "--endpoint-url",
               platform["endpoint"].endpoint_url, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def _p95(values: np.ndarray) -> float:
    return statistics.quantiles(values.tolist(), n=100, method="inclusive")[94]


def test_cli_live_source_with_role(live_platform: dict[str, Any]) -> None:
    result = _cli(live_platform, "--source", "live", "--region", CLI_REGION, "--role-arn",
                  ROLE_ARN, "--lookback-days", "2", "--format", "json")

    assert result.returncode == 0, result.stderr
    [svc] = json.loads(result.stdout)["recommendations"]
    assert svc["resource_ids"] == [live_platform["role"]]
    assert svc["samples"] == SEEDED
    assert svc["p95"] == pytest.approx(_p95(_values("5f5533")[-SEEDED:]), abs=1e-9)


def test_cli_live_source_default_credentials(live_platform: dict[str, Any]) -> None:
    result = _cli(live_platform, "--source", "live", "--region", CLI_REGION,
                  "--lookback-days", "2", "--format", "json")

    assert result.returncode == 0, result.stderr
    [svc] = json.loads(result.stdout)["recommendations"]
    assert svc["resource_ids"] == [live_platform["own"]]
    assert svc["p95"] == pytest.approx(_p95(_values("24ae8d")[-SEEDED:]), abs=1e-9)


def test_cli_plan_source(live_platform: dict[str, Any], tmp_path: Path) -> None:
    plan = {"format_version": "1.2", "planned_values": {"root_module": {}}, "resource_changes": [
        {"address": "aws_instance.svc", "mode": "managed", "type": "aws_instance", "name": "svc",
         "change": {"actions": ["no-op"], "after": {
             "id": live_platform["own"], "instance_type": "m5.2xlarge",
             "tags": {"quotaform:pool": "svc", "quotaform:team": "shop"},
             "availability_zone": f"{CLI_REGION}a"}}},
    ]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))

    result = _cli(live_platform, "--plan", str(path), "--lookback-days", "2", "--format", "json")

    assert result.returncode == 0, result.stderr
    [svc] = json.loads(result.stdout)["recommendations"]
    assert svc["resource_ids"] == [live_platform["own"]]
    assert svc["samples"] == SEEDED


@pytest.mark.parametrize(("args", "message"), [
    ((), "no inventory given; pass --state FILE, --plan FILE or --source live"),
    (("--source", "cloud"), "--source 'cloud' is invalid; use one of: state, plan, live"),
    (("--source", "live", "--state", "s.json"), "--source live reads no file"),
    (("--source", "plan", "--state", "s.json"), "--source plan reads --plan FILE"),
    (("--state", "s.json", "--plan", "p.json"), "pass either --state or --plan, not both"),
    (("--state", "s.json", "--region", "eu-west-1", "--region", "eu-west-2"),
     "--region is repeatable only with --source live"),
    (("--source", "live", "--region", "moon-1"), "--region 'moon-1' is not an AWS region name"),
    (("--source", "live", "--role-arn", "reader"), "--role-arn 'reader' is not an IAM role ARN"),
    (("--source", "live", "--metric", "Latency"), "metric 'Latency' is not supported"),
])
def test_cli_rejects_bad_inventory_options(
    live_platform: dict[str, Any], args: tuple[str, ...], message: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # In-process: every case fails while checking options, before any AWS call.
    from quotaform.cli import main

    monkeypatch.setattr(sys, "argv", ["quotaform", "rightsize", "--data",
                                      str(live_platform["data"]), *args])

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    assert "Traceback" not in error


def test_metric_names_follow_the_model() -> None:
    from cdk.model import Monitoring, Optimization, OptimizationRule
    from quotaform.commands.rightsize import metric_names

    config = ResourceConfig(
        monitoring=Monitoring(metrics=["CPUUtilization", "NetworkOut", "RequestCount"]),
        optimization=Optimization(rules=[OptimizationRule(
            name="disk-busy", metric="EBSWriteBytes", comparison="above", threshold=1e8,
            action="upsize")]),
    )

    assert metric_names(config, []) == ["CPUUtilization", "mem_used_percent", "NetworkOut",
                                        "EBSWriteBytes"]
    assert metric_names(config, ["NetworkIn"]) == ["CPUUtilization", "NetworkIn"]
