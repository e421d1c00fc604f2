"""The ``quotaform synth`` command: run a CDKTF app, write Terraform JSON and quotaform.json."""

from __future__ import annotations

from pathlib import Path

import typer

from cdk.synth import synth_app


def synth(
    app_path: Path = typer.Argument(..., metavar="APP.py", help="A CDKTF app written in Python."),
    output: Path = typer.Option(
        Path("cdktf.out"), "--output", "-o",
        help="Folder for the results: OUTPUT/stacks/<stack>/cdk.tf.json and quotaform.json.",
    ),
) -> None:
    """Synthesize a CDKTF app: each stack's Terraform JSON and its quotaform model."""
    for result in synth_app(app_path, output):
        typer.echo(f"{result.stack}: {result.tf_json}")
        typer.echo(f"{result.stack}: {result.config_json}")
