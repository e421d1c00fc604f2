"""The `quotaform check` command."""

from __future__ import annotations

import typer


def check() -> None:
    """Placeholder until the command lands."""
    raise typer.Exit(2)
