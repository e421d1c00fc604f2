"""The ``quotaform check`` command: gate a Terraform plan with the quotaform policies.

Exit codes: 0 no denial (warnings allowed), 1 denied, 2 invalid input or a
failed evaluation. Errors are raised as ``InputError`` or ``ExecutionError`` and
the CLI entry point turns them into one message and exit code 2.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import typer

from cdk.errors import InputError
from cdk.model import load_config
from policies import check_plan, load_plan
from policies.custom import DEFAULT_NAMESPACES, UserPolicies
from policies.enforcement import parse_override
from policies.engine import DEFAULT_OPA_TIMEOUT_SECONDS, create_engine
from policies.gate import CheckOptions
from policies.identity import find_requestor
from policies.plan import check_data_document
from policies.usage import load_usage
from policies.formats.output import (
    check_outputs_spare_inputs,
    emit_reports,
    plan_reports,
    report_context,
)
from quotaform.commands.catalog_option import catalog_from_option
from quotaform import runtime

logger = logging.getLogger(__name__)


def check(
    plan_path: Path = typer.Argument(
        ..., metavar="PLAN.json", help="Plan JSON written by 'terraform show -json PLANFILE'."
    ),
    data: Path = typer.Option(
        ..., "--data", help="The quotaform.json that 'quotaform synth' writes next to the stack."
    ),
    output_format: str = typer.Option(
        "text", "--format", help="Report format: text (quota table and findings), json, "
        "markdown (a pull-request comment), sarif (SARIF 2.1.0) or junit (JUnit XML).",
    ),
    outputs: list[str] = typer.Option(
        [], "--output", metavar="[FORMAT:]FILE", help="Write the --format report to FILE; "
        "standard output then shows the text report. FORMAT:FILE writes that format instead, "
        "such as sarif:results.sarif. Repeat to write several reports from one check.",
    ),
    catalog_dir: Path | None = typer.Option(
        None, "--catalog", help="Directory with ec2_instance_types.json and "
        "ec2_prices_ondemand_linux.json to use instead of the shipped instance catalog.",
    ),
    requestor: str | None = typer.Option(
        None, "--requestor", metavar="NAME", help="Who requests the change, for the pool-access "
        "rule. Default: GITHUB_ACTOR in GitHub Actions, GITLAB_USER_LOGIN in GitLab CI.",
    ),
    overrides: list[str] = typer.Option(
        [], "--override", metavar="RULE=REASON", help="Turn the denials of a soft-mandatory "
        "rule into warnings; the report records the requestor and the reason. Repeatable.",
    ),
    budget: float | None = typer.Option(
        None, "--budget", metavar="USD", help="Most the plan may raise the on-demand "
        "monthly cost, in USD; replaces allocation.max_monthly_cost_delta_usd.",
    ),
    policy_dirs: list[Path] = typer.Option(
        [], "--policy-dir", metavar="DIR", help="Directory of conftest-style Rego policies "
        "(deny, warn, violation rules) to run over the raw plan. Repeatable.",
    ),
    namespaces: list[str] = typer.Option(
        list(DEFAULT_NAMESPACES), "--namespace", metavar="PACKAGE",
        help="Package of the --policy-dir rules to run, as in conftest. Repeatable.",
    ),
    all_namespaces: bool = typer.Option(
        False, "--all-namespaces", help="Run the --policy-dir rules of every package.",
    ),
    usage_path: Path | None = typer.Option(
        None, "--usage", metavar="USAGE.json", help="Usage document ('quotaform usage' writes "
        "it) with each pool's usage outside this plan; resources the plan manages are skipped.",
    ),
    engine_name: str = typer.Option(
        "regorus", "--engine", help="Policy engine: regorus (embedded, default), regopy "
        "(embedded rego-cpp) or opa (an OPA server at --opa-url that serves the bundle of "
        "'quotaform policy bundle').",
    ),
    opa_url: str | None = typer.Option(
        None, "--opa-url", metavar="URL", help="Base URL of the OPA server for --engine opa, "
        "such as http://127.0.0.1:8181. A bearer token is read from QUOTAFORM_OPA_TOKEN.",
    ),
    opa_timeout: float = typer.Option(
        DEFAULT_OPA_TIMEOUT_SECONDS, "--opa-timeout", metavar="SECONDS", min=0.001,
        help="Seconds to wait for each response of the OPA server.",
    ),
) -> None:
    """Check a plan against the pools, quotas and rules of a quotaform.json."""
    # Checked here rather than with min=0, whose error for nan wrongly reports a value below 0.
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise InputError(f"--budget {budget}: the budget must be a finite number of USD, "
                         "0 or more, such as --budget 500")
    targets = plan_reports(output_format, outputs)
    check_outputs_spare_inputs(targets, [plan_path, data, usage_path])
    started = time.perf_counter()
    engine = create_engine(engine_name, opa_url=opa_url, opa_timeout=opa_timeout)
    options = CheckOptions(
        requestor=find_requestor(requestor, os.environ),
        budget_usd=budget,
        overrides=tuple(parse_override(item) for item in overrides),
        user_policies=UserPolicies(policy_dirs, namespaces=namespaces,
                                   all_namespaces=all_namespaces) if policy_dirs else None,
    )
    # The plan's objects form no reference cycles; see quotaform.runtime for the cost.
    with runtime.paused_collection():
        catalog = catalog_from_option(catalog_dir)
        check_data_document(data)
        config = load_config(data, catalog)
        plan = load_plan(plan_path)
        usage = load_usage(usage_path) if usage_path is not None else None

        decision = check_plan(plan, config, catalog, source=str(plan_path), options=options,
                              usage=usage, engine=engine)
        logger.info("checked plan=%s allowed=%s violations=%d warnings=%d seconds=%.3f",
                    plan_path, decision.allowed, len(decision.violations),
                    len(decision.warnings), time.perf_counter() - started)

        emit_reports(decision, targets, report_context(
            plan_path, config, seconds=time.perf_counter() - started))
        runtime.retain(plan)
    if not decision.allowed:
        raise typer.Exit(1)

