"""The ``quotaform`` entry point: one subcommand per job, errors as one message.

Exit codes: 0 success (for ``check``: no denial), 1 denied, 2 the command could
not finish: invalid input or usage, or a failed step (terraform, AWS, the policy
engine); the message says which. A failure is never reported as success.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from cdk.errors import QuotaformError
from quotaform.commands import check, demo, policy, provider, rightsize, synth, usage

app = typer.Typer(
    name="quotaform",
    help="Resource pools and quotas as code for Terraform: declare, gate plans, rightsize.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _configure(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors in the log output."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
) -> None:
    level = logging.ERROR if quiet else logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if debug:
        os.environ["QUOTAFORM_DEBUG"] = "1"


app.command("synth")(synth.synth)
app.command("check")(check.check)
app.command("rightsize")(rightsize.rightsize)
app.command("demo")(demo.demo)
app.add_typer(policy.app, name="policy")
app.add_typer(provider.app, name="provider")
app.command("usage")(usage.usage)
app.command("backtest")(importlib.import_module("quotaform.commands.backtest").backtest)


def main() -> None:
    """Run the CLI, turning quotaform errors into one message and an exit code."""
    try:
        # Standalone mode lets typer print usage errors and exit 2 itself.
        app()
    except QuotaformError as exc:
        if os.environ.get("QUOTAFORM_DEBUG"):
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI boundary turns any failure into one line
        if os.environ.get("QUOTAFORM_DEBUG"):
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                   err=True)
        sys.exit(2)
