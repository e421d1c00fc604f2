"""The ``quotaform_rightsizing`` data source: one recommendation for a pool, instance or group.

It runs the steps of ``quotaform rightsize`` on what AWS runs now instead of
on a state file. It finds the instances (by pool tag, by ID or by Auto Scaling
group), fetches their CPUUtilization series with GetMetricData, computes the
statistics, applies the optimization rules of quotaform.json and re-checks
the change against the policies.

The current type is the type running now, so a pool whose instances were
already moved to the recommended type stays there on the next plan.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from typing import Any

from tf.iface import ReadDataContext
from tf.schema import Schema
from tf.utils import Diagnostics

from provider_bridge.provider.base import QuotaformDataSource, is_set, known, positive_number
from provider_bridge.provider.diagnostics import ProviderError, add_error, add_warning
from provider_bridge.provider.pool_source import declared_pool
from provider_bridge.provider.schema import rightsizing_schema

log = logging.getLogger(__name__)

TARGETS = ("pool", "instance_id", "asg_name")


class RightsizingDataSource(QuotaformDataSource):
    """The recommended instance type, and the type to plan with under the pin option."""

    name = "rightsizing"

    @classmethod
    def get_schema(cls) -> Schema:
        return rightsizing_schema()

    def validate(self, diags: Diagnostics, type_name: str, config: dict[str, Any]) -> None:
        super().validate(diags, type_name, config)
        if diags.has_errors():
            return
        targets_set = [name for name in TARGETS if is_set(config.get(name))]
        if len(targets_set) != 1:
            add_error(
                diags,
                "Invalid quotaform_rightsizing target",
                f"Set exactly one of pool, instance_id or asg_name (given: "
                f"{', '.join(targets_set) or 'none'}).",
            )
        accepted = config.get("accepted_type")
        if known(accepted) and config.get("pin_current") is not True:
            add_warning(
                diags,
                "accepted_type has no effect",
                "accepted_type is used only with pin_current = true; set pin_current "
                "= true to keep the accepted type, or remove accepted_type.",
                "accepted_type",
            )
        if known(accepted):
            from provider_bridge.provider.lookup import instance_type

            try:
                instance_type(accepted, "accepted_type")
            except ProviderError as exc:
                add_error(diags, exc.summary, exc.detail, exc.attribute)

    def fetch(self, ctx: ReadDataContext, config: dict[str, Any]) -> dict[str, Any]:
        from provider_bridge.provider.lookup import catalog, instance_type

        settings = self.provider.configured()
        model = settings.model()
        if known(config.get("accepted_type")):
            instance_type(config["accepted_type"], "accepted_type")
        lookback = positive_number(config, "lookback_days") or model.optimization.lookback_days
        period = positive_number(config, "period_seconds") or model.optimization.period_seconds
        target = _resolve(self.provider, model, settings, config)
        recommendation = recommend_live(
            self.provider.aws(), model, catalog(), target, lookback, int(period)
        )
        return _state(ctx, config, target, recommendation)


class Target:
    """The pool, instance or group to rightsize, with its declaration and live instances."""

    def __init__(
        self,
        key: str,
        pool: str | None,
        declared: Any,
        kind: str,
        region: str,
        team: str | None,
        instances: list[Any],
    ) -> None:
        self.key = key
        self.pool = pool
        self.declared = declared
        self.kind = kind
        self.region = region
        self.team = team
        self.instances = instances

    @property
    def current_type(self) -> str:
        """The most common type running now, else the declared type."""
        counts = Counter(item.instance_type for item in self.instances)
        if counts:
            return sorted(counts, key=lambda name: (-counts[name], name))[0]
        return self.declared.instance_type if self.declared else "unknown"


def _resolve(provider: Any, model: Any, settings: Any, config: dict[str, Any]) -> Target:
    from provider_bridge.provider.live import group_members, instance_by_id, pool_instances

    aws = provider.aws()
    targets_set = [name for name in TARGETS if known(config.get(name))]
    if len(targets_set) != 1:
        raise ProviderError(
            "Invalid quotaform_rightsizing target",
            "Set exactly one of pool, instance_id or asg_name.",
        )
    if targets_set[0] == "pool":
        name = config["pool"]
        pool = declared_pool(model, name, settings.config, "pool")
        found = pool_instances(aws, name, pool.region, pool.kind)
        return Target(name, name, pool, pool.kind, pool.region, pool.team, found)
    if targets_set[0] == "instance_id":
        instance = instance_by_id(aws, config["instance_id"], settings.region)
        instances = [instance]
        pool_name = instance.pool
        kind = "asg" if instance.asg_name else "instances"
    else:
        tags, instances = group_members(aws, config["asg_name"], settings.region)
        from cdk.model import POOL_TAG

        pool_name = tags.get(POOL_TAG)
        kind = "asg"
    declared = model.pool(pool_name) if pool_name else None
    key = pool_name or config.get("instance_id") or config["asg_name"]
    team = declared.team if declared else None
    return Target(key, pool_name, declared, kind, settings.region, team, instances)


def recommend_live(
    aws: Any, model: Any, catalog: Any, target: Target, lookback_days: float, period_seconds: int
) -> Any:
    """Return the policy-checked ``Recommendation`` for ``target``, as ``quotaform rightsize``
    computes it for a pool of a state file."""
    from provider_bridge.provider.live import to_inventory
    from provider_bridge.rightsizing import recommend

    current = target.current_type
    # The model contains the declared type, but the recommendation starts from the running one.
    model = _with_type(model, target.pool, current) if target.declared else model
    inventory = to_inventory(
        target.key, target.team, target.kind, target.region, target.instances, current
    )
    stats, series = _statistics(
        aws, target.region, inventory.resources, lookback_days, period_seconds
    )
    recommendations = recommend(
        {target.key: inventory}, stats, model, catalog, series=series, period_seconds=period_seconds
    )
    [checked] = _policy_checked(recommendations, model, catalog)
    log.info(
        "rightsizing read target=%s current=%s action=%s recommended=%s proposed=%s",
        target.key,
        current,
        checked.action,
        checked.recommended_type,
        checked.proposed,
    )
    return checked


def _with_type(model: Any, pool: str | None, instance_type: str) -> Any:
    changed = model.model_copy(deep=True)
    declared = changed.pool(pool) if pool else None
    if declared is not None:
        declared.instance_type = instance_type
    return changed


def _statistics(
    aws: Any, region: str, resources: list[Any], lookback_days: float, period_seconds: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fetch and summarize the CPU series of ``resources``, as ``quotaform rightsize`` does."""
    from provider_bridge.analysis import summarize
    from provider_bridge.metrics import cpu_queries, fetch_series, merge_points

    if not resources:
        return {}, {}
    fetched = fetch_series(
        aws.client("cloudwatch", region),
        cpu_queries(resources),
        lookback_days=lookback_days,
        period_seconds=period_seconds,
    )
    for resource in resources:
        fetched.series.setdefault(resource.resource_id, merge_points([], []))
    lookback = int((fetched.end - fetched.start).total_seconds())
    stats = summarize(fetched.series, period_seconds=period_seconds, lookback_seconds=lookback)
    return stats, fetched.series


