"""Rightsizing: turn each pool's utilization into one instance type recommendation.

A pool runs one instance type, so the pool is sized for its busiest member:
each statistic of the pool is the maximum over its instances. The
optimization rules of the model decide whether to downsize or upsize. The
candidate types, their on-demand prices and the performance target decide to
which type.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from cdk.model import OptimizationRule, Pool, ResourceConfig
from provider_bridge.analysis import UtilizationStats
from provider_bridge.catalog import Catalog, InstanceType
from provider_bridge.inventory import PoolInventory

log = logging.getLogger(__name__)

RecommendationAction = Literal["downsize", "upsize", "keep", "insufficient-data"]

# The actions that change a pool's instance type; the model's other actions
# (scale-in, stop-idle, ...) change counts or schedules, which this module
# does not recommend.
_TYPE_ACTIONS = ("downsize", "upsize")


class Recommendation(BaseModel):
    """One pool's rightsizing result, with the numbers and the rule behind it."""

    pool: str
    team: str | None
    kind: str
    region: str
    resource_ids: list[str]
    current_type: str
    recommended_type: str | None = Field(description="None unless the action changes the type.")
    action: RecommendationAction
    rule: str | None = Field(description="Name of the optimization rule that fired.")
    p50: float | None = Field(description="CPU percent; the maximum over the pool's instances.")
    p95: float | None
    p99: float | None
    max: float | None
    samples: int = Field(description="Data points summed over the pool's instances.")
    monthly_cost_current: float | None = Field(description="USD a month for all instances.")
    monthly_cost_recommended: float | None
    monthly_savings: float | None = Field(description="USD a month; negative for an upsize.")
    reason: str
    blocked_by: list[str] = Field(
        default_factory=list,
        description="Policy rules that deny the change; a blocked change is not proposed.",
    )

    @property
    def proposed(self) -> bool:
        """Whether the recommendation changes the type and no policy denies it."""
        return self.action in _TYPE_ACTIONS and not self.blocked_by


def _pct(value: float) -> str:
    return f"{value:.3g} %"


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def describe_rule(rule: OptimizationRule) -> str:
    """Render a rule's condition, such as 'p95 below 20 %'."""
    return f"{rule.statistic} {rule.comparison} {rule.threshold:g} %"


def recommend(
    inventory: Mapping[str, PoolInventory],
    stats: Mapping[str, UtilizationStats],
    config: ResourceConfig,
    catalog: Catalog,
) -> list[Recommendation]:
    """Return one recommendation per pool of ``inventory``, ordered by pool name."""
    return [
        _recommend_pool(inventory[name], stats, config, catalog) for name in sorted(inventory)
    ]


def _recommend_pool(
    found: PoolInventory,
    stats: Mapping[str, UtilizationStats],
    config: ResourceConfig,
    catalog: Catalog,
) -> Recommendation:
    declared = config.pool(found.pool)
    if declared is None:
        log.warning("pool %s is in the state but not declared in the model", found.pool)
    current_name = declared.instance_type if declared else (found.instance_types or ["?"])[0]
    region = declared.region if declared else found.region
    base = {
        "pool": found.pool,
        "team": found.team or (declared.team if declared else None),
        "kind": found.kind,
        "region": region,
        "resource_ids": [r.resource_id for r in found.resources],
        "current_type": current_name,
    }
    price = catalog.monthly_price(current_name, region)
    count = len(found.resources)
    current_cost = None if price is None else round(price * count, 2)
    keep = {"recommended_type": None, "rule": None, "monthly_cost_current": current_cost,
            "monthly_cost_recommended": current_cost,
            "monthly_savings": None if price is None else 0.0}

    profile, samples, note = _pool_profile(found, stats, current_name, catalog)
    if profile is None:
        return Recommendation(**base, **keep, action="insufficient-data", p50=None, p95=None,
                              p99=None, max=None, samples=samples, reason=note)
    figures = {k: profile[k] for k in ("p50", "p95", "p99", "max")}
    current = catalog.get(current_name)
    if current is None or price is None or found.kind == "db":
        why = (f"{current_name} has no on-demand price in {region} in the instance catalog"
               if found.kind != "db" else "RDS instance classes are not in the instance catalog")
        return Recommendation(**base, **keep, **figures, action="keep", samples=samples,
                              reason=f"{why}, so it is kept{note}.")

    rule = _fired_rule(config.optimization.rules, profile)
    if rule is None:
        conditions = ", ".join(f"{r.action} if {describe_rule(r)}"
                               for r in config.optimization.rules) or "no rules declared"
        return Recommendation(
            **base, **keep, **figures, action="keep", samples=samples,
            reason=f"p95 CPU {_pct(profile['p95'])} fired no rule ({conditions}){note}.",
        )
    choice, sentence = _choose_type(rule, profile, current, declared, config, catalog, region)
    if choice is None:
        return Recommendation(**base, **{**keep, "rule": rule.name}, **figures, action="keep",
                              samples=samples, reason=f"{sentence}{note}.")
    new_cost = round(catalog.monthly_price(choice.name, region) * count, 2)  # type: ignore[operator]
    return Recommendation(
        **base, **figures, recommended_type=choice.name, action=rule.action, rule=rule.name,
        samples=samples, monthly_cost_current=current_cost, monthly_cost_recommended=new_cost,
        monthly_savings=round(current_cost - new_cost, 2),  # type: ignore[operator]
        reason=f"{sentence}{note}.",
    )


