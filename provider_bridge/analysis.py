"""Utilization statistics per resource: percentiles, max, mean, burstiness and data sufficiency.

Percentiles use the ``linear`` method (Hyndman and Fan type 7, numpy's
default), which equals ``statistics.quantiles(..., method="inclusive")``.

Burstiness is the coefficient of variation: the population standard
deviation over the mean. It is 0 for a flat series, about 1 for load that
varies as much as an exponential distribution, and above 1 for load that
idles with short spikes. It is None when the mean is 0.

Every series is laid on the grid of the look-back window, one cell per
period, so that missing periods are visible. A series is sufficient when its
data points cover at least ``min_coverage`` of the window (and at least
``min_hours``), and no gap between points, or before the window's end, is
longer than ``max_gap_hours``. Otherwise the statistics are None and
``insufficient`` gives the reason, such as "insufficient data: 9 h of 14 d".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from provider_bridge.inventory import PoolInventory
from provider_bridge.metrics import CPU, MEMORY, InventoryMetrics, Series

DEFAULT_MIN_HOURS = 24.0
# A 14-day window then needs 12.6 days of points, so a resource younger than
# that gets no recommendation from a few days of load.
DEFAULT_MIN_COVERAGE = 0.9
# A gap longer than a day can hide a whole daily peak.
DEFAULT_MAX_GAP_HOURS = 24.0

_PERCENTILES = (50.0, 95.0, 99.0)
# Rows sharing one point count are partitioned together from this many on;
# fewer are cheaper sorted with the other odd rows in one call.
_MIN_RUN = 8
# Rows are analysed in blocks of about 4 million values (32 MB each), which
# keeps memory flat for any fleet size.
_BLOCK_VALUES = 1 << 22


@dataclass(frozen=True, slots=True)
class UtilizationStats:
    """Statistics of one resource's series of one metric over the look-back window.

    The statistic fields are None when ``insufficient`` contains the reason.
    ``covered_seconds`` is data points times the period. The ``memory_*``
    fields carry the resource's ``mem_used_percent`` statistics on its CPU
    statistics, when the CloudWatch agent publishes enough of them.
    """

    resource_id: str
    samples: int
    covered_seconds: int
    lookback_seconds: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    mean: float | None = None
    insufficient: str | None = None
    metric: str = CPU
    std: float | None = None
    burstiness: float | None = None
    longest_gap_seconds: int = 0
    memory_p50: float | None = None
    memory_p95: float | None = None
    memory_p99: float | None = None
    memory_max: float | None = None
    memory_mean: float | None = None
    memory_insufficient: str | None = None

    @property
    def sufficient(self) -> bool:
        """Whether the statistics rest on enough data to act on."""
        return self.insufficient is None


def format_duration(seconds: float) -> str:
    """Render a duration in days from two days on ('14 d', '12.7 d'), else in hours ('9 h').

    One decimal is kept below 10 hours and for days; a decimal of 0 is dropped.
    """
    if seconds >= 2 * 86400:
        text, unit = f"{seconds / 86400:.1f}", "d"
    else:
        hours = seconds / 3600
        text, unit = (f"{hours:.1f}" if hours < 10 else f"{hours:.0f}"), "h"
    return f"{text.removesuffix('.0')} {unit}"


@dataclass(frozen=True, slots=True)
class Sufficiency:
    """The data a series needs before its statistics count."""

    min_hours: float = DEFAULT_MIN_HOURS
    min_coverage: float = DEFAULT_MIN_COVERAGE
    max_gap_hours: float = DEFAULT_MAX_GAP_HOURS


def summarize(
    series: Mapping[str, Series],
    *,
    period_seconds: int,
    lookback_seconds: int,
    min_hours: float = DEFAULT_MIN_HOURS,
    window_end: dt.datetime | np.datetime64 | None = None,
    launch_times: Mapping[str, dt.datetime | None] | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    max_gap_hours: float = DEFAULT_MAX_GAP_HOURS,
    metric: str = CPU,
) -> dict[str, UtilizationStats]:
    """Compute the statistics of every series at once, block by block on a NaN-padded grid.

    The window ends at ``window_end`` (exclusive), by default one period after
    the latest data point of all series, and spans ``lookback_seconds``.
    Points outside it are ignored. ``launch_times`` explain a short series:
    "3 d of 14 d, launched 3 d ago".
    """
    keys = list(series)
    slots = max(int(lookback_seconds) // period_seconds, 1)
    end = _window_end(series, period_seconds, window_end)
    start = end - slots * period_seconds
    rules = Sufficiency(min_hours, min_coverage, max_gap_hours)
    # Longest series first, so rows of equal point counts sit side by side
    # and share one partition.
    ordered = sorted(keys, key=lambda key: -series[key].values.size)
    stats: dict[str, UtilizationStats] = {}
    rows = max(1, min(len(keys), _BLOCK_VALUES // slots))
    # Two buffers serve every block: fresh memory for each block would cost a
    # page fault per 4 KB written.
    buffers = (np.empty((rows, slots)), np.empty((rows, slots)))
    for first in range(0, len(ordered), rows):
        block = ordered[first : first + rows]
        grid, whole = _grid([series[key] for key in block], start, slots, period_seconds,
                            buffers[0])
        stats.update(_block_stats(block, grid, whole, start, period_seconds, lookback_seconds,
                                  rules, launch_times or {}, metric, buffers[1]))
    return {key: stats[key] for key in keys}


def _window_end(series: Mapping[str, Series], period_seconds: int,
                window_end: dt.datetime | np.datetime64 | None) -> int:
    if isinstance(window_end, dt.datetime):
        return int(window_end.timestamp())
    if window_end is not None:
        return int(np.datetime64(window_end, "s").astype(np.int64))
    lasts = [int(s.timestamps[-1].astype("datetime64[s]").astype(np.int64))
             for s in series.values() if s.timestamps.size]
    return max(lasts) + period_seconds if lasts else 0


def _grid(items: list[Series], start: int, slots: int, period_seconds: int,
          buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lay each series on one row of the window's grid in ``buffer``; missing periods are NaN.

    Also returns which rows hold a whole, gap-free series.
    """
    grid = buffer[: len(items)]
    whole = np.zeros(len(items), dtype=bool)
    last = start + (slots - 1) * period_seconds
    for row, item in enumerate(items):
        size = item.values.size
        seconds = item.timestamps.astype("datetime64[s]").astype(np.int64)
        if size == slots and seconds[0] == start and seconds[-1] == last:
            # Sorted, unique and spanning the window: one copy, no index arithmetic.
            grid[row] = item.values
            whole[row] = True
            continue
        grid[row] = np.nan
        cells = (seconds - start) // period_seconds
        inside = (seconds >= start) & (cells < slots)
        # A later point of the same period overwrites an earlier one; merged
        # CloudWatch series have one point per period.
        grid[row, cells[inside]] = item.values[inside]
    return grid, whole


