"""Utilization statistics against values computed by hand from the recorded CloudWatch series.

Expected percentiles come from ``statistics.quantiles(..., method="inclusive")``,
the same linear interpolation (Hyndman and Fan type 7) that numpy uses by
default. Maxima and means come from ``max`` and ``statistics.fmean``, and
burstiness from ``statistics.pstdev / statistics.fmean``.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import statistics
from pathlib import Path

import numpy as np
import pytest

import provider_bridge.analysis as analysis
from provider_bridge.analysis import Utilization, analyze, format_duration, summarize
from provider_bridge.inventory import PoolInventory, Resource
from provider_bridge.metrics import InventoryMetrics, Series
from provider_bridge.seeding import load_series_csv

SERIES = Path(__file__).resolve().parent.parent / "examples" / "data" / "cloudwatch"
FOURTEEN_DAYS = 14 * 86400
SLOTS = 4032
CPU_FILES = ["24ae8d", "53ea38", "5f5533", "77c1ca", "825cc2"]
# The window of every synthetic series below: [0, END) in epoch seconds.
END = SLOTS * 300


def _csv_values(name: str) -> list[float]:
    with (SERIES / f"ec2_cpu_utilization_{name}.csv").open() as handle:
        return [float(row["value"]) for row in csv.DictReader(handle)]


def _series(values: list[float], first_slot: int = 0) -> Series:
    stamps = (np.arange(len(values)) + first_slot) * 300
    return Series(stamps.astype("datetime64[s]"), np.array(values, dtype=float))


def _at(slots: list[int], values: list[float]) -> Series:
    return Series((np.array(slots) * 300).astype("datetime64[s]"), np.array(values, dtype=float))


def _summary(series: dict[str, Series], **options: object) -> dict[str, analysis.UtilizationStats]:
    return summarize(series, period_seconds=300, lookback_seconds=FOURTEEN_DAYS,
                     window_end=np.datetime64(END, "s"), **options)  # type: ignore[arg-type]


def _quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@pytest.mark.parametrize("name", CPU_FILES)
def test_stats_match_hand_computed_quantiles(name: str) -> None:
    values = _csv_values(name)

    stats = _summary({name: _series(values)})[name]

    assert stats.sufficient
    assert stats.samples == SLOTS
    assert stats.p50 == pytest.approx(_quantile(values, 50), abs=1e-9)
    assert stats.p95 == pytest.approx(_quantile(values, 95), abs=1e-9)
    assert stats.p99 == pytest.approx(_quantile(values, 99), abs=1e-9)
    assert stats.max == pytest.approx(max(values), abs=1e-12)
    assert stats.mean == pytest.approx(statistics.fmean(values), abs=1e-9)
    assert stats.std == pytest.approx(statistics.pstdev(values), abs=1e-9)
    assert stats.burstiness == pytest.approx(
        statistics.pstdev(values) / statistics.fmean(values), rel=1e-9)
    assert stats.longest_gap_seconds == 0


# SOURCES.md rounds to the digits shown; half a unit of the last digit is the
# tolerance. Its 96.3 for 825cc2 matches no common percentile method (every
# one gives 96.24 to 96.25), so that row is left out.
@pytest.mark.parametrize(("name", "p95", "tolerance"), [
    ("24ae8d", 0.14, 0.005), ("53ea38", 2.02, 0.005), ("5f5533", 51.0, 0.05),
    ("77c1ca", 89.8, 0.05),
])
def test_p95_matches_sources_table(name: str, p95: float, tolerance: float) -> None:
    stats = _summary({name: _series(_csv_values(name))})[name]

    assert stats.p95 == pytest.approx(p95, abs=tolerance)


def test_window_defaults_to_latest_point() -> None:
    # Without window_end the window ends one period after the latest point.
    values = _csv_values("5f5533")

    stats = summarize({"i-1": _series(values)}, period_seconds=300,
                      lookback_seconds=FOURTEEN_DAYS)["i-1"]

    assert stats.sufficient
    assert stats.p99 == pytest.approx(_quantile(values, 99), abs=1e-9)


def test_flat_series_has_zero_burstiness() -> None:
    stats = _summary({"flat": _series([40.0] * SLOTS), "zero": _series([0.0] * SLOTS)})

    assert stats["flat"].burstiness == 0.0
    assert stats["flat"].p99 == 40.0
    assert stats["zero"].burstiness is None
    assert stats["zero"].max == 0.0


def test_series_with_holes_uses_present_points_only() -> None:
    rng = random.Random(7)
    values = [rng.uniform(0, 100) for _ in range(SLOTS)]
    kept = sorted(rng.sample(range(SLOTS), int(SLOTS * 0.95)))
    present = [values[i] for i in kept]

    stats = _summary({"i-1": _at(kept, present)})["i-1"]

    assert stats.sufficient
    assert stats.samples == len(kept)
    assert stats.p50 == pytest.approx(_quantile(present, 50), abs=1e-9)
    assert stats.p95 == pytest.approx(_quantile(present, 95), abs=1e-9)
    assert stats.p99 == pytest.approx(_quantile(present, 99), abs=1e-9)
    assert stats.max == max(present)
    assert stats.mean == pytest.approx(statistics.fmean(present), abs=1e-9)
    assert stats.std == pytest.approx(statistics.pstdev(present), abs=1e-9)


def test_many_random_series_match_one_by_one() -> None:
    rng = random.Random(11)
    series: dict[str, Series] = {}
    expected: dict[str, list[float]] = {}
    for index in range(40):
        # Lengths from 91 % of the window to all of it, so rows of different
        # point counts share one block.
        start = rng.randrange(0, SLOTS // 11)
        values = [rng.expovariate(1 / 20) for _ in range(SLOTS - start)]
        series[f"i-{index}"] = _series(values, first_slot=start)
        expected[f"i-{index}"] = values

    stats = _summary(series)

    for key, values in expected.items():
        assert stats[key].sufficient, key
        assert stats[key].p95 == pytest.approx(_quantile(values, 95), abs=1e-9), key
        assert stats[key].p99 == pytest.approx(_quantile(values, 99), abs=1e-9), key
        assert stats[key].max == max(values), key
        assert stats[key].burstiness == pytest.approx(
            statistics.pstdev(values) / statistics.fmean(values), rel=1e-9), key


def test_blocks_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    series = {name: _series(_csv_values(name)) for name in CPU_FILES}
    whole = _summary(series)

    monkeypatch.setattr(analysis, "_BLOCK_VALUES", SLOTS * 2)
    blocked = _summary(series)

    assert blocked == whole


def test_points_outside_window_are_ignored() -> None:
    values = [5.0] * SLOTS
    inside = _series(values)
    stamps = np.concatenate([[np.datetime64(-300, "s")], inside.timestamps,
                             [np.datetime64(END, "s")]])
    padded = Series(stamps, np.concatenate([[1000.0], inside.values, [1000.0]]))

    stats = _summary({"i-1": padded})["i-1"]

    assert stats.samples == SLOTS
    assert stats.max == 5.0


def test_no_data_points_is_insufficient() -> None:
    stats = _summary({"i-1": _series([])})["i-1"]

    assert stats.insufficient == "insufficient data: no data points in 14 d"
    assert stats.samples == 0
    assert stats.p95 is None


def test_nine_hours_is_insufficient() -> None:
    # 108 five-minute points are 9 hours, here at the end of the window.
    stats = _summary({"i-1": _series([5.0] * 108, first_slot=SLOTS - 108)})["i-1"]

    assert stats.insufficient == "insufficient data: 9 h of 14 d"
    assert stats.p95 is None
    assert stats.samples == 108


def test_young_resource_names_launch_time() -> None:
    # Launched three days before the window's end; data from the next period on.
    launched = dt.datetime.fromtimestamp(END - 3 * 86400 - 60, dt.UTC)
    points = 3 * 288

    stats = _summary({"i-1": _series([5.0] * points, first_slot=SLOTS - points)},
                     launch_times={"i-1": launched})["i-1"]

    assert stats.insufficient == "insufficient data: 3 d of 14 d, launched 3 d ago"


def test_launch_after_first_point_is_not_named() -> None:
    # A launch time later than the data (a replaced record) explains nothing.
    launched = dt.datetime.fromtimestamp(END - 3600, dt.UTC)
    points = 3 * 288

    stats = _summary({"i-1": _series([5.0] * points, first_slot=SLOTS - points)},
                     launch_times={"i-1": launched})["i-1"]

    assert stats.insufficient == "insufficient data: 3 d of 14 d"


def test_coverage_threshold_is_inclusive() -> None:
    required = int(np.ceil(0.9 * SLOTS))
    enough = _series([1.0] * required, first_slot=SLOTS - required)
    short = _series([1.0] * (required - 1), first_slot=SLOTS - required + 1)

    stats = _summary({"enough": enough, "short": short})

    assert stats["enough"].sufficient
    assert not stats["short"].sufficient


def test_long_gap_is_insufficient() -> None:
    # 30 hours (360 periods) missing from slot 1000 on; 12.75 d (91 %) remain.
    slots = [i for i in range(SLOTS) if not 1000 <= i < 1360]

    stats = _summary({"i-1": _at(slots, [1.0] * len(slots))})["i-1"]

    assert stats.insufficient == ("insufficient data: 12.8 d of 14 d, longest gap 30 h from "
                                  "1970-01-04 11:20 UTC")
    assert stats.longest_gap_seconds == 30 * 3600


def test_gap_within_limit_is_sufficient() -> None:
    slots = [i for i in range(SLOTS) if not 1000 <= i < 1288]  # 24 hours missing

    stats = _summary({"i-1": _at(slots, [1.0] * len(slots))})["i-1"]

    assert stats.sufficient
    assert stats.longest_gap_seconds == 24 * 3600


def test_data_ending_early_is_insufficient() -> None:
    # Stopped 26 hours (312 periods) before the window's end.
    points = SLOTS - 312

    stats = _summary({"i-1": _series([1.0] * points)})["i-1"]

    assert stats.insufficient == ("insufficient data: 12.9 d of 14 d, no data since "
                                  "1970-01-13 22:00 UTC")


def test_stricter_coverage_setting() -> None:
    series = {"i-1": _series([1.0] * (SLOTS - 288), first_slot=288)}

    default = _summary(series)["i-1"]
    strict = _summary(series, min_coverage=1.0)["i-1"]

    assert default.sufficient
    assert strict.insufficient == "insufficient data: 13 d of 14 d"


def _inventory_metrics() -> tuple[InventoryMetrics, dict[str, PoolInventory]]:
    cpu = _csv_values("5f5533")
    memory = _csv_values("53ea38")
    data = InventoryMetrics(dt.datetime.fromtimestamp(0, dt.UTC),
                            dt.datetime.fromtimestamp(END, dt.UTC), 300)
    data.series = {
        "i-agent": {"CPUUtilization": _series(cpu), "mem_used_percent": _series(memory)},
        "i-plain": {"CPUUtilization": _series(cpu)},
        "i-young": {"CPUUtilization": _series([9.0] * 288, first_slot=SLOTS - 288)},
    }
    data.group_series = {"api-asg": {"CPUUtilization": _series(cpu)}}
    data.missing = {"i-plain": {"mem_used_percent": "mem_used_percent is not published"}}
    launched = dt.datetime.fromtimestamp(END - 86400 - 30, dt.UTC)
    resources = [Resource("i-agent", "instance", "m5.large", "web", "t", "us-east-1", "a"),
                 Resource("i-plain", "instance", "m5.large", "web", "t", "us-east-1", "b"),
                 Resource("i-young", "instance", "m5.large", "web", "t", "us-east-1", "c",
                          launch_time=launched)]
    pools = {"web": PoolInventory("web", "t", "instances", "us-east-1", resources)}
    return data, pools


def test_analyze_merges_memory_into_cpu() -> None:
    data, pools = _inventory_metrics()
    memory = _csv_values("53ea38")

    cpu = analyze(data, pools).cpu

    assert cpu["i-agent"].p95 == pytest.approx(_quantile(_csv_values("5f5533"), 95), abs=1e-9)
    assert cpu["i-agent"].memory_p95 == pytest.approx(_quantile(memory, 95), abs=1e-9)
    assert cpu["i-agent"].memory_max == max(memory)
    assert cpu["i-plain"].memory_p95 is None
    assert cpu["i-plain"].memory_insufficient == (
        "insufficient data: mem_used_percent is not published")
    assert cpu["i-young"].insufficient == "insufficient data: 24 h of 14 d, launched 24 h ago"


def test_analyze_keeps_groups_and_metrics_apart() -> None:
    data, pools = _inventory_metrics()

    utilization = analyze(data, pools)

    assert isinstance(utilization, Utilization)
    assert sorted(utilization.stats["i-agent"]) == ["CPUUtilization", "mem_used_percent"]
    assert utilization.stats["i-agent"]["mem_used_percent"].metric == "mem_used_percent"
    group = utilization.group_stats["api-asg"]["CPUUtilization"]
    assert group.p99 == pytest.approx(_quantile(_csv_values("5f5533"), 99), abs=1e-9)
    assert "api-asg" not in utilization.stats


def test_load_series_csv_reads_file_order() -> None:
    stamps, values = load_series_csv(SERIES / "ec2_cpu_utilization_24ae8d.csv")

    assert values.size == 4032
    assert values[0] == 0.132
    assert str(stamps[0]) == "2014-02-14T14:30:00"
    assert set(np.diff(stamps).astype(int).tolist()) == {300}


@pytest.mark.parametrize(("seconds", "text"), [
    (9 * 3600, "9 h"), (36 * 3600, "36 h"), (14 * 86400, "14 d"), (5400, "1.5 h"),
])
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
