"""Rightsizing output: a rich table for people, Markdown for the cost review, JSON for machines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from rich import box
from rich.table import Table

from provider_bridge.rightsizing import Recommendation, format_usd


class SkippedChange(BaseModel):
    """A proposed change that the patch could not make, with the reason."""

    pool: str
    attribute: str
    reason: str


class TeamSavings(BaseModel):
    """One team's monthly cost before and after its proposed changes, USD."""

    team: str
    pools: int
    proposed: int
    monthly_cost_current: float
    monthly_cost_recommended: float
    monthly_savings: float


class RightsizingReport(BaseModel):
    """The JSON document of ``quotaform rightsize --format json``."""

    recommendations: list[Recommendation]
    total_monthly_savings: float = Field(
        description="USD a month over the proposed changes; blocked changes do not count."
    )
    advisory_monthly_savings: float = Field(
        default=0.0,
        description="USD a month that advisory recommendations (stop-idle) would save; not "
        "in the total, because no patch makes them.",
    )
    teams: list[TeamSavings] = Field(default_factory=list)
    summary: str | None = Field(default=None, description="Terraform-style change summary.")
    diff: str | None = Field(default=None, description="Unified diff of the patched sources.")
    skipped: list[SkippedChange] = Field(
        default_factory=list, description="Proposed changes the patch could not make."
    )


def total_savings(recommendations: Sequence[Recommendation]) -> float:
    """Sum the monthly savings of the proposed changes, in USD (an upsize counts negative)."""
    return round(sum(r.monthly_savings or 0.0 for r in recommendations if r.proposed), 2)


def advisory_savings(recommendations: Sequence[Recommendation]) -> float:
    """Sum the monthly savings of advisory recommendations, in USD."""
    return round(sum(r.monthly_savings or 0.0 for r in recommendations if r.advisory), 2)


def team_savings(recommendations: Sequence[Recommendation]) -> list[TeamSavings]:
    """Return the cost now and after the proposed changes per team, ordered by team."""
    teams: dict[str, list[Recommendation]] = {}
    for rec in recommendations:
        teams.setdefault(rec.team or "-", []).append(rec)
    rows = []
    for team, recs in sorted(teams.items()):
        current = round(sum(r.monthly_cost_current or 0.0 for r in recs), 2)
        saved = total_savings(recs)
        rows.append(TeamSavings(team=team, pools=len(recs),
                                proposed=sum(1 for r in recs if r.proposed),
                                monthly_cost_current=current,
                                monthly_cost_recommended=round(current - saved, 2),
                                monthly_savings=saved))
    return rows


