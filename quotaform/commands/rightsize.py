"""The `quotaform rightsize` command: CloudWatch utilization to checked instance type changes."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import orjson
import typer
from botocore.config import Config
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdk.errors import InputError
from cdk.model import ResourceConfig, load_config
from provider_bridge.analysis import UtilizationStats, summarize
from provider_bridge.catalog import Catalog, load_catalog
from provider_bridge.inventory import PoolInventory, load_inventory
from provider_bridge.inventory import Resource
from provider_bridge.metrics import cloudwatch_client, cpu_queries, fetch_series, merge_points
from provider_bridge.patch import (
    TypeChange,
    format_summary,
    patch_instance_types,
    write_atomically,
)
from provider_bridge.report import build_report, reason_lines, recommendation_table, total_line
from provider_bridge.rightsizing import Recommendation, apply_policy_check, recommend

log = logging.getLogger(__name__)

FORMATS = ("table", "json")


def rightsize(
    state: Path = typer.Option(..., "--state", help="Output of 'terraform show -json' (a state)."),
    data: Path = typer.Option(..., "--data", help="The quotaform.json that 'quotaform synth' writes."),
    app: Path | None = typer.Option(None, "--app", help="CDKTF app source to patch (shown as a diff)."),
    write: bool = typer.Option(False, "--write", help="Write the patch into --app (keeps APP.orig)."),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", help="AWS endpoint URL, such as a local moto server."
    ),
    region: str | None = typer.Option(
        None, "--region", help="Region for resources whose state names none [default: AWS_REGION "
        "or us-east-1]."
    ),
    lookback_days: float | None = typer.Option(
        None, "--lookback-days", help="Look-back window in days [default: the model's, 14]."
    ),
    period: int | None = typer.Option(
        None, "--period", help="CloudWatch period in seconds [default: the model's, 300]."
    ),
    output_format: str = typer.Option("table", "--format", help="Output format: table or json."),
) -> None:
    """Recommend instance types per pool from CloudWatch CPU, checked against the policies."""
    if output_format not in FORMATS:
        raise InputError(f"--format {output_format!r} is invalid; use one of: {', '.join(FORMATS)}")
    if write and app is None:
        raise InputError("--write needs --app, the app source to patch")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    run_rightsize(state, data, app=app, write=write, endpoint_url=endpoint_url,
                  region=region or "us-east-1", lookback_days=lookback_days, period=period,
                  output_format=output_format)


@dataclass
class RightsizingOutcome:
    """Checked recommendations, the change summary and, with an app, its patch."""

    recommendations: list[Recommendation]
    summary: str
    diff: str | None
    patched_source: str | None
    changed: bool


def compute_rightsizing(
    state: Path,
    config: ResourceConfig,
    catalog: Catalog,
    *,
    app: Path | None,
    endpoint_url: str | None,
    region: str,
    lookback_days: float | None,
    period: int | None,
    quiet: bool,
    app_name: str | None = None,
) -> RightsizingOutcome:
    """Run inventory, metrics, statistics, recommendations, the policy check and the patch.

    ``app_name`` names the app in the diff headers; the default is ``app`` as given.
    """
    lookback_days = lookback_days if lookback_days is not None else config.optimization.lookback_days
    period = period if period is not None else config.optimization.period_seconds
    source = _read_app(app) if app else None

    autoscaling = functools.cache(lambda name: _autoscaling_client(name, endpoint_url))
    inventory = load_inventory(state, default_region=region, autoscaling=autoscaling)
    stats = _fetch_stats(inventory, endpoint_url, lookback_days, period, quiet)
    recommendations = _checked(recommend(inventory, stats, config, catalog), config, catalog)

    changes = {r.pool: r.recommended_type for r in recommendations if r.proposed}
    teams = {r.pool: r.team for r in recommendations}
    if source is None or app is None:
        summary = format_summary(_changes_without_source(recommendations), teams)
        return RightsizingOutcome(recommendations, summary, None, None, False)
    patched = patch_instance_types(source, changes, app_name or str(app))  # type: ignore[arg-type]
    return RightsizingOutcome(recommendations, format_summary(patched.changes, teams),
                              patched.diff, patched.source, bool(patched.changes))


def run_rightsize(
    state: Path,
    data: Path,
    *,
    app: Path | None,
    write: bool,
    endpoint_url: str | None,
    region: str,
    lookback_days: float | None,
    period: int | None,
    output_format: str,
) -> None:
    """Compute the recommendations, print them and, with ``write``, patch the app."""
    catalog = load_catalog()
    config = load_config(data, catalog)
    quiet = output_format == "json" or not sys.stdout.isatty()
    outcome = compute_rightsizing(state, config, catalog, app=app, endpoint_url=endpoint_url,
                                  region=region, lookback_days=lookback_days, period=period,
                                  quiet=quiet)
    if write and app is not None and outcome.changed and outcome.patched_source is not None:
        backup = write_atomically(app, outcome.patched_source)
        log.warning("wrote %s; the original is in %s", app, backup)

    if output_format == "json":
        report = build_report(outcome.recommendations, outcome.summary, outcome.diff)
        sys.stdout.write(orjson.dumps(report.model_dump(mode="json"),
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    print_outcome(outcome, Console())


def _read_app(app: Path) -> str:
    try:
        return app.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{app}: file not found; pass the CDKTF app source, such as app.py") from exc


def _autoscaling_client(region: str, endpoint_url: str | None) -> Any:
    config = Config(retries={"mode": "adaptive", "max_attempts": 10})
    return boto3.session.Session().client("autoscaling", region_name=region,
                                          endpoint_url=endpoint_url, config=config)


def _fetch_stats(
    inventory: dict[str, PoolInventory],
    endpoint_url: str | None,
    lookback_days: float,
    period: int,
    quiet: bool,
) -> dict[str, UtilizationStats]:
    by_region: dict[str, list[Resource]] = {}
    for pool in inventory.values():
        for resource in pool.resources:
            by_region.setdefault(resource.region, []).append(resource)

    stats: dict[str, UtilizationStats] = {}
    with _progress(quiet, sum(len(v) for v in by_region.values())) as advance:
        for name, resources in sorted(by_region.items()):
            client = cloudwatch_client(name, endpoint_url)
            fetched = fetch_series(client, cpu_queries(resources), lookback_days=lookback_days,
                                   period_seconds=period, progress=advance(name))
            for resource in resources:
                fetched.series.setdefault(resource.resource_id, merge_points([], []))
            lookback = int((fetched.end - fetched.start).total_seconds())
            stats.update(summarize(fetched.series, period_seconds=period,
                                   lookback_seconds=lookback))
    return stats


@contextmanager
def _progress(quiet: bool, total: int) -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """Yield a factory of progress callbacks, one per region; silent when ``quiet``."""
    if quiet:
        yield lambda _region: lambda _done, _total: None
        return
    columns = (TextColumn("CloudWatch {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("metrics", total=total)
        finished = [0]

        def for_region(region: str) -> Callable[[int, int], None]:
            base = finished[0]

            def advance(done: int, region_total: int) -> None:
                progress.update(task, completed=base + done, description=region)
                finished[0] = base + done

            return advance

        yield for_region


def _checked(
    recommendations: list[Recommendation], config: ResourceConfig, catalog: Catalog
) -> list[Recommendation]:
    """Block every change the policies deny; without the policy gate, block them all."""
    try:
        from policies import check_config
    except ImportError as exc:
        log.warning("the policy gate could not be loaded (%s); no change is proposed", exc)
        for rec in recommendations:
            if rec.proposed:
                rec.blocked_by = ["policy-gate-unavailable"]
                rec.reason += " Not proposed: the policy gate is not available to check it."
        return recommendations
    return apply_policy_check(recommendations, config, catalog, check_config)


def _changes_without_source(recommendations: list[Recommendation]) -> list[TypeChange]:
    return [TypeChange(r.pool, r.current_type, r.recommended_type or "", 0)
            for r in recommendations if r.proposed]


def print_outcome(outcome: RightsizingOutcome, console: Console) -> None:
    """Print the recommendation table, the total, the change summary and the diff."""
    recommendations = outcome.recommendations
    console.print(recommendation_table(recommendations))
    for line in reason_lines(recommendations):
        console.print(line, markup=False, highlight=False)
    console.print()
    console.print(total_line(recommendations), markup=False, highlight=False, soft_wrap=True)
    console.print()
    console.print(outcome.summary, markup=False, highlight=False, soft_wrap=True, end="")
    if outcome.diff:
        console.print()
        console.file.flush()
        console.file.write(outcome.diff)
