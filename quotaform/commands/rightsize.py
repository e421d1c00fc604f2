"""The `quotaform rightsize` command: CloudWatch utilization to checked instance type changes."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdk.errors import InputError
from cdk.model import ResourceConfig, load_config
from provider_bridge.analysis import Utilization, analyze
from provider_bridge.aws import (
    AwsAccess,
    CredentialSource,
    credential_sources,
    validate_endpoint_url,
    validate_regions,
)
from provider_bridge.catalog import Catalog, load_catalog
from provider_bridge.discovery import INVENTORY_SOURCES, InventoryInput, load_pools
from provider_bridge.inventory import PoolInventory
from provider_bridge.metrics import (
    CPU,
    DEFAULT_METRICS,
    METRIC_NAMES,
    InventoryMetrics,
    collect_metrics,
    validate_metrics,
)
from provider_bridge.patch import Edit, PatchResult, format_summary, patch_path, write_atomically
from provider_bridge.report import (
    SkippedChange,
    build_report,
    markdown_report,
    reason_lines,
    recommendation_table,
    total_line,
)
from provider_bridge.rightsizing import (
    Recommendation,
    apply_policy_check,
    pool_settings,
    recommend,
)

log = logging.getLogger(__name__)

FORMATS = ("table", "json", "markdown")


def rightsize(
    state: Path | None = typer.Option(
        None, "--state", help="Terraform state: the output of 'terraform show -json', or a "
        "terraform.tfstate file."
    ),
    plan: Path | None = typer.Option(
        None, "--plan", help="A plan as 'terraform show -json PLANFILE' prints it; pools are "
        "read as they will be after the plan."
    ),
    source: str | None = typer.Option(
        None, "--source", help="Where the pools come from: state, plan, or live (resources "
        "tagged quotaform:pool, found in AWS). Default: state with --state, plan with --plan."
    ),
    data: Path = typer.Option(..., "--data", help="The quotaform.json that 'quotaform synth' writes."),
    app: Path | None = typer.Option(
        None, "--app", help="Source to patch, shown as a diff: a CDKTF app (.py), a .tf or "
        ".tf.json file, or a folder of .tf and .tf.json files."
    ),
    write: bool = typer.Option(
        False, "--write", help="Write the patch into --app (keeps each file's original as "
        "FILE.orig)."
    ),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", help="AWS endpoint URL, such as a local moto server."
    ),
    region: list[str] | None = typer.Option(
        None, "--region", help="Region to search with --source live, repeatable (default: "
        "AWS_REGION, else us-east-1). With a state or plan: the region of resources it names "
        "none for."
    ),
    profile: list[str] | None = typer.Option(
        None, "--profile", help="AWS profile from the AWS config files; repeat to reach several "
        "accounts."
    ),
    role_arn: list[str] | None = typer.Option(
        None, "--role-arn", help="IAM role to assume with sts:AssumeRole, from --profile or the "
        "default credentials; repeat to reach several accounts."
    ),
    metric: list[str] | None = typer.Option(
        None, "--metric", help="Metric to fetch besides CPUUtilization, repeatable: "
        "mem_used_percent, NetworkIn, NetworkOut (bytes/s), EBSReadBytes, EBSWriteBytes "
        "(bytes/s). Default: mem_used_percent where the CloudWatch agent publishes it, and the "
        "metrics that the model's monitoring and optimization rules name."
    ),
    lookback_days: float | None = typer.Option(
        None, "--lookback-days", help="Look-back window in days (default: the model's, 14)."
    ),
    period: int | None = typer.Option(
        None, "--period", help="CloudWatch period in seconds (default: the model's, 300)."
    ),
    output_format: str = typer.Option(
        "table", "--format", help="Output format: table, json or markdown (the cost review report)."
    ),
) -> None:
    """Recommend instance types per pool from CloudWatch CPU, checked against the policies."""
    if output_format not in FORMATS:
        raise InputError(f"--format {output_format!r} is invalid; use one of: {', '.join(FORMATS)}")
    if write and app is None:
        raise InputError("--write needs --app, the app source to patch")
    validate_endpoint_url(endpoint_url)
    spec = inventory_input(state, plan, source, region or [])
    credentials = credential_sources(profile or [], role_arn or [])
    metrics = validate_metrics(metric or [])
    run_rightsize(spec.path, data, app=app, write=write, endpoint_url=endpoint_url,
                  region=spec.regions[0] if spec.regions else None,
                  lookback_days=lookback_days, period=period, output_format=output_format,
                  inventory=spec, credentials=credentials, metrics=metrics)


def inventory_input(
    state: Path | None, plan: Path | None, source: str | None, regions: Sequence[str]
) -> InventoryInput:
    """Check the inventory options together and return where the pools come from."""
    regions = validate_regions(regions)
    if source is None:
        if state is not None and plan is not None:
            raise InputError("pass either --state or --plan, not both")
        if plan is not None:
            source = "plan"
        elif state is not None:
            source = "state"
        else:
            raise InputError("no inventory given; pass --state FILE, --plan FILE or "
                             "--source live")
    if source not in INVENTORY_SOURCES:
        raise InputError(f"--source {source!r} is invalid; use one of: "
                         f"{', '.join(INVENTORY_SOURCES)}")
    if source == "live":
        if state is not None or plan is not None:
            raise InputError("--source live reads no file; drop --state and --plan")
        default = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return InventoryInput("live", None, tuple(regions or [default or "us-east-1"]))
    path = state if source == "state" else plan
    other = plan if source == "state" else state
    if path is None or other is not None:
        raise InputError(f"--source {source} reads --{source} FILE; pass that option "
                         "and no other input file")
    if len(regions) > 1:
        raise InputError(
            "--region is repeatable only with --source live; with a state or plan it names "
            "the one region of resources that the file names none for"
        )
    return InventoryInput(source, path, tuple(regions))  # type: ignore[arg-type]


@dataclass
class RightsizingOutcome:
    """Checked recommendations, the change summary and, with an app, its patch."""

    recommendations: list[Recommendation]
    summary: str
    diff: str | None
    patched_source: str | None
    changed: bool
    patches: list[PatchResult] = field(default_factory=list)
    skipped: list[SkippedChange] = field(default_factory=list)


def compute_rightsizing(
    state: Path | None,
    config: ResourceConfig,
    catalog: Catalog,
    *,
    app: Path | None,
    endpoint_url: str | None,
    region: str | None,
    lookback_days: float | None,
    period: int | None,
    quiet: bool,
    app_name: str | None = None,
    inventory: InventoryInput | None = None,
    credentials: Sequence[CredentialSource] = (),
    metrics: Sequence[str] = (),
) -> RightsizingOutcome:
    """Run inventory, metrics, statistics, recommendations, the policy check and the patch.

    ``inventory`` names the origin of the pools; without it, they come from
    the state file ``state``. ``app_name`` names the app in the diff headers; the
    default is ``app`` as given.
    """
    lookback_days = lookback_days if lookback_days is not None else config.optimization.lookback_days
    period = period if period is not None else config.optimization.period_seconds
    if app is not None and not app.exists():
        raise InputError(f"{app}: file not found; pass the CDKTF app source, such as app.py, "
                         "or the Terraform files to patch")

    spec = inventory or InventoryInput("state", state, (region,) if region else ())
    pools, fetched, utilization = gather_utilization(
        spec, config, endpoint_url=endpoint_url, credentials=credentials, metrics=metrics,
        lookback_days=lookback_days, period=period, quiet=quiet,
    )
    recommended = recommend(pools, utilization.cpu, config, catalog,
                            series=fetched.cpu_series, period_seconds=period)
    recommendations = _checked(recommended, config, catalog)
    return patch_outcome(recommendations, app, app_name)


def patch_outcome(
    recommendations: list[Recommendation], app: Path | None, app_name: str | None = None
) -> RightsizingOutcome:
    """Patch ``app`` with the proposed changes, or only summarize them without ``app``."""
    settings = {r.pool: pool_settings(r) for r in recommendations if r.proposed}
    teams = {r.pool: r.team for r in recommendations}
    if app is None:
        summary = format_summary(_changes_without_source(recommendations), teams)
        return RightsizingOutcome(recommendations, summary, None, None, False)
    patches, skipped = patch_path(app, settings, app_name or str(app))
    edits = [edit for patch in patches for edit in patch.changes]
    diff = "".join(patch.diff for patch in patches)
    notes = [SkippedChange(pool=s.pool, attribute=s.attribute, reason=s.reason)
             for s in skipped]
    for note in notes:
        log.warning("pool %s: %s not patched: %s", note.pool, note.attribute, note.reason)
    first = patches[0].source if patches else None
    return RightsizingOutcome(recommendations, format_summary(edits, teams), diff or None,
                              first, bool(edits), patches, notes)


def run_rightsize(
    state: Path | None,
    data: Path,
    *,
    app: Path | None,
    write: bool,
    endpoint_url: str | None,
    region: str | None,
    lookback_days: float | None,
    period: int | None,
    output_format: str,
    inventory: InventoryInput | None = None,
    credentials: Sequence[CredentialSource] = (),
    metrics: Sequence[str] = (),
) -> None:
    """Compute the recommendations, print them and, with ``write``, patch the app."""
    catalog = load_catalog()
    _reject_other_document(data)
    config = load_config(data, catalog)
    quiet = output_format == "json" or not sys.stdout.isatty()
    outcome = compute_rightsizing(state, config, catalog, app=app, endpoint_url=endpoint_url,
                                  region=region, lookback_days=lookback_days, period=period,
                                  quiet=quiet, inventory=inventory, credentials=credentials,
                                  metrics=metrics)
    if write and app is not None:
        for patch in outcome.patches:
            target = patch.path or app
            backup = write_atomically(target, patch.source)
            log.warning("wrote %s; the original is in %s", target, backup)

    report = build_report(outcome.recommendations, outcome.summary, outcome.diff,
                          outcome.skipped)
    if output_format == "json":
        sys.stdout.write(orjson.dumps(report.model_dump(mode="json"),
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if output_format == "markdown":
        sys.stdout.write(markdown_report(report))
        return
    print_outcome(outcome, Console())


def _reject_other_document(data: Path) -> None:
    """Raise InputError when --data is a plan, state or other known document."""
    try:
        from policies.plan import check_data_document
    except ImportError:
        return  # without the policy package, load_config reports the invalid fields
    check_data_document(data)


def gather_utilization(
    spec: InventoryInput,
    config: ResourceConfig,
    *,
    endpoint_url: str | None,
    credentials: Sequence[CredentialSource],
    metrics: Sequence[str],
    lookback_days: float,
    period: int,
    quiet: bool,
) -> tuple[dict[str, PoolInventory], InventoryMetrics, Utilization]:
    """Find the pools, fetch their metrics and compute the statistics of every series."""
    region = spec.regions[0] if spec.regions else (
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    access = AwsAccess(list(credentials) or credential_sources(), endpoint_url=endpoint_url,
                       default_region=region)
    pools = load_pools(spec, access)
    with _progress(quiet) as progress:
        fetched = collect_metrics(pools, access, metrics=metric_names(config, metrics),
                                  lookback_days=lookback_days, period_seconds=period,
                                  progress=progress)
    return pools, fetched, analyze(fetched, pools)


def metric_names(config: ResourceConfig, requested: Sequence[str]) -> list[str]:
    """Return CPUUtilization and the requested metrics, or by default memory and the metrics
    that the model's monitoring and optimization rules name."""
    if requested:
        return list(dict.fromkeys([CPU, *requested]))
    named = [*config.monitoring.metrics, *(rule.metric for rule in config.optimization.rules)]
    return list(dict.fromkeys([*DEFAULT_METRICS, *(m for m in named if m in METRIC_NAMES)]))


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a callback that shows GetMetricData requests done on stderr; None when ``quiet``."""
    if quiet:
        yield None
        return
    columns = (TextColumn("CloudWatch GetMetricData"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("requests", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


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


def _changes_without_source(recommendations: list[Recommendation]) -> list[Edit]:
    edits = []
    for rec in recommendations:
        if not rec.proposed:
            continue
        if rec.recommended_type:
            edits.append(Edit(rec.pool, rec.current_type, rec.recommended_type, 0))
        edits.extend(Edit(rec.pool, rec.count_before.get(name, 0), value, 0, name)
                     for name, value in rec.count_changes.items())
    return edits


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
    for note in outcome.skipped:
        console.print(f"Not patched: pool {note.pool}, {note.attribute}: {note.reason}",
                      markup=False, highlight=False, soft_wrap=True)
    if outcome.diff:
        console.print()
        console.file.flush()
        console.file.write(outcome.diff)