def build_report(
    recommendations: Sequence[Recommendation],
    summary: str | None = None,
    diff: str | None = None,
    skipped: Sequence[SkippedChange] = (),
) -> RightsizingReport:
    """Assemble the JSON document from the recommendations and the optional patch."""
    return RightsizingReport(
        recommendations=list(recommendations),
        total_monthly_savings=total_savings(recommendations),
        advisory_monthly_savings=advisory_savings(recommendations),
        teams=team_savings(recommendations),
        summary=summary,
        diff=diff,
        skipped=list(skipped),
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


def _target(rec: Recommendation) -> str:
    if rec.recommended_type:
        return rec.recommended_type
    if rec.recommended_count is not None:
        return f"{rec.recommended_count} x {rec.current_type}"
    return "-"


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
        savings = rec.monthly_savings if rec.proposed or rec.advisory else None
        table.add_row(
            rec.pool, rec.team or "-", str(len(rec.resource_ids)), rec.current_type,
            _target(rec), _action(rec), _figure(rec.p95), _figure(rec.max), _money(savings),
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
    line = (f"Total savings: {format_usd(total_savings(recommendations))} a month from {proposed} "
            f"proposed change{'s' if proposed != 1 else ''}")
    if blocked:
        line += f"; {blocked} change{'s' if blocked != 1 else ''} blocked by policy"
    advisory = advisory_savings(recommendations)
    if advisory:
        line += f"; {format_usd(advisory)} more if the idle pools are stopped"
    return line + "."


def _cell(text: str) -> str:
    """Escape text for a GitHub Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_report(report: RightsizingReport) -> str:
    """Render the report as GitHub-flavoured Markdown for the weekly cost review."""
    recs = report.recommendations
    proposed = sum(1 for r in recs if r.proposed)
    blocked = [r for r in recs if r.blocked_by]
    advisory = [r for r in recs if r.advisory]

    lines = ["# Rightsizing report", ""]
    lines.append(f"**{format_usd(report.total_monthly_savings)} a month** from {proposed} proposed "
                 f"change{'s' if proposed != 1 else ''} over {len(recs)} pool"
                 f"{'s' if len(recs) != 1 else ''}; {len(blocked)} blocked by policy, "
                 f"{len(advisory)} advisory ({format_usd(report.advisory_monthly_savings)} a month, "
                 "not in the total). Costs are on-demand USD a month, CPU in percent.")

    lines += ["", "## Savings per team", "",
              "| team | pools | proposed | cost now | cost after | saved |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for team in report.teams:
        lines.append(f"| {_cell(team.team)} | {team.pools} | {team.proposed} | "
                     f"{_money(team.monthly_cost_current)} | "
                     f"{_money(team.monthly_cost_recommended)} | "
                     f"{_money(team.monthly_savings)} |")
    current = sum(t.monthly_cost_current for t in report.teams)
    lines.append(f"| **total** | {len(recs)} | {proposed} | {_money(current)} | "
                 f"{_money(current - report.total_monthly_savings)} | "
                 f"**{_money(report.total_monthly_savings)}** |")

    lines += ["", "## Savings per pool", "",
              "| pool | team | n | current | recommended | action | rule | p95 | max | saved |",
              "| --- | --- | ---: | --- | --- | --- | --- | ---: | ---: | ---: |"]
    for rec in recs:
        saved = rec.monthly_savings if rec.proposed or rec.advisory else None
        rule = f"`{rec.rule}`" if rec.rule else "-"
        lines.append(f"| {_cell(rec.pool)} | {_cell(rec.team or '-')} | {len(rec.resource_ids)} "
                     f"| {rec.current_type} | {_target(rec)} | {_action(rec)} | {rule} | "
                     f"{_figure(rec.p95)} | {_figure(rec.max)} | {_money(saved)} |")
    lines += _blocked_section(blocked) + _skipped_section(report.skipped)

    lines += ["", "## Reasons", ""]
    for rec in recs:
        rule = f" (rule `{rec.rule}`" if rec.rule else ""
        if rec.rule and rec.outranked_rules:
            rule += f"; outranked: {', '.join(f'`{n}`' for n in rec.outranked_rules)}"
        rule += ")" if rec.rule else ""
        lines.append(f"- **{rec.pool}**{rule}: {rec.reason}")

    if report.summary:
        lines += ["", "## Changes", "", "```", report.summary.rstrip("\n"), "```"]
    if report.diff:
        lines += ["", "<details><summary>Patch</summary>", "", "```diff",
                  report.diff.rstrip("\n"), "```", "", "</details>"]
    return "\n".join(lines) + "\n"


def _blocked_section(blocked: Sequence[Recommendation]) -> list[str]:
    if not blocked:
        return []
    lines = ["", "## Blocked by policy", "",
             "| pool | change | policy rule | saved if allowed |", "| --- | --- | --- | ---: |"]
    for rec in blocked:
        change = f"{rec.current_type} -> {_target(rec)}"
        rules = ", ".join(f"`{r}`" for r in rec.blocked_by)
        lines.append(f"| {_cell(rec.pool)} | {change} | {rules} | "
                     f"{_money(rec.monthly_savings)} |")
    return lines


def _skipped_section(skipped: Sequence[SkippedChange]) -> list[str]:
    if not skipped:
        return []
    lines = ["", "## Not patched", ""]
    lines += [f"- **{s.pool}** `{s.attribute}`: {s.reason}" for s in skipped]
    return lines
