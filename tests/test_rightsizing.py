"""Rightsizing rules on the recorded CloudWatch series, with prices from the shipped catalog.

Hand calculations use the us-east-1 on-demand prices of the catalog: m5.large
$0.096, m5.xlarge $0.192, m5.2xlarge $0.384, c5.large $0.085, c5.xlarge $0.17
an hour, and 730 hours a month.
"""

from __future__ import annotations

import csv
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
from provider_bridge.rightsizing import Recommendation, apply_policy_check, recommend

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


def _one(recommendations: list[Recommendation]) -> Recommendation:
    assert len(recommendations) == 1
    return recommendations[0]


def test_idle_pool_downsizes_to_cheapest_fitting(catalog: Catalog) -> None:
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="m5.2xlarge"))
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
        optimization=Optimization(allowed_families=["m5", "m6i"]),
    )
    inventory = {"reporting": _pool("reporting", "instances", "m6i.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.recommended_type == "m5.large"


def test_other_architecture_is_not_a_candidate(catalog: Catalog) -> None:
    # m6g.medium ($0.0385) is cheaper than m5.large but runs on arm64.
    config = _config(
        Pool(name="reporting", kind="instances", team="data", instance_type="m5.2xlarge",
             allowed_families=["m5", "m6g"]),
        optimization=Optimization(allowed_families=["m5", "m6g"]),
    )
    inventory = {"reporting": _pool("reporting", "instances", "m5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.recommended_type == "m5.large"


def test_pool_family_only_without_optimization_families(catalog: Catalog) -> None:
    # The pool allows m6i, but an empty optimization.allowed_families keeps the family.
    config = _config(Pool(name="reporting", kind="instances", team="data",
                          instance_type="c5.2xlarge", allowed_families=["c5", "m5"]))
    inventory = {"reporting": _pool("reporting", "instances", "c5.2xlarge", ["i-idle"])}

    rec = _one(recommend(inventory, _stats({"i-idle": _values("24ae8d")}), config, catalog))

    assert rec.recommended_type == "c5.large"


def test_policy_denied_upsize_is_blocked(catalog: Catalog) -> None:
    policies = pytest.importorskip("policies", reason="the policy gate is not installed")
    config = _config(
        Pool(name="api", kind="asg", team="payments", instance_type="m5.xlarge", min_size=2,
             max_size=4),
        Pool(name="reporting", kind="instances", team="data", instance_type="m5.2xlarge"),
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