def _block_stats(
    keys: list[str],
    grid: np.ndarray,
    whole: np.ndarray,
    start: int,
    period_seconds: int,
    lookback_seconds: int,
    rules: Sufficiency,
    launch_times: Mapping[str, dt.datetime | None],
    metric: str,
    scratch: np.ndarray,
) -> dict[str, UtilizationStats]:
    rows, slots = grid.shape
    counts = np.full(rows, slots, dtype=np.int64)
    partial = np.flatnonzero(~whole)
    valid = ~np.isnan(grid[partial])
    counts[partial] = valid.sum(axis=1)
    gaps, gap_ends, trailing, firsts = (np.zeros(rows, dtype=np.int64) for _ in range(4))
    gaps[partial], gap_ends[partial], trailing[partial], firsts[partial] = _gaps(valid)

    if np.any(counts[:-1] < counts[1:]):
        # Points outside the window made the length order differ from the count order.
        order = np.argsort(-counts, kind="stable")
        grid, counts, gaps, gap_ends, trailing, firsts = (
            values[order] for values in (grid, counts, gaps, gap_ends, trailing, firsts))
        keys = [keys[i] for i in order]

    required = min(slots, max(rules.min_hours * 3600 / period_seconds,
                              rules.min_coverage * slots))
    max_gap = rules.max_gap_hours * 3600 / period_seconds
    enough = (counts >= required) & (gaps <= max_gap) & (trailing <= max_gap) & (counts > 0)
    figures = [values.tolist() for values in _figures(grid, counts, scratch)]

    stats: dict[str, UtilizationStats] = {}
    end = start + slots * period_seconds
    for row, key in enumerate(keys):
        samples = int(counts[row])
        if not enough[row]:
            reason = _reason(samples, int(firsts[row]), (int(gaps[row]), int(gap_ends[row])),
                             int(trailing[row]), required, max_gap, start, end, period_seconds,
                             launch_times.get(key))
            stats[key] = UtilizationStats(
                key, samples, samples * period_seconds, lookback_seconds, insufficient=reason,
                metric=metric,
                longest_gap_seconds=int(max(gaps[row], trailing[row])) * period_seconds,
            )
            continue
        p50, p95, p99, peak, mean, std = (values[row] for values in figures)
        stats[key] = UtilizationStats(
            key, samples, samples * period_seconds, lookback_seconds, p50=p50, p95=p95,
            p99=p99, max=peak, mean=mean, metric=metric, std=std,
            burstiness=std / mean if mean > 0 else None,
            longest_gap_seconds=int(gaps[row]) * period_seconds,
        )
    return stats


