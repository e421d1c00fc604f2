"""Render a gate decision: a rich text report for people, JSON for machines.

The JSON form is the ``Decision`` model as is; ``policies/schemas/decision.schema.json``
describes it.
"""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from policies.documents import Decision, Violation

FORMATS = ("text", "json")


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


def _quota_table(decision: Decision) -> Table:
    table = Table(title="Quotas", title_justify="left")
    for header in ("pool / team", "metric"):
        table.add_column(header)
    for header in ("limit", "before", "after", "headroom"):
        table.add_column(header, justify="right")
    for row in decision.quotas:
        headroom = Text(str(row.headroom), style="red" if row.headroom < 0 else "green")
        table.add_row(
            f"{row.scope} {row.target}",
            "vCPU" if row.metric == "vcpu" else row.metric,
            str(row.limit),
            "-" if row.before is None else str(row.before),
            str(row.after),
            headroom,
        )
    return table


def _print_findings(console: Console, label: str, findings: list[Violation], style: str) -> None:
    if not findings:
        return
    console.print()
    for finding in findings:
        line = Text(f"{label} ", style=f"bold {style}")
        line.append(f"[{finding.rule}, {finding.enforcement}] ")
        line.append(finding.message)
        console.print(line)
