"""The provider's data sources against a moto server, called as terraform calls them.

Each test reads through tf's gRPC servicer with msgpack values. Pools are named
``src-*`` so that instances other tests create in the shared moto server never
count. The idle instance replays the last three days of a real CloudWatch
series (examples/data/cloudwatch/ec2_cpu_utilization_24ae8d.csv), read back
with a three-day look-back window to keep GetMetricData on moto fast.
Prices are typed out from the AWS on-demand Linux price list for us-east-1.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tf.gen import tfplugin_pb2 as pb
from tf.provider import ProviderServicer
from tf.utils import read_dynamic_value, to_dynamic_value

from provider_bridge.local_aws import LocalAws
from provider_bridge.provider.plugin import QuotaformProvider
from provider_bridge.seeding import load_series_csv, put_series, shift_to_end

pytestmark = [pytest.mark.moto]

ROOT = Path(__file__).resolve().parent.parent
IDLE_SERIES = ROOT / "examples" / "data" / "cloudwatch" / "ec2_cpu_utilization_24ae8d.csv"
SEEDED_POINTS = 3 * 288  # three days of 5-minute periods
LOOKBACK_DAYS = 3
IMAGE = "ami-12c6146b"

CONFIG = {
    "version": 1,
    "allocation": {
        "teams": [{"name": "data"}],
        "pools": [
            {
                "name": "src-usage",
                "kind": "instances",
                "team": "data",
                "instance_type": "m5.xlarge",
                "count": 4,
            },
            {
                "name": "src-idle",
                "kind": "instances",
                "team": "data",
                "instance_type": "m5.2xlarge",
                "count": 1,
                "allowed_families": ["m5"],
            },
            {
                "name": "src-moved",
                "kind": "instances",
                "team": "data",
                "instance_type": "m5.2xlarge",
                "count": 1,
                "allowed_families": ["m5"],
            },
            {
                "name": "src-web",
                "kind": "asg",
                "team": "data",
                "instance_type": "m5.xlarge",
                "min_size": 1,
                "max_size": 2,
            },
        ],
        "quotas": [
            {
                "scope": "pool",
                "target": "src-usage",
                "max_instances": 5,
                "max_vcpu": 20,
                "max_memory_gib": 60,
                "max_monthly_cost_usd": 500,
            },
            {"scope": "pool", "target": "src-usage", "max_vcpu": 16},
        ],
    },
    "optimization": {
        "rules": [
            {
                "name": "upsize-saturated",
                "comparison": "above",
                "threshold": 80,
                "action": "upsize",
                "priority": 10,
            },
            {
                "name": "downsize-underused",
                "comparison": "below",
                "threshold": 20,
                "action": "downsize",
                "priority": 20,
            },
        ],
        "unmeasured_memory": "cpu-only",
    },
}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("provider-config") / "quotaform.json"
    path.write_text(json.dumps(CONFIG))
    return path


def _tags(pool: str | None, **extra: str) -> list[dict[str, Any]]:
    tags = {**({"quotaform:pool": pool, "quotaform:team": "data"} if pool else {}), **extra}
    return [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def _launch(aws: LocalAws, instance_type: str, pool: str | None, **extra: str) -> str:
    ec2 = aws.client("ec2")
    launched = ec2.run_instances(
        ImageId=IMAGE,
        InstanceType=instance_type,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=_tags(pool, **extra),
    )
    return launched["Instances"][0]["InstanceId"]


def _seed_idle(aws: LocalAws, instance_id: str) -> np.ndarray:
    stamps, values = load_series_csv(IDLE_SERIES)
    stamps, values = stamps[-SEEDED_POINTS:], values[-SEEDED_POINTS:]
    now = dt.datetime.now(dt.UTC)
    end = dt.datetime.fromtimestamp(int(now.timestamp()) // 300 * 300 - 300, dt.UTC)
    put_series(
        aws.client("cloudwatch"),
        "AWS/EC2",
        "CPUUtilization",
        {"InstanceId": instance_id},
        shift_to_end(stamps, end),
        values,
    )
    return values


def _servicer(aws: LocalAws, config: str | Path) -> ProviderServicer:
    servicer = ProviderServicer(QuotaformProvider())
    settings = {
        "region": aws.region,
        "profile": None,
        "endpoint": aws.endpoint_url,
        "config": str(config),
        "assume_role": None,
    }
    response = servicer.ConfigureProvider(
        pb.ConfigureProvider.Request(config=to_dynamic_value(settings)), None
    )
    assert list(response.diagnostics) == []
    return servicer


def _read(
    servicer: ProviderServicer, type_name: str, config: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[tuple[str, str, str]]]:
    response = servicer.ReadDataSource(
        pb.ReadDataSource.Request(type_name=type_name, config=to_dynamic_value(config)), None
    )
    names = {pb.Diagnostic.ERROR: "error", pb.Diagnostic.WARNING: "warning"}
    diagnostics = [(names[d.severity], d.summary, d.detail) for d in response.diagnostics]
    return read_dynamic_value(response.state), diagnostics


def _rightsizing(
    servicer: ProviderServicer, **config: Any
) -> tuple[dict[str, Any] | None, list[tuple[str, str, str]]]:
    arguments = {
        "pool": None,
        "instance_id": None,
        "asg_name": None,
        "pin_current": None,
        "accepted_type": None,
        "lookback_days": LOOKBACK_DAYS,
        "period_seconds": None,
        **config,
    }
    return _read(servicer, "quotaform_rightsizing", arguments)


# --- quotaform_pool -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def usage_instances(moto_server: LocalAws) -> dict[str, str]:
    """Two m5.xlarge and a c5.large running, one m5.xlarge stopped, one excluded by tag."""
    ids = {
        "first": _launch(moto_server, "m5.xlarge", "src-usage"),
        "second": _launch(moto_server, "m5.xlarge", "src-usage"),
        "small": _launch(moto_server, "c5.large", "src-usage"),
        "stopped": _launch(moto_server, "m5.xlarge", "src-usage"),
        "own": _launch(moto_server, "m5.xlarge", "src-usage", **{"quotaform:stack": "mine"}),
    }
    moto_server.client("ec2").stop_instances(InstanceIds=[ids["stopped"]])
    return ids


@pytest.fixture(scope="module")
def aws_env_module(moto_server: LocalAws) -> Iterator[LocalAws]:
    """Like ``aws_env``, for module-scoped fixtures."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in moto_server.environment().items():
            patch.setenv(name, value)
        yield moto_server


