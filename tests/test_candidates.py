"""Candidate types: families, architecture, region, memory, CPU target and CPU credits.

us-east-1 on-demand prices of the catalog, USD an hour: t3.nano 0.0052,
t3.medium 0.0416, t3a.large 0.0752, t3.large 0.0832, t3.xlarge 0.1664,
m5.large 0.096, m5.xlarge 0.192, m6g.large 0.077, r5.xlarge 0.252.
"""

from __future__ import annotations

import numpy as np
import pytest

from cdk.model import Allocation, Optimization, Pool, ResourceConfig, Team
from provider_bridge.candidates import (
    Demand,
    allowed_types,
    choose_larger,
    choose_smaller,
    judge,
    memory_floor,
)
from provider_bridge.catalog import Catalog


def _config(pool: Pool | None = None, **optimization: object) -> ResourceConfig:
    return ResourceConfig(
        allocation=Allocation(teams=[Team(name="data")], pools=[pool] if pool else []),
        optimization=Optimization(**optimization),  # type: ignore[arg-type]
    )


def _pool(instance_type: str = "m5.large", **fields: object) -> Pool:
    return Pool(name="web", kind="instances", team="data", instance_type=instance_type,
                **fields)  # type: ignore[arg-type]


def _names(types: list) -> set[str]:
    return {t.name for t in types}


def test_default_allows_current_family_only(catalog: Catalog) -> None:
    pool = _pool()
    names = _names(allowed_types(catalog.types["m5.large"], pool, _config(pool), catalog,
                                 "us-east-1"))

    assert "m5.xlarge" in names
    assert {n.split(".")[0] for n in names} == {"m5"}


def test_other_architecture_needs_permission(catalog: Catalog) -> None:
    pool = _pool(allowed_families=["m5", "m6g"])
    same = allowed_types(catalog.types["m5.large"], pool,
                         _config(pool, allowed_families=["m5", "m6g"]), catalog, "us-east-1")
    both = allowed_types(catalog.types["m5.large"], pool,
                         _config(pool, allowed_families=["m5", "m6g"],
                                 allowed_architectures=["x86_64", "arm64"]),
                         catalog, "us-east-1")

    assert "m6g.large" not in _names(same)
    assert "m6g.large" in _names(both)


def test_burstable_families_exclude_other_architecture(catalog: Catalog) -> None:
    pool = _pool()
    names = _names(allowed_types(catalog.types["m5.large"], pool, _config(pool), catalog,
                                 "us-east-1", burstable=True))

    assert {"t3.large", "t3a.large"} <= names
    assert not any(n.startswith(("t4g.", "m5.")) for n in names)


def test_region_without_offering_is_excluded(catalog: Catalog) -> None:
    pool = _pool()
    names = _names(allowed_types(catalog.types["m5.large"], pool, _config(pool), catalog,
                                 "af-south-1", burstable=True))

    assert "t3.large" in names
    assert "t3a.large" not in names


def test_pool_instance_types_limit_choice(catalog: Catalog) -> None:
    pool = _pool(allowed_instance_types=["m5.large", "m5.2xlarge"])
    names = _names(allowed_types(catalog.types["m5.large"], pool, _config(pool), catalog,
                                 "us-east-1"))

    assert names == {"m5.large", "m5.2xlarge"}


def test_memory_floor_by_setting(catalog: Catalog) -> None:
    current = catalog.types["m5.xlarge"]

    # Measured: 9 GiB at the default 90 % maximum memory use needs 9 / 0.9 = 10 GiB.
    assert memory_floor(current, Demand(p95=1, max=1, memory_gib=9.0), _config()) == \
        pytest.approx(10.0)
    # Not measured, default keep-current: the current m5.xlarge has 16 GiB.
    assert memory_floor(current, Demand(p95=1, max=1), _config()) == 16.0
    assert memory_floor(current, Demand(p95=1, max=1),
                        _config(unmeasured_memory="cpu-only")) is None


