"""SARIF 2.1.0 output, for GitHub code scanning and other SARIF viewers.

One run whose driver is quotaform. ``tool.driver.rules`` lists every rule with
its title, description and a default level from its enforcement level:
warning for advisory rules, error for soft- and hard-mandatory ones. A
disabled rule is ``enabled: false``. Each denial is a result of level
``error``, each warning a result of level ``warning``. A finding turned into a
warning by a waiver or an override also carries an accepted external
suppression whose justification is the waiver's or override's reason.

A plan has no source lines: ``terraform show -json`` writes the resource
address, not the ``.tf`` file and line that declared it. So each result has a
logical location, the resource address (or the pool), and a physical location
that is the plan file itself at line 1. ``terraform show -json`` writes the
whole plan on that line, and GitHub code scanning shows a result's location
only when it has a ``region.startLine`` (rule GH1003 of the SARIF Multitool).
``partialFingerprints`` hash the rule, pool and address, so a viewer
recognizes the same finding in the next run even though the plan file
changes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from policies.documents import Decision, Violation
from policies.formats.context import (
    DECISION_FIELDS,
    FINDING_FIELDS,
    TOOL_NAME,
    ReportContext,
    extra_fields,
)
from policies.formats.rules import RuleDescriptor
from policies.plan import parse_address

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json")
FINGERPRINT_KEY = "quotaformFinding/v1"


def render_sarif(decision: Decision, context: ReportContext) -> str:
    """Return the decision as a SARIF 2.1.0 log with one run."""
    rules = context.rules_for(decision)
    index = {rule.id: position for position, rule in enumerate(rules)}
    artifact = artifact_location(context.source)

    results = [_result(item, "error", index, artifact) for item in decision.violations]
    results += [_result(item, "warning", index, artifact) for item in decision.warnings]
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": TOOL_NAME,
            "version": context.version,
            "rules": [_rule(rule) for rule in rules],
        }},
        "invocations": [{"executionSuccessful": True}],
        "artifacts": [{"location": artifact, "roles": ["analysisTarget"]}],
        "results": results,
        "properties": {
            "allowed": decision.allowed,
            "quotas": [row.model_dump(mode="json") for row in decision.quotas],
            **extra_fields(decision, DECISION_FIELDS - {"cost", "requestor", "overrides"}),
        },
    }
    log = {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def artifact_location(source: str) -> dict[str, str]:
    """Return a SARIF artifactLocation for a file path as the user gave it.

    A relative path stays relative to the checkout (``uriBaseId`` SRCROOT),
    because code scanning maps results to files that way. An absolute path
    becomes a ``file`` URI.
    """
    windows = PureWindowsPath(source)
    if windows.drive:
        return {"uri": "file:///" + quote(windows.as_posix(), safe="/:")}
    path = PurePosixPath(source.replace("\\", "/"))
    if path.is_absolute():
        return {"uri": "file://" + quote(str(path))}
    return {"uri": quote(str(path)), "uriBaseId": "SRCROOT"}


def default_level(rule: RuleDescriptor) -> str:
    """Return the SARIF level of a rule's findings: warning when advisory, else error."""
    return "warning" if rule.enforcement == "advisory" else "error"


def _rule(rule: RuleDescriptor) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "id": rule.id,
        "name": rule.title,
        "shortDescription": {"text": rule.title},
        "defaultConfiguration": {"level": default_level(rule), "enabled": rule.enabled},
        "properties": {
            "severity": rule.severity,
            "enforcement": rule.enforcement,
            "tags": ["quotaform", "terraform", rule.severity],
        },
    }
    if rule.description:
        descriptor["fullDescription"] = {"text": rule.description}
        descriptor["help"] = {"text": rule.description}
    return descriptor


def _result(finding: Violation, level: str, index: dict[str, int],
            artifact: dict[str, str]) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact,
                                                     "region": {"startLine": 1}}}
    logical = _logical_location(finding)
    if logical is not None:
        location["logicalLocations"] = [logical]
    properties: dict[str, Any] = {
        "enforcement": finding.enforcement,
        "severity": finding.severity,
        **extra_fields(finding, FINDING_FIELDS - {"waiver", "override"}),
    }
    if finding.pool:
        properties["pool"] = finding.pool
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index[finding.rule],
        "level": level,
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding)},
        "properties": properties,
    }
    suppression = _suppression(finding)
    if suppression is not None:
        result["suppressions"] = [suppression]
    return result


def _suppression(finding: Violation) -> dict[str, Any] | None:
    """Record a waiver or an override as an accepted external suppression."""
    waiver = getattr(finding, "waiver", None)
    if waiver is not None:
        ticket = f", ticket {waiver.ticket}" if waiver.ticket else ""
        return {"kind": "external", "state": "accepted",
                "justification": f"waived until {waiver.expires} by {waiver.owner}: "
                                 f"{waiver.reason}{ticket}"}
    override = getattr(finding, "override", None)
    if override is not None:
        return {"kind": "external", "state": "accepted",
                "justification": f"overridden by {override.requestor}: {override.reason}"}
    return None


def _logical_location(finding: Violation) -> dict[str, str] | None:
    if finding.address:
        parts = parse_address(finding.address)
        name = parts.resource.rsplit(".", 1)[-1] + (parts.key or "")
        return {"fullyQualifiedName": finding.address, "name": name, "kind": "resource"}
    if finding.pool:
        return {"fullyQualifiedName": f"pool.{finding.pool}", "name": finding.pool,
                "kind": "namespace"}
    return None


def fingerprint(finding: Violation) -> str:
    """Hash what identifies a finding across runs: its rule, pool and address."""
    key = "\x1f".join((finding.rule, finding.pool or "", finding.address or ""))
    return hashlib.sha256(key.encode()).hexdigest()
