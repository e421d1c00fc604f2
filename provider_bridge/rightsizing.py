"""Rightsizing: turn each pool's utilization into one recommendation.

A pool runs one instance type, so the pool is sized for its busiest member:
each statistic of the pool is the maximum over its instances. The
optimization rules of the model decide the action: every rule whose
condition is true matches, and the one with the lowest priority number fires.
The candidate types (``provider_bridge.candidates``), their on-demand prices
and the performance target decide the new type. The pool's total load and the
target decide a new instance count.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from cdk.model import OptimizationRule, Pool, ResourceConfig
from provider_bridge.analysis import UtilizationStats
from provider_bridge.candidates import (
    Choice,
    Demand,
    allowed_types,
    choose_larger,
    choose_smaller,
    cpu_target,
)
from provider_bridge.catalog import Catalog, InstanceType
from provider_bridge.inventory import PoolInventory
from provider_bridge.metrics import Series

log = logging.getLogger(__name__)

RecommendationAction = Literal[
    "downsize", "upsize", "move-to-burstable", "stop-idle", "scale-in", "scale-out", "keep",
    "insufficient-data",
]

TYPE_ACTIONS = ("downsize", "upsize", "move-to-burstable")
COUNT_ACTIONS = ("scale-in", "scale-out")
CHANGE_ACTIONS = TYPE_ACTIONS + COUNT_ACTIONS

CPU_METRIC = "CPUUtilization"
# The CloudWatch agent publishes memory as mem_used_percent on Linux and as
# "Memory % Committed Bytes In Use" on Windows.
MEMORY_METRICS = ("mem_used_percent", "Memory % Committed Bytes In Use", "MemoryUtilization")


class RuleMatch(BaseModel):
    """One optimization rule evaluated against a pool."""

    rule: str
    action: str
    priority: int
    condition: str = Field(description="Such as 'p95 CPUUtilization below 20'.")
    value: float | None = Field(description="The pool's figure; None when it is not measured.")
    matched: bool


class CreditSummary(BaseModel):
    """The CPU credit simulation of a recommended burstable type."""

    baseline_percent: float = Field(description="Baseline utilization per vCPU, percent.")
    credits_per_hour: float
    max_balance: float
    end_balance: float = Field(description="Balance at the end of the series, from empty.")


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
    outranked_rules: list[str] = Field(
        default_factory=list,
        description="Rules that matched too but lost to the fired rule on priority.",
    )
    p50: float | None = Field(description="CPU percent; the maximum over the pool's instances.")
    p95: float | None
    p99: float | None
    max: float | None
    samples: int = Field(description="Data points summed over the pool's instances.")
    current_count: int = Field(default=0, description="Instances found running in the pool.")
    recommended_count: int | None = Field(
        default=None, description="Instances after a scale-in or scale-out; None otherwise."
    )
    count_changes: dict[str, int] = Field(
        default_factory=dict,
        description="Declared count settings a scale-in or scale-out changes (count, "
        "min_size, max_size, desired_capacity) and their new values.",
    )
    count_before: dict[str, int] = Field(
        default_factory=dict, description="The declared values that count_changes replace."
    )
    memory_gib_needed: float | None = Field(
        default=None, description="Peak memory measured over the pool's instances, GiB."
    )
    cpu_credits: CreditSummary | None = None
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
        """Whether the recommendation changes the declarations and no policy denies it."""
        return self.action in CHANGE_ACTIONS and not self.blocked_by

    @property
    def advisory(self) -> bool:
        """Whether the recommendation is an operational step (stop-idle) that no patch makes."""
        return self.action == "stop-idle"


def _pct(value: float) -> str:
    return f"{value:.3g} %"


def format_usd(value: float) -> str:
    """Format dollars with the sign before the symbol: ``$1,234.50``, ``-$62.05``."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def _unit(statistic: str) -> str:
    # Burstiness is the coefficient of variation, a ratio without a unit.
    return "" if statistic == "burstiness" else " %"


def describe_rule(rule: OptimizationRule) -> str:
    """Render a rule's condition, such as 'p95 below 20 %' for CPU."""
    metric = "" if rule.metric == CPU_METRIC else f" {rule.metric}"
    return f"{rule.statistic}{metric} {rule.comparison} {rule.threshold:g}{_unit(rule.statistic)}"


