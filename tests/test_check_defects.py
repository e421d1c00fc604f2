"""Bad input that ``quotaform check`` and its neighbours must reject, and team waivers.

Fixture plans and declarations are those of tests/fixtures/check; the expected
messages are written out by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cdk.errors import InputError
from cdk.model import ResourceConfig, load_config
from policies import check_plan
from policies.bundle import write_bundle
from policies.custom import UserPolicies
from policies.formats.output import plan_reports
from provider_bridge import Catalog

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
QUOTAFORM = Path(sys.executable).parent / "quotaform"
TOMORROW = dt.date.today() + dt.timedelta(days=1)
DATA_VCPU = ("team 'data' would use 50 vCPU after this plan across pools batch, etl, reporting, "
             "over its quota of 32 (+18); shrink one of its pools or raise the quota")


def _json(name: str) -> dict[str, Any]:
    return json.loads((CHECK / name).read_text())


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUOTAFORM), *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)


def _write_plan(tmp_path: Path, plan: dict[str, Any]) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _passing_plan() -> dict[str, Any]:
    plan = _json("plan_api_scale_out.json")
    plan["resource_changes"][1]["change"]["after"]["max_size"] = 3
    return plan


def _waiver(**scope: str) -> dict[str, Any]:
    return {"rule": "team-vcpu-quota", "owner": "ann", "reason": "launch week",
            "expires": TOMORROW.isoformat(), **scope}


def _config(catalog: Catalog, **allocation: Any) -> ResourceConfig:
    document = _json("platform.json")
    document["allocation"].update(allocation)
    return ResourceConfig.model_validate(document, context={"catalog": catalog})


# Plans terraform could not finish, and unknown actions


def test_errored_plan_exits_2(tmp_path: Path) -> None:
    plan = _passing_plan()
    plan["errored"] = True
    path = _write_plan(tmp_path, plan)
    result = _run("check", path, "--data", CHECK / "platform.json")
    assert result.returncode == 2
    assert (f"{path}: terraform could not finish this plan (errored: true); fix the terraform "
            "errors and plan again") in result.stderr
    assert "Traceback" not in result.stderr


def test_errored_false_plan_passes(tmp_path: Path) -> None:
    plan = _passing_plan()
    plan["errored"] = False
    result = _run("check", _write_plan(tmp_path, plan), "--data", CHECK / "platform.json")
    assert result.returncode == 0, result.stderr


def test_unknown_action_exits_2(tmp_path: Path) -> None:
    plan = _passing_plan()
    plan["resource_changes"][1]["change"]["actions"] = ["explode"]
    address = plan["resource_changes"][1]["address"]
    result = _run("check", _write_plan(tmp_path, plan), "--data", CHECK / "platform.json")
    assert result.returncode == 2
    assert f"{address}: unknown change actions ['explode']" in result.stderr
    assert "delete+create and create+delete" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("actions", [["delete", "create"], ["create", "delete"], ["forget"]])
def test_known_actions_accepted(actions: list[str], catalog: Catalog) -> None:
    plan = _passing_plan()
    plan["resource_changes"][1]["change"]["actions"] = actions
    decision = check_plan(plan, load_config(CHECK / "platform.json", catalog), catalog)
    assert decision.allowed is True


def test_unknown_action_pair_rejected(catalog: Catalog) -> None:
    plan = _passing_plan()
    plan["resource_changes"][1]["change"]["actions"] = ["update", "create"]
    with pytest.raises(InputError, match=r"unknown change actions \['update', 'create'\]"):
        check_plan(plan, load_config(CHECK / "platform.json", catalog), catalog)


# --output


@pytest.mark.parametrize("value", ["saif:x.sarif", "foo:x.txt", ":x.txt"])
def test_output_unknown_format_rejected(value: str) -> None:
    with pytest.raises(InputError, match="unknown format .*; use one of text, json"):
        plan_reports("text", [value])


def test_output_colon_after_directory_is_file() -> None:
    targets = plan_reports("json", ["reports/a:b.json", "./c:d.json"])
    assert [(target.format, target.path) for target in targets] == [
        ("text", None), ("json", Path("reports/a:b.json")), ("json", Path("c:d.json"))]


@pytest.mark.parametrize("which", ["plan", "data", "usage"])
def test_output_over_input_rejected(tmp_path: Path, which: str) -> None:
    plan = _write_plan(tmp_path, _passing_plan())
    data = tmp_path / "quotaform.json"
    data.write_text((CHECK / "platform.json").read_text())
    usage = tmp_path / "usage.json"
    usage.write_text(json.dumps({"version": 1, "pools": {}}))
    inputs = {"plan": plan, "data": data, "usage": usage}
    before = inputs[which].read_text()
    # A path that differs in spelling but resolves to the input.
    target = tmp_path / "sub" / ".." / inputs[which].name
    (tmp_path / "sub").mkdir()
    result = _run("check", plan, "--data", data, "--usage", usage,
                  "--output", f"json:{target}")
    assert result.returncode == 2
    assert f"this is the input file {inputs[which]}" in result.stderr
    assert inputs[which].read_text() == before


def test_output_unknown_format_cli_exits_2(tmp_path: Path) -> None:
    result = _run("check", CHECK / "plan_api_scale_out.json", "--data",
                  CHECK / "platform.json", "--output", f"saif:{tmp_path / 'x.sarif'}")
    assert result.returncode == 2
    assert "unknown format 'saif'" in result.stderr
    assert not (tmp_path / "x.sarif").exists()


# --policy-dir without rules


def test_policy_dir_without_rules_rejected(tmp_path: Path) -> None:
    (tmp_path / "aws.rego").write_text(
        "package terraform.aws\n\nimport rego.v1\n\ndeny contains \"no\" if { false }\n")
    with pytest.raises(InputError, match=r"no deny, warn or violation rules in package\(s\) "
                                         r"main; pass --namespace PACKAGE"):
        UserPolicies([tmp_path])


def test_policy_dir_without_rules_cli_exits_2(tmp_path: Path) -> None:
    (tmp_path / "helpers.rego").write_text("package main\n\nimport rego.v1\n\nx := 1\n")
    result = _run("check", _write_plan(tmp_path, _passing_plan()), "--data",
                  CHECK / "platform.json", "--policy-dir", tmp_path)
    assert result.returncode == 2
    assert "--all-namespaces" in result.stderr


# Waivers


def test_team_waiver_covers_team_quota(catalog: Catalog) -> None:
    config = _config(catalog, waivers=[_waiver(team="data")])
    decision = check_plan(_json("plan_data_pools.json"), config, catalog)
    assert [item.rule for item in decision.violations] == ["allowed-instance-types"]
    assert [item.rule for item in decision.warnings] == ["team-vcpu-quota"]
    assert decision.warnings[0].message.startswith(DATA_VCPU + " (waived until")
    assert decision.warnings[0].waiver is not None


def test_team_waiver_of_other_team_ignored(catalog: Catalog) -> None:
    config = _config(catalog, waivers=[_waiver(team="payments")])
    decision = check_plan(_json("plan_data_pools.json"), config, catalog)
    assert [item.rule for item in decision.violations] == [
        "allowed-instance-types", "team-vcpu-quota"]


def test_waiver_unknown_team_rejected(catalog: Catalog) -> None:
    with pytest.raises(ValidationError, match="allocation.waivers\\[0\\].team: unknown team "
                                              "'dat'; name a team declared"):
        _config(catalog, waivers=[_waiver(team="dat")])


def test_waiver_unknown_pool_rejected(catalog: Catalog) -> None:
    with pytest.raises(ValidationError, match="allocation.waivers\\[0\\].pool: unknown pool "
                                              "'apii'; name a pool declared"):
        _config(catalog, waivers=[_waiver(pool="apii")])


def test_waiver_two_scopes_rejected(catalog: Catalog) -> None:
    with pytest.raises(ValidationError, match="exactly one of 'pool', 'team' or 'address'"):
        _config(catalog, waivers=[_waiver(team="data", pool="etl")])


def test_unmatched_waiver_logs_warning(catalog: Catalog,
                                       caplog: pytest.LogCaptureFixture) -> None:
    config = _config(catalog, waivers=[_waiver(pool="api")])
    with caplog.at_level(logging.WARNING, logger="policies.enforcement"):
        check_plan(_json("plan_data_pools.json"), config, catalog)
    assert ("waiver of rule team-vcpu-quota for pool 'api' (owner ann) matched no finding"
            in caplog.text)


def test_matched_waiver_logs_nothing(catalog: Catalog,
                                     caplog: pytest.LogCaptureFixture) -> None:
    config = _config(catalog, waivers=[_waiver(team="data")])
    with caplog.at_level(logging.WARNING, logger="policies.enforcement"):
        check_plan(_json("plan_data_pools.json"), config, catalog)
    assert "matched no finding" not in caplog.text


# --budget, --data version, bundle name


@pytest.mark.parametrize("budget", ["nan", "inf"])
def test_budget_not_finite_exits_2(budget: str) -> None:
    result = _run("check", CHECK / "plan_api_scale_out.json", "--data",
                  CHECK / "platform.json", "--budget", budget)
    assert result.returncode == 2
    assert "the budget must be a finite number of USD" in result.stderr


def test_data_without_version_rejected(tmp_path: Path) -> None:
    path = tmp_path / "quotaform.json"
    path.write_text("{}")
    with pytest.raises(InputError, match="missing version; is this a quotaform.json written "
                                         "by quotaform synth\\?"):
        load_config(path)


def test_data_without_version_cli_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "quotaform.json"
    path.write_text("{}")
    result = _run("check", CHECK / "plan_api_scale_out.json", "--data", path)
    assert result.returncode == 2
    assert "missing version" in result.stderr


def test_bundle_zip_name_rejected(tmp_path: Path) -> None:
    result = _run("policy", "bundle", "-o", tmp_path / "b.zip")
    assert result.returncode == 2
    assert "must end in .tar.gz or .tgz" in result.stderr
    assert not (tmp_path / "b.zip").exists()


def test_bundle_tgz_name_written(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b.tgz")
    assert (tmp_path / "b.tgz").read_bytes()[:2] == b"\x1f\x8b"
