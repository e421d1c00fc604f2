"""GitHub flavoured Markdown for a pull-request comment.

The comment starts with a fixed HTML comment, ``<!-- quotaform-check -->``, so
a CI job can find the comment it wrote before and update it instead of adding
a new one. Then come the verdict, the quota table, the cost delta when the
decision has one, the denials and warnings, and the full findings in a
collapsed ``<details>`` block.

GitHub rejects comments over 65,536 characters, so a plan with thousands of
findings is cut at ``MAX_COMMENT_CHARS``, ending with a line that counts the
findings left out and points to the JSON, SARIF and JUnit formats, which list
them all.

Text from the plan (addresses, tag values, messages) is escaped, so a resource
name cannot inject HTML, links or formatting into the comment.
"""

from __future__ import annotations

import json
import re
from typing import Any

from policies.documents import Decision, QuotaRow, Violation
from policies.formats.context import (
    DECISION_FIELDS,
    FINDING_FIELDS,
    ReportContext,
    extra_fields,
    format_number,
    format_usd,
    metric_label,
    quota_target,
    tree_order,
)

COMMENT_MARKER = "<!-- quotaform-check -->"
MAX_COMMENT_CHARS = 60_000
# Denials and warnings listed in full before the collapsed details.
MAX_LISTED_FINDINGS = 25
MAX_COST_ROWS = 20

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_BACKTICK_RUN = re.compile(r"`+")


def render_markdown(decision: Decision, context: ReportContext) -> str:
    """Return the decision as a Markdown pull-request comment."""
    parts = [COMMENT_MARKER, _heading(decision, context)]
    parts.append(_quota_section(decision.quotas))
    cost = getattr(decision, "cost", None)
    if cost is not None:
        parts.append(_cost_section(cost))
    parts.append(_overrides_section(getattr(decision, "overrides", None) or []))
    parts.append(_findings_list("Denials", ":x:", decision.violations))
    parts.append(_findings_list("Warnings", ":warning:", decision.warnings))

    footer = f"<sub>quotaform {escape(context.version)}</sub>"
    others = extra_fields(decision, DECISION_FIELDS)
    budget = MAX_COMMENT_CHARS - sum(len(part) + 2 for part in parts) - len(footer)
    parts.append(_details(decision, others, budget))
    parts.append(footer)
    return "\n\n".join(part for part in parts if part) + "\n"


def _heading(decision: Decision, context: ReportContext) -> str:
    denials, warnings = len(decision.violations), len(decision.warnings)
    if decision.allowed:
        verdict = ":white_check_mark: quotaform: plan passes"
    else:
        verdict = ":x: quotaform: plan denied"
    counts = f"{denials} {_plural(denials, 'denial')}, {warnings} {_plural(warnings, 'warning')}"
    lines = [f"### {verdict}", "", f"{code(context.source)}: {counts}."]
    requestor = getattr(decision, "requestor", None)
    if requestor is not None:
        teams = ", ".join(code(team) for team in requestor.teams) or "no declared team"
        lines[-1] += f" Requested by {code(requestor.name)} ({requestor.source}; teams: {teams})."
    return "\n".join(lines)