@dataclass(slots=True)
class _Profile:
    """A pool's figures: CPU statistics, memory, total load and the raw series."""

    cpu: dict[str, float]
    samples: int
    note: str
    memory_percent: dict[str, float] = field(default_factory=dict)
    memory_gib: float | None = None
    load_p95: float = 0.0
    series: list[np.ndarray] = field(default_factory=list)
    period_seconds: int = 300

    def value(self, metric: str, statistic: str) -> float | None:
        if metric == CPU_METRIC:
            return self.cpu.get(statistic)
        if metric in MEMORY_METRICS:
            return self.memory_percent.get(statistic)
        return None


def recommend(
    inventory: Mapping[str, PoolInventory],
    stats: Mapping[str, UtilizationStats],
    config: ResourceConfig,
    catalog: Catalog,
    *,
    series: Mapping[str, Series] | None = None,
    period_seconds: int = 300,
) -> list[Recommendation]:
    """Return one recommendation per pool of ``inventory``, ordered by pool name.

    ``series`` maps resource ids to their CPU series. The CPU credit
    simulation needs them, so without them no burstable type is recommended.
    """
    return [
        _recommend_pool(inventory[name], stats, config, catalog, series or {}, period_seconds)
        for name in sorted(inventory)
    ]


def _recommend_pool(
    found: PoolInventory,
    stats: Mapping[str, UtilizationStats],
    config: ResourceConfig,
    catalog: Catalog,
    series: Mapping[str, Series],
    period_seconds: int,
) -> Recommendation:
    declared = config.pool(found.pool)
    if declared is None:
        log.warning("pool %s is in the state but not declared in the model", found.pool)
    current_name = declared.instance_type if declared else (found.instance_types or ["?"])[0]
    region = declared.region if declared else found.region
    count = len(found.resources)
    price = catalog.monthly_price(current_name, region)
    current_cost = None if price is None else round(price * count, 2)
    base: dict[str, Any] = {
        "pool": found.pool,
        "team": found.team or (declared.team if declared else None),
        "kind": found.kind,
        "region": region,
        "resource_ids": [r.resource_id for r in found.resources],
        "current_type": current_name,
        "current_count": count,
        "recommended_type": None,
        "rule": None,
        "monthly_cost_current": current_cost,
        "monthly_cost_recommended": current_cost,
        "monthly_savings": None if price is None else 0.0,
    }

    profile = _pool_profile(found, stats, series, current_name, catalog, period_seconds)
    if not profile.cpu:
        return Recommendation(**base, action="insufficient-data", p50=None, p95=None, p99=None,
                              max=None, samples=profile.samples, reason=profile.note)
    base.update({k: profile.cpu[k] for k in ("p50", "p95", "p99", "max")})
    base.update(samples=profile.samples, memory_gib_needed=profile.memory_gib)
    current = catalog.get(current_name)
    if current is None or price is None or found.kind == "db":
        why = (f"{current_name} has no on-demand price in {region} in the instance catalog"
               if found.kind != "db" else "RDS instance classes are not in the instance catalog")
        return Recommendation(**base, action="keep",
                              reason=f"{why}, so it is kept{profile.note}.")

    matches = evaluate_rules(config.optimization.rules, profile)
    matched = [m for m in matches if m.matched]
    if not matched:
        conditions = ", ".join(f"{r.action} if {describe_rule(r)}"
                               for r in config.optimization.rules) or "no rules declared"
        figure = _pct(profile.cpu["p95"])
        return Recommendation(
            **base, action="keep",
            reason=f"p95 CPU {figure} fired no rule ({conditions}){profile.note}.",
        )
    fired, outranked = matched[0], [m.rule for m in matched[1:]]
    rule = next(r for r in config.optimization.rules if r.name == fired.rule)
    base.update(rule=rule.name, outranked_rules=outranked)
    sentence = _fired_sentence(rule, fired, outranked)
    context = _Context(found, declared, config, catalog, current, region, price, count, profile)
    return _act(rule, sentence, base, context)


@dataclass(slots=True)
class _Context:
    found: PoolInventory
    declared: Pool | None
    config: ResourceConfig
    catalog: Catalog
    current: InstanceType
    region: str
    price: float
    count: int
    profile: _Profile


def _fired_sentence(rule: OptimizationRule, fired: RuleMatch, outranked: list[str]) -> str:
    metric = "CPU" if rule.metric == CPU_METRIC else rule.metric
    value, unit = fired.value or 0.0, _unit(rule.statistic)
    text = (f"{rule.statistic} {metric} {value:.3g}{unit} is {rule.comparison} "
            f"{rule.threshold:g}{unit} (rule {rule.name}")
    if outranked:
        text += f", which outranks {', '.join(outranked)}"
    return text + ")"


