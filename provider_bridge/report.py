"""Rightsizing output: a rich table for people and a JSON document for machines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from rich import box
from rich.table import Table

from provider_bridge.rightsizing import Recommendation


class RightsizingReport(BaseModel):
    """The JSON document of ``quotaform rightsize --format json``."""

    recommendations: list[Recommendation]
    total_monthly_savings: float = Field(
        description="USD a month over the proposed changes; blocked changes do not count."
    )
    summary: str | None = Field(default=None, description="Terraform-style change summary.")
    diff: str | None = Field(default=None, description="Unified diff of the app source.")


def total_savings(recommendations: Sequence[Recommendation]) -> float:
    """Sum the monthly savings of the proposed changes, in USD (an upsize counts negative)."""
    return round(sum(r.monthly_savings or 0.0 for r in recommendations if r.proposed), 2)


def build_report(
    recommendations: Sequence[Recommendation], summary: str | None = None, diff: str | None = None
) -> RightsizingReport:
    """Assemble the JSON document from the recommendations and the optional patch."""
    return RightsizingReport(
        recommendations=list(recommendations),
        total_monthly_savings=total_savings(recommendations),
        summary=summary,
        diff=diff,
    )


def report_schema() -> dict[str, Any]:
    """Return the JSON Schema of the report document."""
    return RightsizingReport.model_json_schema()


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _action(rec: Recommendation) -> str:
    if rec.blocked_by:
        return f"{rec.action} (blocked)"
    return "no data" if rec.action == "insufficient-data" else rec.action


def recommendation_table(recommendations: Sequence[Recommendation]) -> Table:
    """Build the table of recommendations, one row per pool, CPU in percent and USD a month.

    The reasons are long, so they follow the table (``reason_lines``) instead of
    taking a column, and the table fits an 80-column terminal.
    """
    table = Table(title="Rightsizing recommendations", box=box.SIMPLE_HEAD, show_edge=False,
                  padding=0)
    for header, justify in (
        ("pool", "left"), ("team", "left"), ("n", "right"), ("current", "left"),
        ("recommended", "left"), ("action", "left"), ("p95 %", "right"), ("max %", "right"),
        ("saved $/mo", "right"),
    ):
        table.add_column(header, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for rec in recommendations:
        savings = rec.monthly_savings if rec.proposed else None
        table.add_row(
            rec.pool, rec.team or "-", str(len(rec.resource_ids)), rec.current_type,
            rec.recommended_type or "-", _action(rec), _figure(rec.p95), _figure(rec.max),
            _money(savings),
        )
    return table


def reason_lines(recommendations: Sequence[Recommendation]) -> list[str]:
    """Return one line per pool: the rule that fired, if any, and the reason."""
    lines = []
    for rec in recommendations:
        rule = f" [{rec.rule}]" if rec.rule else ""
        lines.append(f"{rec.pool}{rule}: {rec.reason}")
    return lines


def total_line(recommendations: Sequence[Recommendation]) -> str:
    """Render the total monthly savings of the proposed changes."""
    proposed = sum(1 for r in recommendations if r.proposed)
    blocked = sum(1 for r in recommendations if r.blocked_by)
    line = (f"Total savings: ${total_savings(recommendations):,.2f} a month from {proposed} "
            f"proposed change{'s' if proposed != 1 else ''}")
    if blocked:
        line += f"; {blocked} change{'s' if blocked != 1 else ''} blocked by policy"
    return line + "."
