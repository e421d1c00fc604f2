"""The end-to-end demo: declare, plan, gate and rightsize against a local moto server.

Nothing leaves this machine: a moto server on 127.0.0.1 stands in for AWS, the
real terraform CLI and AWS provider create the example platform in it, and
CloudWatch is seeded with real CPU series before rightsizing reads them back.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from cdk.errors import ExecutionError, InputError

log = logging.getLogger(__name__)

# Which real series each example pool's instances replay, in instance order.
# The shapes cover what a recommender must tell apart: idle and low-flat
# pools are oversized, the saturated one is undersized, the steady one fits.
SERIES_BY_POOL = {
    "reporting": ["ec2_cpu_utilization_24ae8d.csv"],
    "batch": ["ec2_cpu_utilization_53ea38.csv", "ec2_cpu_utilization_24ae8d.csv"],
    "etl": ["ec2_cpu_utilization_825cc2.csv"],
    "api": ["ec2_cpu_utilization_5f5533.csv", "ec2_cpu_utilization_53ea38.csv"],
}


@dataclass
class DemoResult:
    """What the demo saw: the two gate decisions and the recommendations."""

    passed_plan_allowed: bool | None = None
    scaled_plan_allowed: bool | None = None
    denial_messages: list[str] = field(default_factory=list)
    recommendations: list = field(default_factory=list)
    diff: str = ""
    used_terraform: bool = False


class Steps:
    """Prints numbered progress lines with the time each step took."""

    def __init__(self, console: Console, total: int):
        self.console = console
        self.total = total
        self.number = 0

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.number += 1
        started = time.monotonic()
        label = f"[{self.number}/{self.total}] {title}"
        with self.console.status(label):
            yield
        self.console.print(f"{label} [dim]({time.monotonic() - started:.1f} s)[/dim]")


def examples_dir() -> Path:
    """Return the repository's examples folder, which holds the demo app and series."""
    folder = Path(__file__).resolve().parent.parent / "examples"
    if not (folder / "app.py").is_file():
        raise InputError(
            f"{folder}: example app not found; run the demo from a clone of the quotaform "
            "repository (the examples are not part of the installed package)"
        )
    return folder