def _act(
    rule: OptimizationRule, sentence: str, base: dict[str, Any], ctx: _Context
) -> Recommendation:
    note = ctx.profile.note
    if rule.action == "stop-idle":
        return Recommendation(
            **{**base, "monthly_cost_recommended": 0.0,
               "monthly_savings": base["monthly_cost_current"]},
            action="stop-idle",
            reason=(f"{sentence}; stop the pool's instances or remove the pool, which saves "
                    f"{format_usd(base['monthly_cost_current'] or 0.0)} a month. Not patched: "
                    f"a patch would destroy the instances, not stop them{note}."),
        )
    if rule.action in COUNT_ACTIONS:
        return _act_on_count(rule, sentence, base, ctx)

    choice = _choose_type(rule, ctx)
    memory = _memory_sentence(ctx, choice)
    if choice.chosen is None:
        return Recommendation(**base, action="keep",
                              reason=f"{sentence}, but {choice.reason}{note}.{memory}")
    chosen = choice.chosen
    new_cost = round(chosen.monthly_price * ctx.count, 2)
    credits = None
    if chosen.credits is not None:
        credits = CreditSummary(baseline_percent=chosen.credits.baseline_percent,
                                credits_per_hour=chosen.credits.credits_per_hour,
                                max_balance=chosen.credits.max_balance,
                                end_balance=round(chosen.credits.end_balance, 2))
    return Recommendation(
        **{**base, "recommended_type": chosen.instance_type.name,
           "monthly_cost_recommended": new_cost,
           "monthly_savings": round((base["monthly_cost_current"] or 0.0) - new_cost, 2)},
        action=rule.action, cpu_credits=credits,
        reason=f"{sentence}; {choice.reason}{note}.{memory}",
    )


def _choose_type(rule: OptimizationRule, ctx: _Context) -> Choice:
    profile = ctx.profile
    demand = Demand(p95=profile.cpu["p95"], max=profile.cpu["max"],
                    memory_gib=profile.memory_gib, series=profile.series,
                    period_seconds=profile.period_seconds)
    burstable = rule.action == "move-to-burstable"
    candidates = allowed_types(ctx.current, ctx.declared, ctx.config, ctx.catalog, ctx.region,
                               burstable=burstable)
    if rule.action == "upsize":
        return choose_larger(ctx.current, candidates, demand, ctx.config, ctx.catalog,
                             ctx.region)
    if burstable and not candidates:
        families = ", ".join(ctx.config.optimization.burstable_families) or "none"
        return Choice(None, f"no burstable type ({families}) is allowed for the pool")
    return choose_smaller(ctx.current, candidates, demand, ctx.config, ctx.catalog, ctx.region)


def _memory_sentence(ctx: _Context, choice: Choice) -> str:
    if ctx.profile.memory_gib is not None:
        return f" Peak memory measured: {ctx.profile.memory_gib:.3g} GiB."
    chosen = choice.chosen
    if ctx.config.optimization.unmeasured_memory == "keep-current":
        return (f" Memory is not measured, so no type with less than the current "
                f"{ctx.current.memory_gib:g} GiB is considered.")
    if chosen is not None and chosen.instance_type.memory_gib < ctx.current.memory_gib:
        return (f" Memory is not measured: {chosen.instance_type.name} has "
                f"{chosen.instance_type.memory_gib:g} GiB against {ctx.current.memory_gib:g} GiB "
                "now; install the CloudWatch agent, or set optimization.unmeasured_memory to "
                "keep-current to rule this out.")
    return ""


