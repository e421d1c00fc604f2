"""The policy gate: normalize, evaluate the Rego rules, apply enforcement levels.

Python adds the facts the rules compare (the requestor, the cost estimate), the
engine evaluates our rules and any user policies, and ``policies.enforcement``
applies levels, waivers and overrides after Rego, so the rules stay free of settings.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdk.errors import InputError
from cdk.model import ResourceConfig
from policies.cost import estimate_cost
from policies.custom import UserPolicies
from policies.documents import Decision, EnforcementLevel, PolicyInput, UsageDocument
from policies.enforcement import DEFAULT_ENFORCEMENT, Enforcer, OverrideRequest
from policies.engine import Engine, default_engine
from policies.identity import requestor_facts
from policies.normalize import normalize_config, normalize_plan
from policies.quota_table import quota_rows

if TYPE_CHECKING:
    # Annotations only, so importing policies does not load the provider bridge and boto3.
    from provider_bridge.catalog import Catalog

logger = logging.getLogger(__name__)

# Fields of the policy input that no shipped rule reads, so the engines do not receive them.
# They are each resource's sizes and usage before the change and its instance counts, which
# the quota rules read as pool and team totals instead, and the totals of the whole plan.
UNREAD_FIELDS: dict[str, Any] = {
    "totals": True,
    "resources": {"__all__": {
        "instance_type_before", "vcpu_before", "memory_gib_before", "monthly_cost_usd_before",
        "count_before", "count_after", "usage_before", "usage_after",
    }},
}


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """Settings of one check that do not come from the declarations."""

    # (name, source) from policies.identity.find_requestor; None when no one is known.
    requestor: tuple[str, str] | None = None
    # Replaces allocation.max_monthly_cost_delta_usd when set (--budget).
    budget_usd: float | None = None
    overrides: tuple[OverrideRequest, ...] = ()
    user_policies: UserPolicies | None = None
    today: dt.date | None = None


def check_plan(plan: dict[str, Any], config: ResourceConfig, catalog: Catalog, *,
               source: str = "plan", engine: Engine | None = None,
               options: CheckOptions | None = None,
               usage: UsageDocument | None = None) -> Decision:
    """Check a ``terraform show -json`` plan document against the declarations.

    ``usage`` adds each pool's usage outside the plan (other stacks and workspaces).
    """
    try:
        policy_input = normalize_plan(plan, config, catalog, source=source, usage=usage)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # A field of an unexpected JSON type, such as a string where an object belongs.
        raise InputError(
            f"{source}: a resource change has an unexpected structure ({exc}); check that "
            "the file is unmodified 'terraform show -json PLANFILE' output"
        ) from exc
    add_check_facts(policy_input, config, catalog, options)
    return evaluate_input(policy_input, config, engine or default_engine(), options=options,
                          plan=plan)


def check_config(config: ResourceConfig, catalog: Catalog, *,
                 engine: Engine | None = None, usage: UsageDocument | None = None) -> Decision:
    """Check the declarations alone, every pool fully allocated (ASG at max_size)."""
    policy_input = normalize_config(config, catalog, usage=usage)
    add_check_facts(policy_input, config, catalog, None)
    return evaluate_input(policy_input, config, engine or default_engine())


def add_check_facts(policy_input: PolicyInput, config: ResourceConfig, catalog: Catalog,
                    options: CheckOptions | None) -> None:
    """Add the requestor and the cost estimate to a normalized input."""
    options = options or CheckOptions()
    if options.requestor is not None:
        policy_input.requestor = requestor_facts(*options.requestor, config)
    budget = options.budget_usd
    if budget is None:
        budget = config.allocation.max_monthly_cost_delta_usd
    policy_input.cost = estimate_cost(policy_input, catalog, budget)


def engine_input(policy_input: PolicyInput) -> str:
    """Return the JSON text of the policy input that the engine evaluates.

    The fields in ``UNREAD_FIELDS`` are left out, because no shipped rule reads
    them. They made up 36 % of the 8.2 MB input of the 10,000-change benchmark
    plan. The rest is written straight from the models, with no intermediate document.
    """
    return policy_input.model_dump_json(exclude=UNREAD_FIELDS)


def evaluate_input(policy_input: PolicyInput, config: ResourceConfig, engine: Engine,
                   *, today: dt.date | None = None, options: CheckOptions | None = None,
                   plan: dict[str, Any] | None = None) -> Decision:
    """Evaluate a normalized input, and user policies over ``plan``, into a decision."""
    options = options or CheckOptions()
    user_policies = options.user_policies
    defaults: dict[str, EnforcementLevel] = {
        rule: DEFAULT_ENFORCEMENT.get(rule, "hard-mandatory") for rule in engine.rules()
    }
    if user_policies is not None:
        defaults.update(user_policies.defaults())
    # Built before any evaluation, so an invalid setting, waiver or override fails first.
    enforcer = Enforcer(config, defaults, requestor=policy_input.requestor,
                        overrides=options.overrides, today=today or options.today)
    found = engine.evaluate(engine_input(policy_input), config.model_dump(mode="json"))
    if user_policies is not None and plan is not None:
        found += user_policies.evaluate(plan)

    denials, warnings = enforcer.sort(found)
    return Decision(
        allowed=not denials,
        violations=denials,
        warnings=warnings,
        quotas=quota_rows(policy_input, config),
        cost=policy_input.cost,
        requestor=policy_input.requestor,
        overrides=enforcer.applied_overrides(),
    )
