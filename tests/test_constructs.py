"""The constructs through ``synth_app``: the Terraform JSON and quotaform.json they write.

Each synth runs the app in a child process with its own Node.js runtime (0.5 to
1.5 s on 2 cores here), so the example app and one feature-rich app are synthesized once per
module, and every bad app once. Expected values are typed out from the apps'
declarations, never read back from the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cdk.errors import InputError
from cdk.synth import SynthResult, synth_app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_APP = ROOT / "examples" / "app.py"
QUOTAFORM = Path(sys.executable).parent / "quotaform"

# (resource type, logical name) -> (pool, team) for every resource of examples/app.py.
EXAMPLE_RESOURCES = {
    ("aws_launch_template", "api"): ("api", "payments"),
    ("aws_autoscaling_group", "api"): ("api", "payments"),
    ("aws_instance", "reporting"): ("reporting", "data"),
    ("aws_instance", "batch"): ("batch", "data"),
    ("aws_instance", "etl"): ("etl", "data"),
}

# Pool fields the model fills in when a construct leaves them out.
POOL_DEFAULTS = {
    "parent": None, "region": "us-east-1", "min_size": 1, "max_size": 1,
    "desired_capacity": None, "count": 1, "allowed_instance_types": [],
    "allowed_families": [], "image_id": "ami-12c6146b", "tags": {},
    "max_instance_vcpu": None, "max_instance_memory_gib": None,
}

# Allocation settings the model fills in when the stack leaves them out.
ALLOCATION_DEFAULTS = {"allowed_tag_values": {}, "max_monthly_cost_delta_usd": None}

EXAMPLE_ALLOCATION = {
    "teams": [
        {"name": "payments", "description": "", "contacts": [], "members": []},
        {"name": "data", "description": "", "contacts": [], "members": []},
    ],
    "pools": [
        {**POOL_DEFAULTS, "name": "api", "kind": "asg", "team": "payments",
         "instance_type": "m5.xlarge", "min_size": 2, "max_size": 4,
         "allowed_families": ["m5", "m6i"]},
        {**POOL_DEFAULTS, "name": "reporting", "kind": "instances", "team": "data",
         "instance_type": "m5.2xlarge", "count": 1, "allowed_families": ["m5", "r5"]},
        {**POOL_DEFAULTS, "name": "batch", "kind": "instances", "team": "data",
         "instance_type": "c5.xlarge", "count": 2, "allowed_families": ["c5", "m5"]},
        {**POOL_DEFAULTS, "name": "etl", "kind": "instances", "team": "data",
         "instance_type": "c5.large", "count": 1, "allowed_families": ["c5"]},
    ],
    "quotas": [
        {"scope": "pool", "target": "api", "max_instances": 4, "max_vcpu": 16,
         "max_memory_gib": None, "max_monthly_cost_usd": None},
        {"scope": "team", "target": "data", "max_instances": None, "max_vcpu": 32,
         "max_memory_gib": None, "max_monthly_cost_usd": None},
    ],
    "access": [],
    "policies": [],
    "waivers": [],
    "required_tags": ["quotaform:pool", "quotaform:team"],
    "allowed_regions": [],
    **ALLOCATION_DEFAULTS,
}

# Every construct and stack setting, plus a second stack rebuilt from the first one's model.
SHOP_APP = """\
from cdktf import App

from cdk.constructs import Access, AsgPool, DbPool, InstancePool, Quota, QuotaformStack, Team

app = App()
stack = QuotaformStack(app, "shop", region="eu-west-1")
web = Team(stack, "web", description="Storefront", contacts=["web@example.com"],
           members=["alice"])
Team(stack, "dba")
front = AsgPool(stack, "front", team=web, instance_type="t3.medium", min_size=1, max_size=6,
                desired_capacity=2, availability_zones=["eu-west-1a", "eu-west-1b"],
                tags={"cost-center": "cc-17"})
InstancePool(stack, "workers", team="web", instance_type="c5.large", count=3, parent="front",
             allowed_instance_types=["c5.large", "c5.xlarge"], max_instance_vcpu=4,
             max_instance_memory_gib=8)
