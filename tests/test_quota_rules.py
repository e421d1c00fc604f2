"""Quota rules end to end: pool and team limits on four metrics, nested pools, unsized types.

The fixtures are tests/fixtures/check/nested_pools.json (org > payments >
payments-prod and payments-dev; org > analytics) and plan_nested_pools.json.
Expected numbers are worked out by hand from these catalog figures, with each
resource rounded to cents before the sums:

- m5.xlarge: 4 vCPU, 16 GiB, 140.16 USD a month
- t3.medium: 2 vCPU, 4 GiB, 30.37 USD
- r5.large: 2 vCPU, 16 GiB, 91.98 USD
- r5.xlarge: 4 vCPU, 32 GiB, 183.96 USD

The plan grows payments-prod from 4 to 8 m5.xlarge, adds a third t3.medium to
payments-dev and moves analytics from db.r5.large to db.r5.xlarge.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cdk.model import ResourceConfig, load_config
from policies import RegorusEngine, check_config, check_plan
from policies.documents import QuotaRow, Violation
from provider_bridge import Catalog

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"

QUOTA_RULES = {
    "pool-instance-quota", "pool-vcpu-quota", "pool-memory-quota", "pool-monthly-cost-quota",
    "team-instance-quota", "team-vcpu-quota", "team-memory-quota", "team-monthly-cost-quota",
    "unknown-instance-type",
}


def _json(name: str) -> dict[str, Any]:
    return json.loads((CHECK / name).read_text())


def _quota_findings(findings: list[Violation]) -> list[tuple[str, str | None, str]]:
    return [(item.rule, item.pool, item.message) for item in findings if item.rule in QUOTA_RULES]


def _config(catalog: Catalog, quotas: list[dict[str, Any]] | None = None,
            **allocation: Any) -> ResourceConfig:
    document = _json("nested_pools.json")
    if quotas is not None:
        document["allocation"]["quotas"] = quotas
    document["allocation"].update(allocation)
    return ResourceConfig.model_validate(document, context={"catalog": catalog})


@pytest.fixture(scope="module")
def nested(catalog: Catalog) -> ResourceConfig:
    return load_config(CHECK / "nested_pools.json", catalog)


def test_every_quota_metric_has_a_rule() -> None:
    assert QUOTA_RULES <= set(RegorusEngine().rules())


def test_nested_plan_denials(catalog: Catalog, nested: ResourceConfig) -> None:
    decision = check_plan(_json("plan_nested_pools.json"), nested, catalog)
    children = "(with child pools payments-dev, payments-prod)"
    team_pools = "across pools payments, payments-dev, payments-prod"
    assert decision.allowed is False
    assert _quota_findings(decision.violations) == [
        ("pool-instance-quota", "payments",
         f"pool 'payments' would run 11 instances after this plan {children}, over its quota "
         "of 8 (+3); shrink one of these pools or raise the quota"),
        ("pool-memory-quota", "payments",
         f"pool 'payments' would use 140 GiB of memory after this plan {children}, over its "
         "quota of 96 GiB (+44); shrink one of these pools or raise the quota"),
        ("pool-vcpu-quota", "org",
         "pool 'org' would use 42 vCPU after this plan (with child pools analytics, payments, "
         "payments-dev, payments-prod), over its quota of 40 (+2); shrink one of these pools "
         "or raise the quota"),
        ("pool-vcpu-quota", "payments-prod",
         "pool 'payments-prod' would use 32 vCPU after this plan, over its quota of 24 (+8); "
         "lower max_size or raise the quota"),
        ("team-instance-quota", None,
         f"team 'payments' would run 11 instances after this plan {team_pools}, over its "
         "quota of 10 (+1); shrink one of its pools or raise the quota"),
        ("team-monthly-cost-quota", None,
         f"team 'payments' would cost 1212.39 USD a month on demand after this plan "
         f"{team_pools}, over its quota of 1000 USD (+212.39); shrink one of its pools or "
         "raise the quota"),
    ]


def test_nested_plan_quota_rows_show_tree(catalog: Catalog, nested: ResourceConfig) -> None:
    decision = check_plan(_json("plan_nested_pools.json"), nested, catalog)
    assert decision.quotas == [
        QuotaRow(scope="pool", target="org", metric="vcpu", limit=40, before=22, after=42,
                 headroom=-2),
        QuotaRow(scope="pool", target="org", metric="monthly_cost_usd", limit=1500.0,
                 before=713.36, after=1396.35, headroom=103.65),
        QuotaRow(scope="pool", target="payments", metric="instances", limit=8, before=6,
                 after=11, headroom=-3, ancestors=["org"]),
        QuotaRow(scope="pool", target="payments", metric="memory_gib", limit=96.0, before=72.0,
                 after=140.0, headroom=-44.0, ancestors=["org"]),
        QuotaRow(scope="pool", target="payments-prod", metric="vcpu", limit=24, before=16,
                 after=32, headroom=-8, ancestors=["payments", "org"]),
        QuotaRow(scope="team", target="payments", metric="instances", limit=10, before=6,
                 after=11, headroom=-1),
        QuotaRow(scope="team", target="payments", metric="monthly_cost_usd", limit=1000.0,
                 before=621.38, after=1212.39, headroom=-212.39),
        QuotaRow(scope="team", target="data", metric="memory_gib", limit=32.0, before=16.0,
                 after=32.0, headroom=0.0),
    ]
    assert decision.quotas[4].path == "org/payments/payments-prod"


def test_usage_equal_to_limit_passes(catalog: Catalog) -> None:
    # team data: analytics grows from 16 to exactly its 32 GiB quota.
    config = _config(catalog, quotas=[{"scope": "team", "target": "data", "max_memory_gib": 32}])
    decision = check_plan(_json("plan_nested_pools.json"), config, catalog)
    assert _quota_findings(decision.violations) == []


def test_memory_quota_of_a_leaf_pool(catalog: Catalog) -> None:
    config = _config(catalog, quotas=[
        {"scope": "pool", "target": "analytics", "max_memory_gib": 24},
    ])
    decision = check_plan(_json("plan_nested_pools.json"), config, catalog)
    assert _quota_findings(decision.violations) == [(
        "pool-memory-quota", "analytics",
        "pool 'analytics' would use 32 GiB of memory after this plan, over its quota of 24 GiB "
        "(+8); lower count or raise the quota",
    )]


def test_cost_quota_of_a_pool_with_children(catalog: Catalog) -> None:
    config = _config(catalog, quotas=[
        {"scope": "pool", "target": "payments", "max_monthly_cost_usd": 1200.5},
    ])
    decision = check_plan(_json("plan_nested_pools.json"), config, catalog)
    # payments: 1121.28 + 3 x 30.37 = 1212.39 USD.
    assert _quota_findings(decision.violations) == [(
        "pool-monthly-cost-quota", "payments",
        "pool 'payments' would cost 1212.39 USD a month on demand after this plan (with child "
        "pools payments-dev, payments-prod), over its quota of 1200.5 USD (+11.89); shrink one "
        "of these pools or raise the quota",
    )]


def test_team_vcpu_quota_counts_nested_pools_once(catalog: Catalog) -> None:
    config = _config(catalog, quotas=[{"scope": "team", "target": "payments", "max_vcpu": 37}])
    decision = check_plan(_json("plan_nested_pools.json"), config, catalog)
    # 32 (prod) + 6 (dev) vCPU; the parent pool 'payments' adds nothing of its own.
    assert _quota_findings(decision.violations) == [(
        "team-vcpu-quota", None,
        "team 'payments' would use 38 vCPU after this plan across pools payments, payments-dev, "
        "payments-prod, over its quota of 37 (+1); shrink one of its pools or raise the quota",
    )]


def test_shrinking_over_quota_pool_passes(catalog: Catalog) -> None:
    plan = _json("plan_nested_pools.json")
    group = plan["resource_changes"][1]["change"]
    group["before"]["max_size"], group["after"]["max_size"] = 9, 8
    config = _config(catalog, quotas=[{"scope": "pool", "target": "payments-prod", "max_vcpu": 24}])
    decision = check_plan(plan, config, catalog)
    assert _quota_findings(decision.violations) == []
    assert decision.quotas[0].before == 36
    assert decision.quotas[0].after == 32


def test_advisory_memory_quota_warns(catalog: Catalog) -> None:
    config = _config(catalog, quotas=[{"scope": "pool", "target": "analytics",
                                       "max_memory_gib": 24}],
                     policies=[{"rule": "pool-memory-quota", "enforcement": "advisory"}])
    decision = check_plan(_json("plan_nested_pools.json"), config, catalog)
    assert _quota_findings(decision.violations) == []
    assert [item.rule for item in decision.warnings if item.rule in QUOTA_RULES] == [
        "pool-memory-quota"]


def test_no_warning_about_unenforced_limits(catalog: Catalog, nested: ResourceConfig,
                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        check_plan(_json("plan_nested_pools.json"), nested, catalog)
    assert "enforces yet" not in caplog.text


# Sizes the catalog cannot give


def _gpu_plan(instance_type: str, region: str = "us-east-1") -> dict[str, Any]:
    plan = _json("plan_nested_pools.json")
    plan["configuration"]["provider_config"]["aws"]["expressions"]["region"] = {
        "constant_value": region}
    plan["resource_changes"] = [{
        "address": "aws_instance.gpu", "mode": "managed", "type": "aws_instance",
        "change": {"actions": ["create"], "before": None, "after": {
            "instance_type": instance_type,
            "tags": {"quotaform:pool": "payments-dev", "quotaform:team": "payments"},
        }},
    }]
    return plan


def test_unknown_type_names_the_quotas_that_need_it(catalog: Catalog,
                                                    nested: ResourceConfig) -> None:
    decision = check_plan(_gpu_plan("x9.huge"), nested, catalog)
    assert _quota_findings(decision.violations) == [(
        "unknown-instance-type", "payments-dev",
        "aws_instance.gpu in pool 'payments-dev' cannot be counted against the memory quota "
        "of pool 'payments', the monthly cost quota of pool 'org', the monthly cost quota of "
        "team 'payments', the vCPU quota of pool 'org': instance type 'x9.huge' is not in the "
        "instance catalog; use a type from the instance catalog, or pass --catalog DIR with a "
        "catalog that lists 'x9.huge'",
    )]
    assert decision.violations[0].address == "aws_instance.gpu"


def test_unknown_type_still_counts_instances(catalog: Catalog, nested: ResourceConfig) -> None:
    decision = check_plan(_gpu_plan("x9.huge"), nested, catalog)
    rows = {(row.target, row.metric): row for row in decision.quotas}
    # payments-dev had no resources in this plan: 0 -> 1 instance, sizes not counted.
    assert rows[("payments", "instances")].after == 1
    assert rows[("payments", "memory_gib")].after == 0.0
    assert rows[("payments", "memory_gib")].unsized == 1
    assert rows[("payments", "instances")].unsized == 0


def test_unknown_type_without_size_quota_passes(catalog: Catalog) -> None:
    config = _config(catalog, quotas=[{"scope": "pool", "target": "payments",
                                       "max_instances": 5}])
    decision = check_plan(_gpu_plan("x9.huge"), config, catalog)
    assert _quota_findings(decision.violations) == []


def test_missing_price_needs_only_cost_quotas(catalog: Catalog, nested: ResourceConfig) -> None:
    decision = check_plan(_gpu_plan("m5.large", region="xx-nowhere-1"), nested, catalog)
    assert _quota_findings(decision.violations) == [(
        "unknown-instance-type", "payments-dev",
        "aws_instance.gpu in pool 'payments-dev' cannot be counted against the monthly cost "
        "quota of pool 'org', the monthly cost quota of team 'payments': the instance catalog "
        "has no on-demand price for 'm5.large' in xx-nowhere-1; pass --catalog DIR with prices "
        "for xx-nowhere-1, or use a type offered there",
    )]


# Declarations alone


def test_check_config_nested_declarations_pass(catalog: Catalog, nested: ResourceConfig) -> None:
    decision = check_config(nested, catalog)
    assert _quota_findings(decision.violations) == []
    rows = {(row.scope, row.target, row.metric): row.after for row in decision.quotas}
    assert rows[("pool", "org", "vcpu")] == 22
    assert rows[("team", "payments", "monthly_cost_usd")] == 621.38
    assert all(row.before is None for row in decision.quotas)


def test_check_config_grown_child_denies_ancestor(catalog: Catalog) -> None:
    document = _json("nested_pools.json")
    document["allocation"]["pools"][3]["count"] = 5
    document["allocation"]["quotas"] = [{"scope": "pool", "target": "payments",
                                         "max_instances": 8}]
    config = ResourceConfig.model_validate(document, context={"catalog": catalog})
    decision = check_config(config, catalog)
    # prod 4 + dev 5 instances.
    assert _quota_findings(decision.violations) == [(
        "pool-instance-quota", "payments",
        "pool 'payments' would run 9 instances when fully allocated (with child pools "
        "payments-dev, payments-prod), over its quota of 8 (+1); shrink one of these pools or "
        "raise the quota",
    )]
