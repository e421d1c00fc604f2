"""The three engines give identical decisions on every plan and data document of the tests.

Each case is decided by regorus, regopy and the opa engine. The opa engine
talks to the OPA test server of tests/opa_server.py, loaded with a bundle of
the same policies and data. The whole decisions must be equal: the same
violations with the same messages, warnings and quota rows. The cases are every plan under
tests/fixtures/plans and tests/fixtures/check with every data document under
tests/fixtures/check, the declarations alone (``check_config``), and a plan
written to reach every rule, with three requestors.

The Rego unit tests (``*_test.rego``) run on regorus only: regopy 1.5.2 crashes
the process on ``with input as {...}`` around a rule that calls a built-in,
which ``test_regopy_with_input_still_crashes`` records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk.errors import ExecutionError, InputError
from cdk.model import ResourceConfig, load_config
from policies import Decision, check_config, check_plan, load_plan
from policies.bundle import write_bundle
from policies.engine import (
    ENGINE_NAMES,
    Engine,
    RegorusEngine,
    create_engine,
    default_engine,
    policy_files,
)
from policies.gate import CheckOptions
from policies.regopy_engine import RegopyEngine, regopy_compatible
from provider_bridge import Catalog
from opa_server import OpaTestServer, opa_test_server

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHECK = FIXTURES / "check"
PLANS = sorted((FIXTURES / "plans").glob("*.json")) + sorted(CHECK.glob("plan_*.json"))
DATA = sorted(path for path in CHECK.glob("*.json") if not path.name.startswith("plan_"))

# A data document that declares what every rule reads: nested pools, all four
# quota limits per pool and team, access grants, regions, tag values, a budget.
RICH = {
    "version": 1,
    "allocation": {
        "teams": [{"name": "payments", "members": ["alice"]}, {"name": "data",
                                                                "members": ["bob"]}],
        "pools": [
            {"name": "org", "kind": "asg", "team": "payments", "instance_type": "t3.micro",
             "min_size": 0, "max_size": 0},
            {"name": "api", "kind": "asg", "team": "payments", "parent": "org",
             "instance_type": "m5.xlarge", "min_size": 2, "max_size": 4,
             "allowed_families": ["m5", "m6i"], "max_instance_vcpu": 8},
            {"name": "batch", "kind": "instances", "team": "data", "parent": "org",
             "instance_type": "c5.xlarge", "count": 2,
             "allowed_instance_types": ["c5.xlarge", "c5.large"]},
            {"name": "db", "kind": "db", "team": "data", "instance_type": "db.r5.large"},
        ],
        "quotas": [
            {"scope": "pool", "target": "org", "max_instances": 6, "max_vcpu": 20,
             "max_memory_gib": 64, "max_monthly_cost_usd": 1000},
            {"scope": "pool", "target": "api", "max_monthly_cost_usd": 200},
            {"scope": "team", "target": "data", "max_instances": 3, "max_vcpu": 8,
             "max_memory_gib": 16, "max_monthly_cost_usd": 300},
        ],
        "access": [{"team": "payments", "pools": ["api"]},
                   {"team": "data", "pools": ["batch", "db"]}],
        "required_tags": ["quotaform:pool", "quotaform:team", "env"],
        "allowed_regions": ["us-east-1"],
        "allowed_tag_values": {"env": ["prod", "dev"]},
        "max_monthly_cost_delta_usd": 100,
    },
}

# for_each keys with a quote, a backslash and non-ASCII text, which regopy
# keeps escaped inside its strings.
ODD_KEYS = ['a"b', "c\\d", "é<x>"]


def _tags(pool: str, team: str, env: str = "prod") -> dict[str, str]:
    return {"quotaform:pool": pool, "quotaform:team": team, "env": env}


def _change(address: str, kind: str, actions: list[str], before: dict[str, Any] | None,
            after: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    name = address.split(".")[1].split("[")[0]
    change = {"actions": actions, "before": before, "after": after, "after_unknown": {}}
    return {"address": address, "mode": "managed", "type": kind, "name": name,
            "change": change, **extra}


def _rich_plan() -> dict[str, Any]:
    """A plan that scales, resizes, creates, tags wrongly, deletes and uses an unknown type."""
    asg_tags = [{"key": key, "value": value, "propagate_at_launch": True}
                for key, value in _tags("api", "payments").items()]
    changes = [
        _change("aws_launch_template.api", "aws_launch_template", ["update"],
                {"instance_type": "m5.xlarge", "tags": _tags("api", "payments")},
                {"instance_type": "m5.4xlarge", "tags": _tags("api", "payments")}),
        _change("aws_autoscaling_group.api", "aws_autoscaling_group", ["update"],
                {"max_size": 4, "min_size": 2, "tag": asg_tags,
                 "launch_template": [{"id": "lt-1", "version": "$Latest"}]},
                {"max_size": 6, "min_size": 2, "tag": asg_tags,
                 "launch_template": [{"id": "lt-1", "version": "$Latest"}]}),
        _change("aws_db_instance.db", "aws_db_instance", ["update"],
                {"instance_class": "db.r5.large", "tags": _tags("db", "data")},
                {"instance_class": "db.r5.2xlarge", "tags": _tags("db", "data", "qa")}),
        _change("aws_instance.old", "aws_instance", ["delete"],
                {"instance_type": "c5.large", "tags": _tags("batch", "data")}, None),
        _change("aws_instance.unknown", "aws_instance", ["create"], None,
                {"instance_type": "zz9.huge", "tags": _tags("batch", "data")}),
    ]
    for key in ODD_KEYS:
        changes.append(_change(
            f"aws_instance.batch[{json.dumps(key, ensure_ascii=False)}]", "aws_instance",
            ["create"], None, {"instance_type": "c5.2xlarge",
                               "tags": _tags("batch", "payments", "staging")}, index=key))
    lt_reference = ["aws_launch_template.api.id", "aws_launch_template.api"]
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.5",
        "resource_changes": changes,
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "expressions": {
                "region": {"constant_value": "us-east-1"}}}},
            "root_module": {"resources": [
                {"address": "aws_autoscaling_group.api", "mode": "managed",
                 "type": "aws_autoscaling_group", "name": "api", "provider_config_key": "aws",
                 "expressions": {"launch_template": [{"id": {"references": lt_reference}}]}},
            ]},
        },
    }


# Engines and servers


@pytest.fixture(scope="module")
def rich_config(catalog: Catalog) -> ResourceConfig:
    return ResourceConfig.model_validate(RICH, context={"catalog": catalog})


@pytest.fixture(scope="module")
def configs(catalog: Catalog, rich_config: ResourceConfig) -> dict[str, ResourceConfig]:
    found = {path.name: load_config(path, catalog) for path in DATA}
    found["rich"] = rich_config
    return found


@pytest.fixture(scope="module")
def opa_servers(configs: dict[str, ResourceConfig],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, OpaTestServer]]:
    """One OPA test server per data document, each loaded from its own bundle."""
    directory = tmp_path_factory.mktemp("bundles")
    servers: dict[str, OpaTestServer] = {}
    contexts = []
    try:
        for name, config in configs.items():
            bundle = directory / f"{name}.tar.gz"
            write_bundle(bundle, data=config.model_dump(mode="json"))
            context = opa_test_server(bundle)
            servers[name] = context.__enter__()
            contexts.append(context)
        yield servers
    finally:
        for context in contexts:
            context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def regopy_engine() -> RegopyEngine:
    return RegopyEngine()


def _engine(name: str, data: str, regopy_engine: RegopyEngine,
            opa_servers: dict[str, OpaTestServer]) -> Engine:
    if name == "regorus":
        return default_engine()
    if name == "regopy":
        return regopy_engine
    return create_engine("opa", opa_url=opa_servers[data].url, opa_timeout=10)


def _decided(decision: Decision) -> dict[str, Any]:
    return decision.model_dump(mode="json")


# The differential cases


@pytest.mark.parametrize("engine", ["regopy", "opa"])
@pytest.mark.parametrize("data", [path.name for path in DATA])
@pytest.mark.parametrize("plan", PLANS, ids=lambda path: path.stem[:24])
def test_fixture_plan_same_decision(engine: str, data: str, plan: Path, catalog: Catalog,
                                    configs: dict[str, ResourceConfig],
                                    regopy_engine: RegopyEngine,
                                    opa_servers: dict[str, OpaTestServer]) -> None:
    document = load_plan(plan)
    expected = check_plan(document, configs[data], catalog, engine=default_engine())
    other = _engine(engine, data, regopy_engine, opa_servers)
    assert _decided(check_plan(document, configs[data], catalog, engine=other)) == \
        _decided(expected)


@pytest.mark.parametrize("engine", ["regopy", "opa"])
@pytest.mark.parametrize("data", [*(path.name for path in DATA), "rich"])
def test_declarations_same_decision(engine: str, data: str, catalog: Catalog,
                                    configs: dict[str, ResourceConfig],
                                    regopy_engine: RegopyEngine,
                                    opa_servers: dict[str, OpaTestServer]) -> None:
    expected = check_config(configs[data], catalog, engine=default_engine())
    other = _engine(engine, data, regopy_engine, opa_servers)
    assert _decided(check_config(configs[data], catalog, engine=other)) == _decided(expected)


REQUESTORS = {"none": None, "member": ("alice", "flag"),
              "stranger": ("mallory", "flag")}


@pytest.mark.parametrize("engine", ["regopy", "opa"])
@pytest.mark.parametrize("requestor", REQUESTORS)
def test_rich_plan_same_decision(engine: str, requestor: str, catalog: Catalog,
                                 rich_config: ResourceConfig, regopy_engine: RegopyEngine,
                                 opa_servers: dict[str, OpaTestServer]) -> None:
    options = CheckOptions(requestor=REQUESTORS[requestor])
    expected = check_plan(_rich_plan(), rich_config, catalog, engine=default_engine(),
                          options=options)
    other = _engine(engine, "rich", regopy_engine, opa_servers)
    decision = check_plan(_rich_plan(), rich_config, catalog, engine=other, options=options)
    assert _decided(decision) == _decided(expected)


def test_rich_plan_reaches_most_rules(catalog: Catalog, rich_config: ResourceConfig) -> None:
    """The rich case is only worth comparing if it makes most rules report."""
    decision = check_plan(_rich_plan(), rich_config, catalog, engine=default_engine(),
                          options=CheckOptions(requestor=("alice", "flag")))
    reported = {item.rule for item in [*decision.violations, *decision.warnings]}
    expected = {
        "allowed-instance-types", "allowed-tag-values", "max-instance-size",
        "monthly-cost-budget", "pool-access", "pool-instance-quota", "pool-memory-quota",
        "pool-monthly-cost-quota", "pool-vcpu-quota", "team-instance-quota",
        "team-memory-quota", "team-monthly-cost-quota", "team-vcpu-quota",
        "unknown-instance-type", "unpriced-cost",
    }
    assert expected <= reported, sorted(expected - reported)
    # Every odd for_each key comes back intact in a violation's address.
    addresses = {item.address for item in decision.violations}
    for key in ODD_KEYS:
        assert f"aws_instance.batch[{json.dumps(key, ensure_ascii=False)}]" in addresses


def test_differential_covers_every_engine() -> None:
    assert set(ENGINE_NAMES) == {"regorus", "regopy", "opa"}
    assert len(PLANS) >= 12
    assert len(DATA) >= 3


# regopy: the adapter and the faults it works around


def test_regopy_reports_the_same_rules() -> None:
    assert RegopyEngine().rules() == RegorusEngine().rules()


def test_regopy_rewrite_keeps_line_count() -> None:
    for name, text in policy_files():
        assert regopy_compatible(text).count("\n") == text.count("\n"), name


def test_regopy_rewrite_binds_function_arguments() -> None:
    text = 'f(scope, metric) := {q | some q in data.x[metric]; q.s == scope}\n'
    assert regopy_compatible(text) == (
        "f(scope, metric) := {q | __qf_scope := scope; __qf_metric := metric; "
        "some q in data.x[__qf_metric]; q.s == __qf_scope}\n"
    )


def test_regopy_rewrite_leaves_strings_and_fields() -> None:
    text = 'f(name) := [x | x := sprintf("name %s", [input.a.name])]\n'
    assert regopy_compatible(text) == (
        'f(name) := [x | x := sprintf("name %s",data.quotaform_regopy.plain( '
        '[input.a.name]))]\n'
    )


def test_regopy_rewrite_some_key_value_in_comprehension() -> None:
    text = 'x := [k | some k, v in object.get(input, "p", {}); v > 1]\n'
    assert regopy_compatible(text) == (
        'x := [k | some k, v; v = object.get(input, "p", {})[k]; v > 1]\n'
    )


_PROBE_HEADER = """package quotaform.rules.probe