DbPool(stack, "orders", team="dba", instance_type="db.m5.large", count=2)
Quota(stack, "web-cost", scope="team", target=web, max_monthly_cost_usd=900.5)
Access(stack, "dba-in-front", team="dba", pools=[front, "workers"], principals=["ci-bot"])
stack.policy("pool-vcpu-quota", enforcement="advisory")
stack.waiver("allowed-instance-types", pool="workers", owner="web@example.com",
             reason="load test", expires="2030-01-31")
stack.allocation_settings(allowed_regions=["eu-west-1"],
                          allowed_tag_values={"env": ["prod", "staging"]},
                          max_monthly_cost_delta_usd=250)
stack.capacity(forecast_horizon_days=30)
stack.optimization(headroom_percent=15)
QuotaformStack.from_config(app, "shop-copy", stack.config)
app.synth()
"""

SHOP_RESOURCES = {
    ("aws_launch_template", "front"): ("front", "web"),
    ("aws_autoscaling_group", "front"): ("front", "web"),
    ("aws_instance", "workers"): ("workers", "web"),
    ("aws_db_instance", "orders"): ("orders", "dba"),
}

SHOP_ALLOCATION = {
    "teams": [
        {"name": "web", "description": "Storefront", "contacts": ["web@example.com"],
         "members": ["alice"]},
        {"name": "dba", "description": "", "contacts": [], "members": []},
    ],
    "pools": [
        {**POOL_DEFAULTS, "name": "front", "kind": "asg", "team": "web", "region": "eu-west-1",
         "instance_type": "t3.medium", "min_size": 1, "max_size": 6, "desired_capacity": 2,
         "tags": {"cost-center": "cc-17"}},
        {**POOL_DEFAULTS, "name": "workers", "kind": "instances", "team": "web",
         "parent": "front", "region": "eu-west-1", "instance_type": "c5.large", "count": 3,
         "allowed_instance_types": ["c5.large", "c5.xlarge"], "max_instance_vcpu": 4,
         "max_instance_memory_gib": 8.0},
        {**POOL_DEFAULTS, "name": "orders", "kind": "db", "team": "dba", "region": "eu-west-1",
         "instance_type": "db.m5.large", "count": 2},
    ],
    "quotas": [
        {"scope": "team", "target": "web", "max_instances": None, "max_vcpu": None,
         "max_memory_gib": None, "max_monthly_cost_usd": 900.5},
    ],
    "access": [{"team": "dba", "pools": ["front", "workers"], "principals": ["ci-bot"]}],
    "policies": [{"rule": "pool-vcpu-quota", "enforcement": "advisory", "enabled": True}],
    "waivers": [
        {"rule": "allowed-instance-types", "pool": "workers", "team": None, "address": None,
         "owner": "web@example.com", "reason": "load test", "ticket": "",
         "expires": "2030-01-31"},
    ],
    "required_tags": ["quotaform:pool", "quotaform:team"],
    "allowed_regions": ["eu-west-1"],
    "allowed_tag_values": {"env": ["prod", "staging"]},
    "max_monthly_cost_delta_usd": 250.0,
}


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _synth_stacks(app: Path, out: Path) -> dict[str, tuple[SynthResult, dict, dict]]:
    """Synthesize ``app`` and map each stack name to (result, Terraform JSON, quotaform.json)."""
    return {
        result.stack: (result, _read(result.tf_json), _read(result.config_json))
        for result in synth_app(app, out)
    }


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthResult, dict, dict]:
    out = tmp_path_factory.mktemp("example-out")
    stacks = _synth_stacks(EXAMPLE_APP, out)
    assert list(stacks) == ["platform"]
    return stacks["platform"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[SynthResult, dict, dict]]:
    folder = tmp_path_factory.mktemp("shop")
    app = folder / "shop.py"
    app.write_text(SHOP_APP)
    return _synth_stacks(app, folder / "out")


def _resources(tf_json: dict) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (resource_type, name): body
        for resource_type, by_name in tf_json["resource"].items()
        for name, body in by_name.items()
    }


def _tag_sets(resource_type: str, body: dict[str, Any]) -> list[dict[str, str]]:
    """Return every tag map a resource applies: its own tags and those it passes on."""
    if resource_type == "aws_autoscaling_group":
        return [{tag["key"]: tag["value"] for tag in body["tag"]}]
    tag_sets = [body["tags"]]
    if resource_type == "aws_instance":
        tag_sets.append(body["volume_tags"])
    if resource_type == "aws_launch_template":
        tag_sets.extend(spec["tags"] for spec in body["tag_specifications"])
    return tag_sets


def test_synth_result_paths(example: tuple[SynthResult, dict, dict]) -> None:
    result, _, _ = example
    assert result.stack == "platform"
    assert result.tf_json.name == "cdk.tf.json"
    assert result.config_json == result.tf_json.with_name("quotaform.json")
    assert result.tf_json.parent.parent.name == "stacks"
    assert result.tf_json.parent.name == "platform"


def test_stack_provider_and_backend(example: tuple[SynthResult, dict, dict]) -> None:
    _, tf_json, _ = example
    assert tf_json["provider"] == {"aws": [{"region": "us-east-1"}]}
    assert tf_json["terraform"]["required_providers"] == {
        "aws": {"source": "hashicorp/aws", "version": "~> 5.0"}
    }
    assert tf_json["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}


def test_example_resource_set(example: tuple[SynthResult, dict, dict]) -> None:
    _, tf_json, _ = example
    resources = _resources(tf_json)
    assert set(resources) == set(EXAMPLE_RESOURCES)
    for key, body in resources.items():
        assert body["provider"] == "aws", key


def test_asg_pool_launch_template(example: tuple[SynthResult, dict, dict]) -> None:
    _, tf_json, _ = example
    template = tf_json["resource"]["aws_launch_template"]["api"]
    assert template["name_prefix"] == "api-"
    assert template["image_id"] == "ami-12c6146b"
    assert template["instance_type"] == "m5.xlarge"
    assert [spec["resource_type"] for spec in template["tag_specifications"]] == [
        "instance", "volume",
    ]


def test_asg_pool_group_references_template(example: tuple[SynthResult, dict, dict]) -> None:
    _, tf_json, _ = example
    group = tf_json["resource"]["aws_autoscaling_group"]["api"]
    assert group["launch_template"] == {
        "id": "${aws_launch_template.api.id}", "version": "$Latest",
    }
    assert group["min_size"] == 2
    assert group["max_size"] == 4
    assert "desired_capacity" not in group
    assert group["availability_zones"] == ["us-east-1a"]
    assert group["name_prefix"] == "api-"


def test_asg_pool_tags_propagate_at_launch(example: tuple[SynthResult, dict, dict]) -> None:
    _, tf_json, _ = example
    group = tf_json["resource"]["aws_autoscaling_group"]["api"]
    assert group["tag"] == [
        {"key": "quotaform:pool", "value": "api", "propagate_at_launch": True},
        {"key": "quotaform:team", "value": "payments", "propagate_at_launch": True},
    ]


@pytest.mark.parametrize(
    ("pool", "instance_type", "count"),
    [("reporting", "m5.2xlarge", 1), ("batch", "c5.xlarge", 2), ("etl", "c5.large", 1)],
)
def test_instance_pool_uses_count(
    example: tuple[SynthResult, dict, dict], pool: str, instance_type: str, count: int
) -> None:
    _, tf_json, _ = example
    instance = tf_json["resource"]["aws_instance"][pool]
    assert instance["count"] == count
    assert instance["instance_type"] == instance_type
    assert instance["ami"] == "ami-12c6146b"


def test_example_resources_carry_pool_tags(example: tuple[SynthResult, dict, dict]) -> None:
    _, tf_json, _ = example
    for (resource_type, name), body in _resources(tf_json).items():
        pool, team = EXAMPLE_RESOURCES[(resource_type, name)]
        for tags in _tag_sets(resource_type, body):
            assert tags == {"quotaform:pool": pool, "quotaform:team": team}, (resource_type, name)


def test_example_config_matches_declarations(example: tuple[SynthResult, dict, dict]) -> None:
    _, _, config = example
    assert config["version"] == 1
    assert config["allocation"] == EXAMPLE_ALLOCATION
    assert config["capacity"]["forecast_horizon_days"] == 90
    assert config["monitoring"]["metrics"] == ["CPUUtilization"]
    assert [rule["name"] for rule in config["optimization"]["rules"]] == [
        "downsize-underused", "upsize-saturated",
    ]
    assert config["optimization"]["allowed_families"] == ["c5", "m5", "r5"]


def test_shop_stacks(shop: dict[str, tuple[SynthResult, dict, dict]]) -> None:
    assert list(shop) == ["shop", "shop-copy"]
    assert shop["shop"][0].tf_json.parent.name == "shop"
    assert shop["shop-copy"][0].tf_json.parent.name == "shop-copy"


def test_shop_config_matches_declarations(shop: dict[str, tuple[SynthResult, dict, dict]]) -> None:
    _, _, config = shop["shop"]
    assert config["allocation"] == SHOP_ALLOCATION
    assert config["capacity"]["forecast_horizon_days"] == 30
    assert config["capacity"]["forecast_lookback_days"] == 28
    assert config["optimization"]["headroom_percent"] == 15.0


def test_shop_resources_carry_pool_tags(shop: dict[str, tuple[SynthResult, dict, dict]]) -> None:
    _, tf_json, _ = shop["shop"]
    resources = _resources(tf_json)
    assert set(resources) == set(SHOP_RESOURCES)
    for (resource_type, name), body in resources.items():
        pool, team = SHOP_RESOURCES[(resource_type, name)]
        expected = {"quotaform:pool": pool, "quotaform:team": team}
        if pool == "front":
            expected["cost-center"] = "cc-17"
        for tags in _tag_sets(resource_type, body):
            assert tags == expected, (resource_type, name)


def test_shop_asg_options(shop: dict[str, tuple[SynthResult, dict, dict]]) -> None:
    _, tf_json, _ = shop["shop"]
    group = tf_json["resource"]["aws_autoscaling_group"]["front"]
    assert group["desired_capacity"] == 2
    assert group["availability_zones"] == ["eu-west-1a", "eu-west-1b"]
    assert tf_json["provider"] == {"aws": [{"region": "eu-west-1"}]}


def test_db_pool_resource(shop: dict[str, tuple[SynthResult, dict, dict]]) -> None:
    _, tf_json, _ = shop["shop"]
    database = tf_json["resource"]["aws_db_instance"]["orders"]
    assert database["count"] == 2
    assert database["instance_class"] == "db.m5.large"
    assert database["identifier_prefix"] == "orders-"
    assert database["engine"] == "postgres"
    assert database["allocated_storage"] == 20
    # RDS keeps the master password in Secrets Manager, so none is emitted.
    assert database["manage_master_user_password"] is True
    assert "password" not in database


def test_stack_from_config_round_trips(shop: dict[str, tuple[SynthResult, dict, dict]]) -> None:
    _, original_tf, original_config = shop["shop"]
    _, copy_tf, copy_config = shop["shop-copy"]
    assert copy_config == original_config
    assert copy_tf["provider"] == original_tf["provider"]

    original = _resources(original_tf)
    copied = _resources(copy_tf)
    assert set(copied) == set(original)
    for key, body in original.items():
        expected = {name: value for name, value in body.items() if name != "//"}
        actual = {name: value for name, value in copied[key].items() if name != "//"}
        if key == ("aws_autoscaling_group", "front"):
            # NOTE: the model stores no availability zones, so a stack rebuilt
            # from it puts the group in the region's first zone.
            assert actual.pop("availability_zones") == ["eu-west-1a"]
            expected.pop("availability_zones")
        assert actual == expected, key


APP_HEADER = """\
from cdktf import App, TerraformStack

