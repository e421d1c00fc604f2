"""Load recorded CloudWatch series and write them into a CloudWatch endpoint.

The demo and the tests use this to fill a local moto server with real
utilization data, shifted so that it ends at the present.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cdk.errors import InputError

log = logging.getLogger(__name__)

# PutMetricData accepts at most 1,000 MetricData entries per request. Each
# entry carries its own Timestamp: the Values/Counts form shares one timestamp
# among its values, so it cannot carry a time series.
MAX_ENTRIES_PER_PUT = 1000


def load_series_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``timestamp,value`` CSV and return UTC timestamps and values.

    Timestamps come back as ``datetime64[s]`` and values as ``float64``, both
    in file order. Timestamps without a zone are read as UTC.
    """
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    if not rows or [cell.strip() for cell in rows[0]] != ["timestamp", "value"]:
        raise InputError(f"{path}: expected a header line 'timestamp,value'")

    stamps: list[np.datetime64] = []
    values: list[float] = []
    for line, row in enumerate(rows[1:], start=2):
        try:
            stamp = dt.datetime.fromisoformat(row[0])
            values.append(float(row[1]))
        except (IndexError, ValueError) as exc:
            raise InputError(
                f"{path}:{line}: invalid row {row!r}; expected 'YYYY-MM-DD HH:MM:SS,NUMBER'"
            ) from exc
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
        stamps.append(np.datetime64(stamp, "s"))
    return np.array(stamps, dtype="datetime64[s]"), np.array(values, dtype=np.float64)


def shift_to_end(timestamps: np.ndarray, end: dt.datetime) -> np.ndarray:
    """Shift ``timestamps`` by one offset so the last one equals ``end``, keeping the spacing."""
    if timestamps.size == 0:
        return timestamps
    end_utc = end.astimezone(dt.UTC).replace(tzinfo=None) if end.tzinfo else end
    offset = np.datetime64(end_utc, "s") - timestamps[-1]
    return timestamps + offset


def put_series(
    client: Any,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    timestamps: np.ndarray,
    values: np.ndarray,
    *,
    unit: str = "Percent",
) -> int:
    """Write one series with PutMetricData, 1,000 points per request; return the requests made.

    NOTE: real CloudWatch rejects points older than two weeks, so a 14-day
    series must end close to the present there. moto accepts any timestamp.
    """
    if len(timestamps) != len(values):
        raise InputError(
            f"put_series: {len(timestamps)} timestamps but {len(values)} values; "
            "pass one value per timestamp"
        )
    wire_dimensions = [{"Name": name, "Value": value} for name, value in dimensions.items()]
    seconds = timestamps.astype("datetime64[s]").astype(np.int64).tolist()
    numbers = np.asarray(values, dtype=np.float64).tolist()

    requests = 0
    for start in range(0, len(seconds), MAX_ENTRIES_PER_PUT):
        entries = _entries(metric, wire_dimensions, unit, seconds, numbers, start)
        client.put_metric_data(Namespace=namespace, MetricData=entries)
        requests += 1
    log.debug("put series namespace=%s metric=%s dimensions=%s points=%d requests=%d",
              namespace, metric, dimensions, len(seconds), requests)
    return requests


def _entries(
    metric: str,
    dimensions: Sequence[dict[str, str]],
    unit: str,
    seconds: list[int],
    numbers: list[float],
    start: int,
) -> list[dict[str, Any]]:
    stop = min(start + MAX_ENTRIES_PER_PUT, len(seconds))
    return [
        {
            "MetricName": metric,
            "Dimensions": list(dimensions),
            "Timestamp": dt.datetime.fromtimestamp(seconds[i], dt.UTC),
            "Value": numbers[i],
            "Unit": unit,
        }
        for i in range(start, stop)
    ]
