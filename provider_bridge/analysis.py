"""Utilization statistics per resource: percentiles, max, mean and whether the data suffices.

Percentiles use numpy's default ``linear`` method (Hyndman and Fan type 7),
which equals ``statistics.quantiles(..., method="inclusive")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from provider_bridge.metrics import Series

DEFAULT_MIN_HOURS = 24.0

_PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True, slots=True)
class UtilizationStats:
    """Statistics of one resource's series over the look-back window.

    The percentile fields are None when ``insufficient`` holds the reason.
    ``covered_seconds`` is samples times the period.
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

    @property
    def sufficient(self) -> bool:
        """Whether the statistics rest on enough data to act on."""
        return self.insufficient is None


def format_duration(seconds: float) -> str:
    """Render a duration as whole days ('14 d') from two days on, else as hours ('9 h')."""
    if seconds >= 2 * 86400:
        days = seconds / 86400
        return f"{days:.0f} d" if days == round(days) else f"{days:.1f} d"
    hours = seconds / 3600
    return f"{hours:.0f} h" if hours == round(hours) or hours >= 10 else f"{hours:.1f} h"


def summarize(
    series: Mapping[str, Series],
    *,
    period_seconds: int,
    lookback_seconds: int,
    min_hours: float = DEFAULT_MIN_HOURS,
) -> dict[str, UtilizationStats]:
    """Compute the statistics of every series at once on a NaN-padded matrix.

    A series with fewer than ``min_hours`` of samples gets no statistics and a
    reason such as "insufficient data: 9 h of 14 d".
    """
    keys = list(series)
    lengths = np.array([series[key].values.size for key in keys], dtype=np.int64)
    width = int(lengths.max()) if keys else 0
    matrix = np.full((len(keys), max(width, 1)), np.nan)
    for row, key in enumerate(keys):
        # CloudWatch never returns NaN, but a gap-filled series might; NaN stays padding.
        matrix[row, : lengths[row]] = series[key].values

    covered = lengths * period_seconds
    enough = covered >= min_hours * 3600
    stats: dict[str, UtilizationStats] = {}
    if enough.any():
        dense = matrix[enough]
        percentiles = np.nanpercentile(dense, _PERCENTILES, axis=1, method="linear")
        maxima = np.nanmax(dense, axis=1)
        means = np.nanmean(dense, axis=1)
        for column, row in enumerate(np.flatnonzero(enough)):
            stats[keys[row]] = UtilizationStats(
                keys[row], int(lengths[row]), int(covered[row]), lookback_seconds,
                p50=float(percentiles[0, column]), p95=float(percentiles[1, column]),
                p99=float(percentiles[2, column]), max=float(maxima[column]),
                mean=float(means[column]),
            )
    for row in np.flatnonzero(~enough):
        stats[keys[row]] = insufficient_stats(
            keys[row], int(lengths[row]), period_seconds, lookback_seconds
        )
    return stats


def insufficient_stats(
    resource_id: str, samples: int, period_seconds: int, lookback_seconds: int
) -> UtilizationStats:
    """Return statistics that only say how much data there was."""
    covered = samples * period_seconds
    if samples == 0:
        reason = f"insufficient data: no samples in {format_duration(lookback_seconds)}"
    else:
        reason = (f"insufficient data: {format_duration(covered)} of "
                  f"{format_duration(lookback_seconds)}")
    return UtilizationStats(resource_id, samples, covered, lookback_seconds,
                            insufficient=reason)
