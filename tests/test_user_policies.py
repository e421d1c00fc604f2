"""Users' conftest-style policies (``check --policy-dir``) and ``quotaform policy test``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cdk.errors import ExecutionError, InputError
from cdk.model import ResourceConfig
from policies import check_plan
from policies.custom import UserPolicies
from policies.documents import Decision
from policies.gate import CheckOptions
from policies.policytest import run_tests, shipped_policy_dir
from provider_bridge import Catalog

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
QUOTAFORM = Path(sys.executable).parent / "quotaform"

# Reads the raw plan as conftest passes it: resource_changes, change.after, tag blocks.
MAIN_V1 = """package main

import rego.v1

deny contains msg if {
	some change in input.resource_changes
	change.type == "aws_autoscaling_group"
	change.change.after.max_size > 8
	msg := sprintf("%s: max_size %d is over 8", [change.address, change.change.after.max_size])
}

warn contains {"msg": "plan written by terraform 1.9", "severity": "low"} if {
	startswith(input.terraform_version, "1.9")
}

violation contains {"msg": "no cost-center tag", "address": change.address} if {
	some change in input.resource_changes
	change.type == "aws_autoscaling_group"
	not _tagged(change, "cost-center")
}

deny_public contains "never" if input.nothing

_tagged(change, key) if {
	some tag in change.change.after.tag
	tag.key == key
}
"""

# Rego v0 syntax, as older conftest policies are written.
MAIN_V0 = """package main

deny[msg] {
	input.format_version == "1.2"
	msg := "format 1.2 seen by a v0 policy"
}
"""

OTHER_PACKAGE = """package terraform.aws

import rego.v1

