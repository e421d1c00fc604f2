"""Estimate the monthly cost change of a plan from on-demand prices.

The normalized input already prices each resource: ``usage_before`` and
``usage_after`` hold ``count x hourly on-demand Linux price x 730 h`` in the
resource's region. An auto scaling group counts ``max_size`` instances, so the
estimate is the most the change can cost, not its cost at desired capacity.

RDS classes are priced as the EC2 type of the same name, as the quota rules do,
because the catalog has EC2 prices only; that understates a database's cost.
A resource that runs instances without a price (an unknown type, region or
count) is left out of the totals and listed in ``unpriced`` with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policies.documents import (
    CostEstimate,
    PolicyInput,
    ResourceCost,
    ResourceFacts,
    UnpricedResource,
)

if TYPE_CHECKING:
    from provider_bridge.catalog import Catalog

# The month of AWS price lists, as in provider_bridge.catalog.HOURS_PER_MONTH; importing
# that module here would load the whole provider bridge with every check.
HOURS_PER_MONTH = 730.0


def estimate_cost(policy_input: PolicyInput, catalog: Catalog,
                  budget_usd: float | None) -> CostEstimate:
    """Sum the priced resources of the input before and after the change."""
    unsized = {
        item.address: item.reason for item in policy_input.unsized
        if "monthly_cost_usd" in item.metrics
    }
    lines: list[ResourceCost] = []
    unpriced: list[UnpricedResource] = []
    before_total = after_total = 0.0
    for facts in policy_input.resources:
        reason = unsized.get(facts.address) or _price_problem(facts, catalog)
        if reason is not None and _same_size(facts):
            # Whatever it costs, it costs the same after the plan, so the delta is exact.
            continue
        if reason is not None:
            unpriced.append(UnpricedResource(
                address=facts.address, type=facts.type, pool=facts.pool,
                instance_type=facts.instance_type, reason=reason,
            ))
            continue
        before = facts.usage_before.monthly_cost_usd
        after = facts.usage_after.monthly_cost_usd
        before_total += before
        after_total += after
        if round(after - before, 2) != 0:
            lines.append(ResourceCost(address=facts.address, pool=facts.pool, before_usd=before,
                                      after_usd=after, delta_usd=round(after - before, 2)))

    before_total, after_total = round(before_total, 2), round(after_total, 2)
    return CostEstimate(
        hours_per_month=HOURS_PER_MONTH,
        before_usd=before_total,
        after_usd=after_total,
        delta_usd=round(after_total - before_total, 2),
        budget_usd=budget_usd,
        resources=sorted(lines, key=lambda line: (-line.delta_usd, line.address)),
        unpriced=unpriced,
    )


def _same_size(facts: ResourceFacts) -> bool:
    return (facts.count_before == facts.count_after
            and facts.instance_type_before == facts.instance_type
            and facts.usage_before == facts.usage_after)


def _price_problem(facts: ResourceFacts, catalog: Catalog) -> str | None:
    """Return why a side of the change that runs instances has no price, or None."""
    sides = ((facts.instance_type_before, facts.count_before, facts.monthly_cost_usd_before),
             (facts.instance_type, facts.count_after, facts.monthly_cost_usd))
    for instance_type, count, price in sides:
        if count == 0 or price is not None:
            continue
        if instance_type is None:
            return "its instance type is not known at plan time"
        if facts.region is None:
            return "its region is not known at plan time, so no regional price applies"
        if instance_type.removeprefix("db.") not in catalog:
            return f"instance type '{instance_type}' is not in the instance catalog"
        return f"instance type '{instance_type}' has no on-demand price in {facts.region}"
    return None
