"""GetMetricData retrieval: request planning, and fetching from a moto server.

moto 5.2.5 never paginates GetMetricData (its response carries no NextToken),
so the page merge is tested with botocore's Stubber on a real client.

moto answers GetMetricData by scanning every data point of the window for
each period of each query. Each test therefore seeds its own region of the
shared server, so no test pays for the points another one wrote.

Expected call counts are ``max(ceil(queries / 500), ceil(points / 100,800))``
worked out by hand for each case.
"""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.stub import ANY, Stubber

from cdk.errors import ExecutionError, InputError
from provider_bridge.analysis import summarize
from provider_bridge.aws import AwsAccess
from provider_bridge.inventory import AutoScalingGroup, PoolInventory, Resource
from provider_bridge.local_aws import LocalAws
from provider_bridge.metrics import (
    MetricQuery,
    cloudwatch_client,
    collect_metrics,
    cpu_queries,
    fetch_series,
    metric_window,
    minimum_calls,
    plan_requests,
    queries_per_call,
    validate_metrics,
)
from provider_bridge.seeding import load_series_csv, put_series, shift_to_end

SERIES = Path(__file__).resolve().parent.parent / "examples" / "data" / "cloudwatch"
FOURTEEN_DAYS = 14 * 86400
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _aligned_now() -> dt.datetime:
    now = int(dt.datetime.now(dt.UTC).timestamp()) // 300 * 300
    return dt.datetime.fromtimestamp(now, dt.UTC)