@pytest.mark.parametrize(("demand", "problem"), [
    (Demand(p95=10, max=20, memory_gib=7.5), "8 GiB of memory is under the 8.33 GiB needed"),
    (Demand(p95=40, max=50), "projected p95 80 % is over the 70 % target"),
    (Demand(p95=30, max=60), "projected peak 120 % is over 100 %"),
])
def test_judge_names_the_problem(catalog: Catalog, demand: Demand, problem: str) -> None:
    # cpu-only, so the CPU problems are not hidden behind the 8 GiB of m5.large against
    # the 16 GiB of m5.xlarge.
    fit = judge(catalog.types["m5.large"], catalog.types["m5.xlarge"], demand,
                _config(unmeasured_memory="cpu-only"), catalog, "us-east-1")

    assert fit.problem == problem


def test_cheapest_fitting_burstable_wins(catalog: Catalog) -> None:
    # 25 % of 2 vCPU stays under the 30 % baseline of t3a.large and t3.large.
    demand = Demand(p95=25, max=25, series=[np.full(2016, 25.0)])
    current = catalog.types["m5.large"]
    pool = _pool()
    candidates = allowed_types(current, pool, _config(pool), catalog, "us-east-1",
                               burstable=True)

    choice = choose_smaller(current, candidates, demand, _config(pool), catalog, "us-east-1")

    assert choice.chosen is not None
    assert choice.chosen.instance_type.name == "t3a.large"
    assert choice.chosen.credits is not None
    assert choice.chosen.credits.lasts
    assert choice.chosen.monthly_price == pytest.approx(0.0752 * 730)
    rejected = {f.instance_type.name for f in choice.rejected}
    assert {"t3.medium", "t3a.medium", "t3.nano"} <= rejected


def test_credits_that_run_out_rule_out_burstable(catalog: Catalog) -> None:
    # 35 % of 2 vCPU spends 3.5 credits a period; t3.large earns 3, t3.nano 0.5.
    # cpu-only, so t3.nano (0.5 GiB against 8 GiB) is judged on its credits.
    demand = Demand(p95=35, max=35, series=[np.full(4032, 35.0)])
    current = catalog.types["m5.large"]
    pool = _pool()
    config = _config(pool, burstable_families=["t3"], unmeasured_memory="cpu-only")
    candidates = allowed_types(current, pool, config, catalog, "us-east-1", burstable=True)

    choice = choose_smaller(current, candidates, demand, config, catalog, "us-east-1")

    assert choice.chosen is None
    assert choice.reason == (
        "no allowed type is cheaper than m5.large and fits; the cheapest, t3.nano, is ruled "
        "out: its CPU credits (baseline 5 % a vCPU) run out in 4032 of 4032 periods, starting "
        "from an empty balance")


def test_burstable_without_series_is_ruled_out(catalog: Catalog) -> None:
    fit = judge(catalog.types["t3.large"], catalog.types["m5.large"], Demand(p95=5, max=5),
                _config(), catalog, "us-east-1")

    assert fit.problem == "no CPU series to simulate its CPU credits"


def test_keep_current_memory_moves_to_memory_family(catalog: Catalog) -> None:
    # 8 vCPU at 10 % fits 4 vCPU; only r5.xlarge keeps 32 GiB with 4 vCPU.
    pool = _pool("m5.2xlarge", allowed_families=["m5", "r5"])
    config = _config(pool, allowed_families=["m5", "r5"], unmeasured_memory="keep-current")
    current = catalog.types["m5.2xlarge"]
    candidates = allowed_types(current, pool, config, catalog, "us-east-1")

    choice = choose_smaller(current, candidates, Demand(p95=10, max=20), config, catalog,
                            "us-east-1")

    assert choice.chosen is not None
    assert choice.chosen.instance_type.name == "r5.xlarge"


def test_upsize_takes_cheapest_type_under_target(catalog: Catalog) -> None:
    current = catalog.types["m5.large"]
    pool = _pool()
    candidates = allowed_types(current, pool, _config(pool), catalog, "us-east-1")

    choice = choose_larger(current, candidates, Demand(p95=90, max=99), _config(pool), catalog,
                           "us-east-1")

    assert choice.chosen is not None
    assert choice.chosen.instance_type.name == "m5.xlarge"
    assert "brings the projected p95 to 45 %" in choice.reason
