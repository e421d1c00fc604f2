"""Count GetMetricData calls for fleets of 100, 1,000 and 10,000 instances on a moto server.

The fleet goes through the product's retrieval path, ``collect_metrics``, with
the ``rightsize`` defaults: CPUUtilization of every instance, memory where the
CloudWatch agent publishes it (nowhere here), 14 days at 300 s. Calls are
counted with botocore event hooks on the CloudWatch client: one
``before-parameter-build`` event per API call (pages included), one
``before-send`` event per HTTP attempt (retries included). The minimum,
``max(ceil(queries / 500), ceil(queries * points / 100,800))``, is computed
here, apart from the product's own figure.

The instances are not created in EC2, because CloudWatch accepts queries for
any dimension value and discovery is not what is counted. No metric data is
written for the fleet, because moto scans every stored point once per period
of every query: with 10,000 series, 40 million points 4,032 times a query.
``--check-data`` runs 100 instances twice, once with a point a day for 20 of
them and once with no data, and shows that the calls are the same. The
requests are planned from the number of queries and the window before any
response is read.

    .venv/bin/python bench/metrics_calls.py [--sizes 100 1000 10000] [--days 14]
        [--metric NAME ...] [--check-data]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provider_bridge.aws import AwsAccess  # noqa: E402
from provider_bridge.inventory import PoolInventory, Resource  # noqa: E402
from provider_bridge.local_aws import local_aws  # noqa: E402
from provider_bridge.metrics import collect_metrics  # noqa: E402
from provider_bridge.seeding import put_series  # noqa: E402

PERIOD = 300
# Each run has a region of its own, so no run scans another's points.
REGIONS = ("eu-central-1", "eu-central-2", "eu-south-1", "eu-south-2", "me-south-1")
QUERY_LIMIT = 500
POINT_LIMIT = 100_800


class Counter:
    """Counts API calls and HTTP attempts of one botocore operation on one client."""

    def __init__(self, client: Any, operation: str) -> None:
        self.calls = 0
        self.attempts = 0
        self.sizes: list[int] = []
        # A query cut in time appears in several requests; count it once.
        self.queries: set[tuple[Any, ...]] = set()
        client.meta.events.register(f"before-parameter-build.cloudwatch.{operation}", self._call)
        client.meta.events.register(f"before-send.cloudwatch.{operation}", self._attempt)
        client.meta.events.register(f"provide-client-params.cloudwatch.{operation}", self._size)

    def _call(self, **_: Any) -> None:
        self.calls += 1

    def _attempt(self, **_: Any) -> None:
        self.attempts += 1

    def _size(self, params: dict, **_: Any) -> None:
        queries = params.get("MetricDataQueries", [])
        self.sizes.append(len(queries))
        for query in queries:
            metric = query["MetricStat"]["Metric"]
            dimensions = tuple((d["Name"], d["Value"]) for d in metric["Dimensions"])
            self.queries.add((metric["Namespace"], metric["MetricName"], dimensions))


def fleet(size: int, region: str) -> dict[str, PoolInventory]:
    resources = [Resource(f"i-{index:017x}", "instance", "m5.large", "bench", "bench", region,
                          f"aws_instance.bench[{index}]") for index in range(size)]
    return {"bench": PoolInventory("bench", "bench", "instances", region, resources)}


def minimum(queries: int, points: int) -> int:
    return max(math.ceil(queries / QUERY_LIMIT), math.ceil(queries * points / POINT_LIMIT))


def run(endpoint: str, size: int, region: str, days: float, metrics: list[str],
        end: dt.datetime) -> dict[str, Any]:
    access = AwsAccess(endpoint_url=endpoint, default_region=region)
    client = access.client("cloudwatch", region)
    counter = Counter(client, "GetMetricData")
    lists = Counter(client, "ListMetrics")
    started = time.perf_counter()
    data = collect_metrics(fleet(size, region), access, metrics=metrics, lookback_days=days,
                           period_seconds=PERIOD, end_time=end)
    seconds = time.perf_counter() - started
    queries = len(counter.queries)
    points = int(days * 86400) // PERIOD
    with_data = sum(1 for by_metric in data.series.values()
                    for series in by_metric.values() if series.values.size)
    return {"instances": size, "queries": queries, "points": points, "calls": counter.calls,
            "attempts": counter.attempts, "minimum": minimum(queries, points),
            "product_minimum": data.minimum_calls, "largest": max(counter.sizes, default=0),
            "list_calls": lists.calls, "with_data": with_data, "seconds": seconds}


def seed(endpoint: str, size: int, sample: int, region: str, days: float,
         end: dt.datetime) -> int:
    """Write one point a day for the first ``sample`` instances of the fleet; return the points."""
    access = AwsAccess(endpoint_url=endpoint, default_region=region)
    client = access.client("cloudwatch", region)
    last = np.datetime64(end.replace(tzinfo=None), "s") - PERIOD
    stamps = last - np.arange(0, int(days * 86400), 86400)[::-1]
    for resource in fleet(size, region)["bench"].resources[:sample]:
        put_series(client, "AWS/EC2", "CPUUtilization", {"InstanceId": resource.resource_id},
                   stamps, np.full(stamps.size, 42.0))
    return sample * stamps.size


def print_row(row: dict[str, Any], label: str = "") -> None:
    print(f"| {row['instances']:,} | {row['queries']:,} | {row['points']:,} | {row['calls']} | "
          f"{row['minimum']} | {row['attempts']} | {row['largest']} | {row['list_calls']} | "
          f"{row['with_data']:,} | {row['seconds']:.1f} |{label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--metric", action="append", dest="metrics",
                        help="metric to fetch, repeatable (default: CPUUtilization and "
                        "mem_used_percent, as rightsize fetches them)")
    parser.add_argument("--check-data", action="store_true",
                        help="also run 100 instances with data for 20 of them and without data")
    args = parser.parse_args()
    metrics = args.metrics or ["CPUUtilization", "mem_used_percent"]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}; Python {platform.python_version()}")
    print(f"metrics: {', '.join(metrics)}; window {args.days:g} d at {PERIOD} s")
    print("| instances | queries | points a query | calls | minimum | HTTP attempts | "
          "largest request | ListMetrics calls | series with data | seconds |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    end = dt.datetime.fromtimestamp(int(time.time()) // PERIOD * PERIOD, dt.UTC)
    failed = False
    with local_aws() as aws:
        os.environ.update(aws.environment())
        for size, region in zip(args.sizes, REGIONS, strict=False):
            row = run(aws.endpoint_url, size, region, args.days, metrics, end)
            print_row(row)
            failed |= row["calls"] != row["minimum"] or row["product_minimum"] != row["minimum"]
        if args.check_data:
            seeded = seed(aws.endpoint_url, 100, 20, "eu-west-1", args.days, end)
            with_data = run(aws.endpoint_url, 100, "eu-west-1", args.days, metrics, end)
            without = run(aws.endpoint_url, 100, "eu-west-2", args.days, metrics, end)
            print_row(with_data, f" data for 20 instances ({seeded:,} points)")
            print_row(without, " no data")
            failed |= with_data["calls"] != without["calls"] or with_data["with_data"] != 20
    if failed:
        raise SystemExit("calls differ from the minimum")


if __name__ == "__main__":
    main()
