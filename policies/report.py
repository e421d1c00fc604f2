"""Render a gate decision in each output format of ``quotaform check``.

- ``text``: the quota table, denials and warnings and a verdict line, for terminals;
- ``json``: the ``Decision`` model as is, described by ``policies/schemas/decision.schema.json``;
- ``markdown``: a pull-request comment (``policies.formats.markdown``);
- ``sarif``: SARIF 2.1.0 for code scanning (``policies.formats.sarif``);
- ``junit``: JUnit XML for CI test reports (``policies.formats.junit``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from policies.documents import Decision, Violation
from policies.formats.context import (
    DECISION_FIELDS,
    ReportContext,
    extra_fields,
    format_number,
    format_usd,
    metric_label,
    quota_target,
    tree_order,
)
from policies.formats.junit import render_junit
from policies.formats.markdown import render_markdown
from policies.formats.sarif import render_sarif

FORMATS = ("text", "json", "markdown", "sarif", "junit")


def render_json(decision: Decision) -> str:
    """Return the decision as indented JSON."""
    return decision.model_dump_json(indent=2)


def render_text(decision: Decision, file: IO[str], *, source: str = "plan",
                color: bool | None = None) -> None:
    """Write the quota table, then denials and warnings, then the verdict line."""
    console = Console(file=file, width=120, force_terminal=color, no_color=color is False,
                      highlight=False, soft_wrap=True)
    if decision.quotas:
        console.print(_quota_table(decision))
    else:
        console.print("No quotas are declared.")

    for line in summary_lines(decision):
        console.print(Text(line))
    for name, value in extra_fields(decision, DECISION_FIELDS).items():
        console.print(Text(f"{name}: {value}"))
    _print_findings(console, "denied", decision.violations, "red")
    _print_findings(console, "warning", decision.warnings, "yellow")

    console.print()
    if decision.allowed:
        verdict = Text(f"PASS {source}: no denials", style="bold green")
        if decision.warnings:
            verdict.append(f", {len(decision.warnings)} warning(s)")
    else:
        verdict = Text(f"DENIED {source}: {len(decision.violations)} denial(s)", style="bold red")
        if decision.warnings:
            verdict.append(f", {len(decision.warnings)} warning(s)")
    console.print(verdict)


def render_report(decision: Decision, output_format: str, context: ReportContext) -> str:
    """Return the decision in one of ``FORMATS``; text comes without colors."""
    renderers: dict[str, Callable[[Decision, ReportContext], str]] = {
        "json": lambda item, _: render_json(item) + "\n",
        "markdown": render_markdown,
        "sarif": render_sarif,
        "junit": render_junit,
    }
    if output_format == "text":
        buffer = io.StringIO()
        render_text(decision, buffer, source=context.source, color=False)
        return buffer.getvalue()
    if output_format not in renderers:
        raise ValueError(f"unknown format '{output_format}'; use one of {', '.join(FORMATS)}")
    return renderers[output_format](decision, context)


def _quota_table(decision: Decision) -> Table:
    table = Table(title="Quotas", title_justify="left")
    for header in ("pool / team", "metric"):
        table.add_column(header)
    for header in ("limit", "before", "after", "headroom"):
        table.add_column(header, justify="right")
    for row in tree_order(decision.quotas):
        headroom = Text(format_number(row.headroom),
                        style="red" if row.headroom < 0 else "green")
        after = format_number(row.after)
        unsized = getattr(row, "unsized", 0)
        if unsized:
            after += f" (+{unsized} unsized)"
        table.add_row(
            f"{row.scope} {quota_target(row)}",
            metric_label(row.metric),
            format_number(row.limit),
            format_number(row.before),
            after,
            headroom,
        )
    return table


def summary_lines(decision: Decision) -> list[str]:
    """Describe the cost change, the requestor and the overrides of a decision, when present."""
    lines: list[str] = []
    cost = getattr(decision, "cost", None)
    if cost is not None:
        line = (f"monthly cost: {format_usd(cost.before_usd)} -> {format_usd(cost.after_usd)} "
                f"({format_usd(cost.delta_usd, sign=True)})")
        if cost.budget_usd is not None:
            line += f", budget {format_usd(cost.budget_usd, sign=True)} per plan"
        if cost.unpriced:
            line += f", {len(cost.unpriced)} resource(s) without a price"
        lines.append(line)
    requestor = getattr(decision, "requestor", None)
    if requestor is not None:
        teams = ", ".join(requestor.teams) or "no declared team"
        lines.append(f"requestor: {requestor.name} ({requestor.source}; teams: {teams})")
    for override in getattr(decision, "overrides", None) or []:
        lines.append(f"override of {override.rule} by {override.requestor}: {override.reason} "
                     f"({override.applied} denial(s) turned into warnings)")
    return lines


def _print_findings(console: Console, label: str, findings: list[Violation], style: str) -> None:
    if not findings:
        return
    console.print()
    for finding in findings:
        line = Text(f"{label} ", style=f"bold {style}")
        line.append(f"[{finding.rule}, {finding.enforcement}] ")
        line.append(finding.message)
        console.print(line)
