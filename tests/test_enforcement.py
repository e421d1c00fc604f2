"""Enforcement levels, overrides, waivers and the requestor, through the gate and the CLI.

The fixture plan scales pool 'api' out to 12 instances of m5.xlarge (4 vCPU), so it
breaks the pool's quotas of 4 instances and 16 vCPU.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cdk.errors import InputError
from cdk.model import ResourceConfig
from policies import check_plan
from policies.documents import AppliedOverride, Decision
from policies.enforcement import OverrideRequest, parse_override
from policies.gate import CheckOptions
from policies.identity import find_requestor, requestor_facts
from provider_bridge import Catalog

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
QUOTAFORM = Path(sys.executable).parent / "quotaform"
TODAY = dt.date(2026, 6, 1)

API_VCPU = ("pool 'api' would use 48 vCPU after this plan, over its quota of 16 (+32); "
            "lower max_size or raise the quota")
API_INSTANCES = ("pool 'api' would run 12 instances after this plan, over its quota of 4 (+8); "
                 "lower max_size or raise the quota")


def _document(**allocation: Any) -> dict[str, Any]:
    document = json.loads((CHECK / "platform.json").read_text())
    document["allocation"].update(allocation)
    return document


def _config(catalog: Catalog, **allocation: Any) -> ResourceConfig:
    return ResourceConfig.model_validate(_document(**allocation), context={"catalog": catalog})


def _plan() -> dict[str, Any]:
    return json.loads((CHECK / "plan_api_scale_out.json").read_text())


def _check(config: ResourceConfig, catalog: Catalog, *, plan: dict[str, Any] | None = None,
           **options: Any) -> Decision:
    options.setdefault("today", TODAY)
    return check_plan(plan or _plan(), config, catalog, options=CheckOptions(**options))


def _waiver(**fields: Any) -> dict[str, Any]:
    return {"rule": "pool-vcpu-quota", "owner": "alice", "reason": "launch week",
            "expires": "2026-06-30", **fields}


SOFT_VCPU = [{"rule": "pool-vcpu-quota", "enforcement": "soft-mandatory"}]


# Overrides


def test_override_turns_soft_denial_into_warning(catalog: Catalog) -> None:
    config = _config(catalog, policies=SOFT_VCPU)
    decision = _check(config, catalog, requestor=("carol", "flag"),
                      overrides=(OverrideRequest("pool-vcpu-quota", "launch approved in OPS-7"),))
    assert [(item.rule, item.message) for item in decision.violations] == [
        ("pool-instance-quota", API_INSTANCES)]
    assert [(item.rule, item.message) for item in decision.warnings] == [
        ("pool-vcpu-quota", API_VCPU + " (overridden by carol: launch approved in OPS-7)")]
    record = decision.warnings[0].override
    assert record is not None
    assert (record.requestor, record.reason) == ("carol", "launch approved in OPS-7")
    assert decision.overrides == [AppliedOverride(
        rule="pool-vcpu-quota", reason="launch approved in OPS-7", requestor="carol", applied=1)]


def test_soft_mandatory_denies_without_override(catalog: Catalog) -> None:
    decision = _check(_config(catalog, policies=SOFT_VCPU), catalog)
    assert [item.rule for item in decision.violations] == ["pool-instance-quota",
                                                           "pool-vcpu-quota"]
    assert decision.violations[1].enforcement == "soft-mandatory"
    assert decision.overrides == []


def test_override_of_hard_mandatory_rejected(catalog: Catalog) -> None:
    with pytest.raises(InputError) as error:
        _check(_config(catalog), catalog, requestor=("carol", "flag"),
               overrides=(OverrideRequest("pool-vcpu-quota", "please"),))
    assert str(error.value) == (
        "--override pool-vcpu-quota: the rule is hard-mandatory, so it cannot be overridden; "
        "ask its owners for a waiver in allocation.waivers or for the soft-mandatory level")


def test_override_needs_requestor(catalog: Catalog) -> None:
    with pytest.raises(InputError, match="--override needs a requestor to record who overrode"):
        _check(_config(catalog, policies=SOFT_VCPU), catalog,
               overrides=(OverrideRequest("pool-vcpu-quota", "launch"),))


def test_override_of_unknown_rule_rejected(catalog: Catalog) -> None:
    with pytest.raises(InputError, match=r"--override pool-cpu-quota: unknown rule; known "
                                         r"rules: allowed-instance-types, "):
        _check(_config(catalog), catalog, requestor=("carol", "flag"),
               overrides=(OverrideRequest("pool-cpu-quota", "launch"),))


def test_override_given_twice_rejected(catalog: Catalog) -> None:
    twice = (OverrideRequest("pool-vcpu-quota", "a"), OverrideRequest("pool-vcpu-quota", "b"))
    with pytest.raises(InputError, match="the rule is overridden twice; give it once"):
        _check(_config(catalog, policies=SOFT_VCPU), catalog, requestor=("carol", "flag"),
               overrides=twice)


def test_unused_override_recorded_with_zero(catalog: Catalog) -> None:
    config = _config(catalog, policies=[{"rule": "allowed-regions",
                                         "enforcement": "soft-mandatory"}])
    decision = _check(config, catalog, requestor=("carol", "flag"),
                      overrides=(OverrideRequest("allowed-regions", "migration"),))
    assert [(item.rule, item.applied) for item in decision.overrides] == [("allowed-regions", 0)]


@pytest.mark.parametrize("text", ["pool-vcpu-quota", "=reason", "pool-vcpu-quota=", " = "])
def test_parse_override_rejects(text: str) -> None:
    with pytest.raises(InputError, match=r"expected RULE=REASON"):
        parse_override(text)


def test_parse_override_keeps_equals_in_reason() -> None:
    assert parse_override("pool-vcpu-quota=a=b, OPS-1") == OverrideRequest(
        "pool-vcpu-quota", "a=b, OPS-1")


# Waivers


def test_waiver_applies_to_hard_mandatory_with_ticket(catalog: Catalog) -> None:
    config = _config(catalog, waivers=[_waiver(pool="api", ticket="OPS-12")])
    decision = _check(config, catalog)
    assert [(item.rule, item.message) for item in decision.warnings] == [(
        "pool-vcpu-quota",
        API_VCPU + " (waived until 2026-06-30 by alice: launch week, ticket OPS-12)",
    )]
    record = decision.warnings[0].waiver
    assert record is not None
    assert (record.owner, record.ticket, record.expires) == ("alice", "OPS-12",
                                                             dt.date(2026, 6, 30))


def test_waiver_applies_on_its_expiry_day(catalog: Catalog) -> None:
    config = _config(catalog, waivers=[_waiver(pool="api", expires="2026-06-01")])
    decision = _check(config, catalog)
    assert [item.rule for item in decision.warnings] == ["pool-vcpu-quota"]


def test_expired_waiver_denies_and_warns(catalog: Catalog, caplog: pytest.LogCaptureFixture
                                         ) -> None:
    config = _config(catalog, waivers=[_waiver(pool="api", ticket="OPS-12",
                                               expires="2026-05-31")])
    with caplog.at_level(logging.WARNING, logger="policies.enforcement"):
        decision = _check(config, catalog)
    assert [item.rule for item in decision.violations] == ["pool-instance-quota",
                                                           "pool-vcpu-quota"]
    assert [(item.rule, item.message) for item in decision.warnings] == [(
        "expired-waiver",
        "waiver OPS-12 of rule pool-vcpu-quota for pool 'api' (owner alice) expired on "
        "2026-05-31 and no longer applies; renew its expiry date or remove it",
    )]
    assert decision.warnings[0].enforcement == "advisory"
    assert "expired on 2026-05-31; renew or remove it" in caplog.text


@pytest.mark.parametrize(("scope", "covered"), [
    ("aws_instance.batch", ["aws_instance.batch[0]", "aws_instance.batch[1]"]),
    ("aws_instance.batch[1]", ["aws_instance.batch[1]"]),
    ("module.jobs", ["module.jobs.aws_instance.etl"]),
    ("aws_instance.bat", []),
], ids=["count-instances", "one-instance", "module", "no-partial-name"])
def test_waiver_address_scope(catalog: Catalog, scope: str, covered: list[str]) -> None:
    tags = {"quotaform:pool": "etl", "quotaform:team": "data"}
    addresses = ["aws_instance.batch[0]", "aws_instance.batch[1]", "module.jobs.aws_instance.etl"]
    plan = {"format_version": "1.2", "resource_changes": [
        {"address": address, "mode": "managed", "type": "aws_instance", "name": "x",
         "change": {"actions": ["create"], "before": None,
                    "after": {"instance_type": "m5.large", "tags": tags}}}
        for address in addresses
    ]}
    waiver = {"rule": "allowed-instance-types", "address": scope, "owner": "bob",
              "reason": "trial", "expires": "2026-12-31"}
    config = _config(catalog, waivers=[waiver])
    decision = _check(config, catalog, plan=plan)
    assert sorted(item.address for item in decision.warnings) == covered
    assert sorted(item.address for item in decision.violations) == sorted(
        set(addresses) - set(covered))


def test_waiver_of_unknown_rule_rejected(catalog: Catalog) -> None:
    config = _config(catalog, waivers=[_waiver(rule="pool-cpu-quota", pool="api")])
    with pytest.raises(InputError, match=r"allocation.waivers\[0\].rule: unknown rule "
                                         r"'pool-cpu-quota'"):
        _check(config, catalog)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"pool": "api", "owner": ""}, "owner"),
    ({"pool": "api", "address": "aws_instance.x"},
     "a waiver names exactly one of 'pool', 'team' or 'address'"),
    ({}, "a waiver names exactly one of 'pool', 'team' or 'address'"),
], ids=["empty-owner", "both-scopes", "no-scope"])
def test_waiver_validation(catalog: Catalog, fields: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        _config(catalog, waivers=[_waiver(**fields)])


# Settings


def test_setting_without_level_keeps_rule_default(catalog: Catalog) -> None:
    teams = [{"name": "payments", "members": ["alice"]}, {"name": "data"}]
    config = _config(catalog, teams=teams, policies=[{"rule": "unknown-requestor"}])
    decision = _check(config, catalog)
    assert [(item.rule, item.enforcement) for item in decision.warnings] == [
        ("unknown-requestor", "advisory")]


def test_user_rule_setting_accepted_without_policy_dir(catalog: Catalog) -> None:
    config = _config(catalog, policies=[{"rule": "main.warn", "enforcement": "hard-mandatory"}])
    decision = _check(config, catalog)
    assert [item.rule for item in decision.violations] == ["pool-instance-quota",
                                                           "pool-vcpu-quota"]


# Requestor


@pytest.mark.parametrize(("flag", "environ", "expected"), [
    ("dave", {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat"}, ("dave", "flag")),
    (None, {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat"}, ("octocat", "github-actions")),
    (None, {"GITHUB_ACTOR": "octocat"}, None),
    (None, {"GITLAB_CI": "true", "GITLAB_USER_LOGIN": "gl-user"}, ("gl-user", "gitlab-ci")),
    (None, {"GITLAB_CI": "true", "GITLAB_USER_LOGIN": " "}, None),
    (None, {}, None),
], ids=["flag-wins", "github", "github-outside-actions", "gitlab", "gitlab-blank", "none"])
def test_find_requestor(flag: str | None, environ: dict[str, str],
                        expected: tuple[str, str] | None) -> None:
    assert find_requestor(flag, environ) == expected


def test_empty_requestor_flag_rejected() -> None:
    with pytest.raises(InputError, match="--requestor: the name is empty"):
        find_requestor("  ", {})


def test_requestor_teams_match_without_case(catalog: Catalog) -> None:
    teams = [{"name": "payments", "members": ["Alice"]}, {"name": "data", "members": ["alice"]},
             {"name": "web", "members": ["bob"]}]
    document = _document(teams=teams)
    config = ResourceConfig.model_validate(document, context={"catalog": catalog})
    facts = requestor_facts("ALICE", "flag", config)
    assert facts.teams == ["data", "payments"]


# The command


def _run(*args: str | Path, environ: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("GITHUB_ACTIONS", "GITHUB_ACTOR", "GITLAB_CI", "GITLAB_USER_LOGIN")}
    return subprocess.run([str(QUOTAFORM), "check", *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False, env={**env, **(environ or {})})


def test_cli_override_records_requestor(tmp_path: Path) -> None:
    data = tmp_path / "quotaform.json"
    data.write_text(json.dumps(_document(policies=[
        {"rule": "pool-vcpu-quota", "enforcement": "soft-mandatory"},
        {"rule": "pool-instance-quota", "enforcement": "soft-mandatory"},
    ])))
    result = _run(CHECK / "plan_api_scale_out.json", "--data", data, "--format", "json",
                  "--override", "pool-vcpu-quota=launch week",
                  "--override", "pool-instance-quota=launch week",
                  environ={"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat"})
    assert result.returncode == 0, result.stderr
    decision = Decision.model_validate_json(result.stdout)
    assert decision.requestor is not None
    assert (decision.requestor.name, decision.requestor.source) == ("octocat", "github-actions")
    assert [(item.rule, item.requestor, item.applied) for item in decision.overrides] == [
        ("pool-instance-quota", "octocat", 1), ("pool-vcpu-quota", "octocat", 1)]


def test_cli_override_hard_rule_exits_2() -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--requestor", "carol", "--override", "pool-vcpu-quota=launch")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --override pool-vcpu-quota: the rule is "
                                    "hard-mandatory, so it cannot be overridden")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_malformed_override_exits_2() -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--override", "pool-vcpu-quota")
    assert result.returncode == 2
    assert "--override 'pool-vcpu-quota': expected RULE=REASON" in result.stderr


def test_cli_budget_carried_in_json() -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--budget", "1000", "--format", "json")
    assert result.returncode == 1, result.stderr
    decision = Decision.model_validate_json(result.stdout)
    assert decision.cost is not None
    # 8 more m5.xlarge at 0.192 USD an hour for 730 hours.
    assert decision.cost.delta_usd == pytest.approx(1121.28)
    assert decision.cost.budget_usd == 1000
    assert "monthly-cost-budget" in [item.rule for item in decision.violations]


def test_cli_negative_budget_exits_2() -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--budget", "-5")
    assert result.returncode == 2
    assert "--budget" in result.stderr