@pytest.fixture(scope="module")
def pool_state(
    aws_env_module: LocalAws, config_file: Path, usage_instances: dict[str, str]
) -> dict[str, Any]:
    state, diagnostics = _read(
        _servicer(aws_env_module, config_file),
        "quotaform_pool",
        {"name": "src-usage", "exclude_tags": {"quotaform:stack": "mine"}},
    )
    assert diagnostics == []
    assert state is not None
    return state


# m5.xlarge: 4 vCPU, 16 GiB, 0.192 USD an hour; c5.large: 2 vCPU, 4 GiB, 0.085 USD an hour.
COUNTED_COST = (3 * 0.192 + 0.085) * 730


def test_pool_limits_take_lowest_quota(pool_state: dict[str, Any]) -> None:
    assert pool_state["max_vcpu"] == 16
    assert pool_state["max_instances"] == 5
    assert pool_state["max_memory_gib"] == 60
    assert pool_state["max_monthly_cost_usd"] == 500


def test_pool_counts_tagged_instances(
    pool_state: dict[str, Any], usage_instances: dict[str, str]
) -> None:
    # A stopped instance keeps its allocation, as the policy gate counts it.
    expected = sorted(usage_instances[k] for k in ("first", "second", "small", "stopped"))
    assert sorted(pool_state["resource_ids"]) == expected
    assert pool_state["instances"] == 4
    assert pool_state["vcpu"] == 4 + 4 + 2 + 4
    assert pool_state["memory_gib"] == 16 + 16 + 4 + 16
    assert pool_state["monthly_cost_usd"] == pytest.approx(COUNTED_COST)


