"""Backtest the recommender on recorded CPU series: recommend from the past, replay the rest.

Each series is taken as one instance of a starting type. The recommender
reads the first ``train_days`` and recommends as ``quotaform rightsize``
would: same rules, candidates and credit simulation. The next ``test_days``
are replayed on the recommended type, with utilization rescaled by the vCPU
ratio (a load of 60 % on 4 vCPU is 120 % on 2). A point above 100 % is load
the recommended type could not have served. A burstable type also counts
the periods its CPU credits would have run short, its balance carried over
from the training days. The series carry no memory metric, so
``optimization.unmeasured_memory`` decides whether a type with less memory
than the starting one may be recommended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from cdk.errors import InputError
from cdk.model import Allocation, Capacity, Optimization, Pool, ResourceConfig, Team
from provider_bridge.analysis import summarize
from provider_bridge.candidates import cpu_target
from provider_bridge.catalog import Catalog
from provider_bridge.credits import simulate_credits
from provider_bridge.inventory import PoolInventory, Resource
from provider_bridge.metrics import Series
from provider_bridge.rightsizing import Recommendation, recommend
from provider_bridge.seeding import load_series_csv

log = logging.getLogger(__name__)

SERIES_PATTERN = "*cpu_utilization*.csv"
_TEAM = "backtest"


class BacktestRow(BaseModel):
    """One series: what was recommended from the training days and how the test days went."""

    series: str
    start_type: str
    recommended_type: str
    action: str
    rule: str | None
    train_p95: float = Field(description="CPU percent of the starting type.")
    train_max: float
    test_max: float = Field(description="Peak CPU percent of the recommended type.")
    test_points: int
    over_100_percent: float = Field(description="Share of test points above 100 %, percent.")
    over_target_percent: float = Field(description="Share of test points above the target.")
    credit_short_percent: float | None = Field(
        default=None, description="Share of test points a burstable type's credits ran short."
    )
    monthly_cost_start: float
    monthly_cost_recommended: float
    monthly_savings: float
    reason: str


class BacktestResult(BaseModel):
    """All rows with the totals, the settings and the run time."""

    rows: list[BacktestRow]
    train_days: float
    test_days: float
    target_percent: float
    region: str
    monthly_cost_start: float
    monthly_cost_recommended: float
    monthly_savings: float
    downsize_savings: float = Field(description="USD a month saved by the cheaper types.")
    upsize_cost: float = Field(description="USD a month added by the larger types.")
    series_over_100: int = Field(description="Series with at least one test point above 100 %.")
    unmeasured_memory: Literal["keep-current", "cpu-only"] = Field(
        description="How types were sized without a memory metric, which the series lack."
    )
    seconds: float


@dataclass(frozen=True, slots=True)
class _Split:
    name: str
    train: Series
    test: Series


def series_files(data_dir: Path) -> list[Path]:
    """Return the CPU series files of ``data_dir``, or raise InputError when there are none."""
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: folder not found; pass --data-dir with the CPU series "
                         "(timestamp,value CSV files)")
    files = sorted(data_dir.glob(SERIES_PATTERN))
    if not files:
        raise InputError(f"{data_dir}: no files matching {SERIES_PATTERN}; the backtest reads "
                         "CPUUtilization series as timestamp,value CSV files")
    return files


def split_series(path: Path, train_days: float, test_days: float) -> _Split:
    """Cut a series into its first ``train_days`` and the ``test_days`` after them."""
    stamps, values = load_series_csv(path)
    if stamps.size == 0:
        raise InputError(f"{path}: the series has no points")
    start = stamps[0]
    cut = start + np.timedelta64(int(train_days * 86400), "s")
    end = cut + np.timedelta64(int(test_days * 86400), "s")
    if stamps[-1] < end - np.timedelta64(300, "s"):
        covered = (stamps[-1] - start).astype(int) / 86400
        raise InputError(f"{path}: the series covers {covered:.1f} days, fewer than "
                         f"{train_days:g} + {test_days:g}; lower --train-days or --test-days")
    train = stamps < cut
    test = (stamps >= cut) & (stamps < end)
    name = path.stem.rsplit("_", 1)[-1]
    return _Split(name, Series(stamps[train], values[train]), Series(stamps[test], values[test]))


def backtest_config(
    types: Mapping[str, str], region: str, optimization: Optimization, capacity: Capacity
) -> ResourceConfig:
    """Declare one instances pool per series, on the series' starting type."""
    pools = [Pool(name=_pool_name(name), kind="instances", team=_TEAM, region=region,
                  instance_type=instance_type) for name, instance_type in types.items()]
    return ResourceConfig(allocation=Allocation(teams=[Team(name=_TEAM)], pools=pools),
                          optimization=optimization, capacity=capacity)


def _pool_name(series: str) -> str:
    return f"series-{series.lower()}"


