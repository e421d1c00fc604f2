"""The policy gate and ``quotaform check``: decisions, enforcement, bad input, fail closed.

Expected messages and numbers are worked out by hand from the fixture plans in
tests/fixtures/check and the catalog (m5.xlarge: 4 vCPU, c5.9xlarge: 36 vCPU).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cdk.errors import ExecutionError, InputError
from cdk.model import ResourceConfig, load_config
from policies import Decision, RegorusEngine, check_config, check_plan, load_plan, render_text
from policies.documents import QuotaRow, load_schema
from policies.engine import policy_files
from provider_bridge import Catalog

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
QUOTAFORM = Path(sys.executable).parent / "quotaform"

API_VCPU = ("pool 'api' would use 48 vCPU after this plan, over its quota of 16 (+32); "
            "lower max_size or raise the quota")
API_INSTANCES = ("pool 'api' would run 12 instances after this plan, over its quota of 4 (+8); "
                 "lower max_size or raise the quota")


def _json(name: str) -> dict[str, Any]:
    return json.loads((CHECK / name).read_text())


def _config(catalog: Catalog, **allocation: Any) -> ResourceConfig:
    document = _json("platform.json")
    document["allocation"].update(allocation)
    return ResourceConfig.model_validate(document, context={"catalog": catalog})


def _findings(decision_list: list) -> list[tuple[str, str]]:
    return [(item.rule, item.message) for item in decision_list]


@pytest.fixture(scope="module")
def platform(catalog: Catalog) -> ResourceConfig:
    return load_config(CHECK / "platform.json", catalog)


# Decisions


def test_asg_scale_out_denied(catalog: Catalog, platform: ResourceConfig) -> None:
    decision = check_plan(_json("plan_api_scale_out.json"), platform, catalog)
    assert decision.allowed is False
    assert _findings(decision.violations) == [
        ("pool-instance-quota", API_INSTANCES),
        ("pool-vcpu-quota", API_VCPU),
    ]
    assert decision.warnings == []
    assert decision.violations[1].pool == "api"
    assert decision.violations[1].severity == "high"
    assert decision.violations[1].enforcement == "hard-mandatory"


def test_asg_scale_out_quota_rows(catalog: Catalog, platform: ResourceConfig) -> None:
    decision = check_plan(_json("plan_api_scale_out.json"), platform, catalog)
    assert decision.quotas == [
        QuotaRow(scope="pool", target="api", metric="instances", limit=4, before=4, after=12,
                 headroom=-8),
        QuotaRow(scope="pool", target="api", metric="vcpu", limit=16, before=16, after=48,
                 headroom=-32),
        QuotaRow(scope="team", target="data", metric="vcpu", limit=32, before=0, after=0,
                 headroom=32),
    ]


def test_asg_within_quota_allowed(catalog: Catalog, platform: ResourceConfig) -> None:
    plan = _json("plan_api_scale_out.json")
    plan["resource_changes"][1]["change"]["after"]["max_size"] = 4
    decision = check_plan(plan, platform, catalog)
    assert decision.allowed is True
    assert decision.violations == []


def test_team_quota_and_family(catalog: Catalog, platform: ResourceConfig) -> None:
    decision = check_plan(_json("plan_data_pools.json"), platform, catalog)
    assert _findings(decision.violations) == [
        ("allowed-instance-types",
         "aws_instance.etl uses instance type 'm5.large', which pool 'etl' does not allow "
         "(allowed: c5.*)"),
        ("team-vcpu-quota",
         "team 'data' would use 50 vCPU after this plan across pools batch, etl, reporting, "
         "over its quota of 32 (+18); shrink one of its pools or raise the quota"),
    ]
    assert decision.violations[0].address == "aws_instance.etl"


def test_required_tags_on_untagged_instance(catalog: Catalog, platform: ResourceConfig) -> None:
    plan = _json("plan_data_pools.json")
    plan["resource_changes"] = plan["resource_changes"][:1]
    plan["resource_changes"][0]["change"]["actions"] = ["update"]
    plan["resource_changes"][0]["change"]["after"]["tags"] = {"Name": "reporting"}
    decision = check_plan(plan, platform, catalog)
    assert _findings(decision.violations) == [(
        "required-tags",
        "aws_instance.reporting[0] is missing required tags quotaform:pool, quotaform:team; "
        "add them to the resource or its pool's tags",
    )]


def test_advisory_rule_becomes_warning(catalog: Catalog) -> None:
    config = _config(catalog, policies=[{"rule": "pool-vcpu-quota", "enforcement": "advisory"}])
    decision = check_plan(_json("plan_api_scale_out.json"), config, catalog)
    assert _findings(decision.warnings) == [("pool-vcpu-quota", API_VCPU)]
    assert decision.warnings[0].enforcement == "advisory"
    assert _findings(decision.violations) == [("pool-instance-quota", API_INSTANCES)]


def test_disabled_rules_report_nothing(catalog: Catalog) -> None:
    config = _config(catalog, policies=[
        {"rule": "pool-vcpu-quota", "enabled": False},
        {"rule": "pool-instance-quota", "enforcement": "soft-mandatory", "enabled": False},
    ])
    decision = check_plan(_json("plan_api_scale_out.json"), config, catalog)
    assert decision.allowed is True
    assert decision.warnings == []


def test_waiver_turns_denial_into_warning(catalog: Catalog) -> None:
    config = _config(catalog, waivers=[{
        "rule": "pool-vcpu-quota", "pool": "api", "owner": "alice", "reason": "launch week",
        "expires": "2999-01-31",
    }])
    decision = check_plan(_json("plan_api_scale_out.json"), config, catalog)
    assert _findings(decision.warnings) == [(
        "pool-vcpu-quota", API_VCPU + " (waived until 2999-01-31 by alice: launch week)")]
    assert _findings(decision.violations) == [("pool-instance-quota", API_INSTANCES)]


def test_expired_waiver_still_denies(catalog: Catalog) -> None:
    config = _config(catalog, waivers=[{
        "rule": "pool-vcpu-quota", "pool": "api", "owner": "alice", "reason": "old",
        "expires": (dt.date.today() - dt.timedelta(days=1)).isoformat(),
    }])
    decision = check_plan(_json("plan_api_scale_out.json"), config, catalog)
    assert ("pool-vcpu-quota", API_VCPU) in _findings(decision.violations)
    assert [item.rule for item in decision.warnings] == ["expired-waiver"]


def test_unknown_rule_in_settings_rejected(catalog: Catalog) -> None:
    config = _config(catalog, policies=[{"rule": "pool-vcpu-quotas"}])
    with pytest.raises(InputError, match=r"allocation.policies\[0\].rule: unknown rule "
                                         r"'pool-vcpu-quotas'; known rules: allowed-instance"):
        check_plan(_json("plan_api_scale_out.json"), config, catalog)


def test_check_config_scaled_out_declarations(catalog: Catalog) -> None:
    document = _json("platform.json")
    document["allocation"]["pools"][0]["max_size"] = 12
    config = ResourceConfig.model_validate(document, context={"catalog": catalog})
    decision = check_config(config, catalog)
    assert _findings(decision.violations) == [
        ("pool-instance-quota", "pool 'api' would run 12 instances when fully allocated, over "
                                "its quota of 4 (+8); lower max_size or raise the quota"),
        ("pool-vcpu-quota", "pool 'api' would use 48 vCPU when fully allocated, over its quota "
                            "of 16 (+32); lower max_size or raise the quota"),
    ]
    assert decision.quotas[1].before is None


def test_check_config_declared_platform_passes(catalog: Catalog,
                                              platform: ResourceConfig) -> None:
    decision = check_config(platform, catalog)
    assert decision.allowed is True
    # data: reporting 8 + batch 8 + etl 2 vCPU.
    assert decision.quotas[2].after == 18


def test_decision_json_matches_schema(catalog: Catalog, platform: ResourceConfig) -> None:
    decision = check_plan(_json("plan_data_pools.json"), platform, catalog)
    jsonschema.validate(decision.model_dump(mode="json"), load_schema("decision.schema.json"))


def test_text_report_lists_table_findings_verdict(catalog: Catalog,
                                                  platform: ResourceConfig) -> None:
    decision = check_plan(_json("plan_api_scale_out.json"), platform, catalog)
    output = io.StringIO()
    render_text(decision, output, source="plan.json", color=False)
    text = output.getvalue()
    assert "pool api" in text
    assert "-32" in text
    assert f"denied [pool-vcpu-quota, hard-mandatory] {API_VCPU}" in text
    assert text.rstrip().endswith("DENIED plan.json: 2 denial(s)")


# Fail closed


def _engine_with(extra: str) -> RegorusEngine:
    return RegorusEngine([*policy_files(), ("extra/extra.rego", extra)])


_HEADER = """package quotaform.rules.extra

