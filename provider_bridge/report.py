"""Rightsizing output: a rich table for people and a JSON document for machines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
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
    return rec.action


def recommendation_table(recommendations: Sequence[Recommendation]) -> Table:
    """Build the table of recommendations, one row per pool, CPU in percent and USD a month."""
    table = Table(title="Rightsizing recommendations", show_lines=True)
    for header, justify in (
        ("pool", "left"), ("team", "left"), ("instances", "right"), ("current", "left"),
        ("recommended", "left"), ("action", "left"), ("rule", "left"), ("p95 %", "right"),
        ("max %", "right"), ("savings $/month", "right"), ("reason", "left"),
    ):
        if header == "reason":
            table.add_column(header, justify="left", ratio=1, min_width=30, overflow="fold")
        else:
            table.add_column(header, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for rec in recommendations:
        savings = rec.monthly_savings if rec.proposed else None
        table.add_row(
            rec.pool, rec.team or "-", str(len(rec.resource_ids)), rec.current_type,
            rec.recommended_type or "-", _action(rec), rec.rule or "-", _figure(rec.p95),
            _figure(rec.max), _money(savings), rec.reason,
        )
    return table


def total_line(recommendations: Sequence[Recommendation]) -> str:
    """Render the total monthly savings of the proposed changes."""
    proposed = sum(1 for r in recommendations if r.proposed)
    blocked = sum(1 for r in recommendations if r.blocked_by)
    line = (f"Total savings: ${total_savings(recommendations):,.2f} a month from {proposed} "
            f"proposed change{'s' if proposed != 1 else ''}")
    if blocked:
        line += f"; {blocked} change{'s' if blocked != 1 else ''} blocked by policy"
    return line + "."
