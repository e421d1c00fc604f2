"""The quota table of a decision: every quota limit with its usage before and after.

Pool quotas come first, in the order of the pool tree: each parent before its
children, and siblings as declared, so the rows show the tree. Team quotas
follow in declaration order. Within a quota the metrics run instances, vCPU,
memory, monthly cost.
"""

from __future__ import annotations

from cdk.model import ResourceConfig
from policies.documents import COST_DIGITS, MEMORY_DIGITS, Metric, PolicyInput, QuotaRow, Usage
from policies.pools import tree_order

# Each quota limit field with the usage metric it limits.
QUOTA_LIMITS: tuple[tuple[str, Metric], ...] = (
    ("max_instances", "instances"),
    ("max_vcpu", "vcpu"),
    ("max_memory_gib", "memory_gib"),
    ("max_monthly_cost_usd", "monthly_cost_usd"),
)
_DIGITS: dict[Metric, int] = {"memory_gib": MEMORY_DIGITS, "monthly_cost_usd": COST_DIGITS}


def quota_rows(policy_input: PolicyInput, config: ResourceConfig) -> list[QuotaRow]:
    """Compare every quota limit with the usage before and after the change."""
    position = {name: index for index, name in enumerate(tree_order(config))}
    quotas = config.allocation.quotas
    pool_quotas = sorted((quota for quota in quotas if quota.scope == "pool"),
                         key=lambda quota: position.get(quota.target, len(position)))
    team_quotas = [quota for quota in quotas if quota.scope == "team"]

    rows: list[QuotaRow] = []
    for quota in [*pool_quotas, *team_quotas]:
        if quota.scope == "pool":
            usage = policy_input.pools.get(quota.target)
            ancestors = usage.ancestors if usage else []
        else:
            usage = policy_input.teams.get(quota.target)
            ancestors = []
        after: Usage = usage if usage is not None else Usage()
        before = usage.before if usage is not None else Usage()
        uncounted = usage.uncounted if usage is not None else {}
        for field, metric in QUOTA_LIMITS:
            limit = getattr(quota, field)
            if limit is None:
                continue
            value = getattr(after, metric)
            rows.append(QuotaRow(
                scope=quota.scope,
                target=quota.target,
                metric=metric,
                limit=limit,
                before=getattr(before, metric) if policy_input.source == "plan" else None,
                after=value,
                headroom=_rounded(limit - value, metric),
                ancestors=list(ancestors),
                unsized=uncounted.get(metric, 0),
            ))
    return rows


def _rounded(value: float, metric: Metric) -> int | float:
    digits = _DIGITS.get(metric)
    return value if digits is None else round(value, digits)
