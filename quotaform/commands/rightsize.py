"""The `quotaform rightsize` command."""

from __future__ import annotations

import typer


def rightsize() -> None:
    """Placeholder until the command lands."""
    raise typer.Exit(2)