import rego.v1

# METADATA
# custom:
#   id: extra
#   severity: low
"""


def test_rule_with_wrong_fields_fails_closed(catalog: Catalog, platform: ResourceConfig) -> None:
    engine = _engine_with(_HEADER + 'deny contains {"rule": "extra", "text": "x"} if true\n')
    with pytest.raises(ExecutionError, match="rule extra returned a violation without the fields"):
        check_plan(_json("plan_api_scale_out.json"), platform, catalog, engine=engine)


def test_rule_without_deny_fails_closed(catalog: Catalog, platform: ResourceConfig) -> None:
    engine = _engine_with(_HEADER + "warn contains 1 if true\n")
    with pytest.raises(ExecutionError, match="rule extra failed to evaluate"):
        check_plan(_json("plan_api_scale_out.json"), platform, catalog, engine=engine)


def test_rule_runtime_error_fails_closed(catalog: Catalog, platform: ResourceConfig) -> None:
    engine = _engine_with(_HEADER + 'deny contains v if {\n\tv := 1 / 0\n}\n')
    with pytest.raises(ExecutionError, match="rule extra failed to evaluate"):
        check_plan(_json("plan_api_scale_out.json"), platform, catalog, engine=engine)


def test_policy_syntax_error_fails_closed() -> None:
    with pytest.raises(ExecutionError, match="policy extra/extra.rego failed to load"):
        _engine_with(_HEADER + "deny contains if {\n")


# Bad plan files


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "the file is empty"),
    (b"  \n", "the file is empty"),
    (b'{"format_version": "1.2", "resource_changes": [', "the JSON ends early at line 1, column"),
    (b"{'a': 1}", "not valid JSON at line 1, column 2"),
    (b'resource "aws_instance" "web" {\n  ami = "ami-1"\n}\n',
     "this looks like Terraform configuration (HCL), not a plan"),
    (b'{"format_version": "1.0", "terraform_version": "1.5.7", "values": {"root_module": {}}}',
     "this is the JSON of a state ('terraform show -json' without a plan file)"),
    (b'{"version": 4, "serial": 3, "lineage": "x", "resources": []}',
     "this is a Terraform state file (terraform.tfstate), not a plan"),
    (b"{}", "the plan is an empty JSON object"),
    (b"[1, 2]", "expected a JSON object, found a list"),
    (b'{"format_version": "2.0", "resource_changes": []}',
     "plan format_version 2.0 is newer than this quotaform reads"),
    (b'{"resource_changes": []}', "no 'format_version' field"),
    (b"PK\x03\x04binary", "this is a binary plan file from 'terraform plan -out'"),
], ids=["empty", "blank", "truncated", "not-json", "hcl", "state-json", "tfstate", "empty-object",
        "list", "format-too-new", "no-format", "binary-plan"])
def test_load_plan_rejects(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        load_plan(path)
    assert str(error.value).startswith(f"{path}: ")
    assert expected in str(error.value)


def test_truncated_plan_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b'{\n  "format_version": "1.2",\n  "resource_changes": [\n    {"addr')
    with pytest.raises(InputError, match=r"the JSON ends early at line 4, column \d+; the file "
                                         r"looks truncated"):
        load_plan(path)


def test_malformed_change_is_input_error(catalog: Catalog, platform: ResourceConfig) -> None:
    plan = {"format_version": "1.2", "resource_changes": [{"address": "x", "change": "oops"}]}
    with pytest.raises(InputError, match="plan.json: a resource change has an unexpected "
                                         "structure"):
        check_plan(plan, platform, catalog, source="plan.json")


def test_load_plan_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found; create it with 'terraform plan"):
        load_plan(tmp_path / "absent.json")


# The command


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUOTAFORM), "check", *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_cli_denied_plan_exits_1_with_json() -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--format", "json")
    assert result.returncode == 1, result.stderr
    decision = Decision.model_validate_json(result.stdout)
    jsonschema.validate(json.loads(result.stdout), load_schema("decision.schema.json"))
    assert [item.message for item in decision.violations] == [API_INSTANCES, API_VCPU]


def test_cli_passing_plan_exits_0(tmp_path: Path) -> None:
    plan = _json("plan_api_scale_out.json")
    plan["resource_changes"][1]["change"]["after"]["max_size"] = 3
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    result = _run(path, "--data", CHECK / "platform.json")
    assert result.returncode == 0, result.stderr
    assert "PASS plan.json: no denials" in result.stdout


def test_cli_truncated_plan_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text((CHECK / "plan_api_scale_out.json").read_text()[:500])
    result = _run(path, "--data", CHECK / "platform.json")
    assert result.returncode == 2
    assert "the file looks truncated" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_invalid_data_exits_2(tmp_path: Path) -> None:
    data = tmp_path / "quotaform.json"
    data.write_text('{"version": 1, "allocation": {"pools": [{"name": "api"}]}}')
    result = _run(CHECK / "plan_api_scale_out.json", "--data", data)
    assert result.returncode == 2
    assert f"{data}: invalid declaration" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_unknown_format_exits_2() -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--format", "xml")
    assert result.returncode == 2
    assert ("--format: unknown format 'xml'; use one of text, json, markdown, sarif, junit"
            in result.stderr)


def test_cli_missing_catalog_dir_exits_2(tmp_path: Path) -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--catalog", tmp_path)
    assert result.returncode == 2
    assert "ec2_instance_types.json not found" in result.stderr