deny contains "from terraform.aws" if true
"""


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def _plan() -> dict[str, Any]:
    return json.loads((CHECK / "plan_api_scale_out.json").read_text())


def _config(catalog: Catalog, **allocation: Any) -> ResourceConfig:
    document = json.loads((CHECK / "platform.json").read_text())
    # No quotas, so the fixture plan's scale-out leaves only the user findings.
    document["allocation"]["quotas"] = []
    document["allocation"].update(allocation)
    return ResourceConfig.model_validate(document, context={"catalog": catalog})


def _check(catalog: Catalog, user: UserPolicies, **allocation: Any) -> Decision:
    return check_plan(_plan(), _config(catalog, **allocation), catalog,
                      options=CheckOptions(user_policies=user))


def _findings(items: list) -> list[tuple[str, str, str | None]]:
    return [(item.rule, item.message, item.address) for item in items]


# check --policy-dir


def test_conftest_rules_join_the_decision(tmp_path: Path, catalog: Catalog) -> None:
    policies = UserPolicies([_write(tmp_path, {"main.rego": MAIN_V1})])
    decision = _check(catalog, policies)
    assert decision.allowed is False
    assert _findings(decision.violations) == [
        ("main.deny", "aws_autoscaling_group.api: max_size 12 is over 8", None),
        ("main.violation", "no cost-center tag", "aws_autoscaling_group.api"),
    ]
    assert _findings(decision.warnings) == [("main.warn", "plan written by terraform 1.9", None)]
    assert decision.warnings[0].severity == "low"
    assert decision.warnings[0].enforcement == "advisory"
    assert decision.violations[0].enforcement == "hard-mandatory"


def test_rule_ids_list_prefixed_rules(tmp_path: Path) -> None:
    policies = UserPolicies([_write(tmp_path, {"main.rego": MAIN_V1})])
    assert [rule.id for rule in policies.rules] == [
        "main.deny", "main.deny_public", "main.violation", "main.warn"]


def test_rego_v0_policy_loads(tmp_path: Path, catalog: Catalog) -> None:
    policies = UserPolicies([_write(tmp_path, {"old/legacy.rego": MAIN_V0})])
    decision = _check(catalog, policies)
    assert _findings(decision.violations) == [
        ("main.deny", "format 1.2 seen by a v0 policy", None)]


def test_other_packages_need_namespace(tmp_path: Path, catalog: Catalog) -> None:
    directory = _write(tmp_path, {"main.rego": MAIN_V0, "aws.rego": OTHER_PACKAGE})
    default = _check(catalog, UserPolicies([directory]))
    assert [item.rule for item in default.violations] == ["main.deny"]
    named = _check(catalog, UserPolicies([directory], namespaces=["terraform.aws"]))
    assert [item.rule for item in named.violations] == ["terraform.aws.deny"]
    every = _check(catalog, UserPolicies([directory], all_namespaces=True))
    assert [item.rule for item in every.violations] == ["main.deny", "terraform.aws.deny"]


def test_user_rule_levels_and_waivers(tmp_path: Path, catalog: Catalog) -> None:
    policies = UserPolicies([_write(tmp_path, {"main.rego": MAIN_V1})])
    decision = _check(
        catalog, policies,
        policies=[{"rule": "main.warn", "enforcement": "soft-mandatory"},
                  {"rule": "main.deny", "enforcement": "advisory"}],
        waivers=[{"rule": "main.violation", "address": "aws_autoscaling_group.api",
                  "owner": "ops", "reason": "tags come next sprint", "expires": "2999-01-01"}],
    )
    assert [item.rule for item in decision.violations] == ["main.warn"]
    assert [item.rule for item in decision.warnings] == ["main.deny", "main.violation"]
    assert decision.warnings[1].waiver is not None


def test_test_files_are_not_policies(tmp_path: Path) -> None:
    directory = _write(tmp_path, {
        "main.rego": MAIN_V0,
        "main_test.rego": "package main\n\nimport rego.v1\n\ndeny contains \"test only\" if true\n",
    })
    policies = UserPolicies([directory])
    assert [rule.file for rule in policies.rules] == [str(directory / "main.rego")]


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.rego"
    path.write_text("package main\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := \n}\n")
    with pytest.raises(InputError) as error:
        UserPolicies([tmp_path])
    message = str(error.value)
    # Line 6 is "\tmsg := ", and column 9 is where its value is missing.
    assert re.match(rf"{re.escape(str(path))}:6:9: .+; fix the Rego syntax$", message), message
    assert "\n" not in message


def test_result_without_msg_rejected(tmp_path: Path, catalog: Catalog) -> None:
    directory = _write(tmp_path, {"main.rego": "package main\n\nimport rego.v1\n\n"
                                               "deny contains {\"message\": \"x\"} if true\n"})
    with pytest.raises(InputError, match=r"user policy rule main.deny \(.*main.rego\) returned "
                                         r"\{'message': 'x'\}; each result must be a string "
                                         r"or an object with a string 'msg'"):
        _check(catalog, UserPolicies([directory]))


def test_runtime_error_fails_closed(tmp_path: Path, catalog: Catalog) -> None:
    directory = _write(tmp_path, {"main.rego": "package main\n\nimport rego.v1\n\n"
                                               "deny contains msg if {\n\tmsg := 1 / 0\n}\n"})
    with pytest.raises(ExecutionError, match=r"user policy rule main.deny \(.*main.rego\) "
                                             r"failed to evaluate: .*main.rego:6:\d+: "
                                             r"divide by zero"):
        _check(catalog, UserPolicies([directory]))


def test_empty_policy_dir_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no .rego policy files found"):
        UserPolicies([tmp_path])


def test_missing_policy_dir_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="policy directory not found"):
        UserPolicies([tmp_path / "absent"])


def _check_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUOTAFORM), "check", *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_cli_policy_dir_denies(tmp_path: Path) -> None:
    policies = _write(tmp_path / "policy", {"main.rego": MAIN_V1})
    data = tmp_path / "quotaform.json"
    document = json.loads((CHECK / "platform.json").read_text())
    document["allocation"]["quotas"] = []
    data.write_text(json.dumps(document))
    result = _check_cli(CHECK / "plan_api_scale_out.json", "--data", data, "--policy-dir",
                        policies, "--format", "json")
    assert result.returncode == 1, result.stderr
    decision = Decision.model_validate_json(result.stdout)
    assert [item.rule for item in decision.violations] == ["main.deny", "main.violation"]


def test_cli_policy_syntax_error_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.rego"
    path.write_text("package main\n\ndeny contains msg if {\n")
    result = _check_cli(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                        "--policy-dir", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}:")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# policy test


PASSING = """package main_test

