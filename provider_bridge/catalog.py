"""EC2 instance catalog: vCPU, memory, architecture and on-demand price per region.

The data ships in ``provider_bridge/data`` (see ``data/SOURCES.md`` for where
each figure comes from). Prices are on-demand Linux, shared tenancy, in USD per
instance-hour; a month is 730 hours, the figure AWS uses in its price lists.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson

HOURS_PER_MONTH = 730.0

_DATA = resources.files("provider_bridge") / "data"


@dataclass(frozen=True, slots=True)
class InstanceType:
    """One EC2 instance type with the facts that sizing and pricing need."""

    name: str
    family: str
    size: str
    vcpu: int
    memory_gib: float
    arch: tuple[str, ...]
    burstable: bool
    current_generation: bool
    baseline_cpu_pct_per_vcpu: float | None
    regions: tuple[str, ...]


class Catalog:
    """Instance types and their on-demand prices, keyed by type name."""

    def __init__(self, types: dict[str, InstanceType], prices: dict[str, dict[str, float]]):
        self.types = types
        self._prices = prices

    def __contains__(self, name: object) -> bool:
        return name in self.types

    def get(self, name: str) -> InstanceType | None:
        return self.types.get(name)

    def hourly_price(self, name: str, region: str = "us-east-1") -> float | None:
        """Return the on-demand USD per hour, or None when the region has no price."""
        return self._prices.get(region, {}).get(name)

    def monthly_price(self, name: str, region: str = "us-east-1") -> float | None:
        hourly = self.hourly_price(name, region)
        return None if hourly is None else round(hourly * HOURS_PER_MONTH, 4)

    def family_members(self, family: str) -> list[InstanceType]:
        """Return the types of one family, smallest first (by vCPU, then memory)."""
        members = [t for t in self.types.values() if t.family == family]
        return sorted(members, key=lambda t: (t.vcpu, t.memory_gib, t.name))

    def as_policy_data(self, names: set[str] | None = None) -> dict[str, dict[str, float | int]]:
        """Return ``{type: {vcpu, memory_gib}}`` for the policy input, limited to ``names``."""
        selected = self.types if names is None else {n: self.types[n] for n in names if n in self}
        return {n: {"vcpu": t.vcpu, "memory_gib": t.memory_gib} for n, t in selected.items()}


def _read_json(name: str, directory: Path | None) -> dict:
    if directory is not None:
        return orjson.loads((directory / name).read_bytes())
    return orjson.loads((_DATA / name).read_bytes())


def _merge_prices(document: dict) -> dict[str, dict[str, float]]:
    # Validated source prices win over the two estimate maps, which only fill
    # the types a region offers but has no published price for.
    merged: dict[str, dict[str, float]] = {}
    for key in (
        "ec2_ondemand_linux_estimated_proxy_family",
        "ec2_ondemand_linux_estimated",
        "ec2_ondemand_linux",
    ):
        for region, table in (document.get(key) or {}).items():
            merged.setdefault(region, {}).update(table)
    return merged


@functools.cache
def load_catalog(directory: Path | None = None) -> Catalog:
    """Load the shipped catalog, or the two JSON files from ``directory``."""
    specs = _read_json("ec2_instance_types.json", directory)["types"]
    prices = _merge_prices(_read_json("ec2_prices_ondemand_linux.json", directory))
    types = {
        name: InstanceType(
            name=name,
            family=spec["family"],
            size=spec["size"],
            vcpu=int(spec["vcpu"]),
            memory_gib=float(spec["memory_gib"]),
            arch=tuple(spec.get("arch") or ()),
            burstable=bool(spec.get("burstable")),
            current_generation=bool(spec.get("current_generation")),
            baseline_cpu_pct_per_vcpu=spec.get("baseline_cpu_pct_per_vcpu"),
            regions=tuple(spec.get("regions") or ()),
        )
        for name, spec in specs.items()
    }
    return Catalog(types, prices)