def _policy_checked(recommendations: list[Any], model: Any, catalog: Any) -> list[Any]:
    """Block the changes the policies deny; without the policy gate, block them all."""
    from provider_bridge.rightsizing import apply_policy_check

    try:
        from policies import RegorusEngine, check_config
    except ImportError as exc:
        log.warning("the policy gate could not be loaded (%s); no change is proposed", exc)
        for rec in recommendations:
            if rec.proposed:
                rec.blocked_by = ["policy-gate-unavailable"]
                rec.reason += " Not proposed: the policy gate is not available to check it."
        return recommendations
    # A regorus engine may only be used and dropped on the thread that created it,
    # and Terraform reads data sources in parallel on the server's worker threads,
    # so each read parses the policies into its own engine (about 10 ms).
    engine = RegorusEngine()
    return apply_policy_check(
        recommendations, model, catalog, functools.partial(check_config, engine=engine)
    )


def _state(
    ctx: ReadDataContext, config: dict[str, Any], target: Target, rec: Any
) -> dict[str, Any]:
    current = target.current_type
    following = rec.recommended_type if rec.recommended_type and rec.proposed else current
    instance_type = following
    pin = config.get("pin_current") is True
    if pin:
        instance_type = config.get("accepted_type") or current
        if instance_type != following:
            add_warning(
                ctx.diagnostics,
                f"Rightsizing of {target.key} recommends {following}",
                f"{rec.reason} instance_type stays {instance_type} because pin_current is true; "
                f'after review, set accepted_type = "{following}" to plan the change.',
                "accepted_type",
            )
    return {
        "pool": target.pool,
        "instance_id": config.get("instance_id"),
        "asg_name": config.get("asg_name"),
        "pin_current": config.get("pin_current"),
        "accepted_type": config.get("accepted_type"),
        "lookback_days": config.get("lookback_days"),
        "period_seconds": config.get("period_seconds"),
        "id": target.key,
        "region": target.region,
        "instance_type": instance_type,
        "current_type": current,
        "recommended_type": rec.recommended_type,
        "action": rec.action,
        "rule": rec.rule,
        "reason": rec.reason,
        "p95_cpu": rec.p95,
        "max_cpu": rec.max,
        "samples": rec.samples,
        "recommended_count": getattr(rec, "recommended_count", None),
        "monthly_cost_current_usd": rec.monthly_cost_current,
        "monthly_cost_recommended_usd": rec.monthly_cost_recommended,
        "monthly_savings_usd": rec.monthly_savings,
        "proposed": rec.proposed,
        "blocked_by": list(rec.blocked_by),
        "pinned": pin and instance_type != following,
        "resource_ids": list(rec.resource_ids),
    }
