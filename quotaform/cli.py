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
from typer.core import TyperCommand, TyperGroup

from cdk.errors import QuotaformError
from quotaform import runtime

# Each subcommand with the module and attribute that define it: a command function or,
# for a group, a typer.Typer. Modules are imported only when their command runs or help
# lists it, because importing them all would load boto3, numpy and libcst into every
# 'quotaform check'. Add a command with one line here, in the order help lists it.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("quotaform.commands.synth", "synth"),
    "check": ("quotaform.commands.check", "check"),
    "rightsize": ("quotaform.commands.rightsize", "rightsize"),
    "demo": ("quotaform.commands.demo", "demo"),
    "usage": ("quotaform.commands.usage", "usage"),
    "backtest": ("quotaform.commands.backtest", "backtest"),
    "policy": ("quotaform.commands.policy", "app"),
    "provider": ("quotaform.commands.provider", "app"),
}


class _LazyGroup(TyperGroup):
    """The top-level command group, which imports a subcommand's module on first use."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in COMMANDS]
        return [*COMMANDS, *eager]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.commands[cmd_name] = _load_command(cmd_name)
        return super().get_command(ctx, cmd_name)


def _load_command(name: str) -> TyperCommand | TyperGroup:
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(
    name="quotaform",
    help="Resource pools and quotas as code for Terraform: declare, gate plans, rightsize.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
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
    if not verbose:
        # Its "Retrying (Retry(...))" warnings come before the one error message of a failed
        # request, such as to an OPA server that is down; -v shows them.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    if debug:
        os.environ["QUOTAFORM_DEBUG"] = "1"


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
    except SystemExit as exc:
        # typer turns Ctrl-C inside a command into a silent exit with status 130.
        if exc.code == 130:
            typer.echo("interrupted", err=True)
        raise
    except Exception as exc:  # noqa: BLE001 - the CLI boundary turns any failure into one line
        if os.environ.get("QUOTAFORM_DEBUG"):
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                   err=True)
        sys.exit(2)


def run() -> None:
    """Run ``main`` as the console script, ending at once after a command that allows it.

    ``quotaform check`` keeps the parsed plan until the process ends, and this
    exits with ``os._exit`` once the output is flushed, instead of freeing it
    (see ``quotaform.runtime``). Every other command exits the usual way.
    """
    runtime.arm_fast_exit()
    try:
        main()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            runtime.exit_now(exc.code or 0)
        raise
    runtime.exit_now(0)