def _pool_profile(
    found: PoolInventory,
    stats: Mapping[str, UtilizationStats],
    current_name: str,
    catalog: Catalog,
) -> tuple[dict[str, float] | None, int, str]:
    """Return the pool's statistics (max over instances), its samples and a note."""
    if not found.resources:
        return None, 0, "insufficient data: no running instances found for the pool"
    known = [stats[r.resource_id] for r in found.resources if r.resource_id in stats]
    usable = [(r, stats[r.resource_id]) for r in found.resources
              if r.resource_id in stats and stats[r.resource_id].sufficient]
    samples = sum(s.samples for s in known)
    if not usable:
        reasons = sorted({s.insufficient or "" for s in known}) or ["insufficient data: no metrics"]
        count = len(found.resources)
        return None, samples, f"{reasons[0]} ({count} instance{'s' if count != 1 else ''})"

    current = catalog.get(current_name)
    profile: dict[str, float] = {}
    for key in ("p50", "p95", "p99", "max", "mean"):
        values = []
        for resource, item in usable:
            # A member running another type than the declared one is converted
            # to the declared type's vCPU, so its load counts at the right size.
            running = catalog.get(resource.instance_type)
            factor = running.vcpu / current.vcpu if running and current else 1.0
            values.append(getattr(item, key) * factor)
        profile[key] = max(values)
    note = ""
    if len(usable) < len(found.resources):
        note = (f" ({len(usable)} of {len(found.resources)} instances had enough data; "
                "the rest were left out)")
    return profile, samples, note


def _fired_rule(
    rules: Sequence[OptimizationRule], profile: Mapping[str, float]
) -> OptimizationRule | None:
    """Return the matching type-changing rule with the lowest priority number."""
    for rule in sorted(rules, key=lambda r: (r.priority, r.name)):
        if rule.metric != "CPUUtilization":
            log.debug("rule %s skipped: only CPUUtilization is fetched", rule.name)
            continue
        value = profile[rule.statistic]
        matched = value < rule.threshold if rule.comparison == "below" else value > rule.threshold
        if not matched:
            continue
        if rule.action not in _TYPE_ACTIONS:
            # NOTE: actions other than downsize and upsize are not recommended yet.
            log.info("rule %s matched but its action %s is not a type change; skipped",
                     rule.name, rule.action)
            continue
        return rule
    return None


def candidate_types(
    current: InstanceType,
    pool: Pool | None,
    config: ResourceConfig,
    catalog: Catalog,
    region: str,
) -> list[InstanceType]:
    """Return the types a pool may move to: same architecture, allowed families, priced.

    A pool's ``allowed_families`` and ``allowed_instance_types`` each restrict
    the choice when not empty; with both empty only the current family is
    allowed. ``optimization.allowed_families`` restricts further, and when empty
    it also means the current family only.
    """
    families = set(pool.allowed_families) if pool else set()
    names = set(pool.allowed_instance_types) if pool else set()
    moves = set(config.optimization.allowed_families) or {current.family}
    chosen = []
    for candidate in catalog.types.values():
        if not set(candidate.arch) & set(current.arch):
            continue
        if families and candidate.family not in families:
            continue
        if names and candidate.name not in names:
            continue
        if not families and not names and candidate.family != current.family:
            continue
        if candidate.family not in moves:
            continue
        if candidate.regions and region not in candidate.regions:
            continue
        if catalog.monthly_price(candidate.name, region) is None:
            continue
        chosen.append(candidate)
    return chosen