def _quota_section(rows: list[QuotaRow]) -> str:
    if not rows:
        return "No quotas are declared."
    lines = [
        "#### Quotas",
        "",
        "| pool / team | metric | limit | before | after | headroom |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in tree_order(rows):
        headroom = format_number(row.headroom)
        if row.headroom < 0:
            headroom = f"**{headroom}** :x:"
        after = format_number(row.after)
        unsized = getattr(row, "unsized", 0)
        if unsized:
            after += f" (+{unsized} unsized)"
        target = code(quota_target(row), table=True)
        lines.append(f"| {row.scope} {target} | {metric_label(row.metric)} "
                     f"| {format_number(row.limit)} | {format_number(row.before)} "
                     f"| {after} | {headroom} |")
    return "\n".join(lines)


def _cost_section(cost: Any) -> str:
    lines = ["#### Cost", "",
             f"Monthly on-demand cost: {format_usd(cost.before_usd)} → "
             f"{format_usd(cost.after_usd)} (**{format_usd(cost.delta_usd, sign=True)}**)."]
    if cost.budget_usd is not None:
        over = cost.delta_usd - cost.budget_usd
        state = f"over by {format_usd(over)}" if over > 0 else "within budget"
        lines[-1] += f" Budget per plan: {format_usd(cost.budget_usd, sign=True)}, {state}."
    if cost.unpriced:
        lines[-1] += (f" {len(cost.unpriced)} {_plural(len(cost.unpriced), 'resource')} "
                      "without a price not counted.")
    changes = sorted(cost.resources, key=lambda item: -abs(item.delta_usd))
    if changes:
        lines += ["", "| resource | pool | before | after | change |",
                  "| --- | --- | ---: | ---: | ---: |"]
        for item in changes[:MAX_COST_ROWS]:
            pool = code(item.pool, table=True) if item.pool else ""
            lines.append(f"| {code(item.address, table=True)} | {pool} "
                         f"| {format_usd(item.before_usd)} | {format_usd(item.after_usd)} "
                         f"| {format_usd(item.delta_usd, sign=True)} |")
        if len(changes) > MAX_COST_ROWS:
            lines += ["", f"{len(changes) - MAX_COST_ROWS} smaller changes are not listed."]
    return "\n".join(lines)


def _overrides_section(overrides: list[Any]) -> str:
    if not overrides:
        return ""
    lines = ["#### Overrides", ""]
    for override in overrides:
        lines.append(f"- **{escape(override.rule)}** overridden by {code(override.requestor)}: "
                     f"{escape(override.reason)} ({override.applied} "
                     f"{_plural(override.applied, 'denial')} turned into warnings)")
    return "\n".join(lines)


def _findings_list(title: str, icon: str, findings: list[Violation]) -> str:
    if not findings:
        return ""
    lines = [f"#### {title} ({len(findings)})", ""]
    for finding in findings[:MAX_LISTED_FINDINGS]:
        where = f", {code(finding.address)}" if finding.address else ""
        lines.append(f"- {icon} **{escape(finding.rule)}** ({finding.enforcement}{where}): "
                     f"{escape(finding.message)}")
    if len(findings) > MAX_LISTED_FINDINGS:
        rest = len(findings) - MAX_LISTED_FINDINGS
        lines.append(f"- and {rest} more, listed under all findings below")
    return "\n".join(lines)


def _details(decision: Decision, others: dict[str, Any], budget: int) -> str:
    findings = [("denied", item) for item in decision.violations]
    findings += [("warning", item) for item in decision.warnings]
    if not findings and not others:
        return ""

    summary = f"All findings ({len(findings)})" if findings else "Other results"
    opening = [f"<details>\n<summary>{summary}</summary>", ""]
    closing = ["", "</details>"]
    if others:
        closing[1:1] = ["", "```json",
                        json.dumps(others, indent=2).replace("```", "`\u200b``"), "```"]
    lines = ["| outcome | rule | enforcement | severity | pool | address | message |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    used = sum(len(line) + 1 for line in opening + closing + lines) + 200
    listed = 0
    for outcome, finding in findings:
        row = _finding_row(outcome, finding)
        if used + len(row) + 1 > budget:
            break
        lines.append(row)
        used += len(row) + 1
        listed += 1
    if listed < len(findings):
        lines += ["", f"{len(findings) - listed} more findings are not shown here, because a "
                  "comment is limited in size; the json, sarif and junit formats list them all."]
    if not findings:
        lines = []
    return "\n".join(opening + lines + closing)


def _finding_row(outcome: str, finding: Violation) -> str:
    message = escape(finding.message)
    extras = extra_fields(finding, FINDING_FIELDS)
    if extras:
        message += "<br>" + "<br>".join(f"{escape(name)}: {_value(value)}"
                                        for name, value in extras.items())
    cells = [outcome, escape(finding.rule), finding.enforcement, escape(finding.severity),
             code(finding.pool, table=True) if finding.pool else "",
             code(finding.address, table=True) if finding.address else "", message]
    return "| " + " | ".join(cells) + " |"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return escape(value)
    return code(json.dumps(value))


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def escape(text: str) -> str:
    """Escape text for Markdown: HTML, formatting characters, table pipes and newlines."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text.replace("\r", "").replace("\n", "<br>")


def code(text: str, *, table: bool = False) -> str:
    """Wrap text in a code span that survives backticks and newlines in the text.

    In a table cell a ``|`` must be written ``\\|`` even inside a code span.
    Elsewhere a backslash in a code span is shown as it is, so it is left out.
    """
    text = text.replace("\r", "").replace("\n", " ")
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"
