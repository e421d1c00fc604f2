"""Turn a plan (or the declarations alone) into the compact input our Rego rules read.

Python computes the facts here: pool and team from tags, instance counts,
vCPU and memory from the catalog, the region, and per-pool totals after the
change. The rules only compare them.

What is counted:

- ``aws_instance`` and ``aws_db_instance``: one instance while it exists. A
  create counts 0 before and 1 after, a delete 1 and 0, an update, a no-op and
  a replace 1 and 1. A ``forget`` counts 0 after, because Terraform stops
  managing the instance.
- ``aws_autoscaling_group``: ``max_size`` instances of its launch template's
  (or launch configuration's) instance type. With a mixed instances policy the
  first override type is counted, else the template's type.
- Launch templates and configurations count no instances; they are kept for
  the tag and instance type rules.

Data sources allocate nothing and carry no tags we enforce, so they are
dropped. Every other managed resource is kept with its tags and region and no
sizes, for user rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdk.model import POOL_TAG, TEAM_TAG, Pool, ResourceConfig
from policies.documents import PolicyInput, PoolUsage, ResourceFacts, UnsizedResource, Usage
from policies.plan import Configuration, check_plan_document, parse_address, prior_state_resources
from policies.templates import TemplateIndex, override_type

if TYPE_CHECKING:
    # Annotations only, so importing policies does not load the provider bridge and boto3.
    from provider_bridge.catalog import Catalog

logger = logging.getLogger(__name__)

SINGLE_INSTANCE_TYPES = {"aws_instance": "instance_type", "aws_db_instance": "instance_class"}
GROUP_TYPE = "aws_autoscaling_group"
TEMPLATE_TYPES = ("aws_launch_template", "aws_launch_configuration")
_KIND_TYPES = {"asg": GROUP_TYPE, "instances": "aws_instance", "db": "aws_db_instance"}


@dataclass(slots=True)
class _Sizing:
    """Instance type and count on each side of the change, or why they are unknown."""

    type_before: str | None = None
    type_after: str | None = None
    count_before: int = 0
    count_after: int = 0
    template_tags: dict[str, str] | None = None
    reason: str | None = None


class _PlanContext:
    def __init__(self, plan: dict[str, Any], config: ResourceConfig, catalog: Catalog):
        self.configuration = Configuration(plan)
        self.templates = TemplateIndex(plan, self.configuration, prior_state_resources(plan))
        self.config = config
        self.catalog = catalog


def normalize_plan(plan: dict[str, Any], config: ResourceConfig, catalog: Catalog,
                   *, source: str = "plan") -> PolicyInput:
    """Build the policy input of a ``terraform show -json`` plan document."""
    check_plan_document(plan, source)
    context = _PlanContext(plan, config, catalog)

    resources: list[ResourceFacts] = []
    unsized: list[UnsizedResource] = []
    for change in plan.get("resource_changes") or []:
        if change.get("mode", "managed") != "managed":
            continue
        facts, problem = _resource_facts(change, context)
        resources.append(facts)
        if problem is not None:
            unsized.append(problem)

    logger.debug("normalized %s: resources=%d unsized=%d", source, len(resources), len(unsized))
    return PolicyInput(
        source="plan",
        terraform_version=plan.get("terraform_version"),
        resources=resources,
        pools=pool_usage(resources, config),
        unsized=unsized,
    )


def _resource_facts(change: dict[str, Any],
                    context: _PlanContext) -> tuple[ResourceFacts, UnsizedResource | None]:
    body = change.get("change") or {}
    actions = [str(action) for action in body.get("actions") or []]
    before = body.get("before") or {}
    after = body.get("after") or {}
    kind = str(change.get("type"))

    tags = tags_of(after if _exists_after(actions) else before)
    sizing = _sizing(change, kind, actions, context)
    owner = {**(sizing.template_tags or {}), **tags}
    pool = owner.get(POOL_TAG) or None
    declared = context.config.pool(pool) if pool else None
    region = context.configuration.region(
        context.configuration.resource(parse_address(str(change.get("address"))))
    )
    facts = ResourceFacts(
        address=str(change.get("address")),
        type=kind,
        actions=actions,
        changed="create" in actions or "update" in actions,
        pool=pool,
        team=owner.get(TEAM_TAG) or None,
        instance_type=sizing.type_after or sizing.type_before,
        vcpu=None, memory_gib=None,
        instance_type_before=sizing.type_before,
        vcpu_before=None, memory_gib_before=None,
        count_before=sizing.count_before,
        count_after=sizing.count_after,
        tags=tags,
        region=region or (declared.region if declared else None),
    )
    _apply_sizes(facts, context.catalog)
    return facts, _unsized(facts, sizing.reason, context.catalog)


def _exists_before(actions: list[str]) -> bool:
    return actions != ["create"]


def _exists_after(actions: list[str]) -> bool:
    if "forget" in actions:
        return False
    return "delete" not in actions or "create" in actions


def _sizing(change: dict[str, Any], kind: str, actions: list[str],
            context: _PlanContext) -> _Sizing:
    body = change.get("change") or {}
    before = body.get("before") or {}
    after = body.get("after") or {}
    has_before, has_after = _exists_before(actions), _exists_after(actions)

    if kind in SINGLE_INSTANCE_TYPES:
        field = SINGLE_INSTANCE_TYPES[kind]
        sizing = _Sizing(
            type_before=_string(before.get(field)) if has_before else None,
            type_after=_string(after.get(field)) if has_after else None,
            count_before=int(has_before), count_after=int(has_after),
        )
        if has_after and sizing.type_after is None and _unknown(body, field):
            sizing.reason = f"its {field} is unknown until apply"
        return sizing
    if kind == GROUP_TYPE:
        return _group_sizing(change, has_before, has_after, context)
    if kind in TEMPLATE_TYPES:
        return _Sizing(type_before=_string(before.get("instance_type")),
                       type_after=_string(after.get("instance_type")) if has_after else None)
    return _Sizing()


def _group_sizing(change: dict[str, Any], has_before: bool, has_after: bool,
                  context: _PlanContext) -> _Sizing:
    body = change.get("change") or {}
    before = body.get("before") or {}
    after = body.get("after") or {}
    template = context.templates.resolve(change)
    sizing = _Sizing(
        count_before=_count(before.get("max_size")) if has_before else 0,
        count_after=_count(after.get("max_size")) if has_after else 0,
    )
    if template is not None:
        sizing.template_tags = tags_of(template.after or template.before)
    template_before = template.before if template else {}
    template_after = template.after if template else {}
    if has_before:
        sizing.type_before = override_type(before) or _string(template_before.get("instance_type"))
    if has_after:
        sizing.type_after = override_type(after) or _string(template_after.get("instance_type"))

    if has_after and _unknown(body, "max_size"):
        sizing.reason = "its max_size is unknown until apply"
    elif has_after and sizing.type_after is None:
        sizing.reason = (
            "its launch template or launch configuration was not found in the plan"
            if template is None else
            f"the instance type of {template.address} is not known at plan time"
        )
    return sizing


def _unknown(body: dict[str, Any], field: str) -> bool:
    return (body.get("after_unknown") or {}).get(field) is True


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def catalog_size(catalog: Catalog, instance_type: str | None) -> tuple[int | None, float | None]:
    """Return vCPU and memory GiB of an EC2 type or RDS class, or (None, None) if unknown.

    An RDS class ``db.X`` is sized as the EC2 type ``X``: RDS runs classes on the
    EC2 type of the same name, with the same vCPU and memory.
    """
    if instance_type is None:
        return None, None
    spec = catalog.get(instance_type.removeprefix("db."))
    if spec is None:
        return None, None
    return spec.vcpu, spec.memory_gib


def _apply_sizes(facts: ResourceFacts, catalog: Catalog) -> None:
    facts.vcpu, facts.memory_gib = catalog_size(catalog, facts.instance_type)
    facts.vcpu_before, facts.memory_gib_before = catalog_size(catalog, facts.instance_type_before)


def _unsized(facts: ResourceFacts, reason: str | None,
             catalog: Catalog) -> UnsizedResource | None:
    """Describe a pool resource that launches instances of a size we cannot look up."""
    if facts.pool is None or facts.count_after == 0:
        return None
    if reason is None and facts.vcpu is not None:
        return None
    if reason is None:
        reason = f"instance type '{facts.instance_type}' is not in the instance catalog"
    return UnsizedResource(address=facts.address, type=facts.type, pool=facts.pool,
                           instance_type=facts.instance_type, reason=reason)


def tags_of(values: dict[str, Any]) -> dict[str, str]:
    """Merge a resource's ``tags_all``, ``tags`` and ASG ``tag`` blocks into one map."""
    merged: dict[str, str] = {}
    for name in ("tags_all", "tags", "tag"):
        value = values.get(name)
        if isinstance(value, dict):
            merged.update({str(k): str(v) for k, v in value.items() if v is not None})
        elif isinstance(value, list):
            # ASG tag blocks, and the list-of-maps "tags" of AWS provider 2.x and 3.x.
            for block in value:
                if isinstance(block, dict) and "key" in block and block.get("value") is not None:
                    merged[str(block["key"])] = str(block["value"])
    return merged


