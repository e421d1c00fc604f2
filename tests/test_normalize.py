"""Plan normalization: counts, sizes, pools, template resolution, regions and formats.

Expected values are read off the plan files and the catalog by hand: for
example t3.small is 2 vCPU and 2 GiB, m5.xlarge 4 vCPU and 16 GiB.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cdk.errors import InputError
from cdk.model import ResourceConfig, load_config
from policies.documents import SCHEMAS, ResourceFacts, generated_schema, load_schema
from policies.normalize import normalize_config, normalize_plan, tags_of
from policies.plan import parse_address
from provider_bridge import Catalog

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLANS = FIXTURES / "plans"
CHECK = FIXTURES / "check"


def _plan(prefix: str) -> dict[str, Any]:
    (path,) = PLANS.glob(f"{prefix}_*.json")
    return json.loads(path.read_text())


def _by_address(plan: dict[str, Any], catalog: Catalog,
                config: ResourceConfig | None = None) -> dict[str, ResourceFacts]:
    document = normalize_plan(plan, config or ResourceConfig(), catalog)
    return {facts.address: facts for facts in document.resources}


@pytest.fixture(scope="module")
def platform(catalog: Catalog) -> ResourceConfig:
    return load_config(CHECK / "platform.json", catalog)


# Real plans


def test_plan01_asg_via_launch_configuration(catalog: Catalog) -> None:
    group = _by_address(_plan("01"), catalog)["aws_autoscaling_group.lc1"]
    assert group.instance_type == "t3.small"
    assert group.count_before == 0
    assert group.count_after == 2
    assert group.vcpu == 2
    assert group.memory_gib == 2.0


def test_plan01_asg_via_unknown_template_id(catalog: Catalog) -> None:
    group = _by_address(_plan("01"), catalog)["aws_autoscaling_group.lt1"]
    assert group.instance_type == "t3.small"
    assert group.count_after == 2


def test_plan01_mixed_policy_counts_worst_case(catalog: Catalog) -> None:
    group = _by_address(_plan("01"), catalog)["aws_autoscaling_group.mixed-instance-lt1"]
    # max_size 10 capacity units: t3.medium (weight 2) alone runs 5 instances (10 vCPU,
    # 20 GiB, 5 x 30.368 USD), t3.large (weight 4) alone 3 (6 vCPU, 24 GiB, 3 x 60.736 USD).
    assert group.instance_type == "t3.medium"
    assert group.count_after == 5
    assert group.usage_after.instances == 5
    assert group.usage_after.vcpu == 10
    assert group.usage_after.memory_gib == 24.0
    assert group.usage_after.monthly_cost_usd == 182.21
    assert [(item.instance_type, item.weighted_capacity, item.instances)
            for item in group.overrides] == [("t3.medium", 2, 5), ("t3.large", 4, 3)]


def test_plan01_templates_and_databases(catalog: Catalog) -> None:
    resources = _by_address(_plan("01"), catalog)
    template = resources["aws_launch_template.lt1"]
    assert template.instance_type == "t3.small"
    assert template.count_after == 0
    database = resources["aws_db_instance.db_sqlserver"]
    assert database.instance_type == "db.t3.xlarge"
    assert database.vcpu == 4
    assert database.memory_gib == 16.0
    assert database.count_after == 1
    assert database.region == "us-east-1"


def test_plan01_keeps_every_managed_change(catalog: Catalog) -> None:
    # 23 resource changes, all managed.
    assert len(_by_address(_plan("01"), catalog)) == 23


def test_plan03_asg_tags_as_list_of_maps(catalog: Catalog) -> None:
    resources = _by_address(_plan("03"), catalog)
    group = resources["aws_autoscaling_group.example"]
    assert group.tags["app_component"] == "gsearch"
    assert group.instance_type == "t2.micro"
    assert group.count_after == 10
    assert resources["aws_instance.web[0]"].count_after == 1


def test_plan07_module_for_each_instances(catalog: Catalog) -> None:
    resources = _by_address(_plan("07"), catalog)
    address = 'module.ecr_repository_with_for["repository_1"].aws_instance.ecr_repository'
    instance = resources[address]
    assert instance.instance_type == "t3.micro"
    assert instance.vcpu == 2
    # The plan's configuration has no provider block, so no region is known.
    assert instance.region is None


def test_plan09_nested_module_database_update(catalog: Catalog) -> None:
    resources = _by_address(_plan("09"), catalog)
    database = resources["module.db.module.db_1.module.db_instance.aws_db_instance.this[0]"]
    assert database.actions == ["update"]
    assert database.changed is True
    assert database.instance_type == "db.t3.micro"
    assert (database.count_before, database.count_after) == (1, 1)
    assert database.region == "us-east-1"
    assert len(resources) == 26


def test_plan09_no_op_counts_as_existing_usage(catalog: Catalog) -> None:
    resources = _by_address(_plan("09"), catalog)
    kept = resources['module.instances.aws_instance.module_instance_named["test.1"]']
    assert kept.actions == ["no-op"]
    assert kept.changed is False
    assert (kept.count_before, kept.count_after) == (1, 1)
    assert kept.tags == {"Name": "test.1"}


def test_plan12_update_changes_instance_type(catalog: Catalog) -> None:
    instance = _by_address(_plan("12"), catalog)["aws_instance.web_app_1"]
    assert instance.instance_type_before == "t3.micro"
    assert instance.instance_type == "t3.small"
    assert instance.memory_gib_before == 1.0
    assert instance.memory_gib == 2.0
    assert (instance.count_before, instance.count_after) == (1, 1)


def test_plan14_delete_reads_tags_from_before(catalog: Catalog) -> None:
    resources = _by_address(_plan("14"), catalog)
    deleted = resources["aws_cloudwatch_event_rule.Metricos_custom_alert_schedule_frequent[0]"]
    assert deleted.actions == ["delete"]
    assert deleted.changed is False
    assert deleted.tags["Team"] == "Metricos"
    assert deleted.count_after == 0


def test_plan15_region_from_provider(catalog: Catalog) -> None:
    assert _by_address(_plan("15"), catalog)["aws_instance.web"].region == "us-west-1"


def test_plan16_create_before_destroy_replace(catalog: Catalog) -> None:
    secret = _by_address(_plan("16"), catalog)["aws_secretsmanager_secret.default"]
    assert secret.actions == ["create", "delete"]
    assert secret.changed is True
    assert secret.region == "us-west-2"
    assert secret.instance_type is None


def test_plan18_drops_data_sources(catalog: Catalog) -> None:
    resources = _by_address(_plan("18"), catalog)
    # 9 resource changes, 4 of them data source reads.
    assert len(resources) == 5
    assert not any(".data." in address or address.startswith("data.") for address in resources)


@pytest.mark.parametrize("path", sorted(PLANS.glob("*.json")), ids=lambda path: path.name[:2])
def test_real_plan_input_matches_schema(path: Path, catalog: Catalog) -> None:
    document = normalize_plan(json.loads(path.read_text()), ResourceConfig(), catalog)
    jsonschema.validate(document.model_dump(mode="json"), load_schema("input.schema.json"))


# Hand-written plans


def test_asg_scale_out_pool_totals(catalog: Catalog, platform: ResourceConfig) -> None:
    plan = json.loads((CHECK / "plan_api_scale_out.json").read_text())
    api = normalize_plan(plan, platform, catalog).pools["api"]
    assert (api.before.instances, api.instances) == (4, 12)
    assert (api.before.vcpu, api.vcpu) == (16, 48)
    assert (api.before.memory_gib, api.memory_gib) == (64.0, 192.0)
    assert api.team == "payments"


def test_declared_pools_listed_without_resources(catalog: Catalog,
                                                 platform: ResourceConfig) -> None:
    plan = json.loads((CHECK / "plan_api_scale_out.json").read_text())
    pools = normalize_plan(plan, platform, catalog).pools
    assert set(pools) == {"api", "reporting", "batch", "etl"}
    assert pools["etl"].vcpu == 0
    assert pools["etl"].team == "data"


def test_data_pools_before_and_after(catalog: Catalog, platform: ResourceConfig) -> None:
    plan = json.loads((CHECK / "plan_data_pools.json").read_text())
    document = normalize_plan(plan, platform, catalog)
    # batch: c5.xlarge (4) + c5.xlarge -> c5.9xlarge (36); etl: new m5.large (2).
    assert (document.pools["batch"].before.vcpu, document.pools["batch"].vcpu) == (8, 40)
    assert (document.pools["etl"].before.vcpu, document.pools["etl"].vcpu) == (0, 2)
    assert document.pools["reporting"].vcpu == 8
    # No provider configuration: the region comes from the pool declaration.
    assert document.resources[0].region == "us-east-1"


def _module_plan(group_module: str, template_types: dict[str, str]) -> dict[str, Any]:
    """An ASG in ``group_module`` whose template id is unknown, beside same-named templates."""
    changes: list[dict[str, Any]] = [
        {
            "address": f"{prefix}aws_launch_template.web",
            "mode": "managed", "type": "aws_launch_template", "name": "web",
            "change": {"actions": ["create"], "before": None,
                       "after": {"instance_type": instance_type,
                                 "tags": {"quotaform:pool": "api", "quotaform:team": "payments"}},
                       "after_unknown": {"id": True}},
        }
        for prefix, instance_type in template_types.items()
    ]
    changes.append({
        "address": f"{group_module}aws_autoscaling_group.web",
        "mode": "managed", "type": "aws_autoscaling_group", "name": "web",
        "change": {"actions": ["create"], "before": None,
                   "after": {"max_size": 3, "launch_template": [{"version": "$Latest"}], "tag": []},
                   "after_unknown": {"launch_template": [{"id": True}]}},
    })
    group_block = {
        "address": "aws_autoscaling_group.web", "mode": "managed",
        "type": "aws_autoscaling_group", "name": "web", "provider_config_key": "outer:aws",
        "expressions": {"launch_template": [{"id": {"references": [
            "aws_launch_template.web.id", "aws_launch_template.web"]}}]},
    }
    inner = {"resources": [group_block]}
    return {
        "format_version": "1.2",
        "variables": {"region": {"value": "eu-west-1"}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "expressions": {
                "region": {"references": ["var.region"]}}}},
            "root_module": {"module_calls": {"outer": {"module": {"module_calls": {
                "inner": {"module": inner}}}}}},
        },
    }


def test_module_asg_resolves_its_own_module_template(catalog: Catalog) -> None:
    group_module = "module.outer.module.inner."
    plan = _module_plan(group_module, {"": "c5.large", group_module: "m5.xlarge"})
    group = _by_address(plan, catalog)[f"{group_module}aws_autoscaling_group.web"]
    assert group.instance_type == "m5.xlarge"
    assert group.vcpu == 4
    assert group.count_after == 3
    # Pool and team come from the template because the group has no tags.
    assert group.pool == "api"
    assert group.team == "payments"
    assert group.region == "eu-west-1"


def test_for_each_module_instances_resolve_separately(catalog: Catalog) -> None:
    first = 'module.outer.module.inner["a"].'
    second = 'module.outer.module.inner["b"].'
    plan = _module_plan(first, {first: "m5.large", second: "c5.xlarge"})
    extra = copy.deepcopy(plan["resource_changes"][-1])
    extra["address"] = f"{second}aws_autoscaling_group.web"
    plan["resource_changes"].append(extra)
    resources = _by_address(plan, catalog)
    assert resources[f"{first}aws_autoscaling_group.web"].instance_type == "m5.large"
    assert resources[f"{second}aws_autoscaling_group.web"].instance_type == "c5.xlarge"


def test_template_found_in_prior_state(catalog: Catalog) -> None:
    module = "module.outer.module.inner."
    plan = _module_plan(module, {})
    plan["prior_state"] = {"values": {"root_module": {"child_modules": [{"child_modules": [{
        "resources": [{"address": f"{module}aws_launch_template.web",
                       "type": "aws_launch_template",
                       "values": {"instance_type": "r5.large", "id": "lt-1"}}],
    }]}]}}}
    group = _by_address(plan, catalog)[f"{module}aws_autoscaling_group.web"]
    assert group.instance_type == "r5.large"


def test_unresolved_template_is_unsized(catalog: Catalog) -> None:
    plan = _module_plan("", {})
    plan["configuration"]["root_module"] = {"resources": [{
        "address": "aws_autoscaling_group.web", "type": "aws_autoscaling_group",
        "expressions": {"launch_template": [{"id": {"references": ["var.template_id"]}}]},
    }]}
    plan["resource_changes"][-1]["change"]["after"]["tag"] = [
        {"key": "quotaform:pool", "value": "api", "propagate_at_launch": True}]
    document = normalize_plan(plan, ResourceConfig(), catalog)
    assert [item.address for item in document.unsized] == ["aws_autoscaling_group.web"]
    assert document.unsized[0].reason == (
        "its launch template or launch configuration was not found in the plan")


def test_type_missing_from_catalog_is_unsized(catalog: Catalog) -> None:
    plan = {"format_version": "1.0", "resource_changes": [{
        "address": "aws_instance.gpu", "mode": "managed", "type": "aws_instance",
        "change": {"actions": ["create"], "before": None,
                   "after": {"instance_type": "x9.huge", "tags": {"quotaform:pool": "ml"}}},
    }]}
    document = normalize_plan(plan, ResourceConfig(), catalog)
    assert document.unsized[0].instance_type == "x9.huge"
    assert document.unsized[0].reason == "instance type 'x9.huge' is not in the instance catalog"
    assert document.resources[0].vcpu is None
    assert document.pools["ml"].instances == 1
    assert document.pools["ml"].vcpu == 0


def test_deleted_asg_counts_zero_after(catalog: Catalog, platform: ResourceConfig) -> None:
    plan = json.loads((CHECK / "plan_api_scale_out.json").read_text())
    group = plan["resource_changes"][1]["change"]
    group["actions"] = ["delete"]
    group["after"] = None
    api = normalize_plan(plan, platform, catalog).pools["api"]
    assert (api.before.instances, api.instances) == (4, 0)
    assert (api.before.vcpu, api.vcpu) == (16, 0)


def _change(address: str, kind: str, actions: list[str], before: dict[str, Any] | None,
            after: dict[str, Any] | None, **body: Any) -> dict[str, Any]:
    return {"address": address, "mode": "managed", "type": kind,
            "change": {"actions": actions, "before": before, "after": after, **body}}


def _plan_of(*changes: dict[str, Any], region: str | None = "us-east-1",
             **extra: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {"format_version": "1.2", "resource_changes": list(changes), **extra}
    if region is not None:
        plan["configuration"] = {"provider_config": {"aws": {"name": "aws", "expressions": {
            "region": {"constant_value": region}}}}}
    return plan


_API = {"quotaform:pool": "api", "quotaform:team": "payments"}


def _instance(instance_type: str, **values: Any) -> dict[str, Any]:
    return {"instance_type": instance_type, "tags": dict(_API), **values}


@pytest.mark.parametrize("actions", [["delete", "create"], ["create", "delete"]],
                         ids=["delete-create", "create-delete"])
def test_replace_moves_totals_either_order(actions: list[str], catalog: Catalog) -> None:
    plan = _plan_of(_change("aws_instance.web", "aws_instance", actions,
                            _instance("m5.large"), _instance("m5.xlarge")))
    api = normalize_plan(plan, ResourceConfig(), catalog).pools["api"]
    # m5.large: 2 vCPU, 8 GiB, 70.08 USD; m5.xlarge: 4 vCPU, 16 GiB, 140.16 USD.
    assert (api.before.instances, api.instances) == (1, 1)
    assert (api.before.vcpu, api.vcpu) == (2, 4)
    assert (api.before.memory_gib, api.memory_gib) == (8.0, 16.0)
    assert (api.before.monthly_cost_usd, api.monthly_cost_usd) == (70.08, 140.16)


def test_in_place_type_change_moves_memory_and_cost(catalog: Catalog) -> None:
    plan = _plan_of(_change("aws_db_instance.main", "aws_db_instance", ["update"],
                            {"instance_class": "db.r5.large", "tags": _API},
                            {"instance_class": "db.r5.xlarge", "tags": _API}))
    facts = normalize_plan(plan, ResourceConfig(), catalog).resources[0]
    # db.r5.X is sized and priced as the EC2 type r5.X: 16 -> 32 GiB, 91.98 -> 183.96 USD.
    assert (facts.memory_gib_before, facts.memory_gib) == (16.0, 32.0)
    assert (facts.usage_before.monthly_cost_usd, facts.usage_after.monthly_cost_usd) == (
        91.98, 183.96)


def test_delete_frees_usage(catalog: Catalog) -> None:
    plan = _plan_of(_change("aws_instance.old", "aws_instance", ["delete"],
                            _instance("c5.xlarge"), None))
    document = normalize_plan(plan, ResourceConfig(), catalog)
    api = document.pools["api"]
    assert (api.before.vcpu, api.vcpu) == (4, 0)
    assert (api.before.monthly_cost_usd, api.monthly_cost_usd) == (124.1, 0.0)
    assert document.unsized == []


def test_asg_without_weights_counts_largest_override(catalog: Catalog) -> None:
    group = {"max_size": 4, "tag": [{"key": "quotaform:pool", "value": "api"}],
             "mixed_instances_policy": [{"launch_template": [{"override": [
                 {"instance_type": "c5.large", "weighted_capacity": None},
                 {"instance_type": "c5.xlarge"}]}]}]}
    plan = _plan_of(_change("aws_autoscaling_group.web", "aws_autoscaling_group", ["create"],
                            None, group))
    facts = normalize_plan(plan, ResourceConfig(), catalog).resources[0]
    # Weight 1: 4 instances of c5.xlarge at worst, 4 x 4 vCPU, 4 x 8 GiB, 4 x 124.1 USD.
    assert facts.usage_after.instances == 4
    assert facts.usage_after.vcpu == 16
    assert facts.usage_after.memory_gib == 32.0
    assert facts.usage_after.monthly_cost_usd == 496.4


def test_asg_instance_requirements_is_unsized(catalog: Catalog) -> None:
    group = {"max_size": 4, "tag": [{"key": "quotaform:pool", "value": "api"}],
             "mixed_instances_policy": [{"launch_template": [{"override": [
                 {"instance_requirements": [{"vcpu_count": [{"min": 2}]}]}]}]}]}
    plan = _plan_of(_change("aws_autoscaling_group.web", "aws_autoscaling_group", ["create"],
                            None, group))
    document = normalize_plan(plan, ResourceConfig(), catalog)
    (item,) = document.unsized
    assert item.metrics == ["vcpu", "memory_gib", "monthly_cost_usd"]
    assert item.fix == "list the instance types in override blocks"
    assert document.pools["api"].instances == 4


def test_asg_unknown_max_size_counts_nothing(catalog: Catalog) -> None:
    group = {"max_size": None, "tag": [{"key": "quotaform:pool", "value": "api"}],
             "mixed_instances_policy": [{"launch_template": [{"override": [
                 {"instance_type": "c5.large"}]}]}]}
    plan = _plan_of(_change("aws_autoscaling_group.web", "aws_autoscaling_group", ["create"],
                            None, group, after_unknown={"max_size": True}))
    (item,) = normalize_plan(plan, ResourceConfig(), catalog).unsized
    assert item.metrics == ["instances", "vcpu", "memory_gib", "monthly_cost_usd"]
    assert item.reason == "its max_size is unknown until apply"
    assert item.changed is True


def test_eks_node_group_counts_max_size_of_first_type(catalog: Catalog) -> None:
    group = {"scaling_config": [{"desired_size": 2, "max_size": 6, "min_size": 1}],
             "instance_types": ["m5.large", "m5.xlarge"], "tags": _API}
    plan = _plan_of(_change("aws_eks_node_group.web", "aws_eks_node_group", ["create"],
                            None, group))
    facts = normalize_plan(plan, ResourceConfig(), catalog).resources[0]
    # 6 x m5.large: 12 vCPU, 48 GiB, 6 x 70.08 USD.
    assert facts.instance_type == "m5.large"
    assert facts.usage_after.instances == 6
    assert facts.usage_after.vcpu == 12
    assert facts.usage_after.memory_gib == 48.0
    assert facts.usage_after.monthly_cost_usd == 420.48


def test_eks_node_group_type_from_template(catalog: Catalog) -> None:
    template = {"id": "lt-0eks", "instance_type": "c5.xlarge", "tags": {}}
    group = {"scaling_config": [{"max_size": 2}], "instance_types": None, "tags": _API,
             "launch_template": [{"id": "lt-0eks", "version": "1"}]}
    plan = _plan_of(
        _change("aws_launch_template.eks", "aws_launch_template", ["no-op"], template, template),
        _change("aws_eks_node_group.web", "aws_eks_node_group", ["create"], None, group,
                after_unknown={"instance_types": True}),
    )
    facts = _by_address(plan, catalog)["aws_eks_node_group.web"]
    assert facts.instance_type == "c5.xlarge"
    assert facts.usage_after.vcpu == 8


def test_eks_node_group_default_type(catalog: Catalog) -> None:
    group = {"scaling_config": [{"max_size": 3}], "instance_types": None, "tags": _API}
    plan = _plan_of(_change("aws_eks_node_group.web", "aws_eks_node_group", ["create"],
                            None, group, after_unknown={"instance_types": True}))
    facts = normalize_plan(plan, ResourceConfig(), catalog).resources[0]
    # No instance_types in the configuration and no template: EKS launches t3.medium.
    assert facts.instance_type == "t3.medium"
    assert facts.usage_after.vcpu == 6


def test_eks_node_group_unknown_max_size_is_unsized(catalog: Catalog) -> None:
    group = {"scaling_config": [{"max_size": None}], "instance_types": ["m5.large"],
             "tags": _API}
    plan = _plan_of(_change("aws_eks_node_group.web", "aws_eks_node_group", ["create"],
                            None, group, after_unknown={"scaling_config": [{"max_size": True}]}))
    (item,) = normalize_plan(plan, ResourceConfig(), catalog).unsized
    assert item.reason == "its scaling_config max_size is unknown until apply"
    assert "instances" in item.metrics


def test_instance_type_from_launch_template(catalog: Catalog) -> None:
    template = {"id": "lt-0web", "instance_type": "r5.large", "tags": {}}
    instance = {"instance_type": None, "tags": _API,
                "launch_template": [{"id": "lt-0web", "version": "$Default"}]}
    plan = _plan_of(
        _change("aws_launch_template.web", "aws_launch_template", ["no-op"], template, template),
        _change("aws_instance.web", "aws_instance", ["create"], None, instance,
                after_unknown={"instance_type": True}),
    )
    facts = _by_address(plan, catalog)["aws_instance.web"]
    assert facts.instance_type == "r5.large"
    assert facts.usage_after.memory_gib == 16.0


def test_unknown_instance_type_until_apply(catalog: Catalog) -> None:
    plan = _plan_of(_change("aws_instance.web", "aws_instance", ["create"], None,
                            {"instance_type": None, "tags": _API},
                            after_unknown={"instance_type": True}))
    (item,) = normalize_plan(plan, ResourceConfig(), catalog).unsized
    assert item.reason == "its instance_type is unknown until apply"
    assert item.metrics == ["vcpu", "memory_gib", "monthly_cost_usd"]


def test_sensitive_values_still_counted(catalog: Catalog) -> None:
    plan = _plan_of(_change("aws_instance.web", "aws_instance", ["create"], None,
                            _instance("m5.large"),
                            after_sensitive={"instance_type": True, "tags": {}}))
    facts = normalize_plan(plan, ResourceConfig(), catalog).resources[0]
    assert facts.vcpu == 2
    assert facts.pool == "api"


def test_deposed_object_counts_before_only(catalog: Catalog) -> None:
    current = _change("aws_instance.web", "aws_instance", ["no-op"], _instance("m5.large"),
                      _instance("m5.large"))
    deposed = _change("aws_instance.web", "aws_instance", ["delete"], _instance("m5.xlarge"),
                      None)
    deposed["deposed"] = "00000001"
    resources = _by_address(_plan_of(current, deposed), catalog)
    old = resources["aws_instance.web (deposed object 00000001)"]
    assert (old.count_before, old.count_after) == (1, 0)
    assert old.usage_before.vcpu == 4
    assert resources["aws_instance.web"].usage_after.vcpu == 2


def test_prior_state_resource_outside_plan_counts(catalog: Catalog) -> None:
    prior = {"values": {"root_module": {"resources": [
        {"address": "aws_instance.kept", "mode": "managed", "type": "aws_instance",
         "values": _instance("c5.large")},
        {"address": "data.aws_ami.ubuntu", "mode": "data", "type": "aws_ami", "values": {}},
    ]}}}
    plan = _plan_of(_change("aws_instance.new", "aws_instance", ["create"], None,
                            _instance("c5.large")), prior_state=prior)
    document = normalize_plan(plan, ResourceConfig(), catalog)
    assert [facts.address for facts in document.resources] == [
        "aws_instance.new", "aws_instance.kept"]
    assert document.resources[1].actions == ["no-op"]
    assert (document.pools["api"].before.vcpu, document.pools["api"].vcpu) == (2, 4)


def test_plan12_targeted_plan_counts_untouched_instance(catalog: Catalog) -> None:
    document = normalize_plan(_plan("12"), ResourceConfig(), catalog)
    # web_app_2 (t3.micro) is only in the prior state; resource_drift adds nothing.
    # Before: 2 x t3.micro (1 GiB); after: t3.small (2 GiB) + t3.micro.
    assert (document.totals.before.instances, document.totals.after.instances) == (2, 2)
    assert (document.totals.before.memory_gib, document.totals.after.memory_gib) == (2.0, 3.0)


def test_price_missing_in_region_marks_cost_only(catalog: Catalog) -> None:
    plan = _plan_of(_change("aws_instance.web", "aws_instance", ["create"], None,
                            _instance("m5.large")), region="xx-nowhere-1")
    document = normalize_plan(plan, ResourceConfig(), catalog)
    (item,) = document.unsized
    assert item.metrics == ["monthly_cost_usd"]
    assert item.reason == "the instance catalog has no on-demand price for 'm5.large' in " \
                          "xx-nowhere-1"
    assert document.pools["api"].vcpu == 2


def test_unknown_region_marks_cost_of_undeclared_pool(catalog: Catalog) -> None:
    plan = _plan_of(_change("aws_instance.web", "aws_instance", ["create"], None,
                            _instance("m5.large")), region=None)
    (item,) = normalize_plan(plan, ResourceConfig(), catalog).unsized
    assert item.reason == "its region is not known, so no on-demand price applies"


# Nested pools


@pytest.fixture(scope="module")
def nested(catalog: Catalog) -> ResourceConfig:
    return load_config(CHECK / "nested_pools.json", catalog)


def test_child_usage_counts_against_every_ancestor(catalog: Catalog,
                                                   nested: ResourceConfig) -> None:
    pools = normalize_plan(_json_fixture("plan_nested_pools.json"), nested, catalog).pools
    # prod 8 x m5.xlarge (32 vCPU), dev 3 x t3.medium (6), analytics r5.xlarge (4).
    assert pools["payments-prod"].vcpu == 32
    assert pools["payments"].vcpu == 38
    assert pools["org"].vcpu == 42
    assert (pools["org"].before.vcpu, pools["org"].before.instances) == (22, 7)
    assert pools["payments"].memory_gib == 140.0
    # Each resource is rounded to cents: 1121.28 + 3 x 30.37 + 183.96 USD.
    assert pools["org"].monthly_cost_usd == 1396.35


def test_pool_tree_paths_and_descendants(catalog: Catalog, nested: ResourceConfig) -> None:
    pools = normalize_plan(_json_fixture("plan_nested_pools.json"), nested, catalog).pools
    assert pools["payments-prod"].path == "org/payments/payments-prod"
    assert pools["payments-prod"].ancestors == ["payments", "org"]
    assert pools["org"].descendants == ["analytics", "payments", "payments-dev",
                                        "payments-prod"]
    assert pools["analytics"].parent == "org"


def test_team_totals_count_nested_pools_once(catalog: Catalog, nested: ResourceConfig) -> None:
    teams = normalize_plan(_json_fixture("plan_nested_pools.json"), nested, catalog).teams
    assert teams["payments"].pools == ["payments", "payments-dev", "payments-prod"]
    assert (teams["payments"].before.instances, teams["payments"].instances) == (6, 11)
    # 8 x 140.16 + 3 x 30.37 USD.
    assert teams["payments"].monthly_cost_usd == 1212.39
    assert teams["data"].memory_gib == 32.0
    assert teams["platform"].instances == 0


def test_undeclared_tagged_pool_is_a_root(catalog: Catalog, nested: ResourceConfig) -> None:
    plan = _plan_of(_change("aws_instance.web", "aws_instance", ["create"], None,
                            {"instance_type": "m5.large",
                             "tags": {"quotaform:pool": "adhoc", "quotaform:team": "data"}}))
    document = normalize_plan(plan, nested, catalog)
    adhoc = document.pools["adhoc"]
    assert (adhoc.declared, adhoc.parent, adhoc.path) == (False, None, "adhoc")
    assert "adhoc" in document.teams["data"].pools
    assert document.pools["org"].vcpu == 0


def _json_fixture(name: str) -> dict[str, Any]:
    return json.loads((CHECK / name).read_text())


def test_tags_merge_all_sources() -> None:
    values = {
        "tags_all": {"env": "prod", "owner": "a"},
        "tags": {"owner": "b", "empty": None},
        "tag": [{"key": "quotaform:pool", "value": "api", "propagate_at_launch": True}],
    }
    assert tags_of(values) == {"env": "prod", "owner": "b", "quotaform:pool": "api"}


def test_address_with_quoted_dots_and_brackets() -> None:
    address = parse_address('module.sg["a.b[1]"].module.x[2].aws_instance.web["k.1"]')
    assert address.modules == (("sg", '["a.b[1]"]'), ("x", "[2]"))
    assert address.resource == "aws_instance.web"
    assert address.key == '["k.1"]'
    assert address.config_address == "module.sg.module.x.aws_instance.web"


# Formats


@pytest.mark.parametrize("version", ["0.1", "0.2", "1.0", "1.2", "1.9"])
def test_supported_format_versions(version: str, catalog: Catalog) -> None:
    document = normalize_plan({"format_version": version, "resource_changes": []},
                              ResourceConfig(), catalog)
    assert document.resources == []


def test_newer_major_format_rejected(catalog: Catalog) -> None:
    with pytest.raises(InputError, match=r"format_version 2\.0 is newer than this quotaform"):
        normalize_plan({"format_version": "2.0", "resource_changes": []}, ResourceConfig(),
                       catalog)


# Declarations


def test_config_input_fully_allocates_pools(catalog: Catalog, platform: ResourceConfig) -> None:
    document = normalize_config(platform, catalog)
    # api: 4 x m5.xlarge (4 vCPU); reporting: 1 x m5.2xlarge (8); batch: 2 x c5.xlarge (4).
    assert document.pools["api"].vcpu == 16
    assert document.pools["api"].instances == 4
    assert document.pools["reporting"].vcpu == 8
    assert document.pools["batch"].vcpu == 8
    assert document.pools["etl"].memory_gib == 4.0
    assert document.resources[0].tags == {"quotaform:pool": "api", "quotaform:team": "payments"}
    # 4 x m5.xlarge at 140.16 USD a month.
    assert document.pools["api"].monthly_cost_usd == 560.64
    jsonschema.validate(document.model_dump(mode="json"), load_schema("input.schema.json"))


def test_config_input_nested_totals(catalog: Catalog, nested: ResourceConfig) -> None:
    pools = normalize_config(nested, catalog).pools
    # prod 4 x m5.xlarge (16 vCPU, 64 GiB), dev 2 x t3.medium (4, 8), analytics r5.large (2, 16).
    assert (pools["payments"].instances, pools["payments"].vcpu) == (6, 20)
    assert (pools["org"].vcpu, pools["org"].memory_gib) == (22, 88.0)
    assert pools["org"].monthly_cost_usd == 713.36


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_is_current(name: str) -> None:
    assert load_schema(name) == generated_schema(SCHEMAS[name])
