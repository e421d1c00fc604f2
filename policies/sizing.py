"""Size compute with the instance catalog: vCPU, memory and on-demand monthly cost.

An RDS class ``db.X`` is sized as the EC2 type ``X``: RDS runs its classes on
the EC2 type of the same name, with the same vCPU and memory. The catalog has
no RDS prices, so a database is priced at the EC2 on-demand price of that type.

A mixed instances policy lists instance types with a weighted capacity each
(1 when unset); the group's ``max_size`` then counts capacity units. The group
is counted at its worst case, metric by metric: every override type alone
could fill ``max_size`` with ``ceil(max_size / weight)`` instances, and each
metric (instances, vCPU, memory, cost) takes the largest of those totals. No
mix of the types can exceed that bound, whatever the allocation strategy. Spot
capacity is priced on demand, which is the price it falls back to.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from policies.documents import (
    COST_DIGITS,
    MEMORY_DIGITS,
    METRICS,
    SIZE_METRICS,
    InstanceOverride,
    Metric,
    Usage,
)

if TYPE_CHECKING:
    # Annotations only, so importing policies does not load the provider bridge and boto3.
    from provider_bridge.catalog import Catalog


@dataclass(frozen=True, slots=True)
class Size:
    """vCPU, memory and monthly price of one instance; None where the catalog has no figure."""

    vcpu: int | None = None
    memory_gib: float | None = None
    monthly_cost_usd: float | None = None


@dataclass(slots=True)
class Tally:
    """A running sum of the four metrics; a plain class, because the sums run per resource."""

    instances: int = 0
    vcpu: int = 0
    memory_gib: float = 0.0
    monthly_cost_usd: float = 0.0

    def add(self, other: Tally | Usage) -> None:
        """Add ``other`` in place, rounding memory and cost as the documents do."""
        self.instances += other.instances
        self.vcpu += other.vcpu
        self.memory_gib = round(self.memory_gib + other.memory_gib, MEMORY_DIGITS)
        self.monthly_cost_usd = round(self.monthly_cost_usd + other.monthly_cost_usd,
                                      COST_DIGITS)

    def as_dict(self) -> dict[str, int | float]:
        """Return the sums as the fields of a ``Usage`` document."""
        return {"instances": self.instances, "vcpu": self.vcpu, "memory_gib": self.memory_gib,
                "monthly_cost_usd": self.monthly_cost_usd}

    def usage(self) -> Usage:
        """Return the sums as a ``Usage`` document."""
        return Usage(**self.as_dict())


@dataclass(slots=True)
class Counted:
    """The usage a resource counts against quotas, and the reason some metrics are missing."""

    usage: Tally = field(default_factory=Tally)
    uncounted: list[Metric] = field(default_factory=list)
    reason: str | None = None
    fix: str | None = None

    def mark(self, metrics: tuple[Metric, ...], reason: str, fix: str) -> None:
        """Record that ``metrics`` cannot be counted; the first reason found is kept."""
        for metric in metrics:
            if metric not in self.uncounted:
                self.uncounted.append(metric)
        self.uncounted.sort(key=METRICS.index)
        if self.reason is None:
            self.reason, self.fix = reason, fix


def catalog_fix(instance_type: str) -> str:
    """Return the fix for an instance type the catalog does not list."""
    return (f"use a type from the instance catalog, or pass --catalog DIR with a catalog "
            f"that lists '{instance_type}'")


@functools.lru_cache(maxsize=4096)
def size_of(catalog: Catalog, instance_type: str | None, region: str | None) -> Size:
    """Return the size and monthly price of one instance of an EC2 type or RDS class.

    Cached, because a large plan looks up the same few types thousands of times.
    """
    if instance_type is None:
        return Size()
    name = instance_type.removeprefix("db.")
    spec = catalog.get(name)
    if spec is None:
        return Size()
    # NOTE: a db.X class gets the EC2 price of X, below the RDS price, and a Multi-AZ
    # standby is not counted, because the catalog has no RDS prices.
    price = catalog.monthly_price(name, region) if region is not None else None
    return Size(spec.vcpu, spec.memory_gib, None if price is None else round(price, 4))


def count_instances(catalog: Catalog, instance_type: str, count: int,
                    region: str | None) -> Counted:
    """Count ``count`` instances of one type, marking the metrics the catalog cannot give."""
    counted = Counted(usage=Tally(instances=count))
    if count == 0:
        return counted
    size = size_of(catalog, instance_type, region)
    if size.vcpu is None or size.memory_gib is None:
        counted.mark(SIZE_METRICS, f"instance type '{instance_type}' is not in the instance "
                     "catalog", catalog_fix(instance_type))
        return counted
    counted.usage.vcpu = count * size.vcpu
    counted.usage.memory_gib = round(count * size.memory_gib, MEMORY_DIGITS)
    if size.monthly_cost_usd is None:
        _mark_unpriced(counted, instance_type, region)
    else:
        counted.usage.monthly_cost_usd = round(count * size.monthly_cost_usd, COST_DIGITS)
    return counted


def _mark_unpriced(counted: Counted, instance_type: str, region: str | None) -> None:
    if region is None:
        counted.mark(("monthly_cost_usd",), "its region is not known, so no on-demand price "
                     "applies", "set the provider's region to a constant or a variable")
    else:
        counted.mark(("monthly_cost_usd",), f"the instance catalog has no on-demand price for "
                     f"'{instance_type}' in {region}", "pass --catalog DIR with prices for "
                     f"{region}, or use a type offered there")


def count_overrides(catalog: Catalog, overrides: list[tuple[str, int]], capacity: int,
                    region: str | None) -> tuple[Counted, list[InstanceOverride]]:
    """Count a mixed instances policy at its worst case per metric (see the module text)."""
    counted = Counted()
    described: list[InstanceOverride] = []
    for instance_type, weight in overrides:
        instances = math.ceil(capacity / weight)
        alone = count_instances(catalog, instance_type, instances, region)
        size = size_of(catalog, instance_type, region)
        described.append(InstanceOverride(
            instance_type=instance_type, weighted_capacity=weight, instances=instances,
            vcpu=size.vcpu, memory_gib=size.memory_gib, monthly_cost_usd=size.monthly_cost_usd,
        ))
        for metric in METRICS:
            if metric in alone.uncounted:
                counted.mark((metric,), alone.reason or "", alone.fix or "")
            elif getattr(alone.usage, metric) > getattr(counted.usage, metric):
                setattr(counted.usage, metric, getattr(alone.usage, metric))
    return counted, described
