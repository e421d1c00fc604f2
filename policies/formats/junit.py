"""JUnit XML output, for the test report views of GitLab, Jenkins and GitHub Actions.

Layout: one ``<testsuite>`` per rule and one ``<testcase>`` per finding, named
by the finding's resource address (or pool). A denial is a ``<failure>`` whose
``type`` is the enforcement level. A warning, from an advisory rule or a waived
or overridden denial, is ``<skipped>``, so CI readers show it without failing
the build. A
rule without findings has one passing test case named after the checked file,
and a rule disabled in ``allocation.policies`` one skipped test case.

The document is valid against both common JUnit schemas: the permissive one of
the Jenkins xUnit plugin (junit-10.xsd) and the strict Apache Ant one
(windyroad JUnit.xsd). The strict one fixes the order properties, test cases,
system-out, system-err, allows one result element per test case and no
attributes on ``<testsuites>``; every test suite therefore carries the counts.
Policy evaluation is not timed per rule, so every ``time`` is 0.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from policies.documents import Decision, Violation
from policies.formats.context import (
    FINDING_FIELDS,
    TOOL_NAME,
    ReportContext,
    extra_fields,
    finding_subject,
)
from policies.formats.rules import RuleDescriptor

# Characters XML 1.0 cannot carry, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render_junit(decision: Decision, context: ReportContext) -> str:
    """Return the decision as a JUnit XML ``<testsuites>`` document."""
    root = ET.Element("testsuites")
    for number, rule in enumerate(context.rules_for(decision)):
        denials = [item for item in decision.violations if item.rule == rule.id]
        warnings = [item for item in decision.warnings if item.rule == rule.id]
        root.append(_suite(number, rule, denials, warnings, context))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _suite(number: int, rule: RuleDescriptor, denials: list[Violation],
           warnings: list[Violation], context: ReportContext) -> ET.Element:
    cases = [_case(rule, item, "failure") for item in denials]
    cases += [_case(rule, item, "skipped") for item in warnings]
    if not rule.enabled:
        cases.append(_plain_case(rule, context.source, "disabled in allocation.policies"))
    elif not cases:
        cases.append(_plain_case(rule, context.source, None))

    skipped = sum(1 for case in cases if case.find("skipped") is not None)
    suite = ET.Element("testsuite", {
        "name": rule.id,
        "package": TOOL_NAME,
        "id": str(number),
        "tests": str(len(cases)),
        "failures": str(len(denials)),
        "errors": "0",
        "skipped": str(skipped),
        "time": "0",
        "timestamp": context.timestamp.strftime("%Y-%m-%dT%H:%M:%S"),
        "hostname": _text(context.hostname) or "localhost",
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("title", rule.title), ("severity", rule.severity),
                        ("enforcement", rule.enforcement), ("source", context.source),
                        ("version", context.version)):
        ET.SubElement(properties, "property", {"name": name, "value": _text(value)})
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = _text(_summary(rule, denials, warnings))
    ET.SubElement(suite, "system-err").text = ""
    return suite


def _case(rule: RuleDescriptor, finding: Violation, outcome: str) -> ET.Element:
    case = ET.Element("testcase", {
        "name": _text(finding_subject(finding)),
        "classname": f"{TOOL_NAME}.{rule.id}",
        "time": "0",
    })
    details = [finding.message, f"enforcement: {finding.enforcement}",
               f"severity: {finding.severity}"]
    if finding.pool:
        details.append(f"pool: {finding.pool}")
    details += [f"{name}: {value}" for name, value in
                extra_fields(finding, FINDING_FIELDS).items()]
    if outcome == "failure":
        result = ET.SubElement(case, "failure", {"type": finding.enforcement,
                                                 "message": _text(finding.message)})
    else:
        result = ET.SubElement(case, "skipped", {"type": "warning",
                                                 "message": _text(finding.message)})
    result.text = _text("\n".join(details))
    return case


def _plain_case(rule: RuleDescriptor, source: str, skip_reason: str | None) -> ET.Element:
    case = ET.Element("testcase", {"name": _text(source), "classname": f"{TOOL_NAME}.{rule.id}",
                                   "time": "0"})
    if skip_reason is not None:
        ET.SubElement(case, "skipped", {"type": "disabled", "message": skip_reason})
    return case


def _summary(rule: RuleDescriptor, denials: list[Violation], warnings: list[Violation]) -> str:
    lines = [f"{rule.title} ({rule.id}, {rule.enforcement}, severity {rule.severity})"]
    if rule.description:
        lines.append(rule.description)
    lines += [f"denied: {item.message}" for item in denials]
    lines += [f"warning: {item.message}" for item in warnings]
    return "\n".join(lines)


def _text(value: str) -> str:
    return _INVALID_XML.sub("\ufffd", value)