import data.main
import rego.v1

test_deny_large_group if {
	count(main.deny) == 1 with input as {"format_version": "1.2"}
}

todo_test_later if false
"""

FAILING = """package more_test

import rego.v1

test_fails if {
	print("value was", 2)
	1 == 2
}

test_errors if {
	x := 1 / 0
	x == 1
}

test_passes if true
"""


def _policy_test(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUOTAFORM), "policy", "test", *map(str, args)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_policy_test_runs_shipped_tests() -> None:
    expected = 0
    for path in shipped_policy_dir().rglob("*.rego"):
        expected += len(re.findall(r"^test_\w+\s+if\b", path.read_text(), re.MULTILINE))
    result = _policy_test()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"PASS: {expected}/{expected}" in result.stdout
    assert "data.quotaform.rules.pool_access_test.test_deny_member_of_other_team: PASS" in (
        result.stdout)


def test_policy_test_reports_each_outcome(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"main.rego": MAIN_V0, "main_test.rego": PASSING,
                                  "more_test.rego": FAILING})
    result = _policy_test(directory)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("data.main_test.test_deny_large_group: PASS (") for line in lines)
    assert any(line.startswith("data.main_test.todo_test_later: SKIPPED") for line in lines)
    assert any(line.startswith("data.more_test.test_fails: FAIL (") for line in lines)
    assert any(line.startswith("data.more_test.test_errors: ERROR (") for line in lines)
    assert "  error: divide by zero" in lines
    assert any(line.startswith("  ") and "value was 2" in line for line in lines)
    assert lines[-4:] == ["PASS: 2/5", "FAIL: 1/5", "ERROR: 1/5", "SKIPPED: 1/5"]


def test_policy_test_summary_counts(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"main.rego": MAIN_V0, "main_test.rego": PASSING,
                                  "more_test.rego": FAILING})
    results = run_tests([directory])
    assert sorted((result.name, result.outcome) for result in results) == [
        ("test_deny_large_group", "pass"),
        ("test_errors", "error"),
        ("test_fails", "fail"),
        ("test_passes", "pass"),
        ("todo_test_later", "skip"),
    ]


def test_policy_test_run_filter_passes(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"main.rego": MAIN_V0, "main_test.rego": PASSING,
                                  "more_test.rego": FAILING})
    result = _policy_test(directory, "--run", r"test_(deny_large_group|passes)$")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "PASS: 2/2"


def test_policy_test_json_format(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"main.rego": MAIN_V0, "main_test.rego": PASSING})
    result = _policy_test(directory, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [(item["name"], item["outcome"]) for item in json.loads(result.stdout)] == [
        ("data.main_test.test_deny_large_group", "pass"),
        ("data.main_test.todo_test_later", "skip"),
    ]


def test_policy_test_syntax_error_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad_test.rego"
    path.write_text("package bad_test\n\nimport rego.v1\n\ntest_x if {\n\t1 ==\n}\n")
    result = _policy_test(tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}:7:1: ")
    assert "Traceback" not in result.stderr


def test_policy_test_without_tests_exits_2(tmp_path: Path) -> None:
    _write(tmp_path, {"main.rego": MAIN_V0})
    result = _policy_test(tmp_path)
    assert result.returncode == 2
    assert "no test cases found" in result.stderr