def run_backtest(
    data_dir: Path,
    catalog: Catalog,
    *,
    train_days: float = 10.0,
    test_days: float = 4.0,
    start_type: str = "m5.xlarge",
    start_types: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    optimization: Optimization | None = None,
    capacity: Capacity | None = None,
    period_seconds: int = 300,
) -> BacktestResult:
    """Recommend from the training days of every series and replay the test days.

    Every series starts on ``start_type`` unless ``start_types`` maps its name
    (the part of the file name after the last underscore) to another type.
    Without ``optimization`` the model's defaults apply, which keep at least
    the starting type's memory (``unmeasured_memory="keep-current"``).
    """
    started = time.monotonic()
    if train_days <= 0 or test_days <= 0:
        raise InputError("--train-days and --test-days must be positive numbers of days")
    splits = [split_series(p, train_days, test_days) for p in series_files(data_dir)]
    types = {s.name: (start_types or {}).get(s.name, start_type) for s in splits}
    unknown = sorted(set(start_types or {}) - set(types))
    if unknown:
        raise InputError(f"--assign names series {', '.join(unknown)}, which {data_dir} does "
                         f"not have; known: {', '.join(sorted(types))}")
    for name in sorted(set(types.values())):
        if name not in catalog or catalog.monthly_price(name, region) is None:
            raise InputError(f"instance type {name}: not in the instance catalog with a price "
                             f"in {region}; pick a type such as m5.xlarge")
    log.info("backtest start: series=%d train_days=%g test_days=%g type=%s", len(splits),
             train_days, test_days, start_type)
    config = backtest_config(types, region, optimization or Optimization(),
                             capacity or Capacity())

    inventory = {}
    for split in splits:
        pool = _pool_name(split.name)
        found = PoolInventory(pool=pool, team=_TEAM, kind="instances", region=region)
        found.resources = [Resource(split.name, "instance", types[split.name], pool, _TEAM,
                                    region, f"aws_instance.{pool}")]
        inventory[pool] = found
    train = {s.name: s.train for s in splits}
    stats = {}
    for split in splits:
        # Each recording has its own dates, so each gets its own window.
        stats.update(summarize({split.name: split.train}, period_seconds=period_seconds,
                               lookback_seconds=int(train_days * 86400)))
    recommendations = {r.pool: r for r in recommend(inventory, stats, config, catalog,
                                                    series=train,
                                                    period_seconds=period_seconds)}

    rows = [_replay(s, recommendations[_pool_name(s.name)], config, catalog, period_seconds)
            for s in splits]
    start_cost = round(sum(r.monthly_cost_start for r in rows), 2)
    new_cost = round(sum(r.monthly_cost_recommended for r in rows), 2)
    result = BacktestResult(
        rows=rows, train_days=train_days, test_days=test_days,
        target_percent=cpu_target(config), region=region, monthly_cost_start=start_cost,
        monthly_cost_recommended=new_cost, monthly_savings=round(start_cost - new_cost, 2),
        downsize_savings=round(sum(r.monthly_savings for r in rows if r.monthly_savings > 0), 2),
        upsize_cost=round(-sum(r.monthly_savings for r in rows if r.monthly_savings < 0), 2),
        series_over_100=sum(1 for r in rows if r.over_100_percent > 0),
        unmeasured_memory=config.optimization.unmeasured_memory,
        seconds=round(time.monotonic() - started, 3),
    )
    log.info("backtest end: series=%d savings=%.2f over_100=%d seconds=%.2f", len(rows),
             result.monthly_savings, result.series_over_100, result.seconds)
    return result


def _replay(
    split: _Split, rec: Recommendation, config: ResourceConfig, catalog: Catalog,
    period_seconds: int,
) -> BacktestRow:
    start = catalog.types[rec.current_type]
    chosen = catalog.types[rec.recommended_type or rec.current_type]
    projected = split.test.values * start.vcpu / chosen.vcpu
    target = cpu_target(config)
    points = int(projected.size)
    short = None
    if chosen.baseline_cpu_pct_per_vcpu is not None:
        # The balance at the end of the training days carries into the test days.
        trained = simulate_credits(np.minimum(split.train.values * start.vcpu / chosen.vcpu,
                                              100.0), chosen, period_seconds=period_seconds)
        replay = simulate_credits(np.minimum(projected, 100.0), chosen,
                                  period_seconds=period_seconds,
                                  start_balance=trained.end_balance)
        short = 100.0 * replay.short_points / max(points, 1)
    start_cost = catalog.monthly_price(start.name, rec.region) or 0.0
    new_cost = catalog.monthly_price(chosen.name, rec.region) or 0.0
    return BacktestRow(
        series=split.name, start_type=start.name, recommended_type=chosen.name,
        action=rec.action, rule=rec.rule, train_p95=rec.p95 or 0.0, train_max=rec.max or 0.0,
        test_max=float(projected.max()) if points else 0.0, test_points=points,
        over_100_percent=100.0 * float(np.count_nonzero(projected > 100.0)) / max(points, 1),
        over_target_percent=100.0 * float(np.count_nonzero(projected > target)) / max(points, 1),
        credit_short_percent=short, monthly_cost_start=round(start_cost, 2),
        monthly_cost_recommended=round(new_cost, 2),
        monthly_savings=round(start_cost - new_cost, 2), reason=rec.reason,
    )


def markdown_table(result: BacktestResult) -> str:
    """Render the result as a GitHub Markdown table with a totals line."""
    lines = [
        "| series | start | recommended | action | train p95 % | test max % | > 100 % "
        f"| > {result.target_percent:g} % | credits short | saved $/mo |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result.rows:
        short = "-" if row.credit_short_percent is None else f"{row.credit_short_percent:.1f} %"
        lines.append(
            f"| {row.series} | {row.start_type} | {row.recommended_type} | {row.action} | "
            f"{row.train_p95:.3g} | {row.test_max:.3g} | {row.over_100_percent:.1f} % | "
            f"{row.over_target_percent:.1f} % | {short} | {row.monthly_savings:,.2f} |"
        )
    lines.append(
        f"| **total** | | | | | | {result.series_over_100} series | | | "
        f"**{result.monthly_savings:,.2f}** |"
    )
    return "\n".join(lines) + "\n"