import rego.v1

# METADATA
# custom:
#   id: probe
#   severity: low
"""


def _probe_policy(body: str) -> list[tuple[str, str]]:
    """Return a one-rule policy set: the rule 'probe' with ``body`` after its header."""
    return [("probe/probe.rego", _PROBE_HEADER + body)]


_FUNCTION_KEY = """fields := {"vcpu": "max_vcpu", "memory": "max_memory"}

limit(metric) := [name | name := fields[metric]]

deny contains {"rule": "probe", "message": concat(",", limit("vcpu")), "severity": "low",
	"pool": null, "address": null} if true
"""


@pytest.mark.parametrize("engine_class", [RegorusEngine, RegopyEngine],
                         ids=["regorus", "regopy"])
def test_function_argument_as_key(engine_class: type) -> None:
    """regopy 1.5.2 alone iterates every key here; the rewrite restores one."""
    engine = engine_class(_probe_policy(_FUNCTION_KEY))
    (violation,) = engine.evaluate({}, {})
    assert violation["message"] == "max_vcpu"


def _regopy_raw(policy: str, query: str) -> str:
    """Run a query on regopy in a child process; return its output or its crash."""
    # The raw output string, since regopy's Output parses it as JSON and fails on it.
    code = (
        "import regopy\n"
        "from regopy.rego_shared import rego_output_string, rego_query\n"
        "r = regopy.Interpreter()\n"
        f"r.add_module('m.rego', {policy!r})\n"
        "r.set_input_term('{}')\n"
        f"print(rego_output_string(rego_query(r._impl, {query!r})), flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    return result.stdout.strip() if result.returncode == 0 else f"exit {result.returncode}"


def test_regopy_sprintf_quotes_computed_strings() -> None:
    """The fault that the sprintf rewrite works around; drop the rewrite once this fails."""
    output = _regopy_raw('package m\nx := sprintf("%s %s", ["a", upper("b")])\n',
                         "x := data.m.x")
    assert output == '{"expressions":[true], "bindings":{"x":"a "B""}}'


def test_regopy_with_input_still_crashes() -> None:
    """Why the Rego unit tests do not run on regopy; run them there once this fails."""
    policy = ('package m\nd := upper(input.s)\n'
              'test_d if { d == "A" with input as {"s": "a"} }\n')
    assert _regopy_raw(policy, "x := data.m.test_d") == "exit -11"


def test_regopy_count_sees_escapes() -> None:
    """A recorded difference: count() of a string with a quote counts its escape."""
    policy = _probe_policy(
        'deny contains {"rule": "probe", "message": sprintf("%d", [count(input.s)]), '
        '"severity": "low", "pool": null, "address": null} if true\n')
    policy_input = {"s": 'q["a"]'}
    assert RegorusEngine(policy).evaluate(policy_input, {})[0]["message"] == "6"
    assert RegopyEngine(policy).evaluate(policy_input, {})[0]["message"] == "8"


def test_regopy_policy_error_names_file_and_line() -> None:
    policy = [("broken/broken.rego", "package quotaform.broken\n\ndeny contains if {\n")]
    with pytest.raises(ExecutionError, match=r"policy broken/broken.rego failed to load on "
                                             r"regopy: broken/broken.rego:3:\d+: "):
        RegopyEngine(policy)


def test_regopy_runtime_error_fails_closed() -> None:
    policy = _probe_policy("deny contains v if {\n\tv := 1 / 0\n}\n")
    with pytest.raises(ExecutionError, match="rule probe failed to evaluate on regopy"):
        RegopyEngine(policy).evaluate({}, {})


def test_regopy_missing_deny_fails_closed() -> None:
    policy = _probe_policy("deny := 1 if false\n")
    with pytest.raises(ExecutionError, match="rule probe returned no deny set"):
        RegopyEngine(policy).evaluate({}, {})


def test_regopy_error_keeps_stdout_clean(tmp_path: Path) -> None:
    """rego-cpp prints compile errors; the json report on standard output must stay valid."""
    script = tmp_path / "run.py"
    script.write_text(
        "from cdk.errors import ExecutionError\n"
        "from policies.regopy_engine import RegopyEngine\n"
        "try:\n"
        "    RegopyEngine([('b/b.rego', 'package quotaform.b\\ndeny contains if {\\n')])\n"
        "except ExecutionError as exc:\n"
        "    print('caught', str(exc).splitlines()[0][:40])\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60, check=False, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "caught policy b/b.rego failed to load on regopy\n"


# create_engine and the --engine option


def test_create_engine_rejects_unknown_name() -> None:
    with pytest.raises(InputError, match="--engine: unknown engine 'rego'; use one of "
                                         "regorus, regopy, opa"):
        create_engine("rego")


def test_create_engine_opa_needs_url() -> None:
    with pytest.raises(InputError, match="--engine opa needs the server's address"):
        create_engine("opa")


def test_create_engine_url_only_for_opa() -> None:
    with pytest.raises(InputError, match="--opa-url is only used with --engine opa"):
        create_engine("regopy", opa_url="http://127.0.0.1:8181")


def test_create_engine_default_is_shared_regorus() -> None:
    assert create_engine() is default_engine()
    assert isinstance(create_engine("regopy"), RegopyEngine)


QUOTAFORM = Path(sys.executable).parent / "quotaform"


@pytest.mark.parametrize("engine", ["regorus", "regopy"])
def test_cli_engine_same_json(engine: str) -> None:
    result = subprocess.run(
        [str(QUOTAFORM), "check", str(CHECK / "plan_api_scale_out.json"), "--data",
         str(CHECK / "platform.json"), "--format", "json", "--engine", engine],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    decision = Decision.model_validate_json(result.stdout)
    assert [item.rule for item in decision.violations] == ["pool-instance-quota",
                                                           "pool-vcpu-quota"]


def test_cli_unknown_engine_exits_2() -> None:
    result = subprocess.run(
        [str(QUOTAFORM), "check", str(CHECK / "plan_api_scale_out.json"), "--data",
         str(CHECK / "platform.json"), "--engine", "opa"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "--engine opa needs the server's address" in result.stderr
    assert "Traceback" not in result.stderr
