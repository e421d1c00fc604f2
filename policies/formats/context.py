"""The context of a report besides the decision: the checked file, the rules, the tool, the time."""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from policies.documents import Decision, Violation
from policies.formats.rules import RuleDescriptor, with_finding_rules

TOOL_NAME = "quotaform"

# Decision and finding fields that every format renders in its own place. Any
# other field, such as one a newer gate adds, is shown generically, so none is lost.
DECISION_FIELDS = frozenset(
    {"allowed", "violations", "warnings", "quotas", "cost", "requestor", "overrides"})
FINDING_FIELDS = frozenset(
    {"rule", "message", "severity", "enforcement", "pool", "address", "waiver", "override"})

METRIC_LABELS = {
    "instances": "instances",
    "vcpu": "vCPU",
    "memory_gib": "memory GiB",
    "monthly_cost_usd": "monthly USD",
}


def tool_version() -> str:
    """Return the installed quotaform version, or ``0+unknown`` when run from a source tree."""
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class ReportContext:
    """The checked file, the rule catalog and the run's facts a report shows."""

    source: str = "plan.json"
    rules: tuple[RuleDescriptor, ...] = ()
    version: str = field(default_factory=tool_version)
    timestamp: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    hostname: str = field(default_factory=lambda: socket.gethostname() or "localhost")
    seconds: float = 0.0

    def rules_for(self, decision: Decision) -> list[RuleDescriptor]:
        """Return the catalog plus a descriptor for each rule that only the findings name."""
        return with_finding_rules(self.rules, [*decision.violations, *decision.warnings])


def finding_subject(finding: Violation) -> str:
    """Name what a finding is about: its resource address, else its pool, else the plan."""
    if finding.address:
        return finding.address
    if finding.pool:
        return f"pool {finding.pool}"
    return "plan"


def extra_fields(model: Any, known: frozenset[str]) -> dict[str, Any]:
    """Return the JSON form of the fields of ``model`` that no format renders by name."""
    dumped = model.model_dump(mode="json")
    return {name: value for name, value in dumped.items()
            if name not in known and value not in (None, [], {}, "")}


def metric_label(metric: str) -> str:
    """Return the column label of a quota metric, such as ``vCPU`` for ``vcpu``."""
    return METRIC_LABELS.get(metric, metric)


def format_number(value: float | None) -> str:
    """Show a count as an integer, a fractional amount with two decimals and None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.2f}"
    return str(int(value))


def format_usd(value: float, *, sign: bool = False) -> str:
    """Show dollars with thousands separators, such as ``$1,062.88`` or ``+$1,062.88``."""
    text = f"${abs(value):,.2f}"
    if value < 0:
        return "-" + text
    return "+" + text if sign else text


def quota_target(row: Any) -> str:
    """Return a quota row's target: a pool's path from the root pool, or a team's name."""
    ancestors = list(getattr(row, "ancestors", None) or [])
    return "/".join([*reversed(ancestors), row.target])


def tree_order(rows: list[Any]) -> list[Any]:
    """Order quota rows so that each pool follows its parent, and teams follow the pools.

    The sort is stable, so the metrics of one target keep the gate's order.
    """
    return sorted(rows, key=lambda row: (row.scope != "pool", quota_target(row).split("/")))