def test_pool_headroom_is_limit_minus_usage(pool_state: dict[str, Any]) -> None:
    assert pool_state["headroom_instances"] == 1
    assert pool_state["headroom_vcpu"] == 2
    assert pool_state["headroom_memory_gib"] == 8
    assert pool_state["headroom_monthly_cost_usd"] == pytest.approx(500 - COUNTED_COST)
    assert pool_state["within_quota"] is True


def test_pool_reports_declaration(pool_state: dict[str, Any]) -> None:
    assert pool_state["id"] == "src-usage"
    assert pool_state["team"] == "data"
    assert pool_state["kind"] == "instances"
    assert pool_state["region"] == "us-east-1"
    assert pool_state["instance_type"] == "m5.xlarge"
    assert pool_state["declared_instances"] == 4


def test_pool_without_exclusion_is_over_quota(
    aws_env: LocalAws, config_file: Path, usage_instances: dict[str, str]
) -> None:
    state, diagnostics = _read(
        _servicer(aws_env, config_file),
        "quotaform_pool",
        {"name": "src-usage", "exclude_tags": None},
    )
    assert diagnostics == []
    assert state["instances"] == 5
    assert state["vcpu"] == 18
    assert state["headroom_vcpu"] == -2
    assert state["within_quota"] is False


def test_pool_unknown_name_lists_declared(aws_env: LocalAws, config_file: Path) -> None:
    state, diagnostics = _read(
        _servicer(aws_env, config_file),
        "quotaform_pool",
        {"name": "src-nope", "exclude_tags": None},
    )
    assert state is None
    [(severity, summary, detail)] = diagnostics
    assert severity == "error"
    assert summary == "Unknown pool 'src-nope'"
    assert "declared pools: src-idle, src-moved, src-usage, src-web" in detail


def test_pool_unreachable_endpoint_is_diagnostic(config_file: Path, aws_env: LocalAws) -> None:
    closed = LocalAws(endpoint_url="http://127.0.0.1:9", region="us-east-1")
    state, diagnostics = _read(
        _servicer(closed, config_file),
        "quotaform_pool",
        {"name": "src-usage", "exclude_tags": None},
    )
    assert state is None
    [(severity, summary, detail)] = diagnostics
    assert severity == "error"
    assert summary == "AWS endpoint not reachable"
    assert "Reading the usage of us-east-1" in detail
    assert "testing" not in detail


# --- quotaform.json from a URL ------------------------------------------------------------


