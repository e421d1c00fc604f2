"""The ``quotaform check`` command: gate a Terraform plan with the quotaform policies.

Exit codes: 0 no denial (warnings allowed), 1 denied, 2 invalid input or a
failed evaluation. Errors are raised as ``InputError`` or ``ExecutionError`` and
the CLI entry point turns them into one message and exit code 2.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import typer

from cdk.errors import InputError
from cdk.model import load_config
from policies import check_plan, load_plan, render_json, render_text
from policies.report import FORMATS
from provider_bridge.catalog import Catalog, load_catalog

logger = logging.getLogger(__name__)


def check(
    plan_path: Path = typer.Argument(
        ..., metavar="PLAN.json", help="Plan JSON written by 'terraform show -json PLANFILE'."
    ),
    data: Path = typer.Option(
        ..., "--data", help="The quotaform.json that 'quotaform synth' writes next to the stack."
    ),
    output_format: str = typer.Option(
        "text", "--format", help="Output format: text (quota table and findings) or json."
    ),
    catalog_dir: Path | None = typer.Option(
        None, "--catalog", help="Directory with ec2_instance_types.json and "
        "ec2_prices_ondemand_linux.json to use instead of the shipped instance catalog.",
    ),
) -> None:
    """Check a plan against the pools, quotas and rules of a quotaform.json."""
    if output_format not in FORMATS:
        raise InputError(f"--format: unknown format '{output_format}'; "
                         f"use one of {', '.join(FORMATS)}")
    started = time.perf_counter()
    catalog = _catalog(catalog_dir)
    config = load_config(data, catalog)
    plan = load_plan(plan_path)

    decision = check_plan(plan, config, catalog, source=str(plan_path))
    logger.info("checked plan=%s allowed=%s violations=%d warnings=%d seconds=%.3f",
                plan_path, decision.allowed, len(decision.violations),
                len(decision.warnings), time.perf_counter() - started)

    if output_format == "json":
        typer.echo(render_json(decision))
    else:
        render_text(decision, sys.stdout, source=plan_path.name)
    if not decision.allowed:
        raise typer.Exit(1)


def _catalog(directory: Path | None) -> Catalog:
    if directory is None:
        return load_catalog()
    try:
        return load_catalog(directory)
    except FileNotFoundError as exc:
        raise InputError(
            f"--catalog {directory}: {exc.filename} not found; the directory needs "
            "ec2_instance_types.json and ec2_prices_ondemand_linux.json"
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"--catalog {directory}: invalid catalog data ({exc})") from exc