def pool_usage(resources: list[ResourceFacts], config: ResourceConfig) -> dict[str, PoolUsage]:
    """Sum instances, vCPU and memory per pool, before and after the change.

    Every declared pool is listed, also with no resources; a pool named only by
    a tag is listed with the team of its first resource.
    """
    pools = {p.name: PoolUsage(team=p.team, before=Usage()) for p in config.allocation.pools}
    for facts in resources:
        if facts.pool is None:
            continue
        usage = pools.setdefault(facts.pool, PoolUsage(team=facts.team, before=Usage()))
        _add(usage, facts.count_after, facts.vcpu, facts.memory_gib)
        _add(usage.before, facts.count_before, facts.vcpu_before, facts.memory_gib_before)
    return pools


def _add(usage: Usage, count: int, vcpu: int | None, memory_gib: float | None) -> None:
    usage.instances += count
    usage.vcpu += count * (vcpu or 0)
    usage.memory_gib = round(usage.memory_gib + count * (memory_gib or 0.0), 3)


def normalize_config(config: ResourceConfig, catalog: Catalog) -> PolicyInput:
    """Build the policy input of the declarations alone, every pool fully allocated."""
    resources = [_declared_facts(pool, catalog) for pool in config.allocation.pools]
    unsized = [
        problem for facts in resources
        if (problem := _unsized(facts, None, catalog)) is not None
    ]
    return PolicyInput(source="config", terraform_version=None, resources=resources,
                       pools=pool_usage(resources, config), unsized=unsized)


def _declared_facts(pool: Pool, catalog: Catalog) -> ResourceFacts:
    vcpu, memory_gib = catalog_size(catalog, pool.instance_type)
    return ResourceFacts(
        address=f"allocation.pools.{pool.name}",
        type=_KIND_TYPES[pool.kind],
        actions=["create"],
        changed=True,
        pool=pool.name,
        team=pool.team,
        instance_type=pool.instance_type,
        vcpu=vcpu,
        memory_gib=memory_gib,
        instance_type_before=None, vcpu_before=None, memory_gib_before=None,
        count_before=0,
        count_after=pool.instance_count,
        tags={**pool.tags, POOL_TAG: pool.name, TEAM_TAG: pool.team},
        region=pool.region,
    )
