"""The policy gate: normalize, evaluate the Rego rules, apply enforcement levels.

Enforcement is applied here, after Rego, so the rules stay free of settings:

- a rule disabled in ``allocation.policies`` reports nothing;
- ``advisory`` turns its violations into warnings;
- ``soft-mandatory`` and ``hard-mandatory`` (the default) deny. A soft-mandatory
  denial is overridden the same way as any other, with a waiver;
- an unexpired waiver that names the rule and the violation's pool or address
  turns that violation into a warning which names the waiver.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from cdk.errors import InputError
from cdk.model import PolicySetting, ResourceConfig, Waiver
from policies.documents import Decision, PolicyInput, QuotaRow, Usage, Violation
from policies.engine import Engine, default_engine
from policies.normalize import normalize_config, normalize_plan

if TYPE_CHECKING:
    # Annotations only, so importing policies does not load the provider bridge and boto3.
    from provider_bridge.catalog import Catalog

logger = logging.getLogger(__name__)

# Quota limits with a rule behind them, as (scope, limit field, metric).
ENFORCED_LIMITS = (
    ("pool", "max_instances", "instances"),
    ("pool", "max_vcpu", "vcpu"),
    ("team", "max_vcpu", "vcpu"),
)
UNENFORCED_LIMITS = ("max_instances", "max_memory_gib", "max_monthly_cost_usd")


def check_plan(plan: dict[str, Any], config: ResourceConfig, catalog: Catalog, *,
               source: str = "plan", engine: Engine | None = None) -> Decision:
    """Check a ``terraform show -json`` plan document against the declarations."""
    try:
        policy_input = normalize_plan(plan, config, catalog, source=source)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # A field of an unexpected JSON type, such as a string where an object belongs.
        raise InputError(
            f"{source}: a resource change has an unexpected structure ({exc}); check that "
            "the file is unmodified 'terraform show -json PLANFILE' output"
        ) from exc
    return evaluate_input(policy_input, config, engine or default_engine())


def check_config(config: ResourceConfig, catalog: Catalog, *,
                 engine: Engine | None = None) -> Decision:
    """Check the declarations alone, every pool fully allocated (ASG at max_size)."""
    policy_input = normalize_config(config, catalog)
    return evaluate_input(policy_input, config, engine or default_engine())


def evaluate_input(policy_input: PolicyInput, config: ResourceConfig, engine: Engine,
                   *, today: dt.date | None = None) -> Decision:
    """Evaluate a normalized input and sort the findings into denials and warnings."""
    settings = _policy_settings(config, engine)
    _check_waivers(config, engine)
    _warn_unenforced_limits(config)
    found = engine.evaluate(policy_input.model_dump(mode="json"), config.model_dump(mode="json"))

    today = today or dt.date.today()
    violations: list[Violation] = []
    warnings: list[Violation] = []
    for item in found:
        setting = settings.get(item["rule"])
        if setting is not None and not setting.enabled:
            continue
        violation = Violation(
            rule=item["rule"],
            message=item["message"],
            severity=str(item["severity"]),
            enforcement=setting.enforcement if setting else "hard-mandatory",
            pool=item["pool"],
            address=item["address"],
        )
        waiver = _matching_waiver(config.allocation.waivers, violation, today)
        if waiver is not None:
            violation.message += (f" (waived until {waiver.expires} by {waiver.owner}: "
                                  f"{waiver.reason})")
            warnings.append(violation)
        elif violation.enforcement == "advisory":
            warnings.append(violation)
        else:
            violations.append(violation)

    return Decision(
        allowed=not violations,
        violations=sorted(violations, key=_order),
        warnings=sorted(warnings, key=_order),
        quotas=quota_rows(policy_input, config),
    )


def _order(violation: Violation) -> tuple[str, str, str, str]:
    return (violation.rule, violation.pool or "", violation.address or "", violation.message)


def _known_rules_hint(engine: Engine) -> str:
    return ", ".join(sorted(engine.rules()))


def _policy_settings(config: ResourceConfig, engine: Engine) -> dict[str, PolicySetting]:
    known = engine.rules()
    settings: dict[str, PolicySetting] = {}
    for index, setting in enumerate(config.allocation.policies):
        if setting.rule not in known:
            raise InputError(
                f"allocation.policies[{index}].rule: unknown rule '{setting.rule}'; "
                f"known rules: {_known_rules_hint(engine)}"
            )
        settings[setting.rule] = setting
    return settings


def _check_waivers(config: ResourceConfig, engine: Engine) -> None:
    known = engine.rules()
    for index, waiver in enumerate(config.allocation.waivers):
        if waiver.rule not in known:
            raise InputError(
                f"allocation.waivers[{index}].rule: unknown rule '{waiver.rule}'; "
                f"known rules: {_known_rules_hint(engine)}"
            )


def _matching_waiver(waivers: list[Waiver], violation: Violation,
                     today: dt.date) -> Waiver | None:
    for waiver in waivers:
        if waiver.rule != violation.rule:
            continue
        if waiver.pool is not None and waiver.pool != violation.pool:
            continue
        if waiver.address is not None and waiver.address != violation.address:
            continue
        if waiver.expires < today:
            logger.warning("waiver of rule %s for %s expired on %s; renew or remove it",
                           waiver.rule, waiver.pool or waiver.address, waiver.expires)
            continue
        return waiver
    return None


def _warn_unenforced_limits(config: ResourceConfig) -> None:
    for quota in config.allocation.quotas:
        for field in UNENFORCED_LIMITS:
            enforced = (quota.scope, field) in {(s, f) for s, f, _ in ENFORCED_LIMITS}
            if getattr(quota, field) is not None and not enforced:
                # NOTE: these limits are stored in the model, but no rule checks them yet.
                logger.warning("%s quota '%s' sets %s, which no rule enforces yet",
                               quota.scope, quota.target, field)


def quota_rows(policy_input: PolicyInput, config: ResourceConfig) -> list[QuotaRow]:
    """Compare every enforced quota limit with the usage before and after the change."""
    rows: list[QuotaRow] = []
    for quota in config.allocation.quotas:
        for scope, field, metric in ENFORCED_LIMITS:
            limit = getattr(quota, field)
            if quota.scope != scope or limit is None:
                continue
            before, after = _usage(policy_input, scope, quota.target)
            rows.append(QuotaRow(
                scope=scope,
                target=quota.target,
                metric=metric,
                limit=limit,
                before=getattr(before, metric) if policy_input.source == "plan" else None,
                after=getattr(after, metric),
                headroom=limit - getattr(after, metric),
            ))
    return rows


def _usage(policy_input: PolicyInput, scope: str, target: str) -> tuple[Usage, Usage]:
    if scope == "pool":
        pool = policy_input.pools.get(target)
        return (pool.before, pool) if pool else (Usage(), Usage())
    before, after = Usage(), Usage()
    for pool in policy_input.pools.values():
        if pool.team == target:
            before.instances += pool.before.instances
            before.vcpu += pool.before.vcpu
            after.instances += pool.instances
            after.vcpu += pool.vcpu
    return before, after
