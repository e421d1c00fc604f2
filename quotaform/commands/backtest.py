"""The `quotaform backtest` command: recommend from recorded series, replay the days after."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from cdk.errors import InputError
from cdk.model import Optimization, load_config
from policies.plan import check_data_document
from provider_bridge.backtest import BacktestResult, markdown_table, run_backtest
from provider_bridge.catalog import load_catalog

FORMATS = ("table", "json", "markdown")
UNMEASURED_MEMORY = ("cpu-only", "keep-current")


def _default_data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "data" / "cloudwatch"


def backtest(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Folder of CPUUtilization series (*cpu_utilization*.csv, "
        "timestamp,value, 5-minute points) [default: the repository's "
        "examples/data/cloudwatch]."
    ),
    train_days: float = typer.Option(
        10.0, "--train-days", help="Days at the start of each series the recommender sees."
    ),
    test_days: float = typer.Option(
        4.0, "--test-days", help="Days after the training days replayed on the recommendation."
    ),
    instance_type: str = typer.Option(
        "m5.xlarge", "--instance-type", help="Type every series is assumed to run on."
    ),
    assign: list[str] = typer.Option(
        [], "--assign", help="SERIES=TYPE: another starting type for one series, named by the "
        "file name's last part (24ae8d=m5.2xlarge); repeatable."
    ),
    allowed_families: str | None = typer.Option(
        None, "--allowed-families", help="Comma-separated families a recommendation may move "
        "to, such as m5,t3 [default: each starting type's own family]."
    ),
    unmeasured_memory: str = typer.Option(
        "cpu-only", "--unmeasured-memory", help="Sizing without a memory metric, which the "
        "series never carry: cpu-only sizes on CPU alone, the fit this command replays; "
        "keep-current never picks less memory than the starting type, as rightsize does by "
        "default. Replaces optimization.unmeasured_memory of --data."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="A quotaform.json whose optimization rules and capacity targets "
        "to use [default: the model's defaults]."
    ),
    region: str = typer.Option("us-east-1", "--region", help="Region whose prices count."),
    output_format: str = typer.Option(
        "table", "--format", help="Output format: table, json or markdown."
    ),
) -> None:
    """Backtest the recommender: recommend from the first days, replay the rest on the result."""
    if output_format not in FORMATS:
        raise InputError(f"--format {output_format!r} is invalid; use one of: {', '.join(FORMATS)}")
    if unmeasured_memory not in UNMEASURED_MEMORY:
        raise InputError(f"--unmeasured-memory {unmeasured_memory!r} is invalid; use one of: "
                         f"{', '.join(UNMEASURED_MEMORY)}")
    catalog = load_catalog()
    optimization, capacity = Optimization(), None
    if data is not None:
        check_data_document(data)
        config = load_config(data, catalog)
        optimization, capacity = config.optimization, config.capacity
    update: dict[str, object] = {"unmeasured_memory": unmeasured_memory}
    if allowed_families is not None:
        update["allowed_families"] = [f.strip() for f in allowed_families.split(",") if f.strip()]
    optimization = optimization.model_copy(update=update)
    result = run_backtest(
        data_dir or _default_data_dir(), catalog, train_days=train_days, test_days=test_days,
        start_type=instance_type, start_types=_assignments(assign), region=region,
        optimization=optimization, capacity=capacity,
    )
    if output_format == "json":
        sys.stdout.write(orjson.dumps(result.model_dump(mode="json"),
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
    elif output_format == "markdown":
        sys.stdout.write(markdown_table(result) + "\n" + summary_line(result) + "\n")
    else:
        print_result(result, Console())


def _assignments(values: list[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        series, _, instance_type = value.partition("=")
        if not series or not instance_type:
            raise InputError(f"--assign {value!r} is invalid; write SERIES=TYPE, such as "
                             "24ae8d=m5.2xlarge")
        pairs[series.strip()] = instance_type.strip()
    return pairs


def _usd(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


_MEMORY_SENTENCES = {
    "cpu-only": "The series carry no memory metric, so types were sized on CPU alone "
    "(--unmeasured-memory cpu-only).",
    "keep-current": "The series carry no memory metric, so no type with less memory than the "
    "starting one was considered (--unmeasured-memory keep-current).",
}


def summary_line(result: BacktestResult) -> str:
    """Render the totals: savings, their parts, the series that overflowed and the memory rule."""
    return (
        f"Savings: {_usd(result.monthly_savings)} a month ({_usd(result.downsize_savings)} saved "
        f"by cheaper types, {_usd(result.upsize_cost)} added by larger ones) on "
        f"{len(result.rows)} series; {result.series_over_100} had a test point above 100 %. "
        f"Trained on {result.train_days:g} days, tested on the next {result.test_days:g}, "
        f"target {result.target_percent:g} %. {_MEMORY_SENTENCES[result.unmeasured_memory]}"
    )


def print_result(result: BacktestResult, console: Console) -> None:
    """Print one row per series and the totals."""
    table = Table(title="Backtest (CPU in percent, USD a month)", box=box.SIMPLE_HEAD,
                  show_edge=False, padding=0)
    for header, justify in (("series", "left"), ("start", "left"), ("recommended", "left"),
                            ("action", "left"), ("p95", "right"), ("test max", "right"),
                            (">100", "right"), (f">{result.target_percent:g}", "right"),
                            ("short", "right"), ("saved", "right")):
        table.add_column(header, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in result.rows:
        short = "-" if row.credit_short_percent is None else f"{row.credit_short_percent:.1f}"
        table.add_row(row.series, row.start_type, row.recommended_type, row.action,
                      f"{row.train_p95:.3g}", f"{row.test_max:.3g}",
                      f"{row.over_100_percent:.1f}", f"{row.over_target_percent:.1f}", short,
                      f"{row.monthly_savings:,.2f}")
    console.print(table)
    target = f"{result.target_percent:g}"
    console.print(f"p95: training days, starting type. test max: peak of the test days on the "
                  f"recommended type. >100, >{target}: share of test points above 100 % and "
                  f"{target} %. short: share of test points a burstable type's CPU credits ran "
                  "short.", markup=False, highlight=False, soft_wrap=True)
    console.print(summary_line(result), markup=False, highlight=False, soft_wrap=True)
