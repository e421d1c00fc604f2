"""Rightsizing rules on the recorded CloudWatch series, with prices from the shipped catalog.

Hand calculations use the us-east-1 on-demand prices of the catalog: m5.large
$0.096, m5.xlarge $0.192, m5.2xlarge $0.384, c5.large $0.085, c5.xlarge $0.17
an hour, and 730 hours a month.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cdk.model import (
    Allocation,
    Capacity,
    Optimization,
    OptimizationRule,
    PerformanceTarget,
    Pool,
    Quota,
    ResourceConfig,
    Team,
)
from provider_bridge.analysis import UtilizationStats, summarize
from provider_bridge.catalog import Catalog
from provider_bridge.inventory import PoolInventory, Resource
from provider_bridge.metrics import Series
from provider_bridge.rightsizing import (
    Recommendation,
    apply_policy_check,
    evaluate_rules,
    recommend,
)

SERIES = Path(__file__).resolve().parent.parent / "examples" / "data" / "cloudwatch"
FOURTEEN_DAYS = 14 * 86400
# p95 of each file by statistics.quantiles(method="inclusive"), computed once by hand.
P95 = {"24ae8d": 0.136, "5f5533": 50.9907, "77c1ca": 89.7726, "825cc2": 96.2416}


def _values(name: str) -> np.ndarray:
    with (SERIES / f"ec2_cpu_utilization_{name}.csv").open() as handle:
        return np.array([float(row["value"]) for row in csv.DictReader(handle)])


def _stats(assignments: dict[str, np.ndarray]) -> dict[str, UtilizationStats]:
    series = {
        key: Series((np.arange(values.size) * 300).astype("datetime64[s]"), values)
        for key, values in assignments.items()
    }
    return summarize(series, period_seconds=300, lookback_seconds=FOURTEEN_DAYS)


def _pool(name: str, kind: str, instance_type: str, ids: list[str], team: str = "data"):
    resource_kind = {"asg": "asg-member", "instances": "instance"}[kind]
    found = PoolInventory(pool=name, team=team, kind=kind, region="us-east-1")  # type: ignore[arg-type]
    found.resources = [
        Resource(i, resource_kind, instance_type, name, team, "us-east-1", f"aws.{name}")  # type: ignore[arg-type]
        for i in ids
    ]
    return found


def _config(*pools: Pool, optimization: Optimization | None = None,
            capacity: Capacity | None = None, quotas: list[Quota] | None = None):
    return ResourceConfig(
        allocation=Allocation(teams=[Team(name="data"), Team(name="payments")],
                              pools=list(pools), quotas=quotas or []),
        optimization=optimization or Optimization(),
        capacity=capacity or Capacity(),
    )


def _cpu_only(**fields: object) -> Optimization:
    # For tests of CPU sizing without a memory metric. The default, keep-current, would
    # rule out every type with less memory than the current one.
    return Optimization(unmeasured_memory="cpu-only", **fields)  # type: ignore[arg-type]


def _one(recommendations: list[Recommendation]) -> Recommendation:
    assert len(recommendations) == 1
    return recommendations[0]


def test_idle_pool_downsizes_to_cheapest_fitting(catalog: Catalog) -> None:
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"), optimization=_cpu_only())
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.action == "downsize"
    assert rec.recommended_type == "m5.large"
    assert rec.rule == "downsize-underused"
    assert rec.p95 == pytest.approx(P95["24ae8d"], abs=1e-9)
    assert rec.monthly_cost_current == pytest.approx(0.384 * 730)
    assert rec.monthly_cost_recommended == pytest.approx(0.096 * 730)
    assert rec.monthly_savings == pytest.approx((0.384 - 0.096) * 730)
    # 0.136 % on 8 vCPU is 0.544 % on 2 vCPU.
    assert "0.544 %" in rec.reason
    assert "below 20 %" in rec.reason


def test_saturated_asg_upsizes_and_counts_members(catalog: Catalog) -> None:
    config = _config(Pool(name="api", kind="asg", team="payments", instance_type="m5.xlarge",
                          min_size=2, max_size=4, allowed_families=["m5", "m6i"]))
    inventory = {"api": _pool("api", "asg", "m5.xlarge", ["i-a", "i-b"], team="payments")}
    stats = _stats({"i-a": _values("825cc2"), "i-b": _values("5f5533")})

    rec = _one(recommend(inventory, stats, config, catalog))

    assert rec.action == "upsize"
    assert rec.rule == "upsize-saturated"
    # The pool is sized for its busiest member: 96.24 % on 4 vCPU is 48.1 % on 8.
    assert rec.p95 == pytest.approx(P95["825cc2"], abs=1e-9)
    assert rec.recommended_type == "m5.2xlarge"
    assert rec.monthly_cost_current == pytest.approx(2 * 0.192 * 730)
    assert rec.monthly_cost_recommended == pytest.approx(2 * 0.384 * 730)
    assert rec.monthly_savings == pytest.approx(-2 * 0.192 * 730)
    assert rec.samples == 2 * 4032
    assert "48.1 %" in rec.reason


def test_steady_pool_keeps_its_type(catalog: Catalog) -> None:
    config = _config(Pool(name="batch", kind="instances", team="data", instance_type="c5.xlarge",
                          count=2))
    inventory = {"batch": _pool("batch", "instances", "c5.xlarge", ["i-1", "i-2"])}
    stats = _stats({"i-1": _values("5f5533"), "i-2": _values("53ea38")})

    rec = _one(recommend(inventory, stats, config, catalog))

    assert rec.action == "keep"
    assert rec.rule is None
    assert rec.recommended_type is None
    assert rec.monthly_savings == 0.0
    assert rec.monthly_cost_current == pytest.approx(2 * 0.17 * 730)
    assert "51 %" in rec.reason
    assert "fired no rule" in rec.reason


def test_bursty_pool_upsizes_on_p95(catalog: Catalog) -> None:
    config = _config(Pool(name="etl", kind="instances", team="data", instance_type="c5.large",
                          allowed_families=["c5"]))
    inventory = {"etl": _pool("etl", "instances", "c5.large", ["i-burst"])}

    rec = _one(recommend(inventory, _stats({"i-burst": _values("77c1ca")}), config, catalog))

    assert rec.action == "upsize"
    # 89.77 % on 2 vCPU is 44.9 % on 4 vCPU, under 70 %.
    assert rec.recommended_type == "c5.xlarge"
    assert rec.monthly_savings == pytest.approx(-(0.17 - 0.085) * 730)


def test_insufficient_data_says_how_much(catalog: Catalog) -> None:
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"))
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-new"])}
    stats = _stats({"i-new": _values("24ae8d")[:108]})

    rec = _one(recommend(inventory, stats, config, catalog))

    assert rec.action == "insufficient-data"
    assert rec.recommended_type is None
    assert rec.p95 is None
    assert rec.samples == 108
    assert rec.reason.startswith("insufficient data: 9 h of 14 d")


def test_pool_without_instances_is_insufficient(catalog: Catalog) -> None:
    config = _config(Pool(name="api", kind="asg", team="payments", instance_type="m5.xlarge",
                          min_size=0, max_size=2))
    inventory = {"api": _pool("api", "asg", "m5.xlarge", [], team="payments")}

    rec = _one(recommend(inventory, {}, config, catalog))

    assert rec.action == "insufficient-data"
    assert "no running instances" in rec.reason


def test_downsize_keeps_smallest_type(catalog: Catalog) -> None:
    config = _config(Pool(name="tiny", kind="instances", team="data", instance_type="m5.large"))
    inventory = {"tiny": _pool("tiny", "instances", "m5.large", ["i-low"])}

    rec = _one(recommend(inventory, _stats({"i-low": _values("53ea38")}), config, catalog))

    assert rec.action == "keep"
    assert rec.rule == "downsize-underused"
    assert "no allowed type is cheaper than m5.large" in rec.reason


def test_upsize_unreachable_picks_largest_allowed(catalog: Catalog) -> None:
    # Target 70 - 60 = 10 %: 96.24 % on 4 vCPU needs 39 vCPU, more than any allowed type.
    config = _config(
        Pool(name="api", kind="asg", team="payments", instance_type="m5.xlarge", max_size=2,
             allowed_instance_types=["m5.xlarge", "m5.2xlarge", "m5.4xlarge"]),
        optimization=Optimization(headroom_percent=60),
    )
    inventory = {"api": _pool("api", "asg", "m5.xlarge", ["i-a"], team="payments")}

    rec = _one(recommend(inventory, _stats({"i-a": _values("825cc2")}), config, catalog))

    assert rec.action == "upsize"
    assert rec.recommended_type == "m5.4xlarge"
    assert "no allowed type reaches the 10 % target" in rec.reason


def test_performance_target_changes_choice(catalog: Catalog) -> None:
    # 50.99 % on c5.xlarge with a 20 % target would need 10.2 vCPU: c5.4xlarge (16).
    config = _config(
        Pool(name="batch", kind="instances", team="data", instance_type="c5.xlarge"),
        optimization=Optimization(rules=[OptimizationRule(
            name="upsize-busy", comparison="above", threshold=40, action="upsize")]),
        capacity=Capacity(performance=PerformanceTarget(p95_cpu_percent=20)),
    )
    inventory = {"batch": _pool("batch", "instances", "c5.xlarge", ["i-1"])}

    rec = _one(recommend(inventory, _stats({"i-1": _values("5f5533")}), config, catalog))

    assert rec.rule == "upsize-busy"
    assert rec.recommended_type == "c5.4xlarge"


@pytest.mark.parametrize(("down_priority", "up_priority", "winner"), [
    (50, 10, "upsize-p95"),
    (5, 10, "downsize-median"),
])
def test_lower_priority_number_wins(catalog: Catalog, down_priority: int, up_priority: int,
                                    winner: str) -> None:
    # The bursty series has p50 0.1 % and p95 89.8 %, so both rules match.
    rules = [
        OptimizationRule(name="downsize-median", statistic="p50", comparison="below",
                         threshold=20, action="downsize", priority=down_priority),
        OptimizationRule(name="upsize-p95", comparison="above", threshold=80, action="upsize",
                         priority=up_priority),
    ]
    config = _config(Pool(name="etl", kind="instances", team="data", instance_type="c5.large"),
                     optimization=Optimization(rules=rules))
    inventory = {"etl": _pool("etl", "instances", "c5.large", ["i-burst"])}

    rec = _one(recommend(inventory, _stats({"i-burst": _values("77c1ca")}), config, catalog))

    assert rec.rule == winner


def test_price_tie_breaks_by_name(catalog: Catalog) -> None:
    # m5.large and m6i.large both cost $0.096 with 2 vCPU: the name decides.
    config = _config(
        Pool(name="reporting", kind="instances", team="data", instance_type="m6i.2xlarge",
             allowed_families=["m5", "m6i"]),
        optimization=_cpu_only(allowed_families=["m5", "m6i"]),
    )
    inventory = {"reporting": _pool("reporting", "instances", "m6i.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.recommended_type == "m5.large"


def test_other_architecture_is_not_a_candidate(catalog: Catalog) -> None:
    # m6g.medium ($0.0385) is cheaper than m5.large but runs on arm64.
    config = _config(
        Pool(name="reporting", kind="instances", team="data", instance_type="m5.2xlarge",
             allowed_families=["m5", "m6g"]),
        optimization=_cpu_only(allowed_families=["m5", "m6g"]),
    )
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.recommended_type == "m5.large"


def test_pool_family_only_without_optimization_families(catalog: Catalog) -> None:
    # The pool allows m5, but an empty optimization.allowed_families keeps the family.
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="c5.2xlarge", allowed_families=["c5", "m5"]),
                     optimization=_cpu_only())
    inventory = {"reporting": _pool("reporting", "instances", "c5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.recommended_type == "c5.large"


def test_policy_denied_upsize_is_blocked(catalog: Catalog) -> None:
    policies = pytest.importorskip("policies", reason="the policy gate is not installed")
    config = _config(
        Pool(name="api", kind="asg", team="payments", instance_type="m5.xlarge", min_size=2,
             max_size=4),
        Pool(name="reporting", kind="instances", team="data", instance_type="m5.2xlarge"),
        optimization=_cpu_only(),
        quotas=[Quota(target="api", max_vcpu=16, max_instances=4)],
    )
    inventory = {
        "api": _pool("api", "asg", "m5.xlarge", ["i-a", "i-b"], team="payments"),
        "reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"]),
    }
    stats = _stats({"i-a": _values("825cc2"), "i-b": _values("825cc2"),
                    "i-idle": _values("24ae8d")})
    recommendations = recommend(inventory, stats, config, catalog)

    checked = {r.pool: r for r in apply_policy_check(recommendations, config, catalog,
                                                     policies.check_config)}

    # 4 x m5.2xlarge is 32 vCPU against the api quota of 16.
    assert checked["api"].blocked_by == ["pool-vcpu-quota"]
    assert not checked["api"].proposed
    assert "Not proposed: policy rule pool-vcpu-quota" in checked["api"].reason
    assert checked["reporting"].blocked_by == []
    assert checked["reporting"].proposed


def _series(assignments: dict[str, np.ndarray]) -> dict[str, Series]:
    return {key: Series((np.arange(values.size) * 300).astype("datetime64[s]"), values)
            for key, values in assignments.items()}


def test_outranked_rules_are_listed(catalog: Catalog) -> None:
    rules = [
        OptimizationRule(name="downsize-median", statistic="p50", comparison="below",
                         threshold=20, action="downsize", priority=50),
        OptimizationRule(name="upsize-p95", comparison="above", threshold=80, action="upsize",
                         priority=10),
        OptimizationRule(name="upsize-peak", statistic="max", comparison="above", threshold=99,
                         action="upsize", priority=30),
    ]
    config = _config(Pool(name="etl", kind="instances", team="data", instance_type="c5.large"),
                     optimization=Optimization(rules=rules))
    inventory = {"etl": _pool("etl", "instances", "c5.large", ["i-burst"])}

    rec = _one(recommend(inventory, _stats({"i-burst": _values("77c1ca")}), config, catalog))

    assert rec.rule == "upsize-p95"
    assert rec.outranked_rules == ["upsize-peak", "downsize-median"]
    assert "(rule upsize-p95, which outranks upsize-peak, downsize-median)" in rec.reason


def test_rule_on_unmeasured_memory_does_not_match(catalog: Catalog) -> None:
    rules = [OptimizationRule(name="memory-low", metric="mem_used_percent", statistic="max",
                              comparison="below", threshold=30, action="downsize", priority=1)]
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"), optimization=Optimization(rules=rules))
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.action == "keep"
    assert rec.rule is None


def test_move_to_burstable_simulates_credits(catalog: Catalog) -> None:
    # The low, flat series (p95 2.02 %, max 2.66 %) on m5.large stays far under the 5 %
    # baseline of t3a.nano ($0.0047 an hour), the cheapest burstable type on x86_64.
    rules = [OptimizationRule(name="burst-low", comparison="below", threshold=10,
                              action="move-to-burstable", priority=5)]
    config = _config(Pool(name="web", kind="instances", team="data", instance_type="m5.large"),
                     optimization=_cpu_only(rules=rules))
    inventory = {"web": _pool("web", "instances", "m5.large", ["i-low"])}
    values = _values("53ea38")

    rec = _one(recommend(inventory, _stats({"i-low": values}), config, catalog,
                         series=_series({"i-low": values})))

    assert rec.action == "move-to-burstable"
    assert rec.recommended_type == "t3a.nano"
    assert rec.cpu_credits is not None
    assert rec.cpu_credits.baseline_percent == 5
    assert rec.cpu_credits.credits_per_hour == pytest.approx(6)
    assert rec.monthly_savings == pytest.approx((0.096 - 0.0047) * 730, abs=0.005)
    assert "its CPU credits last over the whole series" in rec.reason


def test_move_to_burstable_without_series_keeps(catalog: Catalog) -> None:
    rules = [OptimizationRule(name="burst-low", comparison="below", threshold=10,
                              action="move-to-burstable", priority=5)]
    config = _config(Pool(name="web", kind="instances", team="data", instance_type="m5.large"),
                     optimization=_cpu_only(rules=rules))
    inventory = {"web": _pool("web", "instances", "m5.large", ["i-low"])}

    rec = _one(recommend(inventory, _stats({"i-low": _values("53ea38")}), config, catalog))

    assert rec.action == "keep"
    assert rec.rule == "burst-low"
    assert "no CPU series to simulate its CPU credits" in rec.reason


def test_bursty_series_needs_larger_credit_budget(catalog: Catalog) -> None:
    # The bursty series on m5.large has p50 0.1 % and bursts near 100 % of up to an hour.
    # In a burst t3.medium earns 2 credits a period against 9.9 spent, and runs out.
    # t3.large earns 3 a period, and its balance covers every burst.
    rules = [OptimizationRule(name="burst-median", statistic="p50", comparison="below",
                              threshold=10, action="move-to-burstable", priority=5)]
    config = _config(Pool(name="etl", kind="instances", team="data", instance_type="m5.large"),
                     optimization=Optimization(rules=rules, burstable_families=["t3"]),
                     capacity=Capacity(performance=PerformanceTarget(p95_cpu_percent=100)))
    inventory = {"etl": _pool("etl", "instances", "m5.large", ["i-burst"])}
    values = _values("77c1ca")

    rec = _one(recommend(inventory, _stats({"i-burst": values}), config, catalog,
                         series=_series({"i-burst": values})))

    assert rec.action == "move-to-burstable"
    assert rec.recommended_type == "t3.large"
    assert rec.cpu_credits is not None
    assert rec.cpu_credits.baseline_percent == 30


def test_stop_idle_is_advisory(catalog: Catalog) -> None:
    rules = [OptimizationRule(name="idle", comparison="below", threshold=1, action="stop-idle",
                              priority=1), *Optimization().rules]
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"), optimization=Optimization(rules=rules))
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.action == "stop-idle"
    assert rec.outranked_rules == ["downsize-underused"]
    assert rec.advisory
    assert not rec.proposed
    assert rec.monthly_savings == pytest.approx(0.384 * 730)


def test_scale_in_counts_pool_load(catalog: Catalog) -> None:
    # Four instances at p95 50.99 % carry 204 % of one c5.xlarge: 3 stay under 70 %.
    rules = [OptimizationRule(name="scale-in-p95", comparison="below", threshold=60,
                              action="scale-in")]
    config = _config(Pool(name="batch", kind="instances", team="data", instance_type="c5.xlarge",
                          count=4), optimization=Optimization(rules=rules))
    ids = ["i-1", "i-2", "i-3", "i-4"]
    inventory = {"batch": _pool("batch", "instances", "c5.xlarge", ids)}

    rec = _one(recommend(inventory, _stats({i: _values("5f5533") for i in ids}), config,
                         catalog))

    assert rec.action == "scale-in"
    assert rec.recommended_count == 3
    assert rec.count_changes == {"count": 3}
    assert rec.count_before == {"count": 4}
    assert rec.monthly_savings == pytest.approx(0.17 * 730)


def test_scale_out_raises_group_minimum(catalog: Catalog) -> None:
    # Two members at p95 96.24 % carry 192.5 % of one m5.xlarge: 3 stay under 70 %.
    rules = [OptimizationRule(name="scale-out-p95", comparison="above", threshold=80,
                              action="scale-out")]
    config = _config(Pool(name="api", kind="asg", team="payments", instance_type="m5.xlarge",
                          min_size=2, max_size=2), optimization=Optimization(rules=rules))
    inventory = {"api": _pool("api", "asg", "m5.xlarge", ["i-a", "i-b"], team="payments")}
    stats = _stats({"i-a": _values("825cc2"), "i-b": _values("825cc2")})

    rec = _one(recommend(inventory, stats, config, catalog))

    assert rec.action == "scale-out"
    assert rec.recommended_count == 3
    assert rec.count_changes == {"min_size": 3, "max_size": 3}
    assert rec.monthly_savings == pytest.approx(-0.192 * 730)


def test_scale_out_over_quota_is_blocked(catalog: Catalog) -> None:
    policies = pytest.importorskip("policies", reason="the policy gate is not installed")
    rules = [OptimizationRule(name="scale-out-p95", comparison="above", threshold=80,
                              action="scale-out")]
    config = _config(Pool(name="api", kind="asg", team="payments", instance_type="m5.xlarge",
                          min_size=2, max_size=2), optimization=Optimization(rules=rules),
                     quotas=[Quota(target="api", max_instances=2)])
    inventory = {"api": _pool("api", "asg", "m5.xlarge", ["i-a", "i-b"], team="payments")}
    stats = _stats({"i-a": _values("825cc2"), "i-b": _values("825cc2")})

    checked = apply_policy_check(recommend(inventory, stats, config, catalog), config, catalog,
                                 policies.check_config)

    assert checked[0].blocked_by == ["pool-instance-quota"]
    assert "Not proposed: policy rule pool-instance-quota denies it" in checked[0].reason


def test_unmeasured_memory_keep_current_keeps(catalog: Catalog) -> None:
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"),
                     optimization=Optimization(unmeasured_memory="keep-current"))
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.action == "keep"
    assert rec.rule == "downsize-underused"
    assert "Memory is not measured, so no type with less than the current 32 GiB" in rec.reason


def test_unmeasured_memory_defaults_to_keep_current(catalog: Catalog) -> None:
    # No unmeasured_memory set. The m5 types cheaper than m5.2xlarge (32 GiB, $0.384) are
    # m5.large (8 GiB, $0.096) and m5.xlarge (16 GiB, $0.192): both have less memory, so
    # the idle pool keeps its type, and the reason names the cheapest one.
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"))
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.action == "keep"
    assert rec.rule == "downsize-underused"
    assert rec.recommended_type is None
    assert rec.monthly_savings == 0.0
    assert "the cheapest, m5.large, is ruled out: 8 GiB of memory is under the 32 GiB " \
        "needed" in rec.reason
    assert rec.reason.endswith(" Memory is not measured, so no type with less than the "
                               "current 32 GiB is considered.")


def test_unmeasured_memory_cpu_only_says_so(catalog: Catalog) -> None:
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"), optimization=_cpu_only())
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.recommended_type == "m5.large"
    assert "Memory is not measured: m5.large has 8 GiB against 32 GiB now" in rec.reason


@dataclass(frozen=True)
class _WithMemory:
    """Statistics as the analysis returns them, plus memory percentiles."""

    resource_id: str
    samples: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float
    memory_max: float
    insufficient: str | None = None

    @property
    def sufficient(self) -> bool:
        return True


def test_measured_memory_sets_the_floor(catalog: Catalog) -> None:
    # Peak memory 60 % of 32 GiB is 19.2 GiB; at 90 % use that needs 21.3 GiB: m5.2xlarge
    # would be the only m5 that fits, so the pool stays.
    idle = _stats({"i-idle": _values("24ae8d")})["i-idle"]
    stats = {"i-idle": _WithMemory("i-idle", idle.samples, idle.p50, idle.p95, idle.p99,
                                   idle.max, idle.mean, memory_max=60.0)}
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"))
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, stats, config, catalog))  # type: ignore[arg-type]

    assert rec.action == "keep"
    assert rec.memory_gib_needed == pytest.approx(19.2)
    assert "the cheapest, m5.large, is ruled out: 8 GiB of memory is under the 21.3 GiB " \
        "needed." in rec.reason
    assert rec.reason.endswith(" Peak memory measured: 19.2 GiB.")


def test_burstiness_rule_uses_the_statistic(catalog: Catalog) -> None:
    # The bursty series idles with spikes (coefficient of variation well above 1).
    bursty = _stats({"i-burst": _values("77c1ca")})["i-burst"]
    if getattr(bursty, "burstiness", None) is None:
        pytest.skip("the analysis computes no burstiness figure")
    rules = [OptimizationRule(name="spiky", statistic="burstiness", comparison="above",
                              threshold=1.5, action="upsize", priority=1)]
    config = _config(Pool(name="etl", kind="instances", team="data", instance_type="c5.large"),
                     optimization=Optimization(rules=rules))
    inventory = {"etl": _pool("etl", "instances", "c5.large", ["i-burst"])}

    rec = _one(recommend(inventory, {"i-burst": bursty}, config, catalog))

    assert rec.rule == "spiky"
    assert rec.action == "upsize"
    assert f"burstiness CPU {bursty.burstiness:.3g} is above 1.5 (rule spiky)" in rec.reason


def test_rules_evaluate_in_priority_order() -> None:
    rules = [
        OptimizationRule(name="b-low", comparison="below", threshold=20, action="downsize",
                         priority=20),
        OptimizationRule(name="a-high", comparison="above", threshold=80, action="upsize",
                         priority=20),
        OptimizationRule(name="memory", metric="mem_used_percent", comparison="below",
                         threshold=50, action="downsize", priority=1),
    ]

    matches = evaluate_rules(rules, {"p95": 10.0})

    assert [m.rule for m in matches] == ["memory", "a-high", "b-low"]
    assert [m.matched for m in matches] == [False, False, True]
    assert matches[0].value is None
    assert matches[2].value == 10.0
