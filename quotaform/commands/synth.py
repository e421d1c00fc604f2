"""The `quotaform synth` command."""

from __future__ import annotations

import typer


def synth() -> None:
    """Placeholder until the command lands."""
    raise typer.Exit(2)
