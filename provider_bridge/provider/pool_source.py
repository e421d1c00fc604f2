"""The ``quotaform_pool`` data source: a declared pool's limits, live usage and headroom.

The limits come from the pool-scope quotas of quotaform.json; when several
quotas name the same pool, the lowest value of each limit applies. Team
quotas are not included. The usage is counted by ``policies.live_usage``, as
``quotaform usage`` and ``quotaform check --usage`` count it: EC2 instances
that are pending, running, stopping or stopped, Auto Scaling groups and EKS
node groups at their maximum size, RDS instances.
"""

from __future__ import annotations

import logging
from typing import Any

from tf.iface import ReadDataContext
from tf.schema import Schema

from provider_bridge.provider.base import QuotaformDataSource, known
from provider_bridge.provider.diagnostics import ProviderError, add_warning
from provider_bridge.provider.schema import pool_schema

log = logging.getLogger(__name__)

# (limit field of cdk.model.Quota, usage attribute) in the order of the schema.
LIMITS = (
    ("max_instances", "instances"),
    ("max_vcpu", "vcpu"),
    ("max_memory_gib", "memory_gib"),
    ("max_monthly_cost_usd", "monthly_cost_usd"),
)


def declared_pool(model: Any, name: str, source: str | None, attribute: str = "name") -> Any:
    """Return the pool ``name`` of the model; raise ``ProviderError`` listing the declared ones."""
    pool = model.pool(name)
    if pool is None:
        declared = ", ".join(sorted(p.name for p in model.allocation.pools)) or "none"
        raise ProviderError(
            f"Unknown pool {name!r}",
            f"Pool {name!r} is not declared in {source}; declared pools: {declared}. Check the "
            "name, or declare the pool and run 'quotaform synth' again.",
            attribute,
        )
    return pool


def pool_limits(model: Any, name: str) -> dict[str, float | None]:
    """Return each limit of the pool-scope quotas of ``name``; the lowest wins, None if unset."""
    limits: dict[str, float | None] = {field: None for field, _ in LIMITS}
    for quota in model.allocation.quotas:
        if quota.scope != "pool" or quota.target != name:
            continue
        for field, _ in LIMITS:
            value = getattr(quota, field)
            if value is not None and (limits[field] is None or value < limits[field]):
                limits[field] = value
    return limits


class PoolDataSource(QuotaformDataSource):
    """Limits from the declarations, usage from AWS, and their difference."""

    name = "pool"

    @classmethod
    def get_schema(cls) -> Schema:
        return pool_schema()

    def fetch(self, ctx: ReadDataContext, config: dict[str, Any]) -> dict[str, Any]:
        settings = self.provider.configured()
        model = settings.model()
        name = config["name"]
        pool = declared_pool(model, name, settings.config)
        exclude = config.get("exclude_tags") if known(config.get("exclude_tags")) else None

        resources = self._counted(model, name, pool.region, exclude or {})
        usage: dict[str, float] = {used: 0 for _, used in LIMITS}
        for resource in resources:
            for _, used in LIMITS:
                usage[used] += getattr(resource.usage, used)
        self._warn_uncounted(ctx, name, resources)

        limits = pool_limits(model, name)
        state: dict[str, Any] = {
            "name": name,
            "exclude_tags": config.get("exclude_tags"),
            "id": name,
            "team": pool.team,
            "kind": pool.kind,
            "region": pool.region,
            "instance_type": pool.instance_type,
            "declared_instances": pool.instance_count,
            "resource_ids": [resource.ids[0] for resource in resources],
        }
        within = True
        for field, used in LIMITS:
            limit = limits[field]
            value = round(usage[used], 3)
            headroom = None if limit is None else round(limit - value, 3)
            state[field] = limit
            state[used] = value
            state[f"headroom_{used}"] = headroom
            within = within and (headroom is None or headroom >= 0)
        state["within_quota"] = within
        log.info(
            "pool read pool=%s resources=%d vcpu=%d within_quota=%s",
            name,
            len(resources),
            usage["vcpu"],
            within,
        )
        return state

    def _counted(self, model: Any, name: str, region: str, exclude: dict[str, str]) -> list[Any]:
        """Return the pool's live resources, less those that carry every tag of ``exclude``."""
        from botocore.exceptions import BotoCoreError, ClientError

        from cdk.errors import ExecutionError
        from policies.live_usage import collect_usage
        from provider_bridge.provider.aws import aws_error
        from provider_bridge.provider.live import tagged_ids
        from provider_bridge.provider.lookup import catalog

        aws = self.provider.aws()
        try:
            document = collect_usage(model, catalog(), [region], aws.client)
        except ExecutionError as exc:
            if isinstance(exc.__cause__, BotoCoreError | ClientError):
                raise aws_error(f"Reading the usage of {region}", exc.__cause__) from exc
            raise
        record = document.pools.get(name)
        if record is None:
            return []
        skipped = tagged_ids(aws, region, exclude)
        return [item for item in record.resources if not skipped.intersection(item.ids)]

    @staticmethod
    def _warn_uncounted(ctx: ReadDataContext, name: str, resources: list[Any]) -> None:
        partial = [item for item in resources if item.uncounted]
        if partial:
            details = "; ".join(
                f"{item.ids[0]} ({item.instance_type or 'unknown type'}): "
                f"{', '.join(item.uncounted)} not counted, {item.reason or 'size unknown'}"
                for item in partial
            )
            add_warning(
                ctx.diagnostics,
                f"Pool {name} has resources whose size is unknown",
                f"{details}. The usage and headroom leave those figures out; check the "
                "instance types, or update quotaform if its catalog lacks them.",
            )