from cdk.constructs import AsgPool, InstancePool, QuotaformStack, Team

app = App()
"""

# Each body follows APP_HEADER; ``{app}`` in a message is the app's path.
BAD_APPS = {
    "unknown-team": (
        'stack = QuotaformStack(app, "platform")\n'
        'Team(stack, "data")\n'
        'InstancePool(stack, "batch", team="ops", instance_type="c5.large", count=1)\n'
        "app.synth()\n",
        "{app}: stack 'platform': invalid declaration\n"
        "  allocation.pools[0] (batch).team: unknown team 'ops'; declare it in "
        "allocation.teams (declared: data)",
    ),
    "unknown-instance-type": (
        'stack = QuotaformStack(app, "platform")\n'
        'Team(stack, "data")\n'
        'InstancePool(stack, "batch", team="data", instance_type="m5.huge", count=1)\n'
        "app.synth()\n",
        "{app}: stack 'platform': invalid declaration\n"
        "  allocation.pools[0] (batch): instance type 'm5.huge' is not in the instance "
        "catalog; check the spelling (for example 'm5.large')",
    ),
    "min-over-max": (
        'stack = QuotaformStack(app, "platform")\n'
        'Team(stack, "web")\n'
        'AsgPool(stack, "front", team="web", instance_type="t3.medium", min_size=5, max_size=2)\n'
        "app.synth()\n",
        "{app}: stack 'platform': invalid declaration\n"
        "  allocation.pools.0 (front): min_size 5 is larger than max_size 2; "
        "raise max_size or lower min_size",
    ),
    "app-raises": (
        'stack = QuotaformStack(app, "platform")\n'
        'raise RuntimeError("pool size table is empty")\n',
        "{app}: the app raised RuntimeError: pool size table is empty\n"
        '  at {app}:7: raise RuntimeError("pool size table is empty")\n'
        "fix the app and run 'quotaform synth' again",
    ),
    "reserved-tag": (
        'stack = QuotaformStack(app, "platform")\n'
        'Team(stack, "data")\n'
        'InstancePool(stack, "batch", team="data", instance_type="c5.large", count=1, '
        'tags={"quotaform:team": "ops"})\n'
        "app.synth()\n",
        "{app}:8: InstancePool(stack, \"batch\", team=\"data\", instance_type=\"c5.large\", "
        'count=1, tags={"quotaform:team": "ops"})\n'
        "stack 'platform': pool 'batch': tags quotaform:team are set by quotaform from the "
        "pool and team names; remove them from tags",
    ),
    "no-quotaform-stack": (
        'TerraformStack(app, "plain")\n'
        "app.synth()\n",
        "{app}: the app declares no QuotaformStack; build one with "
        "QuotaformStack(app, 'name') from cdk.constructs",
    ),
    "no-app-synth": (
        'stack = QuotaformStack(app, "platform")\n'
        'Team(stack, "data")\n',
        "{app}: stack 'platform' was not synthesized; end the app with app.synth()",
    ),
}


def _write_app(folder: Path, body: str) -> Path:
    app = folder / "app.py"
    app.write_text(APP_HEADER + body)
    return app


@pytest.mark.parametrize("case", list(BAD_APPS))
def test_bad_app_rejected(tmp_path: Path, case: str) -> None:
    body, expected = BAD_APPS[case]
    app = _write_app(tmp_path, body)
    out = tmp_path / "out"

    with pytest.raises(InputError) as caught:
        synth_app(app, out)

    assert str(caught.value) == expected.replace("{app}", str(app.resolve()))
    assert not list(out.glob("stacks/*/quotaform.json"))


def test_missing_app_rejected(tmp_path: Path) -> None:
    app = tmp_path / "missing.py"
    with pytest.raises(InputError) as caught:
        synth_app(app, tmp_path / "out")
    assert str(caught.value) == (
        f"{app}: file not found; pass the path of a CDKTF app such as examples/app.py"
    )


def test_non_python_app_rejected(tmp_path: Path) -> None:
    app = tmp_path / "app.ts"
    app.write_text("new App().synth();\n")
    with pytest.raises(InputError) as caught:
        synth_app(app, tmp_path / "out")
    assert str(caught.value) == (
        f"{app}: not a Python file; pass a CDKTF app written in Python (.py)"
    )


def _quotaform(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUOTAFORM), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=False)


def test_cli_synth_writes_files(
    tmp_path: Path, example: tuple[SynthResult, dict, dict]
) -> None:
    out = tmp_path / "out"
    result = _quotaform("synth", EXAMPLE_APP, "-o", out, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    stack_dir = out / "stacks" / "platform"
    assert result.stdout.splitlines() == [
        f"platform: {stack_dir / 'cdk.tf.json'}",
        f"platform: {stack_dir / 'quotaform.json'}",
    ]
    _, tf_json, config = example
    assert _read(stack_dir / "cdk.tf.json") == tf_json
    assert _read(stack_dir / "quotaform.json") == config


def test_cli_synth_missing_app(tmp_path: Path) -> None:
    result = _quotaform("synth", "missing.py", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: missing.py: file not found; pass the path of a CDKTF app such as examples/app.py"
    ]


def test_cli_synth_app_that_raises(tmp_path: Path) -> None:
    body, expected = BAD_APPS["app-raises"]
    app = _write_app(tmp_path, body)
    result = _quotaform("synth", app, "-o", tmp_path / "out", cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # The child runs in the caller's folder, so the app path is shown relative to it.
    assert result.stderr == "error: " + expected.replace("{app}", "app.py") + "\n"
    assert not list((tmp_path / "out").glob("stacks/*/quotaform.json"))
