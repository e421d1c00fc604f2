"""The `quotaform demo` command."""

from __future__ import annotations

import typer


def demo() -> None:
    """Placeholder until the command lands."""
    raise typer.Exit(2)