def _act_on_count(
    rule: OptimizationRule, sentence: str, base: dict[str, Any], ctx: _Context
) -> Recommendation:
    note = ctx.profile.note
    if ctx.found.kind not in ("asg", "instances") or ctx.declared is None:
        return Recommendation(**base, action="keep", reason=(
            f"{sentence}, but only declared asg and instances pools can change their count"
            f"{note}."))
    target = cpu_target(ctx.config)
    needed = max(1, math.ceil(ctx.profile.load_p95 / target))
    load = (f"the pool's load, the sum of its instances' p95, is {_pct(ctx.profile.load_p95)} "
            f"of one {ctx.current.name}, so {needed} instance{'s' if needed != 1 else ''} "
            f"keep each under the {_pct(target)} target")
    wrong_way = needed >= ctx.count if rule.action == "scale-in" else needed <= ctx.count
    if wrong_way:
        return Recommendation(**base, action="keep", reason=(
            f"{sentence}, but {load}, and {ctx.count} run now{note}."))
    changes = count_settings(ctx.declared, needed)
    if not changes:
        return Recommendation(**base, action="keep", reason=(
            f"{sentence}; {load}, which the group's declared limits already allow, so its "
            f"scaling policy decides{note}."))
    new_cost = round(ctx.price * needed, 2)
    settings = ", ".join(f"{k} {getattr(ctx.declared, k)} -> {v}" for k, v in changes.items())
    return Recommendation(
        **{**base, "monthly_cost_recommended": new_cost,
           "monthly_savings": round((base["monthly_cost_current"] or 0.0) - new_cost, 2)},
        action=rule.action, recommended_count=needed, count_changes=changes,
        count_before={k: getattr(ctx.declared, k) for k in changes},
        reason=f"{sentence}; {load} ({settings}){note}.",
    )


def count_settings(pool: Pool, needed: int) -> dict[str, int]:
    """Return the declared count settings that let ``pool`` run ``needed`` instances.

    An instances pool changes ``count``. An Auto Scaling group keeps its
    scaling policy: ``min_size`` drops to ``needed`` for a scale-in and rises
    to it for a scale-out, ``max_size`` rises when it is under ``needed``,
    and a declared ``desired_capacity`` follows.
    """
    if pool.kind == "instances":
        return {"count": needed} if pool.count != needed else {}
    changes: dict[str, int] = {}
    if pool.min_size != needed:
        changes["min_size"] = needed
    if pool.max_size < needed:
        changes["max_size"] = needed
    if pool.desired_capacity is not None and pool.desired_capacity != needed:
        changes["desired_capacity"] = needed
    return changes


def evaluate_rules(
    rules: Sequence[OptimizationRule], profile: _Profile | Mapping[str, float]
) -> list[RuleMatch]:
    """Evaluate every rule, ordered by priority then name; the first matched rule fires.

    A rule on a metric the pool has no figure for does not match.
    """
    results = []
    for rule in sorted(rules, key=lambda r: (r.priority, r.name)):
        if isinstance(profile, _Profile):
            value = profile.value(rule.metric, rule.statistic)
        else:
            value = profile.get(rule.statistic) if rule.metric == CPU_METRIC else None
        matched = value is not None and (
            value < rule.threshold if rule.comparison == "below" else value > rule.threshold
        )
        if value is None:
            log.debug("rule %s not evaluated: no %s %s for the pool", rule.name,
                      rule.statistic, rule.metric)
        results.append(RuleMatch(
            rule=rule.name, action=rule.action, priority=rule.priority,
            condition=f"{rule.statistic} {rule.metric} {rule.comparison} {rule.threshold:g}",
            value=value, matched=matched,
        ))
    return results


