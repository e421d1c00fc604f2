"""The rule catalog the machine formats describe: id, title, description, severity, enforcement.

SARIF lists every rule in ``tool.driver.rules`` and JUnit writes one test suite
per rule, also for rules that found nothing. The titles and descriptions come
from the METADATA annotation above each rule's ``deny`` entry point, and the
enforcement level from ``allocation.policies`` of the declarations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from policies.documents import EnforcementLevel, Violation
from policies.enforcement import DEFAULT_ENFORCEMENT

# A METADATA block is a run of comment lines right after "# METADATA".
_METADATA_BLOCK = re.compile(r"^# METADATA\n((?:#[^\n]*\n)+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RuleDescriptor:
    """The facts a report shows about one rule, whether or not it found anything."""

    id: str
    title: str
    description: str
    severity: str
    enforcement: EnforcementLevel
    enabled: bool = True


def parse_metadata(text: str) -> list[dict[str, Any]]:
    """Return every METADATA annotation of a Rego file as parsed YAML mappings.

    Annotations whose YAML does not parse are skipped: the engine reports a
    broken policy when it loads it, and a report must not fail over a comment.
    """
    found: list[dict[str, Any]] = []
    for block in _METADATA_BLOCK.finditer(text):
        lines = [line[2:] if line.startswith("# ") else line[1:]
                 for line in block.group(1).splitlines()]
        try:
            document = yaml.safe_load("\n".join(lines))
        except yaml.YAMLError:
            continue
        if isinstance(document, dict):
            found.append(document)
    return found


def rule_catalog(policies: Iterable[tuple[str, str]],
                 settings: Mapping[str, Any] | None = None) -> list[RuleDescriptor]:
    """Describe every rule of ``(name, text)`` policy files, sorted by rule id.

    ``settings`` maps a rule id to its ``allocation.policies`` entry (any object
    with ``enforcement`` and ``enabled``). A rule without an enforcement level
    there runs at the gate's default for it: advisory for the rules in
    ``policies.enforcement.DEFAULT_ENFORCEMENT``, else hard-mandatory.
    """
    settings = settings or {}
    rules: dict[str, RuleDescriptor] = {}
    for _, text in policies:
        for metadata in parse_metadata(text):
            custom = metadata.get("custom") or {}
            if not isinstance(custom, dict) or "id" not in custom:
                continue
            rule_id = str(custom["id"])
            setting = settings.get(rule_id)
            enforcement = (getattr(setting, "enforcement", None)
                           or DEFAULT_ENFORCEMENT.get(rule_id, "hard-mandatory"))
            rules[rule_id] = RuleDescriptor(
                id=rule_id,
                title=str(metadata.get("title") or rule_id),
                description=" ".join(str(metadata.get("description") or "").split()),
                severity=str(custom.get("severity", "medium")),
                enforcement=enforcement,
                enabled=bool(getattr(setting, "enabled", True)),
            )
    return [rules[rule_id] for rule_id in sorted(rules)]


def with_finding_rules(catalog: Iterable[RuleDescriptor],
                       findings: Iterable[Violation]) -> list[RuleDescriptor]:
    """Add a minimal descriptor for each rule that reported findings but is not in ``catalog``.

    User policies and rule ids that another engine reports are not in the
    shipped catalog; their findings still need a rule to point at.
    """
    rules = {rule.id: rule for rule in catalog}
    for finding in findings:
        if finding.rule not in rules:
            rules[finding.rule] = RuleDescriptor(
                id=finding.rule,
                title=finding.rule,
                description="",
                severity=finding.severity,
                enforcement=finding.enforcement,
            )
    return [rules[rule_id] for rule_id in sorted(rules)]
