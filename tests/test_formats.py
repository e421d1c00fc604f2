"""Report formats of ``quotaform check``: JSON, Markdown, SARIF 2.1.0 and JUnit XML.

SARIF output is validated against the OASIS SARIF 2.1.0 schema and JUnit output
against the Jenkins xUnit junit-10.xsd and the strict Apache Ant JUnit.xsd, all
committed under tests/fixtures/schemas (see its SOURCES.md). Decisions are
built by hand, so every expected value below is written out, not computed by
the renderers.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from lxml import etree
from markdown_it import MarkdownIt

from cdk.errors import InputError
from policies.documents import (
    CostEstimate,
    Decision,
    QuotaRow,
    ResourceCost,
    Violation,
    WaiverRecord,
    load_schema,
)
from policies.engine import policy_files
from policies.formats import ReportContext, render_junit, render_markdown, render_sarif
from policies.formats.markdown import COMMENT_MARKER, MAX_COMMENT_CHARS
from policies.formats.output import plan_reports
from policies.formats.rules import RuleDescriptor, parse_metadata, rule_catalog
from policies.formats.sarif import artifact_location, fingerprint
from policies.report import render_report

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCHEMAS = FIXTURES / "schemas"
CHECK = FIXTURES / "check"
QUOTAFORM = Path(sys.executable).parent / "quotaform"

API_VCPU = ("pool 'api' would use 48 vCPU after this plan, over its quota of 16 (+32); "
            "lower max_size or raise the quota")
API_INSTANCES = ("pool 'api' would run 12 instances after this plan, over its quota of 4 (+8); "
                 "lower max_size or raise the quota")
ETL_TYPE = ("aws_instance.etl uses instance type 'm5.large', which pool 'etl' does not allow "
            "(allowed: c5.*)")
TAGS = ("aws_instance.web is missing required tags quotaform:team; add them to the resource "
        "or its pool's tags")

RULES = (
    RuleDescriptor("allowed-instance-types", "Allowed instance types", "Pools allow types.",
                   "medium", "hard-mandatory"),
    RuleDescriptor("pool-vcpu-quota", "Pool vCPU quota", "vCPU stays under quota.", "high",
                   "hard-mandatory"),
    RuleDescriptor("required-tags", "Required tags", "Tags are set.", "medium", "advisory"),
    RuleDescriptor("team-vcpu-quota", "Team vCPU quota", "", "high", "soft-mandatory",
                   enabled=False),
)
STAMP = dt.datetime(2026, 3, 1, 12, 30, 5, tzinfo=dt.timezone.utc)


def _context(source: str = "plans/plan.json", rules: tuple[RuleDescriptor, ...] = RULES
             ) -> ReportContext:
    return ReportContext(source=source, rules=rules, version="1.2.3", timestamp=STAMP,
                         hostname="ci-runner")


def _decision(**changes: Any) -> Decision:
    """Two denials, two warnings (one waived), a quota table and a cost estimate."""
    fields: dict[str, Any] = {
        "allowed": False,
        "violations": [
            Violation(rule="allowed-instance-types", message=ETL_TYPE, severity="medium",
                      enforcement="hard-mandatory", pool="etl", address="aws_instance.etl"),
            Violation(rule="pool-vcpu-quota", message=API_VCPU, severity="high",
                      enforcement="hard-mandatory", pool="api"),
        ],
        "warnings": [
            Violation(rule="required-tags", message=TAGS, severity="medium",
                      enforcement="advisory", address="aws_instance.web"),
            Violation(rule="pool-vcpu-quota", message="pool 'batch' is over (waived)",
                      severity="high", enforcement="hard-mandatory", pool="batch",
                      waiver=WaiverRecord(owner="alice", reason="launch week",
                                          ticket="OPS-7", expires=dt.date(2999, 1, 31))),
        ],
        "quotas": [
            QuotaRow(scope="team", target="data", metric="vcpu", limit=32, before=16, after=18,
                     headroom=14),
            QuotaRow(scope="pool", target="api", metric="vcpu", limit=16, before=16, after=48,
                     headroom=-32),
            QuotaRow(scope="pool", target="api", metric="monthly_cost_usd", limit=2000.0,
                     before=560.64, after=1681.92, headroom=318.08),
        ],
        "cost": CostEstimate(
            hours_per_month=730.0, before_usd=560.64, after_usd=1681.92, delta_usd=1121.28,
            budget_usd=1000.0, unpriced=[],
            resources=[ResourceCost(address="aws_autoscaling_group.api", pool="api",
                                    before_usd=560.64, after_usd=1681.92, delta_usd=1121.28)],
        ),
    }
    fields.update(changes)
    return Decision(**fields)


# JSON


def test_json_report_matches_decision_schema() -> None:
    document = json.loads(render_report(_decision(), "json", _context()))
    jsonschema.validate(document, load_schema("decision.schema.json"))
    assert Decision.model_validate(document) == _decision()


# SARIF


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def _sarif(decision: Decision, context: ReportContext | None = None) -> dict[str, Any]:
    return json.loads(render_sarif(decision, context or _context()))


def test_sarif_valid_against_schema(sarif_validator: jsonschema.Draft7Validator) -> None:
    log = _sarif(_decision())
    errors = [error.message for error in sarif_validator.iter_errors(log)]
    assert errors == []
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1


def test_sarif_schema_rejects_invalid_level(sarif_validator: jsonschema.Draft7Validator) -> None:
    log = _sarif(_decision())
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not sarif_validator.is_valid(log)


def test_sarif_driver_rules_and_default_levels() -> None:
    driver = _sarif(_decision())["runs"][0]["tool"]["driver"]
    assert driver["name"] == "quotaform"
    assert driver["version"] == "1.2.3"
    assert [rule["id"] for rule in driver["rules"]] == [
        "allowed-instance-types", "pool-vcpu-quota", "required-tags", "team-vcpu-quota"]
    levels = {rule["id"]: rule["defaultConfiguration"] for rule in driver["rules"]}
    assert levels["pool-vcpu-quota"] == {"level": "error", "enabled": True}
    assert levels["required-tags"] == {"level": "warning", "enabled": True}
    assert levels["team-vcpu-quota"] == {"level": "error", "enabled": False}
    assert driver["rules"][1]["shortDescription"] == {"text": "Pool vCPU quota"}
    assert driver["rules"][1]["fullDescription"] == {"text": "vCPU stays under quota."}


def test_sarif_results_levels_and_messages() -> None:
    results = _sarif(_decision())["runs"][0]["results"]
    assert [(item["ruleId"], item["ruleIndex"], item["level"], item["message"]["text"])
            for item in results] == [
        ("allowed-instance-types", 0, "error", ETL_TYPE),
        ("pool-vcpu-quota", 1, "error", API_VCPU),
        ("required-tags", 2, "warning", TAGS),
        ("pool-vcpu-quota", 1, "warning", "pool 'batch' is over (waived)"),
    ]


def test_sarif_locations_logical_and_plan_file() -> None:
    results = _sarif(_decision())["runs"][0]["results"]
    etl, api = results[0]["locations"][0], results[1]["locations"][0]
    assert etl["physicalLocation"] == {
        "artifactLocation": {"uri": "plans/plan.json", "uriBaseId": "SRCROOT"},
        "region": {"startLine": 1}}
    assert etl["logicalLocations"] == [
        {"fullyQualifiedName": "aws_instance.etl", "name": "etl", "kind": "resource"}]
    assert api["logicalLocations"] == [
        {"fullyQualifiedName": "pool.api", "name": "api", "kind": "namespace"}]


def test_sarif_waived_warning_is_suppressed() -> None:
    results = _sarif(_decision())["runs"][0]["results"]
    assert results[3]["suppressions"] == [{
        "kind": "external", "state": "accepted",
        "justification": "waived until 2999-01-31 by alice: launch week, ticket OPS-7",
    }]
    assert "suppressions" not in results[2]


def test_sarif_fingerprint_ignores_message() -> None:
    first = Violation(rule="pool-vcpu-quota", message="48 vCPU", severity="high",
                      enforcement="hard-mandatory", pool="api")
    second = first.model_copy(update={"message": "52 vCPU"})
    other_pool = first.model_copy(update={"pool": "batch"})
    assert fingerprint(first) == fingerprint(second)
    assert fingerprint(first) != fingerprint(other_pool)


def test_sarif_rule_missing_from_catalog_is_added() -> None:
    finding = Violation(rule="main.deny", message="no public buckets", severity="medium",
                        enforcement="hard-mandatory", address="aws_s3_bucket.logs")
    log = _sarif(_decision(violations=[finding], warnings=[]), _context(rules=RULES[:1]))
    run = log["runs"][0]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == [
        "allowed-instance-types", "main.deny"]
    assert run["results"][0]["ruleIndex"] == 1


@pytest.mark.parametrize(("source", "expected"), [
    ("plan.json", {"uri": "plan.json", "uriBaseId": "SRCROOT"}),
    ("out dir/plan.json", {"uri": "out%20dir/plan.json", "uriBaseId": "SRCROOT"}),
    ("/tmp/ci/plan.json", {"uri": "file:///tmp/ci/plan.json"}),
    ("C:\\ci\\plan.json", {"uri": "file:///C:/ci/plan.json"}),
])
def test_sarif_artifact_location_uri(source: str, expected: dict[str, str]) -> None:
    assert artifact_location(source) == expected


# JUnit


def _xsd(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


@pytest.mark.parametrize("schema", ["junit-10.xsd", "JUnit.xsd"])
def test_junit_valid_against_schema(schema: str) -> None:
    document = etree.fromstring(render_junit(_decision(), _context()).encode())
    validator = _xsd(schema)
    assert validator.validate(document), validator.error_log


def test_junit_strict_schema_rejects_root_attributes() -> None:
    document = etree.fromstring(render_junit(_decision(), _context()).encode())
    document.set("tests", "4")
    assert not _xsd("JUnit.xsd").validate(document)


def test_junit_suite_per_rule_with_counts() -> None:
    root = etree.fromstring(render_junit(_decision(), _context()).encode())
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert list(suites) == [
        "allowed-instance-types", "pool-vcpu-quota", "required-tags", "team-vcpu-quota"]
    vcpu = suites["pool-vcpu-quota"]
    assert (vcpu.get("tests"), vcpu.get("failures"), vcpu.get("skipped")) == ("2", "1", "1")
    assert vcpu.get("timestamp") == "2026-03-01T12:30:05"
    assert vcpu.get("hostname") == "ci-runner"


def test_junit_denial_is_failure_warning_is_skipped() -> None:
    root = etree.fromstring(render_junit(_decision(), _context()).encode())
    cases = {(case.get("classname"), case.get("name")): case for case in root.iter("testcase")}
    failure = cases[("quotaform.allowed-instance-types", "aws_instance.etl")].find("failure")
    assert failure.get("type") == "hard-mandatory"
    assert failure.get("message") == ETL_TYPE
    assert "pool: etl" in failure.text
    skipped = cases[("quotaform.required-tags", "aws_instance.web")].find("skipped")
    assert skipped.get("message") == TAGS
    assert cases[("quotaform.pool-vcpu-quota", "pool api")].find("failure") is not None


def test_junit_clean_and_disabled_rules() -> None:
    decision = _decision(violations=[], warnings=[], allowed=True)
    root = etree.fromstring(render_junit(decision, _context()).encode())
    cases = {case.get("classname"): case for case in root.iter("testcase")}
    clean = cases["quotaform.allowed-instance-types"]
    assert clean.get("name") == "plans/plan.json"
    assert len(clean) == 0
    disabled = cases["quotaform.team-vcpu-quota"].find("skipped")
    assert disabled.get("message") == "disabled in allocation.policies"


def test_junit_strips_characters_xml_cannot_hold() -> None:
    finding = Violation(rule="required-tags", message="tag value 'a\x01b' is invalid",
                        severity="medium", enforcement="hard-mandatory", address="aws_instance.x")
    text = render_junit(_decision(violations=[finding], warnings=[]), _context())
    document = etree.fromstring(text.encode())
    assert _xsd("JUnit.xsd").validate(document)
    assert "a\ufffdb" in text


# Markdown


def _tokens(text: str) -> list[Any]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def _table_rows(text: str) -> list[list[str]]:
    """Return the cells of every table body row, each row as its inline contents."""
    rows: list[list[str]] = []
    cells: list[str] | None = None
    in_body = False
    for token in _tokens(text):
        if token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            in_body = False
        elif in_body and token.type == "tr_open":
            cells = []
        elif in_body and token.type == "inline" and cells is not None:
            cells.append(token.content)
        elif in_body and token.type == "tr_close" and cells is not None:
            rows.append(cells)
            cells = None
    return rows


def test_markdown_starts_with_comment_marker() -> None:
    text = render_markdown(_decision(), _context())
    assert text.splitlines()[0] == COMMENT_MARKER == "<!-- quotaform-check -->"
    assert text.splitlines()[2] == "### :x: quotaform: plan denied"


def test_markdown_quota_table_in_tree_order() -> None:
    rows = _table_rows(render_markdown(_decision(), _context()))
    assert rows[:3] == [
        ["pool `api`", "vCPU", "16", "16", "48", "**-32** :x:"],
        ["pool `api`", "monthly USD", "2000", "560.64", "1681.92", "318.08"],
        ["team `data`", "vCPU", "32", "16", "18", "14"],
    ]


def test_markdown_cost_delta_and_budget() -> None:
    text = render_markdown(_decision(), _context())
    assert ("Monthly on-demand cost: $560.64 → $1,681.92 (**+$1,121.28**). Budget per plan: "
            "+$1,000.00, over by $121.28.") in text
    assert ["`aws_autoscaling_group.api`", "`api`", "$560.64", "$1,681.92", "+$1,121.28"] in (
        _table_rows(text))


def test_markdown_lists_denials_warnings_details() -> None:
    text = render_markdown(_decision(), _context())
    assert "#### Denials (2)" in text
    assert "#### Warnings (2)" in text
    assert "- :warning: **required-tags** (advisory, `aws_instance.web`): " in text
    assert "<details>\n<summary>All findings (4)</summary>" in text
    detail_rows = [row for row in _table_rows(text) if row[0] in ("denied", "warning")]
    assert len(detail_rows) == 4
    assert detail_rows[0][:6] == ["denied", "allowed-instance-types", "hard-mandatory",
                                  "medium", "`etl`", "`aws_instance.etl`"]


def test_markdown_passing_plan_heading() -> None:
    text = render_markdown(_decision(allowed=True, violations=[], cost=None), _context())
    assert "### :white_check_mark: quotaform: plan passes" in text
    assert "`plans/plan.json`: 0 denials, 2 warnings." in text
    assert "#### Cost" not in text


def test_markdown_escapes_plan_text() -> None:
    address = 'aws_instance.x["<img src=x onerror=alert(1)>|a"]'
    finding = Violation(rule="required-tags", message=f"{address} has tag <b>bold</b> | pipe",
                        severity="medium", enforcement="hard-mandatory", address=address)
    text = render_markdown(_decision(violations=[finding], warnings=[]), _context())
    inline_html = [child.content for token in _tokens(text) if token.type == "inline"
                   for child in token.children or [] if child.type == "html_inline"]
    assert set(inline_html) <= {"<br>", "<sub>", "</sub>"}
    detail = [row for row in _table_rows(text) if row[0] == "denied"]
    assert len(detail) == 1
    assert len(detail[0]) == 7


def test_markdown_long_decision_fits_comment_limit() -> None:
    findings = [Violation(rule="required-tags", message=TAGS.replace("web", f"web{i}"),
                          severity="medium", enforcement="hard-mandatory",
                          address=f"aws_instance.web{i}") for i in range(3000)]
    text = render_markdown(_decision(violations=findings, warnings=[]), _context())
    assert len(text) < MAX_COMMENT_CHARS + 1000 < 65_536
    assert "#### Denials (3000)" in text
    assert "- and 2975 more, listed under all findings below" in text
    assert "more findings are not shown here" in text
    assert text.rstrip().endswith("<sub>quotaform 1.2.3</sub>")


# Rule catalog


_POLICY = """package quotaform.rules.demo