def _choose_type(
    rule: OptimizationRule,
    profile: Mapping[str, float],
    current: InstanceType,
    pool: Pool | None,
    config: ResourceConfig,
    catalog: Catalog,
    region: str,
) -> tuple[InstanceType | None, str]:
    """Pick the type for a fired rule; return None and the reason when the type stays."""
    target = config.capacity.performance.p95_cpu_percent - config.optimization.headroom_percent
    p95 = profile["p95"]

    def monthly(t: InstanceType) -> float:
        return catalog.monthly_price(t.name, region)  # type: ignore[return-value]

    def projected(t: InstanceType) -> float:
        return p95 * current.vcpu / t.vcpu

    def order(t: InstanceType) -> tuple[float, int, str]:
        return (monthly(t), t.vcpu, t.name)

    fired = (f"{rule.statistic} CPU {_pct(profile[rule.statistic])} is {rule.comparison} "
             f"{rule.threshold:g} % (rule {rule.name})")
    candidates = candidate_types(current, pool, config, catalog, region)
    fitting = sorted((t for t in candidates if projected(t) <= target), key=order)
    if rule.action == "downsize":
        if not fitting or monthly(fitting[0]) >= monthly(current):
            return None, (f"{fired}, but no allowed type is cheaper than {current.name} and "
                          f"keeps the projected p95 under the {_pct(target)} target")
        best = fitting[0]
        return best, (f"{fired}; {best.name} ({best.vcpu} vCPU) keeps the projected p95 at "
                      f"{_pct(projected(best))}, under the {_pct(target)} target, for "
                      f"{_usd(monthly(best))} instead of {_usd(monthly(current))} a month "
                      "per instance")

    larger = [t for t in fitting if t.vcpu > current.vcpu]
    if larger:
        best = larger[0]
        return best, (f"{fired}; {best.name} ({best.vcpu} vCPU) brings the projected p95 to "
                      f"{_pct(projected(best))}, under the {_pct(target)} target, for "
                      f"{_usd(monthly(best))} instead of {_usd(monthly(current))} a month "
                      "per instance")
    bigger = sorted((t for t in candidates if t.vcpu > current.vcpu),
                    key=lambda t: (-t.vcpu, monthly(t), t.name))
    if not bigger:
        return None, f"{fired}, but no allowed type has more vCPU than {current.name}"
    best = bigger[0]
    return best, (f"{fired}; no allowed type reaches the {_pct(target)} target, so the largest "
                  f"allowed, {best.name} ({best.vcpu} vCPU), is recommended with a projected "
                  f"p95 of {_pct(projected(best))}")


PolicyCheck = Callable[[ResourceConfig, Catalog], Any]


def with_instance_types(config: ResourceConfig, changes: Mapping[str, str]) -> ResourceConfig:
    """Return a copy of ``config`` with the named pools moved to new instance types."""
    changed = config.model_copy(deep=True)
    for pool in changed.allocation.pools:
        if pool.name in changes:
            pool.instance_type = changes[pool.name]
    return changed


def apply_policy_check(
    recommendations: Sequence[Recommendation],
    config: ResourceConfig,
    catalog: Catalog,
    check: PolicyCheck,
) -> list[Recommendation]:
    """Re-check each type change against the policies and block the denied ones.

    Changes are tried one at a time on top of the changes already accepted,
    downsizes first, so the accepted set passes as a whole. Only violations the
    declarations did not already have before any change block a change.
    """
    baseline = {(v.rule, v.pool) for v in check(config, catalog).violations}
    accepted: dict[str, str] = {}
    results = [r.model_copy(deep=True) for r in recommendations]
    order = sorted((r for r in results if r.action in _TYPE_ACTIONS),
                   key=lambda r: (r.action != "downsize", r.pool))
    for rec in order:
        if config.pool(rec.pool) is None:
            rec.blocked_by = ["undeclared-pool"]
            rec.reason += (" Not proposed: the pool is not declared in the model, so the "
                           "policies cannot check the change.")
            continue
        trial = with_instance_types(config, {**accepted, rec.pool: rec.recommended_type or ""})
        new = [v for v in check(trial, catalog).violations if (v.rule, v.pool) not in baseline]
        if not new:
            accepted[rec.pool] = rec.recommended_type or ""
            continue
        rec.blocked_by = sorted({v.rule for v in new})
        rec.reason += " Not proposed: " + " ".join(
            f"policy rule {v.rule} denies it: {v.message.rstrip('.')}." for v in new
        )
    return results