class _CallCounter:
    """Counts GetMetricData calls, their query counts and time ranges through botocore events."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        self.sizes: list[int] = []
        self.tokens: list[str | None] = []
        self.ranges: list[tuple[dt.datetime, dt.datetime]] = []
        # before-parameter-build fires once per API call, also when a Stubber
        # answers the call instead of the server; retries do not fire it again.
        client.meta.events.register("before-parameter-build.cloudwatch.GetMetricData",
                                    self._count)
        client.meta.events.register("provide-client-params.cloudwatch.GetMetricData", self._size)

    def _count(self, **_: Any) -> None:
        self.calls += 1

    def _size(self, params: dict, **_: Any) -> None:
        self.sizes.append(len(params["MetricDataQueries"]))
        self.tokens.append(params.get("NextToken"))
        self.ranges.append((params["StartTime"], params["EndTime"]))


def _ec2_instances(aws: LocalAws, region: str, count: int, instance_type: str) -> list[str]:
    ec2 = boto3.session.Session().client("ec2", region_name=region, endpoint_url=aws.endpoint_url)
    reply = ec2.run_instances(ImageId="ami-12c6146b", MinCount=count, MaxCount=count,
                              InstanceType=instance_type)
    return [item["InstanceId"] for item in reply["Instances"]]


def _queries(count: int, period: int | None = None) -> list[MetricQuery]:
    return [MetricQuery(f"i-{i}", "AWS/EC2", "CPUUtilization", (("InstanceId", f"i-{i}"),),
                        period_seconds=period) for i in range(count)]


def _stamp(moment: dt.datetime) -> np.ndarray:
    return np.array([np.datetime64(moment.replace(tzinfo=None), "s")])


@pytest.mark.parametrize(("lookback_days", "period", "expected"), [
    (14, 300, 25),      # 4,032 points a query
    (1, 60, 70),        # 1,440 points a query
    (1 / 24, 300, 500),  # 12 points a query: the 500-query limit binds
    (350, 300, 1),      # 100,800 points: exactly one query fits
])
def test_queries_per_call(lookback_days: float, period: int, expected: int) -> None:
    start, end = metric_window(lookback_days, period, T0)

    assert queries_per_call(int((end - start).total_seconds()) // period) == expected


def test_window_is_aligned_to_periods() -> None:
    start, end = metric_window(14, 300, dt.datetime(2026, 1, 1, 12, 7, 31, tzinfo=dt.UTC))

    assert end == dt.datetime(2026, 1, 1, 12, 5, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(days=14)


@pytest.mark.parametrize(("lookback_days", "period", "fragment"), [
    (400, 300, "more than the 100800 one request returns"),
    (14, 90, "period 90 s is invalid"),
    (14, 7, "period 7 s is invalid"),
    (0, 300, "look-back window 0 d is invalid"),
    (0.001, 3600, "shorter than one 3600 s period"),
])
def test_window_rejects_invalid_settings(lookback_days: float, period: int, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        metric_window(lookback_days, period)

    assert fragment in str(caught.value)


# (queries, points per query, calls): every case is max(ceil(q / 500), ceil(q * p / 100,800)).
@pytest.mark.parametrize(("count", "points", "expected"), [
    (60, 4032, 3),        # 14 d at 300 s: 25 queries a call
    (1000, 4032, 40),
    (10000, 4032, 400),
    (1001, 8064, 81),     # 28 d at 300 s: 12.5 queries a call, so the window is cut
    (10000, 8640, 858),   # 30 d at 300 s
    (12, 8640, 2),
    (501, 12, 2),         # 1 h at 300 s: the 500-query limit binds
    (3, 60000, 2),        # one query is more than half a call
    (7, 100800, 7),
])
def test_plan_reaches_minimum(count: int, points: int, expected: int) -> None:
    end = T0 + dt.timedelta(seconds=points * 300)

    plan = plan_requests(_queries(count), T0, end, 300)

    assert minimum_calls([points] * count) == expected
    assert len(plan) == expected
    covered = {index: 0 for index in range(count)}
    for request in plan:
        slots = int((request.end - request.start).total_seconds()) // 300
        assert len(request.queries) <= 500
        assert request.points == slots * len(request.queries) <= 100_800
        assert T0 <= request.start < request.end <= end
        for index in request.queries:
            covered[index] += slots
    assert set(covered.values()) == {points}


def test_plan_time_slices_do_not_overlap() -> None:
    end = T0 + dt.timedelta(seconds=8064 * 300)

    plan = plan_requests(_queries(13), T0, end, 300)

    for index in range(13):
        ranges = sorted((r.start, r.end) for r in plan if index in r.queries)
        assert ranges[0][0] == T0
        assert ranges[-1][1] == end
        for (_, first_end), (second_start, _) in zip(ranges, ranges[1:]):
            assert first_end == second_start


def test_plan_mixed_periods_packs_by_points() -> None:
    # 10 queries at 60 s (20,160 points) and 30 at 300 s (4,032 points) over
    # 14 days: 322,560 points, so at least 4 calls.
    queries = _queries(10, period=60) + [
        MetricQuery(f"j-{i}", "AWS/EC2", "CPUUtilization", (("InstanceId", f"j-{i}"),))
        for i in range(30)
    ]
    end = T0 + dt.timedelta(days=14)

    plan = plan_requests(queries, T0, end, 300)

    assert len(plan) == 4
    assert sorted(i for r in plan for i in r.queries) == list(range(40))
    assert all(r.points <= 100_800 and (r.start, r.end) == (T0, end) for r in plan)


def test_client_uses_adaptive_retries(moto_server: LocalAws) -> None:
    client = cloudwatch_client("us-east-1", moto_server.endpoint_url)

    # botocore stores max_attempts=10 (retries) as 11 attempts in total.
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 11}


def test_cpu_queries_pick_namespace_by_kind() -> None:
    resources = [
        Resource("i-1", "instance", "m5.large", "a", "t", "us-east-1", "aws_instance.a"),
        Resource("i-2", "asg-member", "m5.large", "b", "t", "us-east-1", "aws_autoscaling_group.b"),
        Resource("orders", "db", "db.m5.large", "c", "t", "us-east-1", "aws_db_instance.c"),
    ]

    assert cpu_queries(resources) == [
        MetricQuery("i-1", "AWS/EC2", "CPUUtilization", (("InstanceId", "i-1"),)),
        MetricQuery("i-2", "AWS/EC2", "CPUUtilization", (("InstanceId", "i-2"),)),
        MetricQuery("orders", "AWS/RDS", "CPUUtilization", (("DBInstanceIdentifier", "orders"),)),
    ]


def test_unknown_metric_is_rejected() -> None:
    with pytest.raises(InputError) as caught:
        validate_metrics(["CPUUtilization", "DiskQueueDepth"])

    assert "metric 'DiskQueueDepth' is not supported" in str(caught.value)
    assert "mem_used_percent" in str(caught.value)


def test_sixty_instances_take_three_calls(
    aws_env: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    region = "eu-west-2"
    ids = _ec2_instances(aws_env, region, 60, "m5.large")
    end = _aligned_now()
    client = cloudwatch_client(region, aws_env.endpoint_url)
    # One point per instance, each at its own time and with its own value, is
    # enough to see every query's result land on the right instance.
    for index, instance_id in enumerate(ids):
        put_series(client, "AWS/EC2", "CPUUtilization", {"InstanceId": instance_id},
                   _stamp(end) - (index + 1) * 300, np.array([float(index)]))
    counter = _CallCounter(client)
    progress: list[tuple[int, int]] = []

    result = fetch_series(client, [MetricQuery(i, "AWS/EC2", "CPUUtilization",
                                               (("InstanceId", i),)) for i in ids],
                          end_time=end, progress=lambda done, total: progress.append((done, total)))

    assert counter.calls == 3
    assert result.calls == 3
    assert result.minimum_calls == 3
    assert sum(counter.sizes) == 60
    assert max(counter.sizes) <= 25
    assert progress == [(1, 3), (2, 3), (3, 3)]
    for index, instance_id in enumerate(ids):
        assert result.series[instance_id].values.tolist() == [float(index)]
    assert capsys.readouterr().out == ""


def test_full_series_round_trip(aws_env: LocalAws) -> None:
    region = "eu-west-3"
    [instance_id] = _ec2_instances(aws_env, region, 1, "m5.xlarge")
    [silent_id] = _ec2_instances(aws_env, region, 1, "m5.xlarge")
    stamps, values = load_series_csv(SERIES / "ec2_cpu_utilization_5f5533.csv")
    end = _aligned_now()
    last_period = end - dt.timedelta(seconds=300)
    client = cloudwatch_client(region, aws_env.endpoint_url)
    requests = put_series(client, "AWS/EC2", "CPUUtilization", {"InstanceId": instance_id},
                          shift_to_end(stamps, last_period), values)
    queries = [MetricQuery(i, "AWS/EC2", "CPUUtilization", (("InstanceId", i),))
               for i in (instance_id, silent_id)]

    result = fetch_series(client, queries, end_time=end)

    assert requests == 5  # 4,032 points at 1,000 a request
    series = result.series[instance_id]
    assert series.values.size == 4032
    assert np.array_equal(series.values, values)
    assert set(np.diff(series.timestamps).astype(int).tolist()) == {300}
    assert series.timestamps[-1] == np.datetime64(last_period.replace(tzinfo=None), "s")
    assert result.series[silent_id].values.size == 0
    stats = summarize(result.series, period_seconds=300, lookback_seconds=FOURTEEN_DAYS,
                      window_end=result.end)
    expected = statistics.quantiles(values.tolist(), n=100, method="inclusive")[94]
    assert stats[instance_id].p95 == pytest.approx(expected, abs=1e-9)
    assert stats[silent_id].insufficient == "insufficient data: no data points in 14 d"


def test_time_slices_merge_into_one_series(aws_env: LocalAws) -> None:
    # 23 queries of 30 days at 300 s are 198,720 points, so 2 calls at least.
    # Whole windows fit 11 a call (3 calls), so the window must be cut in time.
    region = "ca-central-1"
    end = _aligned_now()
    client = cloudwatch_client(region, aws_env.endpoint_url)
    early, late = end - dt.timedelta(days=29), end - dt.timedelta(hours=1)
    ids = [f"i-{index:02d}" for index in range(23)]
    for index, instance_id in enumerate(ids):
        offset = dt.timedelta(seconds=index * 300)
        stamps = np.concatenate([_stamp(early - offset), _stamp(late - offset), _stamp(end)])
        put_series(client, "AWS/EC2", "CPUUtilization", {"InstanceId": instance_id},
                   stamps, np.array([1.0 + index, 2.0 + index, 99.0]))
    counter = _CallCounter(client)

    result = fetch_series(client, [MetricQuery(i, "AWS/EC2", "CPUUtilization",
                                               (("InstanceId", i),)) for i in ids],
                          lookback_days=30, end_time=end)

    assert counter.calls == 2
    assert result.minimum_calls == 2
    assert len(set(counter.ranges)) == 2
    assert sorted(counter.sizes) == [23, 23]
    for index, instance_id in enumerate(ids):
        # The point stamped at the window's end belongs to the next window.
        assert result.series[instance_id].values.tolist() == [1.0 + index, 2.0 + index]


def _result(query_id: str, seconds: list[int], values: list[float], status: str) -> dict:
    return {"Id": query_id, "Label": query_id, "StatusCode": status, "Values": values,
            "Timestamps": [dt.datetime.fromtimestamp(s, dt.UTC) for s in seconds]}


def test_pages_merge_per_query(moto_server: LocalAws) -> None:
    client = cloudwatch_client("us-east-1", moto_server.endpoint_url)
    counter = _CallCounter(client)
    end = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    base = int(end.timestamp()) - 3600
    queries = [MetricQuery(i, "AWS/EC2", "CPUUtilization", (("InstanceId", i),))
               for i in ("i-a", "i-b")]
    expected_first = {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY,
                      "ScanBy": "TimestampAscending"}
    with Stubber(client) as stubber:
        stubber.add_response("get_metric_data", {
            "MetricDataResults": [
                _result("q0", [base + 600, base], [2.0, 1.0], "PartialData"),
                _result("q1", [base], [10.0], "PartialData"),
            ],
            "NextToken": "page-2",
        }, expected_first)
        stubber.add_response("get_metric_data", {
            "MetricDataResults": [
                _result("q1", [base + 1200, base + 600], [30.0, 20.0], "Complete"),
                _result("q0", [base + 1200, base + 600], [3.0, 2.0], "Complete"),
            ],
        }, {**expected_first, "NextToken": "page-2"})

        result = fetch_series(client, queries, lookback_days=1, end_time=end)

        stubber.assert_no_pending_responses()
    assert counter.calls == 2
    assert result.calls == 2
    assert counter.tokens == [None, "page-2"]
    assert result.series["i-a"].values.tolist() == [1.0, 2.0, 3.0]
    assert result.series["i-b"].values.tolist() == [10.0, 20.0, 30.0]
    assert (result.series["i-a"].timestamps.astype(int) - base).tolist() == [0, 600, 1200]


def test_failed_call_is_execution_error(moto_server: LocalAws) -> None:
    client = cloudwatch_client("us-east-1", moto_server.endpoint_url)
    with Stubber(client) as stubber:
        stubber.add_client_error("get_metric_data", "AccessDenied", "not allowed", 403)

        with pytest.raises(ExecutionError) as caught:
            fetch_series(client, _queries(1), lookback_days=1, end_time=T0)

    assert "GetMetricData failed" in str(caught.value)
    assert "AccessDenied" in str(caught.value)


def _seed(client: Any, namespace: str, metric: str, dimensions: dict[str, str],
          moments: list[dt.datetime], values: list[float], unit: str = "Percent") -> None:
    stamps = np.concatenate([_stamp(moment) for moment in moments])
    put_series(client, namespace, metric, dimensions, stamps, np.array(values), unit=unit)


def test_collect_metrics_reads_every_kind(aws_env: LocalAws) -> None:
    region = "ap-southeast-1"
    end = _aligned_now()
    moments = [end - dt.timedelta(hours=h) for h in (3, 2, 1)]
    client = cloudwatch_client(region, aws_env.endpoint_url)
    _seed(client, "AWS/EC2", "CPUUtilization", {"InstanceId": "i-agent"}, moments, [10, 20, 30])
    _seed(client, "CWAgent", "mem_used_percent",
          {"InstanceId": "i-agent", "ImageId": "ami-1", "InstanceType": "m5.large"},
          moments, [41, 42, 43])
    # 3,000 bytes in one 300 s period are 10 bytes a second.
    _seed(client, "AWS/EC2", "NetworkIn", {"InstanceId": "i-agent"}, moments[:1], [3000],
          unit="Bytes")
    _seed(client, "AWS/EC2", "CPUUtilization", {"InstanceId": "i-plain"}, moments, [5, 5, 5])
    _seed(client, "AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "orders"}, moments,
          [60, 61, 62])
    _seed(client, "AWS/RDS", "NetworkReceiveThroughput", {"DBInstanceIdentifier": "orders"},
          moments[:1], [500], unit="Bytes/Second")
    _seed(client, "AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": "web-asg"}, moments,
          [70, 71, 72])
    resources = [
        Resource("i-agent", "instance", "m5.large", "web", "t", region, "a"),
        Resource("i-plain", "instance", "m5.large", "web", "t", region, "b"),
        Resource("orders", "db", "db.m5.large", "orders", "t", region, "c"),
    ]
    pools = {
        "web": PoolInventory("web", "t", "instances", region, resources[:2]),
        "orders": PoolInventory("orders", "t", "db", region, resources[2:]),
        "api": PoolInventory("api", "t", "asg", region, groups=[
            AutoScalingGroup("web-asg", "api", "t", region, "aws_autoscaling_group.api")]),
    }
    access = AwsAccess(endpoint_url=aws_env.endpoint_url, default_region=region)
    counter = _CallCounter(access.client("cloudwatch", region))

    data = collect_metrics(pools, access, metrics=["CPUUtilization", "mem_used_percent",
                                                   "NetworkIn"],
                           lookback_days=1, end_time=end)

    assert data.series["i-agent"]["CPUUtilization"].values.tolist() == [10, 20, 30]
    assert data.series["i-agent"]["mem_used_percent"].values.tolist() == [41, 42, 43]
    assert data.series["i-agent"]["NetworkIn"].values.tolist() == [10.0]
    assert data.series["orders"]["CPUUtilization"].values.tolist() == [60, 61, 62]
    assert data.series["orders"]["NetworkIn"].values.tolist() == [500.0]
    assert data.series["i-plain"]["NetworkIn"].values.size == 0
    assert data.group_series["web-asg"]["CPUUtilization"].values.tolist() == [70, 71, 72]
    assert "mem_used_percent" not in data.series["i-plain"]
    assert "install the CloudWatch agent" in data.missing["i-plain"]["mem_used_percent"]
    assert data.missing["orders"]["mem_used_percent"] == "memory is not measured for RDS instances"
    # 3 + 2 + 2 resource queries and 1 group query of 288 points: one call.
    assert counter.calls == 1
    assert counter.sizes == [8]
    assert data.calls == data.minimum_calls == 1


def test_collect_metrics_progress_spans_regions(aws_env: LocalAws) -> None:
    end = _aligned_now()
    pools = {
        "a": PoolInventory("a", "t", "instances", "sa-east-1", [
            Resource("i-sa", "instance", "m5.large", "a", "t", "sa-east-1", "a")]),
        "b": PoolInventory("b", "t", "instances", "af-south-1", [
            Resource("i-af", "instance", "m5.large", "b", "t", "af-south-1", "b")]),
    }
    access = AwsAccess(endpoint_url=aws_env.endpoint_url)
    progress: list[tuple[int, int]] = []

    data = collect_metrics(pools, access, metrics=["CPUUtilization"], lookback_days=1,
                           end_time=end,
                           progress=lambda done, total: progress.append((done, total)))

    assert progress == [(1, 2), (2, 2)]
    assert data.calls == 2
    assert data.minimum_calls == 2
    assert sorted(data.series) == ["i-af", "i-sa"]


def test_memory_dimensions_span_list_pages(aws_env: LocalAws) -> None:
    # ListMetrics returns 500 metrics a page; 501 instances need two pages.
    region = "eu-north-1"
    end = _aligned_now()
    client = cloudwatch_client(region, aws_env.endpoint_url)
    ids = [f"i-{index:04d}" for index in range(501)]
    client.put_metric_data(Namespace="CWAgent", MetricData=[
        {"MetricName": "mem_used_percent", "Dimensions": [{"Name": "InstanceId", "Value": i}],
         "Timestamp": end - dt.timedelta(hours=1), "Value": 50.0, "Unit": "Percent"}
        for i in ids
    ])
    resources = [Resource(i, "instance", "m5.large", "web", "t", region, i) for i in ids]
    pools = {"web": PoolInventory("web", "t", "instances", region, resources)}

    data = collect_metrics(pools, AwsAccess(endpoint_url=aws_env.endpoint_url),
                           metrics=["mem_used_percent"], lookback_days=1 / 24, end_time=end)

    assert data.missing == {}
    assert data.series["i-0500"]["mem_used_percent"].values.tolist() == [50.0]
    assert data.series["i-0000"]["mem_used_percent"].values.tolist() == [50.0]
