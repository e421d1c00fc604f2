"""``--engine opa``: decisions through OPA's REST API, and every failure closes the gate.

No OPA binary is available to the tests, so they run against the OPA test
server of tests/opa_server.py (regorus behind OPA's Data API, not OPA itself),
loaded from the bundle that ``quotaform policy bundle`` writes. The CLI tests
run ``quotaform check`` as a subprocess against it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdk.errors import ExecutionError, InputError
from cdk.model import ResourceConfig, load_config
from policies import Decision, check_plan, load_plan
from policies.bundle import write_bundle
from policies.engine import default_engine, policy_files
from policies.opa import OpaEngine, first_difference
from provider_bridge import Catalog
from opa_server import OpaTestServer, opa_test_server

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
PLAN = CHECK / "plan_api_scale_out.json"
PLATFORM = CHECK / "platform.json"
QUOTAFORM = Path(sys.executable).parent / "quotaform"


@pytest.fixture(scope="module")
def platform(catalog: Catalog) -> ResourceConfig:
    return load_config(PLATFORM, catalog)


@pytest.fixture(scope="module")
def platform_bundle(platform: ResourceConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "bundle.tar.gz"
    write_bundle(path, data=platform.model_dump(mode="json"))
    return path


@pytest.fixture
def server(platform_bundle: Path) -> Iterator[OpaTestServer]:
    with opa_test_server(platform_bundle) as running:
        yield running


def _check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(QUOTAFORM), "check", str(PLAN), "--data", str(PLATFORM), "--engine", "opa",
         *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Decisions


def test_opa_decision_equals_regorus(server: OpaTestServer, catalog: Catalog,
                                     platform: ResourceConfig) -> None:
    plan = load_plan(PLAN)
    expected = check_plan(plan, platform, catalog, engine=default_engine())
    decision = check_plan(plan, platform, catalog, engine=OpaEngine(server.url))
    assert decision.model_dump() == expected.model_dump()
    assert [item.rule for item in decision.violations] == ["pool-instance-quota",
                                                           "pool-vcpu-quota"]


def test_opa_requests_are_data_api_only(server: OpaTestServer, catalog: Catalog,
                                        platform: ResourceConfig) -> None:
    engine = OpaEngine(server.url)
    plan = load_plan(PLAN)
    check_plan(plan, platform, catalog, engine=engine)
    check_plan(plan, platform, catalog, engine=engine)
    assert server.requests == [
        ("GET", "/v1/data/quotaform/policy_bundle/policies_digest"),
        ("GET", "/v1/data/quotaform/version"),
        ("GET", "/v1/data/quotaform/allocation"),
        ("GET", "/v1/data/quotaform/capacity"),
        ("GET", "/v1/data/quotaform/monitoring"),
        ("GET", "/v1/data/quotaform/optimization"),
        ("POST", "/v1/data/quotaform/rules"),
        # The second check trusts what the first one confirmed.
        ("POST", "/v1/data/quotaform/rules"),
    ]


def test_cli_opa_denied_exits_1(server: OpaTestServer) -> None:
    result = _check("--opa-url", server.url, "--format", "json")
    assert result.returncode == 1, result.stderr
    decision = Decision.model_validate_json(result.stdout)
    assert [item.rule for item in decision.violations] == ["pool-instance-quota",
                                                           "pool-vcpu-quota"]


def test_cli_opa_passing_plan_exits_0(server: OpaTestServer, tmp_path: Path) -> None:
    plan = json.loads(PLAN.read_text())
    plan["resource_changes"][1]["change"]["after"]["max_size"] = 4
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    result = subprocess.run(
        [str(QUOTAFORM), "check", str(path), "--data", str(PLATFORM), "--engine", "opa",
         "--opa-url", server.url], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert ("POST", "/v1/data/quotaform/rules") in server.requests


def test_bearer_token_from_environment(server: OpaTestServer, catalog: Catalog,
                                       platform: ResourceConfig,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server.token = "s3cret"
    with pytest.raises(ExecutionError, match="unauthorized: missing or invalid bearer token"):
        check_plan(load_plan(PLAN), platform, catalog, engine=OpaEngine(server.url))
    monkeypatch.setenv("QUOTAFORM_OPA_TOKEN", "s3cret")
    decision = check_plan(load_plan(PLAN), platform, catalog, engine=OpaEngine(server.url))
    assert decision.allowed is False


# Fail closed: the command


def test_cli_server_down_exits_2() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = _check("--opa-url", url)
    assert result.returncode == 2
    assert f"could not connect to the OPA server for GET {url}/v1/data/quotaform/" \
           in result.stderr
    assert "Connection refused" in result.stderr
    assert "check that OPA is running there" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("method", "expected"), [
    ("GET", "failed GET /v1/data/quotaform/policy_bundle/policies_digest: internal_error: "
            "test fault; check the server's log"),
    ("POST", "answered POST {url}/v1/data/quotaform/rules with HTTP 500: internal_error: "
             "test fault; check the server's log"),
])
def test_cli_http_500_exits_2(server: OpaTestServer, method: str, expected: str) -> None:
    server.fault, server.fault_method = "status-500", method
    result = _check("--opa-url", server.url)
    assert result.returncode == 2
    assert expected.format(url=server.url) in result.stderr
    assert server.url in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_cli_malformed_json_exits_2(server: OpaTestServer, method: str) -> None:
    server.fault, server.fault_method = "malformed-json", method
    result = _check("--opa-url", server.url)
    assert result.returncode == 2
    assert f"the OPA server's answer to {method} {server.url}/v1/data/quotaform/" \
           in result.stderr
    assert "is not valid JSON; check that --opa-url is the address of OPA's REST API" \
           in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_cli_timeout_exits_2(server: OpaTestServer, method: str) -> None:
    server.fault, server.fault_method, server.delay = "slow", method, 3.0
    started = time.monotonic()
    result = _check("--opa-url", server.url, "--opa-timeout", "0.3")
    assert result.returncode == 2
    assert f"the OPA server did not answer {method} {server.url}/v1/data/quotaform/" \
           in result.stderr
    assert "within 0.3 s; check the server's load, or allow more time with --opa-timeout" \
           in result.stderr
    # Three attempts of a GET at most, never the server's full delay each.
    assert time.monotonic() - started < 8


def test_cli_invalid_url_exits_2() -> None:
    result = _check("--opa-url", "ftp://127.0.0.1:8181")
    assert result.returncode == 2
    assert "--opa-url 'ftp://127.0.0.1:8181': expected an http:// or https:// URL" \
           in result.stderr


# Fail closed: the engine


def test_undefined_policies_fail_closed(server: OpaTestServer, catalog: Catalog,
                                        platform: ResourceConfig) -> None:
    server.fault = "undefined"
    with pytest.raises(ExecutionError, match=r"has no quotaform policies \(data.quotaform."
                                             r"policy_bundle is undefined\); build the bundle"):
        check_plan(load_plan(PLAN), platform, catalog, engine=OpaEngine(server.url))


def test_undefined_result_fails_closed(server: OpaTestServer, catalog: Catalog,
                                       platform: ResourceConfig) -> None:
    server.fault, server.fault_method = "undefined", "POST"
    with pytest.raises(ExecutionError, match="returned no result for data.quotaform.rules: "
                                             "the quotaform rules are not loaded"):
        check_plan(load_plan(PLAN), platform, catalog, engine=OpaEngine(server.url))


def test_wrong_shape_result_fails_closed(server: OpaTestServer, catalog: Catalog,
                                         platform: ResourceConfig) -> None:
    server.fault = "wrong-shape"
    with pytest.raises(ExecutionError, match="returned a list for data.quotaform.rules"):
        check_plan(load_plan(PLAN), platform, catalog, engine=OpaEngine(server.url))


def test_missing_rule_on_server_fails_closed(platform_bundle: Path, catalog: Catalog,
                                             platform: ResourceConfig) -> None:
    extra = ("extra/extra.rego", "package quotaform.rules.extra\n\nimport rego.v1\n\n"
             "# METADATA\n# custom:\n#   id: extra\n#   severity: low\n"
             "deny contains 1 if false\n")
    with opa_test_server(platform_bundle) as running:
        engine = OpaEngine(running.url, policies=[*policy_files(), extra])
        # The digest check would reject these policies first, so it is passed here.
        engine._policies_verified = True
        with pytest.raises(ExecutionError, match=r"returned no deny set for rule extra "
                                                 r"\(data.quotaform.rules.extra.deny\)"):
            check_plan(load_plan(PLAN), platform, catalog, engine=engine)


def test_other_policies_fail_closed(tmp_path: Path, catalog: Catalog,
                                    platform: ResourceConfig) -> None:
    changed = [(name, text + "\n# changed\n") for name, text in policy_files()]
    bundle = tmp_path / "bundle.tar.gz"
    write_bundle(bundle, policies=changed, data=platform.model_dump(mode="json"))
    with opa_test_server(bundle) as running, \
            pytest.raises(ExecutionError, match="has other quotaform policies than this "
                                                "quotaform"):
        check_plan(load_plan(PLAN), platform, catalog, engine=OpaEngine(running.url))


def test_other_data_fails_closed(server: OpaTestServer, catalog: Catalog) -> None:
    strict = load_config(CHECK / "quotaform_strict.json", catalog)
    with pytest.raises(ExecutionError, match=r"has other declarations than the --data "
                                             r"document: data.quotaform.allocation.pools "
                                             r"has 4 items on the server and 1 in"):
        check_plan(load_plan(PLAN), strict, catalog, engine=OpaEngine(server.url))


def test_policies_only_bundle_needs_data(tmp_path: Path, catalog: Catalog,
                                         platform: ResourceConfig) -> None:
    bundle = tmp_path / "bundle.tar.gz"
    write_bundle(bundle)
    with opa_test_server(bundle) as running, \
            pytest.raises(ExecutionError, match="has no data.quotaform.version; build the "
                                                "bundle with 'quotaform policy bundle"):
        check_plan(load_plan(PLAN), platform, catalog, engine=OpaEngine(running.url))


# URLs and the data comparison


@pytest.mark.parametrize(("url", "root"), [
    ("http://127.0.0.1:8181", "http://127.0.0.1:8181/v1"),
    ("http://127.0.0.1:8181/", "http://127.0.0.1:8181/v1"),
    ("https://opa.internal/policy/", "https://opa.internal:443/policy/v1"),
    ("http://[::1]:9000", "http://[::1]:9000/v1"),
])
def test_url_becomes_client_root(url: str, root: str) -> None:
    assert OpaEngine(url)._client.root_url == root


@pytest.mark.parametrize(("url", "expected"), [
    ("127.0.0.1:8181", "expected an http:// or https:// URL with a host"),
    ("http://127.0.0.1:8181?x=1", "remove the query, fragment or user name"),
    ("http://127.0.0.1:99999", "invalid port"),
])
def test_invalid_url_rejected(url: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        OpaEngine(url)


def test_nonpositive_timeout_rejected() -> None:
    with pytest.raises(InputError, match="--opa-timeout: 0 is not a positive number"):
        OpaEngine("http://127.0.0.1:8181", timeout=0)


@pytest.mark.parametrize(("expected", "found", "difference"), [
    ({"a": [1, 2]}, {"a": [1, 2]}, None),
    ({"a": 1}, {"a": 1.0}, None),
    ({"a": {"b": 1}}, {"a": {"b": 2}}, "d.a.b is 2 on the server and 1 in the --data document"),
    ({"a": {"b": 1}}, {"a": {}}, "d.a.b is missing on the server"),
    ({"a": {}}, {"a": {"c": 1}}, "d.a.c is on the server but not in the --data document"),
    ({"a": [1]}, {"a": [1, 2]}, "d.a has 2 items on the server and 1 in the --data document"),
    ({"a": [{"n": "x"}]}, {"a": [{"n": "y"}]},
     'd.a[0].n is "y" on the server and "x" in the --data document'),
    ({"a": True}, {"a": 1}, "d.a is 1 on the server and true in the --data document"),
])
def test_first_difference(expected: object, found: object, difference: str | None) -> None:
    assert first_difference(expected, found, "d") == difference
