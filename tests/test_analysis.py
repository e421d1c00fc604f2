"""Utilization statistics against values computed by hand from the recorded CloudWatch series.

Expected percentiles come from ``statistics.quantiles(..., method="inclusive")``,
the same linear interpolation (Hyndman and Fan type 7) that numpy uses by
default; maxima and means from ``max`` and ``statistics.fmean``.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import numpy as np
import pytest

from provider_bridge.analysis import format_duration, summarize
from provider_bridge.metrics import Series
from provider_bridge.seeding import load_series_csv

SERIES = Path(__file__).resolve().parent.parent / "examples" / "data" / "cloudwatch"
FOURTEEN_DAYS = 14 * 86400
CPU_FILES = ["24ae8d", "53ea38", "5f5533", "77c1ca", "825cc2"]


def _csv_values(name: str) -> list[float]:
    with (SERIES / f"ec2_cpu_utilization_{name}.csv").open() as handle:
        return [float(row["value"]) for row in csv.DictReader(handle)]


def _series(values: list[float]) -> Series:
    stamps = np.arange(len(values)) * 300
    return Series(stamps.astype("datetime64[s]"), np.array(values))


@pytest.mark.parametrize("name", CPU_FILES)
def test_stats_match_hand_computed_quantiles(name: str) -> None:
    values = _csv_values(name)
    cuts = statistics.quantiles(values, n=100, method="inclusive")

    stats = summarize({name: _series(values)}, period_seconds=300,
                      lookback_seconds=FOURTEEN_DAYS)[name]

    assert stats.sufficient
    assert stats.samples == 4032
    assert stats.p50 == pytest.approx(cuts[49], abs=1e-9)
    assert stats.p95 == pytest.approx(cuts[94], abs=1e-9)
    assert stats.p99 == pytest.approx(cuts[98], abs=1e-9)
    assert stats.max == pytest.approx(max(values), abs=1e-12)
    assert stats.mean == pytest.approx(statistics.fmean(values), abs=1e-9)


# SOURCES.md rounds to the digits shown; half a unit of the last digit is the
# tolerance. Its 96.3 for 825cc2 matches no common percentile method (every
# one gives 96.24 to 96.25), so that row is left out.
@pytest.mark.parametrize(("name", "p95", "tolerance"), [
    ("24ae8d", 0.14, 0.005), ("53ea38", 2.02, 0.005), ("5f5533", 51.0, 0.05),
    ("77c1ca", 89.8, 0.05),
])
def test_p95_matches_sources_table(name: str, p95: float, tolerance: float) -> None:
    stats = summarize({name: _series(_csv_values(name))}, period_seconds=300,
                      lookback_seconds=FOURTEEN_DAYS)[name]

    assert stats.p95 == pytest.approx(p95, abs=tolerance)


def test_many_series_of_unequal_length() -> None:
    idle = _csv_values("24ae8d")
    steady = _csv_values("5f5533")[:600]
    short = [10.0, 20.0, 30.0]
    series = {"idle": _series(idle), "steady": _series(steady), "short": _series(short)}

    stats = summarize(series, period_seconds=300, lookback_seconds=FOURTEEN_DAYS)

    assert stats["idle"].p95 == pytest.approx(
        statistics.quantiles(idle, n=100, method="inclusive")[94], abs=1e-9)
    assert stats["steady"].samples == 600
    assert stats["steady"].p99 == pytest.approx(
        statistics.quantiles(steady, n=100, method="inclusive")[98], abs=1e-9)
    assert stats["steady"].max == pytest.approx(max(steady))
    assert not stats["short"].sufficient


def test_insufficient_data_names_hours_covered() -> None:
    # 108 five-minute samples are 9 hours.
    series = {"i-1": _series([5.0] * 108)}

    stats = summarize(series, period_seconds=300, lookback_seconds=FOURTEEN_DAYS)["i-1"]

    assert stats.insufficient == "insufficient data: 9 h of 14 d"
    assert stats.p95 is None
    assert stats.samples == 108


def test_no_samples_is_insufficient() -> None:
    series = {"i-1": _series([])}

    stats = summarize(series, period_seconds=300, lookback_seconds=FOURTEEN_DAYS)["i-1"]

    assert stats.insufficient == "insufficient data: no samples in 14 d"
    assert stats.samples == 0


def test_exactly_24_hours_is_enough() -> None:
    series = {"i-1": _series([1.0] * 287 + [3.0])}

    stats = summarize(series, period_seconds=300, lookback_seconds=FOURTEEN_DAYS)["i-1"]

    assert stats.sufficient
    assert stats.max == 3.0


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