def _gaps(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return each row's longest run of missing periods between points and where it ends,
    the run of missing periods at the window's end, and the first point, all in periods.

    Missing periods before the first point are not a gap: the resource may
    not have existed yet, which the coverage rule judges.
    """
    slots = valid.shape[1]
    positions = np.arange(slots, dtype=np.int32)
    # For each cell, the position of the latest point at or before it; -1 before the first.
    latest = np.where(valid, positions, np.int32(-1))
    np.maximum.accumulate(latest, axis=1, out=latest)
    last = latest[:, -1].astype(np.int64)
    first = np.argmax(valid, axis=1)
    run = np.subtract(positions, latest, out=latest)
    # Cells after the last point form the trailing gap, counted apart.
    run[(positions < first[:, None]) | (positions > last[:, None])] = 0
    trailing = np.where(last >= 0, slots - 1 - last, 0)
    return run.max(axis=1, initial=0), run.argmax(axis=1), trailing, first


def _figures(grid: np.ndarray, counts: np.ndarray, scratch: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return p50, p95, p99, max, mean and standard deviation of each row's values.

    ``counts`` must not increase from row to row. Each run of at least
    ``_MIN_RUN`` rows with one point count shares the order positions of its
    percentiles, so one in-place ``partition`` serves the run. The rows of
    shorter runs are sorted together instead. NaN sorts after every number,
    so padding never enters the figures. The grid's rows are reordered, and
    ``scratch``, of the grid's shape or larger, receives deviations from the mean.
    """
    rows, slots = grid.shape
    out = [np.full(rows, np.nan) for _ in range(6)]
    edges = [0, *(np.flatnonzero(np.diff(counts)) + 1).tolist(), rows]
    scattered: list[int] = []
    for first, stop in zip(edges[:-1], edges[1:], strict=False):
        count = int(counts[first])
        if count == 0:
            continue
        if stop - first < _MIN_RUN and count < slots:
            scattered.extend(range(first, stop))
            continue
        block = grid[first:stop]
        if count == slots:
            mean = block.sum(axis=1) / count
            deviation = np.subtract(block, mean[:, None], out=scratch[first:stop])
            variance = np.einsum("ij,ij->i", deviation, deviation) / count
        else:
            mean, variance = _padded_moments(block, count)
        out[4][first:stop] = mean
        out[5][first:stop] = np.sqrt(variance)
        for index, value in enumerate(_percentiles(block, count)):
            out[index][first:stop] = value
    if scattered:
        members = np.array(scattered)
        for index, value in enumerate(_sorted_figures(grid[members], counts[members])):
            out[index][members] = value
    return tuple(out)


def _padded_moments(block: np.ndarray, count: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and population variance of rows padded with NaN."""
    mean = np.nansum(block, axis=1) / count
    variance = np.nansum((block - mean[:, None]) ** 2, axis=1) / count
    return mean, variance


def _sorted_figures(block: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Return the six figures of rows with different point counts, sorting each row."""
    mean, variance = _padded_moments(block, counts)
    block.sort(axis=1)
    rows = np.arange(block.shape[0])
    results = []
    for q in _PERCENTILES:
        h = q / 100 * (counts - 1)
        low = np.floor(h).astype(np.int64)
        high = np.minimum(low + 1, counts - 1)
        below, above = block[rows, low], block[rows, high]
        results.append(below + (h - low) * (above - below))
    results.append(block[rows, counts - 1])
    return [*results, mean, np.sqrt(variance)]


def _percentiles(block: np.ndarray, count: int) -> list[np.ndarray]:
    """Partition ``block`` in place; return p50, p95, p99 and max of each row's ``count`` points.

    Only the lower order positions are selected. The value one position
    above a selected one is the minimum of the unordered run that follows it,
    which costs one pass instead of another selection.
    """
    positions = [q / 100 * (count - 1) for q in _PERCENTILES]
    lows = sorted({int(np.floor(h)) for h in positions})
    # Between selected positions order is arbitrary, and NaN padding could
    # land before the last point; selecting the last point keeps it after.
    padded = count < block.shape[1]
    block.partition(sorted({*lows, count - 1}) if padded else lows, axis=1)
    bounds = [*lows[1:], count - 1]
    above_low = {}
    for low, bound in zip(lows, bounds, strict=True):
        if low + 1 <= bound:
            above_low[low] = block[:, low + 1 : bound + 1].min(axis=1)
    results = []
    for h in positions:
        low = int(np.floor(h))
        below = block[:, low]
        if h == low or low + 1 >= count:
            results.append(below.copy())
        else:
            results.append(below + (h - low) * (above_low[low] - below))
    peak = block[:, lows[-1] : count].max(axis=1)
    results.append(peak)
    return results


def _reason(
    samples: int,
    first: int,
    gap: tuple[int, int],
    trailing: int,
    required: float,
    max_gap: float,
    start: int,
    end: int,
    period_seconds: int,
    launched: dt.datetime | None,
) -> str:
    window = format_duration(end - start)
    if samples == 0:
        return f"insufficient data: no data points in {window}"
    covered = f"insufficient data: {format_duration(samples * period_seconds)} of {window}"
    if samples < required:
        first_point = start + first * period_seconds
        if launched is not None and start < launched.timestamp() <= first_point + period_seconds:
            # The data starts at the launch: the resource is younger than the window.
            return f"{covered}, launched {format_duration(end - launched.timestamp())} ago"
        return covered
    if trailing > max_gap:
        since = _clock(end - trailing * period_seconds)
        return f"{covered}, no data since {since}"
    length, last_missing = gap
    gap_start = start + (last_missing - length + 1) * period_seconds
    return (f"{covered}, longest gap {format_duration(length * period_seconds)} from "
            f"{_clock(gap_start)}")


def _clock(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def insufficient_stats(
    resource_id: str, samples: int, period_seconds: int, lookback_seconds: int,
    *, metric: str = CPU,
) -> UtilizationStats:
    """Return statistics that report only how much data there was."""
    covered = samples * period_seconds
    if samples == 0:
        reason = f"insufficient data: no data points in {format_duration(lookback_seconds)}"
    else:
        reason = (f"insufficient data: {format_duration(covered)} of "
                  f"{format_duration(lookback_seconds)}")
    return UtilizationStats(resource_id, samples, covered, lookback_seconds,
                            insufficient=reason, metric=metric)


def missing_stats(
    resource_id: str, reason: str, lookback_seconds: int, *, metric: str
) -> UtilizationStats:
    """Return statistics of a metric that is not published for the resource, with the reason."""
    return UtilizationStats(resource_id, 0, 0, lookback_seconds,
                            insufficient=f"insufficient data: {reason}", metric=metric)


@dataclass(slots=True)
class Utilization:
    """Statistics per resource and metric, and per Auto Scaling group, over one window."""

    stats: dict[str, dict[str, UtilizationStats]] = field(default_factory=dict)
    group_stats: dict[str, dict[str, UtilizationStats]] = field(default_factory=dict)

    @property
    def cpu(self) -> dict[str, UtilizationStats]:
        """CPU statistics per resource id, with the memory figures merged in when measured."""
        merged = {}
        for key, by_metric in self.stats.items():
            if CPU not in by_metric:
                continue
            merged[key] = with_memory(by_metric[CPU], by_metric.get(MEMORY))
        return merged


def with_memory(cpu: UtilizationStats, memory: UtilizationStats | None) -> UtilizationStats:
    """Return ``cpu`` with the ``memory_*`` fields taken from ``memory`` statistics."""
    if memory is None:
        return cpu
    if not memory.sufficient:
        return dataclasses.replace(cpu, memory_insufficient=memory.insufficient)
    return dataclasses.replace(
        cpu, memory_p50=memory.p50, memory_p95=memory.p95, memory_p99=memory.p99,
        memory_max=memory.max, memory_mean=memory.mean,
    )


def analyze(
    data: InventoryMetrics,
    pools: Mapping[str, PoolInventory],
    rules: Sufficiency = Sufficiency(),
) -> Utilization:
    """Compute the statistics of every fetched series, one vectorised pass per metric.

    Resources younger than the window get their launch time in the reason
    when their data starts at the launch. Metrics not published for a
    resource get statistics that carry the reason.
    """
    launch_times = {r.resource_id: r.launch_time for p in pools.values() for r in p.resources}
    settings = {"period_seconds": data.period_seconds, "lookback_seconds": data.lookback_seconds,
                "window_end": data.end, "min_hours": rules.min_hours,
                "min_coverage": rules.min_coverage, "max_gap_hours": rules.max_gap_hours}
    utilization = Utilization()
    for source, target, times in ((data.series, utilization.stats, launch_times),
                                  (data.group_series, utilization.group_stats, {})):
        metrics = sorted({name for by_metric in source.values() for name in by_metric})
        for metric in metrics:
            subset = {key: by_metric[metric] for key, by_metric in source.items()
                      if metric in by_metric}
            for key, item in summarize(subset, launch_times=times, metric=metric,
                                       **settings).items():
                target.setdefault(key, {})[metric] = item
    for key, reasons in data.missing.items():
        for metric, reason in reasons.items():
            utilization.stats.setdefault(key, {})[metric] = missing_stats(
                key, reason, data.lookback_seconds, metric=metric)
    return utilization