def _memory_field(stats: UtilizationStats, statistic: str) -> float | None:
    """Return a memory-percent statistic when the statistics carry one."""
    for name in (f"memory_{statistic}", f"mem_{statistic}"):
        value = getattr(stats, name, None)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _pool_profile(
    found: PoolInventory,
    stats: Mapping[str, UtilizationStats],
    series: Mapping[str, Series],
    current_name: str,
    catalog: Catalog,
    period_seconds: int,
) -> _Profile:
    """Compute the pool's statistics (max over instances), its load and its memory need."""
    if not found.resources:
        return _Profile({}, 0, "insufficient data: no running instances found for the pool")
    known = [stats[r.resource_id] for r in found.resources if r.resource_id in stats]
    usable = [(r, stats[r.resource_id]) for r in found.resources
              if r.resource_id in stats and stats[r.resource_id].sufficient]
    samples = sum(s.samples for s in known)
    if not usable:
        reasons = sorted({s.insufficient or "" for s in known}) or ["insufficient data: no metrics"]
        count = len(found.resources)
        return _Profile({}, samples,
                        f"{reasons[0]} ({count} instance{'s' if count != 1 else ''})")

    current = catalog.get(current_name)
    profile = _Profile({}, samples, "", period_seconds=period_seconds)
    memory_needs: list[float] = []
    for key in ("p50", "p95", "p99", "max", "mean"):
        values = [getattr(item, key) * _factor(resource.instance_type, current, catalog)
                  for resource, item in usable]
        profile.cpu[key] = max(values)
    burstiness = [getattr(item, "burstiness", None) for _, item in usable]
    if all(isinstance(b, (int, float)) for b in burstiness):
        profile.cpu["burstiness"] = max(burstiness)  # type: ignore[type-var]
    profile.load_p95 = sum(item.p95 * _factor(resource.instance_type, current, catalog)
                           for resource, item in usable)  # type: ignore[operator]
    for key in ("p50", "p95", "p99", "max", "mean"):
        values = [v for _, item in usable if (v := _memory_field(item, key)) is not None]
        if len(values) == len(usable):
            profile.memory_percent[key] = max(values)
    if "max" in profile.memory_percent:
        for resource, item in usable:
            running = catalog.get(resource.instance_type) or current
            peak = _memory_field(item, "max")
            if running is not None and peak is not None:
                memory_needs.append(running.memory_gib * peak / 100.0)
        profile.memory_gib = max(memory_needs) if memory_needs else None
    for resource, _ in usable:
        found_series = series.get(resource.resource_id)
        if found_series is not None and found_series.values.size:
            factor = _factor(resource.instance_type, current, catalog)
            profile.series.append(np.asarray(found_series.values, dtype=float) * factor)
    if len(usable) < len(found.resources):
        profile.note = (f" ({len(usable)} of {len(found.resources)} instances had enough data; "
                        "the rest were left out)")
    return profile


def _factor(running_name: str, current: InstanceType | None, catalog: Catalog) -> float:
    # A member running another type than the declared one is converted to the
    # declared type's vCPU, so its load counts at the right size.
    running = catalog.get(running_name)
    return running.vcpu / current.vcpu if running and current else 1.0


PolicyCheck = Callable[[ResourceConfig, Catalog], Any]


def with_changes(
    config: ResourceConfig, changes: Mapping[str, Mapping[str, Any]]
) -> ResourceConfig:
    """Return a copy of ``config`` with pool settings changed, such as ``{"api": {"count": 6}}``."""
    changed = config.model_copy(deep=True)
    for pool in changed.allocation.pools:
        for name, value in changes.get(pool.name, {}).items():
            setattr(pool, name, value)
    return changed


def with_instance_types(config: ResourceConfig, changes: Mapping[str, str]) -> ResourceConfig:
    """Return a copy of ``config`` with the named pools moved to new instance types."""
    return with_changes(config, {pool: {"instance_type": t} for pool, t in changes.items()})


def pool_settings(rec: Recommendation) -> dict[str, Any]:
    """Return the declared settings a recommendation changes: the type or the counts."""
    if rec.action in TYPE_ACTIONS and rec.recommended_type:
        return {"instance_type": rec.recommended_type}
    if rec.action in COUNT_ACTIONS:
        return dict(rec.count_changes)
    return {}


def apply_policy_check(
    recommendations: Sequence[Recommendation],
    config: ResourceConfig,
    catalog: Catalog,
    check: PolicyCheck,
) -> list[Recommendation]:
    """Re-check each change against the policies and block the denied ones.

    Changes are tried one at a time on top of the changes already accepted,
    the ones that save money first, so the accepted set passes as a whole.
    Only violations the declarations did not already have before any change
    block a change; the reason names each policy rule that stopped it.
    """
    baseline = {(v.rule, v.pool) for v in check(config, catalog).violations}
    accepted: dict[str, dict[str, Any]] = {}
    results = [r.model_copy(deep=True) for r in recommendations]
    order = sorted((r for r in results if r.action in CHANGE_ACTIONS),
                   key=lambda r: (-(r.monthly_savings or 0.0), r.pool))
    for rec in order:
        if config.pool(rec.pool) is None:
            rec.blocked_by = ["undeclared-pool"]
            rec.reason += (" Not proposed: the pool is not declared in the model, so the "
                           "policies cannot check the change.")
            continue
        trial = with_changes(config, {**accepted, rec.pool: pool_settings(rec)})
        new = [v for v in check(trial, catalog).violations if (v.rule, v.pool) not in baseline]
        if not new:
            accepted[rec.pool] = pool_settings(rec)
            continue
        rec.blocked_by = sorted({v.rule for v in new})
        rec.reason += " Not proposed: " + " ".join(
            f"policy rule {v.rule} denies it: {v.message.rstrip('.')}." for v in new
        )
    return results