@pytest.fixture(scope="module")
def config_server(config_file: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that serves quotaform.json and 404 for other paths."""
    body = config_file.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path.split("?")[0] != "/quotaform.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_config_url_serves_pool(
    aws_env: LocalAws, config_server: str, usage_instances: dict[str, str]
) -> None:
    servicer = _servicer(aws_env, f"{config_server}/quotaform.json")
    state, diagnostics = _read(
        servicer, "quotaform_pool", {"name": "src-usage", "exclude_tags": None}
    )
    assert diagnostics == []
    assert state["max_vcpu"] == 16


def test_config_url_not_found_hides_token(aws_env: LocalAws, config_server: str) -> None:
    servicer = _servicer(aws_env, f"{config_server}/missing.json?token=abc123secret")
    state, diagnostics = _read(
        servicer, "quotaform_pool", {"name": "src-usage", "exclude_tags": None}
    )
    assert state is None
    [(severity, summary, detail)] = diagnostics
    assert severity == "error"
    assert summary == "Could not fetch the quotaform configuration"
    assert "HTTP 404" in detail
    assert "abc123secret" not in detail


# --- quotaform_rightsizing ----------------------------------------------------------------


@pytest.fixture(scope="module")
def idle(aws_env_module: LocalAws) -> tuple[str, np.ndarray]:
    """An m5.2xlarge of pool src-idle with three days of a real idle CPU series."""
    instance_id = _launch(aws_env_module, "m5.2xlarge", "src-idle")
    return instance_id, _seed_idle(aws_env_module, instance_id)


@pytest.fixture(scope="module")
def idle_servicer(aws_env_module: LocalAws, config_file: Path) -> ProviderServicer:
    return _servicer(aws_env_module, config_file)


@pytest.fixture(scope="module")
def recommended(idle_servicer: ProviderServicer, idle: tuple[str, np.ndarray]) -> dict[str, Any]:
    state, diagnostics = _rightsizing(idle_servicer, pool="src-idle")
    assert diagnostics == []
    assert state is not None
    return state


def test_idle_instance_downsized(recommended: dict[str, Any], idle: tuple[str, np.ndarray]) -> None:
    assert recommended["action"] == "downsize"
    assert recommended["rule"] == "downsize-underused"
    assert recommended["current_type"] == "m5.2xlarge"
    assert recommended["recommended_type"] == "m5.large"
    assert recommended["instance_type"] == "m5.large"
    assert recommended["proposed"] is True
    assert recommended["blocked_by"] == []
    assert recommended["resource_ids"] == [idle[0]]


def test_idle_figures_match_series(
    recommended: dict[str, Any], idle: tuple[str, np.ndarray]
) -> None:
    values = idle[1]
    # The window may start one period after the first seeded point, so the
    # figures are compared with a tolerance of one point's worth.
    assert recommended["p95_cpu"] == pytest.approx(np.percentile(values, 95), abs=0.05)
    assert recommended["max_cpu"] == pytest.approx(values.max(), abs=0.05)
    assert recommended["samples"] in (SEEDED_POINTS - 1, SEEDED_POINTS)
    assert recommended["monthly_cost_current_usd"] == pytest.approx(0.384 * 730)
    assert recommended["monthly_savings_usd"] == pytest.approx((0.384 - 0.096) * 730)


def test_pin_keeps_current_and_warns(
    idle_servicer: ProviderServicer, idle: tuple[str, np.ndarray]
) -> None:
    state, diagnostics = _rightsizing(idle_servicer, pool="src-idle", pin_current=True)
    assert state["instance_type"] == "m5.2xlarge"
    assert state["recommended_type"] == "m5.large"
    assert state["pinned"] is True
    [(severity, summary, detail)] = diagnostics
    assert severity == "warning"
    assert summary == "Rightsizing of src-idle recommends m5.large"
    assert 'set accepted_type = "m5.large"' in detail


def test_accepted_type_unpins(
    idle_servicer: ProviderServicer, idle: tuple[str, np.ndarray]
) -> None:
    state, diagnostics = _rightsizing(
        idle_servicer, pool="src-idle", pin_current=True, accepted_type="m5.large"
    )
    assert diagnostics == []
    assert state["instance_type"] == "m5.large"
    assert state["pinned"] is False


def test_instance_id_resolves_pool_tag(
    idle_servicer: ProviderServicer, idle: tuple[str, np.ndarray]
) -> None:
    state, diagnostics = _rightsizing(idle_servicer, instance_id=idle[0])
    assert diagnostics == []
    assert state["pool"] == "src-idle"
    assert state["id"] == "src-idle"
    assert state["recommended_type"] == "m5.large"


def test_running_type_is_current(aws_env: LocalAws, idle_servicer: ProviderServicer) -> None:
    # Declared m5.2xlarge, already moved to m5.large: the plan keeps m5.large.
    instance_id = _launch(aws_env, "m5.large", "src-moved")
    _seed_idle(aws_env, instance_id)
    state, diagnostics = _rightsizing(idle_servicer, pool="src-moved")
    assert diagnostics == []
    assert state["current_type"] == "m5.large"
    assert state["instance_type"] == "m5.large"
    assert state["recommended_type"] is None


def test_untagged_instance_is_not_proposed(
    aws_env: LocalAws, idle_servicer: ProviderServicer
) -> None:
    instance_id = _launch(aws_env, "m5.xlarge", None, Name="src-loose")
    state, diagnostics = _rightsizing(idle_servicer, instance_id=instance_id)
    assert diagnostics == []
    assert state["pool"] is None
    assert state["id"] == instance_id
    assert state["action"] == "insufficient-data"
    assert state["instance_type"] == "m5.xlarge"
    assert state["proposed"] is False


def test_asg_members_rightsized(aws_env: LocalAws, idle_servicer: ProviderServicer) -> None:
    ec2, autoscaling = aws_env.client("ec2"), aws_env.client("autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName="src-web-template",
        LaunchTemplateData={"ImageId": IMAGE, "InstanceType": "m5.xlarge"},
    )["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="src-web-group",
        MinSize=1,
        MaxSize=2,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        AvailabilityZones=["us-east-1a"],
        Tags=[{"Key": "quotaform:pool", "Value": "src-web", "PropagateAtLaunch": True}],
    )
    [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["src-web-group"])[
        "AutoScalingGroups"
    ]
    members = sorted(item["InstanceId"] for item in group["Instances"])

    state, diagnostics = _rightsizing(idle_servicer, asg_name="src-web-group")
    assert diagnostics == []
    assert state["pool"] == "src-web"
    assert sorted(state["resource_ids"]) == members
    assert len(members) == 1
    assert state["current_type"] == "m5.xlarge"
    assert state["action"] == "insufficient-data"


def test_missing_instance_is_error(idle_servicer: ProviderServicer) -> None:
    state, diagnostics = _rightsizing(idle_servicer, instance_id="i-0123456789abcdef0")
    assert state is None
    [(severity, summary, detail)] = diagnostics
    assert severity == "error"
    assert summary == "Instance not found"
    assert "i-0123456789abcdef0 was not found in us-east-1" in detail


def test_missing_group_is_error(idle_servicer: ProviderServicer) -> None:
    state, diagnostics = _rightsizing(idle_servicer, asg_name="src-no-group")
    assert state is None
    [(severity, summary, _)] = diagnostics
    assert severity == "error"
    assert summary == "Auto Scaling group not found"


def test_invalid_lookback_is_error(idle_servicer: ProviderServicer) -> None:
    state, diagnostics = _rightsizing(idle_servicer, pool="src-idle", lookback_days=0)
    assert state is None
    [(severity, summary, detail)] = diagnostics
    assert severity == "error"
    assert summary == "Invalid lookback_days"
    assert "above zero" in detail


def test_parallel_reads_all_answer(
    idle_servicer: ProviderServicer, idle: tuple[str, np.ndarray]
) -> None:
    # Terraform reads data sources in parallel on the server's worker threads.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(_rightsizing, idle_servicer, pool="src-idle") for _ in range(3)]
        results = [future.result(timeout=120) for future in futures]
    for state, diagnostics in results:
        assert diagnostics == []
        assert state["instance_type"] == "m5.large"


def test_assume_role_credentials_masked(
    aws_env: LocalAws, config_file: Path, usage_instances: dict[str, str]
) -> None:
    from provider_bridge.provider.redaction import MASK, redact

    provider = QuotaformProvider()
    servicer = ProviderServicer(provider)
    settings = {
        "region": aws_env.region,
        "profile": None,
        "endpoint": aws_env.endpoint_url,
        "config": str(config_file),
        "assume_role": {
            "role_arn": "arn:aws:iam::123456789012:role/quotaform-reader",
            "session_name": "plan",
            "external_id": "ext-id-123456",
        },
    }
    configured = servicer.ConfigureProvider(
        pb.ConfigureProvider.Request(config=to_dynamic_value(settings)), None
    )
    assert list(configured.diagnostics) == []

    state, diagnostics = _read(
        servicer, "quotaform_pool", {"name": "src-usage", "exclude_tags": None}
    )
    assert diagnostics == []
    assert state["instances"] == 5
    credentials = provider.aws().session().get_credentials().get_frozen_credentials()
    assert credentials.access_key != "testing"  # the role's, from sts:AssumeRole
    assert redact(f"token {credentials.token}") == f"token {MASK}"
    assert redact(credentials.secret_key) == MASK
    assert redact("external id ext-id-123456") == f"external id {MASK}"
