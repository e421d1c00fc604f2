"""CloudWatch retrieval: one time series per resource through batched GetMetricData calls.

A GetMetricData request takes at most 500 queries and returns at most 100,800
data points before it starts paginating. Queries are packed so that a request
stays under both limits: 14 days at 5-minute periods are 4,032 points per
query, so 25 queries fit in one request.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import numpy as np
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cdk.errors import ExecutionError, InputError
from provider_bridge.inventory import Resource

log = logging.getLogger(__name__)

MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800

# Where each resource kind publishes CPUUtilization. Auto Scaling members are
# read per instance, because the group-level AWS/EC2 aggregate hides which
# member is busy.
_NAMESPACES = {
    "instance": ("AWS/EC2", "InstanceId"),
    "asg-member": ("AWS/EC2", "InstanceId"),
    "db": ("AWS/RDS", "DBInstanceIdentifier"),
}

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """One series to fetch: a metric of one resource, keyed by the resource id."""

    key: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Series:
    """Values ordered by time, with their UTC timestamps as ``datetime64[s]``."""

    timestamps: np.ndarray
    values: np.ndarray


@dataclass(slots=True)
class FetchResult:
    """Series per query key, the window they cover and how many API calls it took."""

    series: dict[str, Series]
    start: dt.datetime
    end: dt.datetime
    period_seconds: int
    calls: int
    messages: list[str] = field(default_factory=list)


def cloudwatch_client(region: str, endpoint_url: str | None = None) -> Any:
    """Return a CloudWatch client with adaptive retries, which back off when throttled."""
    config = Config(retries={"mode": "adaptive", "max_attempts": 10})
    return boto3.session.Session().client(
        "cloudwatch", region_name=region, endpoint_url=endpoint_url, config=config
    )


def cpu_queries(resources: Sequence[Resource], metric: str = "CPUUtilization") -> list[MetricQuery]:
    """Build one query per resource for ``metric`` in the namespace of its kind."""
    queries = []
    for resource in resources:
        namespace, dimension = _NAMESPACES[resource.kind]
        queries.append(
            MetricQuery(resource.resource_id, namespace, metric,
                        ((dimension, resource.resource_id),))
        )
    return queries


def queries_per_call(points_per_query: int) -> int:
    """Return how many queries fit one GetMetricData request under both service limits."""
    return max(1, min(MAX_QUERIES_PER_CALL, MAX_DATAPOINTS_PER_CALL // max(points_per_query, 1)))


def metric_window(
    lookback_days: float, period_seconds: int, end_time: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """Return the look-back window, aligned to whole periods and ending before ``end_time``."""
    if period_seconds <= 0 or (period_seconds >= 60 and period_seconds % 60):
        raise InputError(
            f"period {period_seconds} s is invalid; CloudWatch takes 1, 5, 10, 30 or a "
            "multiple of 60 seconds"
        )
    if lookback_days <= 0:
        raise InputError(f"look-back window {lookback_days} d is invalid; pass a positive number")
    points = int(lookback_days * 86400) // period_seconds
    if points > MAX_DATAPOINTS_PER_CALL:
        raise InputError(
            f"a look-back window of {lookback_days} d at {period_seconds} s periods is {points} "
            f"points per series, more than the {MAX_DATAPOINTS_PER_CALL} one request returns; "
            "use a longer period (3600 s) or a shorter window"
        )
    end = (end_time or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    # Aligned periods keep CloudWatch from averaging across period boundaries
    # and leave out the current, still incomplete period.
    epoch = int(end.timestamp()) // period_seconds * period_seconds
    end = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return end - dt.timedelta(seconds=points * period_seconds), end


def fetch_series(
    client: Any,
    queries: Sequence[MetricQuery],
    *,
    lookback_days: float = 14,
    period_seconds: int = 300,
    end_time: dt.datetime | None = None,
    statistic: str = "Average",
    progress: ProgressCallback | None = None,
) -> FetchResult:
    """Fetch every query's series over the look-back window, packing queries per request.

    ``progress(done, total)`` is called after each request with the number of
    queries finished. Keys missing from CloudWatch get empty series.
    """
    start, end = metric_window(lookback_days, period_seconds, end_time)
    points = int((end - start).total_seconds()) // period_seconds
    size = queries_per_call(points)
    unique = list({query.key: query for query in queries}.values())
    started = time.perf_counter()
    log.info("metric fetch started queries=%d per_request=%d start=%s end=%s period=%d",
             len(unique), size, start.isoformat(), end.isoformat(), period_seconds)

    result = FetchResult({}, start, end, period_seconds, calls=0)
    for offset in range(0, len(unique), size):
        batch = unique[offset : offset + size]
        raw = _fetch_batch(client, batch, start, end, period_seconds, statistic, result)
        for query_id, (stamps, values) in raw.items():
            result.series[batch[int(query_id[1:])].key] = merge_points(stamps, values)
        if progress is not None:
            progress(offset + len(batch), len(unique))

    log.info("metric fetch finished queries=%d requests=%d seconds=%.2f", len(unique),
             result.calls, time.perf_counter() - started)
    return result


def _fetch_batch(
    client: Any,
    batch: Sequence[MetricQuery],
    start: dt.datetime,
    end: dt.datetime,
    period_seconds: int,
    statistic: str,
    result: FetchResult,
) -> dict[str, tuple[list[Any], list[float]]]:
    """Run one batch through every page and collect the points of each query id."""
    request: dict[str, Any] = {
        "MetricDataQueries": [_wire_query(i, q, period_seconds, statistic) for i, q in
                              enumerate(batch)],
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    collected: dict[str, tuple[list[Any], list[float]]] = {f"q{i}": ([], []) for i in
                                                            range(len(batch))}
    while True:
        try:
            response = client.get_metric_data(**request)
        except (BotoCoreError, ClientError) as exc:
            raise ExecutionError(f"GetMetricData failed: {exc}") from exc
        result.calls += 1
        for item in response.get("MetricDataResults", []):
            stamps, values = collected.setdefault(item["Id"], ([], []))
            stamps.extend(item.get("Timestamps", []))
            values.extend(item.get("Values", []))
            if item.get("StatusCode") in ("InternalError", "Forbidden"):
                _note(result, f"{batch[int(item['Id'][1:])].key}: status {item['StatusCode']}")
        for message in response.get("Messages", []):
            _note(result, f"{message.get('Code')}: {message.get('Value')}")
        token = response.get("NextToken")
        if not token:
            return collected
        request["NextToken"] = token


def _note(result: FetchResult, message: str) -> None:
    log.warning("GetMetricData reported %s", message)
    result.messages.append(message)


def _wire_query(index: int, query: MetricQuery, period_seconds: int, statistic: str) -> dict:
    # Query ids must start with a lower-case letter; resource ids may not.
    return {
        "Id": f"q{index}",
        "MetricStat": {
            "Metric": {
                "Namespace": query.namespace,
                "MetricName": query.metric,
                "Dimensions": [{"Name": n, "Value": v} for n, v in query.dimensions],
            },
            "Period": period_seconds,
            "Stat": statistic,
        },
        "ReturnData": True,
    }


def merge_points(stamps: Sequence[Any], values: Sequence[float]) -> Series:
    """Order points from any number of pages by time, keeping the first of duplicate times."""
    seconds = np.array([_epoch(stamp) for stamp in stamps], dtype=np.int64)
    numbers = np.asarray(values, dtype=np.float64)
    if seconds.size != numbers.size:
        raise ExecutionError(
            f"GetMetricData returned {seconds.size} timestamps but {numbers.size} values"
        )
    unique, first = np.unique(seconds, return_index=True)
    return Series(unique.astype("datetime64[s]"), numbers[first])


def _epoch(stamp: Any) -> int:
    if isinstance(stamp, dt.datetime):
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
        return int(stamp.timestamp())
    return int(stamp)
