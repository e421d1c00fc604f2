"""The ``quotaform demo`` command: the whole job against a local moto server."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from quotaform.demo import run_demo


def demo(
    work_dir: Path | None = typer.Option(
        None, "--work-dir", help="Keep the synthesized stacks, plans and state in this folder "
        "[default: a temporary folder, removed at the end].",
    ),
    no_terraform: bool = typer.Option(
        False, "--no-terraform", help="Create the resources with boto3 even when terraform is "
        "installed, and gate the declarations instead of plans.",
    ),
) -> None:
    """Synthesize, plan, apply, gate and rightsize the example platform on a local moto server."""
    run_demo(Console(), work_dir=work_dir, use_terraform=not no_terraform)
