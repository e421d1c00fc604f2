"""Candidate instance types for a pool, and the choice among them.

A candidate is a type the pool may move to: an allowed family or type, an
allowed architecture, offered and priced in the pool's region. It fits when
the pool's load projected onto its vCPUs stays under the performance target,
its memory covers the need, and, for a burstable type, the CPU credits last
over the observed series. Among the fitting types the on-demand price
decides, then the vCPU count, then the name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cdk.model import Pool, ResourceConfig
from provider_bridge.catalog import Catalog, InstanceType
from provider_bridge.credits import CreditCheck, simulate_credits


@dataclass(frozen=True, slots=True)
class Demand:
    """The pool's demand, measured on its current type.

    ``p95`` and ``max`` are CPU percent of the current type. ``memory_gib``
    is the measured peak memory in GiB, None when memory is not measured.
    ``series`` contains each instance's CPU series (percent of the current
    type), which the credit simulation replays.
    """

    p95: float
    max: float
    memory_gib: float | None = None
    series: Sequence[np.ndarray] = ()
    period_seconds: int = 300


@dataclass(slots=True)
class Fit:
    """One candidate judged against the demand; ``problem`` is None when it fits."""

    instance_type: InstanceType
    monthly_price: float
    projected_p95: float
    projected_max: float
    credits: CreditCheck | None = None
    problem: str | None = None

    @property
    def fits(self) -> bool:
        return self.problem is None


@dataclass(slots=True)
class Choice:
    """The chosen type, if any, with the sentence that explains it and the rejected ones."""

    chosen: Fit | None
    reason: str
    rejected: list[Fit] = field(default_factory=list)


def _pct(value: float) -> str:
    return f"{value:.3g} %"


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def cpu_target(config: ResourceConfig) -> float:
    """Return the p95 CPU percent a recommended type must stay under, after the headroom."""
    return config.capacity.performance.p95_cpu_percent - config.optimization.headroom_percent


def allowed_types(
    current: InstanceType,
    pool: Pool | None,
    config: ResourceConfig,
    catalog: Catalog,
    region: str,
    *,
    burstable: bool = False,
) -> list[InstanceType]:
    """Return the types a pool may move to, before any sizing.

    A pool's ``allowed_families`` and ``allowed_instance_types`` each restrict
    the choice when not empty. ``optimization.allowed_families`` names the
    families a recommendation may move to, and when it is empty only the
    current family is allowed. With ``burstable`` the families come from
    ``optimization.burstable_families``, still limited by a non-empty
    ``optimization.allowed_families``. Architectures are the current type's
    unless ``optimization.allowed_architectures`` names others.
    """
    families = set(pool.allowed_families) if pool else set()
    names = set(pool.allowed_instance_types) if pool else set()
    optimization = config.optimization
    moves = set(optimization.allowed_families)
    scope = set(optimization.burstable_families) if burstable else moves or {current.family}
    architectures = set(optimization.allowed_architectures) or set(current.arch)

    chosen = []
    for candidate in catalog.types.values():
        if not set(candidate.arch) & architectures:
            continue
        if families and candidate.family not in families:
            continue
        if names and candidate.name not in names:
            continue
        if candidate.family not in scope:
            continue
        if moves and candidate.family not in moves:
            continue
        if burstable and candidate.baseline_cpu_pct_per_vcpu is None:
            continue
        if candidate.regions and region not in candidate.regions:
            continue
        if catalog.monthly_price(candidate.name, region) is None:
            continue
        chosen.append(candidate)
    return chosen


def memory_floor(current: InstanceType, demand: Demand, config: ResourceConfig) -> float | None:
    """Return the GiB a candidate must offer, or None when memory does not limit the choice."""
    if demand.memory_gib is not None:
        return demand.memory_gib / (config.capacity.performance.max_memory_percent / 100.0)
    if config.optimization.unmeasured_memory == "keep-current":
        return current.memory_gib
    return None


def judge(
    candidate: InstanceType,
    current: InstanceType,
    demand: Demand,
    config: ResourceConfig,
    catalog: Catalog,
    region: str,
) -> Fit:
    """Project the demand onto ``candidate`` and return whether it fits, and why not."""
    ratio = current.vcpu / candidate.vcpu
    fit = Fit(candidate, catalog.monthly_price(candidate.name, region) or 0.0,
              demand.p95 * ratio, demand.max * ratio)
    target = cpu_target(config)
    floor = memory_floor(current, demand, config)
    if floor is not None and candidate.memory_gib < floor:
        fit.problem = f"{candidate.memory_gib:g} GiB of memory is under the {floor:.3g} GiB needed"
    elif fit.projected_p95 > target:
        fit.problem = f"projected p95 {_pct(fit.projected_p95)} is over the {_pct(target)} target"
    elif fit.projected_max > 100.0:
        fit.problem = f"projected peak {_pct(fit.projected_max)} is over 100 %"
    elif candidate.baseline_cpu_pct_per_vcpu is not None:
        fit.credits, fit.problem = _check_credits(candidate, current, demand)
    return fit


def _check_credits(
    candidate: InstanceType, current: InstanceType, demand: Demand
) -> tuple[CreditCheck | None, str | None]:
    if not demand.series:
        return None, "no CPU series to simulate its CPU credits"
    width = max(len(s) for s in demand.series)
    matrix = np.full((len(demand.series), width), np.nan)
    for row, values in enumerate(demand.series):
        matrix[row, : len(values)] = values
    # NOTE: the vCPU ratio assumes one vCPU of each family does the same work.
    projected = np.minimum(matrix * current.vcpu / candidate.vcpu, 100.0)
    check = simulate_credits(projected, candidate, period_seconds=demand.period_seconds)
    if check.lasts:
        return check, None
    return check, (f"its CPU credits (baseline {check.baseline_percent:g} % a vCPU) run out in "
                   f"{check.short_points} of {check.points} periods, starting from an empty "
                   "balance")


def _price(instance_type: InstanceType, catalog: Catalog, region: str) -> float:
    return catalog.monthly_price(instance_type.name, region) or 0.0


def _by_price(
    candidates: Sequence[InstanceType], catalog: Catalog, region: str
) -> list[InstanceType]:
    """Order by on-demand price, then vCPU, then name: price breaks every tie first."""
    return sorted(candidates, key=lambda t: (_price(t, catalog, region), t.vcpu, t.name))


def choose_smaller(
    current: InstanceType,
    candidates: Sequence[InstanceType],
    demand: Demand,
    config: ResourceConfig,
    catalog: Catalog,
    region: str,
) -> Choice:
    """Choose the cheapest fitting type that costs less than ``current`` (downsize, burstable)."""
    current_price = catalog.monthly_price(current.name, region) or 0.0
    cheaper = [t for t in _by_price(candidates, catalog, region)
               if t.name != current.name and _price(t, catalog, region) < current_price]
    rejected: list[Fit] = []
    # Judged cheapest first, so the credit simulation runs only until a type fits.
    for candidate in cheaper:
        fit = judge(candidate, current, demand, config, catalog, region)
        if fit.fits:
            return Choice(fit, _chosen_sentence(fit, current_price, config, "keeps"), rejected)
        rejected.append(fit)
    detail = f"; the cheapest, {_why_not(rejected[0])}" if rejected else ""
    return Choice(None, f"no allowed type is cheaper than {current.name} and fits{detail}",
                  rejected)


def choose_larger(
    current: InstanceType,
    candidates: Sequence[InstanceType],
    demand: Demand,
    config: ResourceConfig,
    catalog: Catalog,
    region: str,
) -> Choice:
    """Choose the cheapest fitting type with more vCPU; else the largest allowed one (upsize)."""
    current_price = catalog.monthly_price(current.name, region) or 0.0
    larger: list[Fit] = []
    for candidate in _by_price(candidates, catalog, region):
        if candidate.vcpu <= current.vcpu:
            continue
        fit = judge(candidate, current, demand, config, catalog, region)
        if fit.fits:
            return Choice(fit, _chosen_sentence(fit, current_price, config, "brings"), larger)
        larger.append(fit)
    # Nothing reaches the target: the most vCPU helps most, as long as memory
    # and credits do not rule the type out.
    usable = [f for f in larger if f.problem is None or f.problem.startswith("projected")]
    if not usable:
        return Choice(None, f"no allowed type has more vCPU than {current.name}", larger)
    best = min(usable, key=lambda f: (-f.instance_type.vcpu, f.monthly_price,
                                      f.instance_type.name))
    target = cpu_target(config)
    return Choice(best, (f"no allowed type reaches the {_pct(target)} target, so the largest "
                         f"allowed, {best.instance_type.name} ({best.instance_type.vcpu} vCPU), "
                         f"is recommended with a projected p95 of {_pct(best.projected_p95)}"),
                  larger)


def _why_not(fit: Fit) -> str:
    return f"{fit.instance_type.name}, is ruled out: {fit.problem}"


def _chosen_sentence(best: Fit, current_price: float, config: ResourceConfig, verb: str) -> str:
    chosen = best.instance_type
    preposition = "to" if verb == "brings" else "at"
    text = (f"{chosen.name} ({chosen.vcpu} vCPU, {chosen.memory_gib:g} GiB) {verb} the projected "
            f"p95 {preposition} {_pct(best.projected_p95)}, under the "
            f"{_pct(cpu_target(config))} target, "
            f"for {_usd(best.monthly_price)} instead of {_usd(current_price)} a month per "
            "instance")
    if best.credits is not None:
        text += ("; starting from an empty balance, its CPU credits last over the whole "
                 f"series (baseline {best.credits.baseline_percent:g} % a vCPU)")
    return text