import rego.v1

# METADATA
# title: Demo quota
# description: >-
#   First line of the description,
#   second line.
# custom:
#   id: demo-quota
#   severity: high
deny contains violation if {
\tfalse
\tviolation := {}
}
"""


def test_rule_catalog_reads_metadata_and_settings() -> None:
    settings = {"demo-quota": SimpleNamespace(enforcement="advisory", enabled=False)}
    catalog = rule_catalog([("demo/demo.rego", _POLICY)], settings)
    assert catalog == [RuleDescriptor(
        id="demo-quota", title="Demo quota",
        description="First line of the description, second line.", severity="high",
        enforcement="advisory", enabled=False)]


def test_rule_catalog_shipped_policies_and_defaults() -> None:
    settings = {"required-tags": SimpleNamespace(enforcement=None, enabled=True)}
    catalog = {rule.id: rule for rule in rule_catalog(policy_files(), settings)}
    assert catalog["pool-vcpu-quota"].title == "Pool vCPU quota"
    assert catalog["pool-vcpu-quota"].severity == "high"
    assert catalog["required-tags"].enforcement == "hard-mandatory"
    assert catalog["unknown-requestor"].enforcement == "advisory"


def test_parse_metadata_skips_invalid_yaml() -> None:
    text = ("# METADATA\n# title: [unclosed\n"
            "package a\n\n# METADATA\n# title: Good\n# custom:\n#   id: good\ndeny := 1\n")
    assert parse_metadata(text) == [{"title": "Good", "custom": {"id": "good"}}]


# Output targets


@pytest.mark.parametrize(("output_format", "outputs", "expected"), [
    ("text", [], [("text", None)]),
    ("sarif", [], [("sarif", None)]),
    ("markdown", ["comment.md"], [("text", None), ("markdown", "comment.md")]),
    ("json", ["sarif:r.sarif"], [("json", None), ("sarif", "r.sarif")]),
    ("text", ["sarif:r.sarif", "junit:r.xml"],
     [("text", None), ("sarif", "r.sarif"), ("junit", "r.xml")]),
    ("json", ["./C:report.json"], [("text", None), ("json", "C:report.json")]),
    ("json", ["out/a:b.json"], [("text", None), ("json", "out/a:b.json")]),
])
def test_plan_reports_targets(output_format: str, outputs: list[str],
                              expected: list[tuple[str, str | None]]) -> None:
    targets = plan_reports(output_format, outputs)
    assert [(t.format, str(t.path) if t.path else None) for t in targets] == expected


# The command


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QUOTAFORM), "check", *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False, cwd=cwd)


def test_cli_sarif_on_stdout(sarif_validator: jsonschema.Draft7Validator) -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--format", "sarif")
    assert result.returncode == 1, result.stderr
    log = json.loads(result.stdout)
    assert list(sarif_validator.iter_errors(log)) == []
    messages = [item["message"]["text"] for item in log["runs"][0]["results"]]
    assert API_INSTANCES in messages
    assert API_VCPU in messages


def test_cli_writes_several_reports(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text((CHECK / "plan_api_scale_out.json").read_text())
    result = _run("plan.json", "--data", CHECK / "platform.json", "--format", "markdown",
                  "--output", "comment.md", "--output", "sarif:results.sarif",
                  "--output", "junit:results.xml", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "DENIED plan.json: 2 denial(s)" in result.stdout
    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith(COMMENT_MARKER)
    assert API_VCPU.replace("_", "\\_") in comment
    log = json.loads((tmp_path / "results.sarif").read_text())
    assert log["runs"][0]["artifacts"][0]["location"] == {"uri": "plan.json",
                                                          "uriBaseId": "SRCROOT"}
    assert (tmp_path / "results.xml").read_text().startswith('<?xml version="1.0"')


def test_cli_output_into_missing_folder_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "results.sarif"
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--output", f"sarif:{target}")
    assert result.returncode == 2
    assert f"--output {target}: cannot write the report" in result.stderr
    assert "check that the folder exists" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("outputs", "expected"), [
    (["sarif:"], "--output sarif:: missing file name after 'sarif:'; give sarif:FILE"),
    ([" "], "--output: empty file name; give FILE or FORMAT:FILE"),
    (["a.json", "sarif:a.json"], "--output a.json: the file is named twice"),
])
def test_plan_reports_rejects(outputs: list[str], expected: str) -> None:
    with pytest.raises(InputError) as error:
        plan_reports("json", outputs)
    assert str(error.value).startswith(expected)


def test_plan_reports_unknown_format() -> None:
    with pytest.raises(InputError, match="--format: unknown format 'xml'; use one of text, "
                                         "json, markdown, sarif, junit"):
        plan_reports("xml", [])


def test_cli_same_output_twice_exits_2(tmp_path: Path) -> None:
    result = _run(CHECK / "plan_api_scale_out.json", "--data", CHECK / "platform.json",
                  "--output", f"sarif:{tmp_path / 'r'}", "--output", f"junit:{tmp_path / 'r'}")
    assert result.returncode == 2
    assert "the file is named twice" in result.stderr


def test_cli_junit_report_file_valid(tmp_path: Path) -> None:
    target = tmp_path / "results.xml"
    result = _run(CHECK / "plan_data_pools.json", "--data", CHECK / "platform.json",
                  "--output", f"junit:{target}")
    assert result.returncode == 1, result.stderr
    document = etree.parse(str(target))
    assert _xsd("JUnit.xsd").validate(document), _xsd("JUnit.xsd").error_log
    failures = [case.get("name") for case in document.iter("testcase")
                if case.find("failure") is not None]
    assert failures == ["aws_instance.etl", "plan"]
