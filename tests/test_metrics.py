"""GetMetricData retrieval against a moto server: packing, ordering, pagination, seeding.

moto 5.2.5 never paginates GetMetricData (its response carries no NextToken),
so the page merge is tested with botocore's Stubber on a real client.

moto answers GetMetricData by scanning every data point of the window for
each period of each query. Each test therefore seeds its own region of the
shared server, so no test pays for the points another one wrote.
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

from cdk.errors import InputError
from provider_bridge.analysis import summarize
from provider_bridge.inventory import Resource
from provider_bridge.local_aws import LocalAws
from provider_bridge.metrics import (
    MetricQuery,
    cloudwatch_client,
    cpu_queries,
    fetch_series,
    metric_window,
    queries_per_call,
)
from provider_bridge.seeding import load_series_csv, put_series, shift_to_end

SERIES = Path(__file__).resolve().parent.parent / "examples" / "data" / "cloudwatch"
FOURTEEN_DAYS = 14 * 86400


def _aligned_now() -> dt.datetime:
    now = int(dt.datetime.now(dt.UTC).timestamp()) // 300 * 300
    return dt.datetime.fromtimestamp(now, dt.UTC)


class _CallCounter:
    """Counts GetMetricData calls and their query counts through botocore events."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        self.sizes: list[int] = []
        self.tokens: list[str | None] = []
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


def _ec2_instances(aws: LocalAws, region: str, count: int, instance_type: str) -> list[str]:
    ec2 = boto3.session.Session().client("ec2", region_name=region, endpoint_url=aws.endpoint_url)
    reply = ec2.run_instances(ImageId="ami-12c6146b", MinCount=count, MaxCount=count,
                              InstanceType=instance_type)
    return [item["InstanceId"] for item in reply["Instances"]]


@pytest.mark.parametrize(("lookback_days", "period", "expected"), [
    (14, 300, 25),      # 4,032 points a query
    (1, 60, 70),        # 1,440 points a query
    (1 / 24, 300, 500),  # 12 points a query: the 500-query limit binds
    (350, 300, 1),      # 100,800 points: exactly one query fits
])
def test_queries_per_call(lookback_days: float, period: int, expected: int) -> None:
    start, end = metric_window(lookback_days, period, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    assert queries_per_call(int((end - start).total_seconds()) // period) == expected


def test_window_is_aligned_to_periods() -> None:
    start, end = metric_window(14, 300, dt.datetime(2026, 1, 1, 12, 7, 31, tzinfo=dt.UTC))

    assert end == dt.datetime(2026, 1, 1, 12, 5, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(days=14)


@pytest.mark.parametrize(("lookback_days", "period", "fragment"), [
    (400, 300, "more than the 100800 one request returns"),
    (14, 90, "period 90 s is invalid"),
    (0, 300, "look-back window 0 d is invalid"),
])
def test_window_rejects_invalid_settings(lookback_days: float, period: int, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        metric_window(lookback_days, period)

    assert fragment in str(caught.value)


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
        stamp = np.array([np.datetime64(end.replace(tzinfo=None), "s")]) - (index + 1) * 300
        put_series(client, "AWS/EC2", "CPUUtilization", {"InstanceId": instance_id},
                   stamp, np.array([float(index)]))
    counter = _CallCounter(client)
    progress: list[tuple[int, int]] = []

    result = fetch_series(client, [MetricQuery(i, "AWS/EC2", "CPUUtilization",
                                               (("InstanceId", i),)) for i in ids],
                          end_time=end, progress=lambda done, total: progress.append((done, total)))

    assert counter.calls == 3
    assert result.calls == 3
    assert counter.sizes == [25, 25, 10]
    assert progress == [(25, 60), (50, 60), (60, 60)]
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
    stats = summarize(result.series, period_seconds=300, lookback_seconds=FOURTEEN_DAYS)
    expected = statistics.quantiles(values.tolist(), n=100, method="inclusive")[94]
    assert stats[instance_id].p95 == pytest.approx(expected, abs=1e-9)
    assert stats[silent_id].insufficient == "insufficient data: no samples in 14 d"


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


def test_seeding_rejects_mismatched_lengths(moto_server: LocalAws) -> None:
    client = cloudwatch_client("us-east-1", moto_server.endpoint_url)

    with pytest.raises(InputError) as caught:
        put_series(client, "AWS/EC2", "CPUUtilization", {"InstanceId": "i-1"},
                   np.array(["2026-01-01T00:00:00"], dtype="datetime64[s]"), np.array([]))

    assert "1 timestamps but 0 values" in str(caught.value)
