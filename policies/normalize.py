"""Turn a plan (or the declarations alone) into the compact input our Rego rules read.

Python computes the facts here: pool and team from tags, instance counts,
vCPU, memory and on-demand monthly cost from the catalog (``policies.sizing``),
the region, and the totals per pool and team after the change
(``policies.pools``). The rules only compare them.

What is counted, on the state after the change (the prior state plus the plan):

- ``aws_instance`` and ``aws_db_instance``: one instance while it exists. A
  create counts 0 before and 1 after, a delete 1 and 0, an update, a no-op and
  a replace (in either order) 1 and 1, each side at its own instance type. A
  ``forget`` counts 0 after, because Terraform stops managing the instance. An
  instance without ``instance_type`` takes the type of its launch template.
- ``aws_autoscaling_group``: ``max_size`` instances of its launch template's
  (or launch configuration's) type. A mixed instances policy is counted at the
  worst case of its override types and weights, as ``policies.sizing`` describes.
- ``aws_eks_node_group``: ``scaling_config.max_size`` instances of
  ``instance_types[0]``; without ``instance_types``, of its launch template's
  type, or of t3.medium, the type EKS launches when neither names one.
- Launch templates and configurations count no instances; they are kept for
  the tag and instance type rules.
- A resource of the prior state that the plan does not list (a ``-target``
  plan) stays as it is: it is kept as a ``no-op`` and counts on both sides.
- A deposed object that the plan deletes counts before and not after.

``resource_drift`` is not read: the prior state and the ``before`` values of
the resource changes already hold the refreshed state. Data sources allocate
nothing and carry no tags we enforce, so they are dropped. Every other managed
resource is kept with its tags and region and no sizes, for user rules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from cdk.errors import InputError
from cdk.model import POOL_TAG, TEAM_TAG, Pool, ResourceConfig
from policies.documents import (
    METRICS,
    SIZE_METRICS,
    InstanceOverride,
    Metric,
    PolicyInput,
    ResourceFacts,
    UnsizedResource,
    UsageChange,
    UsageDocument,
)
from policies.plan import Configuration, check_plan_document, parse_address, prior_state_resources
from policies.pools import ExternalPool, summarize
from policies.sizing import Counted, Tally, count_instances, count_overrides, size_of
from policies.templates import Template, TemplateIndex, mixed_policy
from policies.usage import external_usage, managed_ids

if TYPE_CHECKING:
    # Annotations only, so importing policies does not load the provider bridge and boto3.
    from provider_bridge.catalog import Catalog

logger = logging.getLogger(__name__)

SINGLE_INSTANCE_TYPES = {"aws_instance": "instance_type", "aws_db_instance": "instance_class"}
GROUP_TYPE = "aws_autoscaling_group"
NODE_GROUP_TYPE = "aws_eks_node_group"
TEMPLATE_TYPES = ("aws_launch_template", "aws_launch_configuration")
COUNTED_TYPES = (*SINGLE_INSTANCE_TYPES, GROUP_TYPE, NODE_GROUP_TYPE)
# The instance type EKS launches when neither the node group nor its launch template names one.
EKS_DEFAULT_TYPE = "t3.medium"
_KIND_TYPES = {"asg": GROUP_TYPE, "instances": "aws_instance", "db": "aws_db_instance"}
_ALL_METRICS: tuple[Metric, ...] = METRICS
# Types whose sizing reads their values; every other type counts nothing on either side.
_SIZED_TYPES = frozenset((*COUNTED_TYPES, *TEMPLATE_TYPES))
# The action lists that 'terraform show -json' writes (format 1.x); a replace is a pair.
_KNOWN_ACTIONS = frozenset({
    ("no-op",), ("create",), ("read",), ("update",), ("delete",), ("forget",),
    ("delete", "create"), ("create", "delete"),
})
# The facts of all resources are validated in one call, which costs less than a call each.
_RESOURCE_LIST = TypeAdapter(list[ResourceFacts])


@dataclass(slots=True)
class _Side:
    """The type, count, overrides and unknown values of a resource on one side of a change."""

    instance_type: str | None = None
    count: int = 0
    overrides: list[tuple[str, int]] | None = None
    unknown: tuple[tuple[Metric, ...], str, str] | None = None

    def same_size(self, other: _Side) -> bool:
        return (self.instance_type, self.count, self.overrides) == (
            other.instance_type, other.count, other.overrides)


@dataclass(slots=True)
class _Sizing:
    before: _Side = field(default_factory=_Side)
    after: _Side = field(default_factory=_Side)
    template_tags: dict[str, str] | None = None


class _PlanContext:
    def __init__(self, plan: dict[str, Any], config: ResourceConfig, catalog: Catalog):
        self.configuration = Configuration(plan)
        self.templates = TemplateIndex(plan, self.configuration, prior_state_resources(plan))
        self.config = config
        self.catalog = catalog
        self.pools = {pool.name: pool for pool in config.allocation.pools}


def normalize_plan(plan: dict[str, Any], config: ResourceConfig, catalog: Catalog,
                   *, source: str = "plan", usage: UsageDocument | None = None,
                   usage_source: str = "usage document") -> PolicyInput:
    """Build the policy input of a ``terraform show -json`` plan document.

    ``usage`` adds the usage of each pool outside the plan. A resource of it that
    the plan manages (by id) is skipped, because the plan already counts it.
    """
    check_plan_document(plan, source)
    context = _PlanContext(plan, config, catalog)

    fields: list[dict[str, Any]] = []
    unsized: list[UnsizedResource] = []
    for change in _changes(plan):
        facts, problem = _resource_facts(change, context)
        fields.append(facts)
        if problem is not None:
            unsized.append(problem)
    resources = _RESOURCE_LIST.validate_python(fields)

    external: dict[str, ExternalPool] = {}
    if usage is not None:
        external = external_usage(usage, managed_ids(plan, COUNTED_TYPES), usage_source)
    pools, teams = summarize(resources, unsized, config, external)
    logger.debug("normalized %s: resources=%d unsized=%d", source, len(resources), len(unsized))
    return PolicyInput(
        source="plan",
        terraform_version=plan.get("terraform_version"),
        resources=resources,
        pools=pools,
        teams=teams,
        totals=_totals(resources),
        unsized=unsized,
    )


def _changes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the managed resource changes, then the prior state's resources the plan omits."""
    listed: set[str] = set()
    for change in plan.get("resource_changes") or []:
        if change.get("mode", "managed") != "managed":
            continue
        if change.get("deposed"):
            change = {**change, "address": f"{change.get('address')} (deposed object "
                                           f"{change['deposed']})"}
        else:
            listed.add(str(change.get("address")))
        yield change
    yield from prior_state_only(plan, listed).values()


def prior_state_only(plan: dict[str, Any], listed: set[str]) -> dict[str, dict[str, Any]]:
    """Return the prior state's managed resources not in ``listed``, as no-op changes."""
    found: dict[str, dict[str, Any]] = {}
    pending = [((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}]
    while pending:
        module = pending.pop()
        pending.extend(module.get("child_modules") or [])
        for resource in module.get("resources") or []:
            address = str(resource.get("address"))
            if (resource.get("mode", "managed") != "managed" or resource.get("deposed_key")
                    or address in listed):
                continue
            values = resource.get("values") or {}
            found[address] = {
                "address": address, "mode": "managed", "type": resource.get("type"),
                "change": {"actions": ["no-op"], "before": values, "after": values},
            }
    return found


def _resource_facts(change: dict[str, Any],
                    context: _PlanContext) -> tuple[dict[str, Any], UnsizedResource | None]:
    """Return the fields of a resource's ``ResourceFacts``, and what keeps it from being counted."""
    body = change.get("change") or {}
    actions = [str(action) for action in body.get("actions") or []]
    if actions and tuple(actions) not in _KNOWN_ACTIONS:
        raise InputError(
            f"{change.get('address')}: unknown change actions {actions}; terraform writes "
            "no-op, create, read, update, delete, forget, or the replace pairs "
            "delete+create and create+delete, so check that the plan is unmodified "
            "'terraform show -json PLANFILE' output"
        )
    before = body.get("before") or {}
    after = body.get("after") or {}
    kind = str(change.get("type"))
    address = str(change.get("address"))

    tags = tags_of(after if _exists_after(actions) else before)
    sizing = _sizing(change, kind, actions, context)
    owner = {**(sizing.template_tags or {}), **tags}
    pool = owner.get(POOL_TAG) or None
    declared = context.pools.get(pool) if pool else None
    region = context.configuration.region_of(address.split(" (deposed", 1)[0]) or (
        declared.region if declared else None)

    catalog = context.catalog
    counted_before = _count(catalog, sizing.before, region)
    counted_after = _count(catalog, sizing.after, region)
    instance_type = sizing.after.instance_type or sizing.before.instance_type
    size = size_of(catalog, instance_type, region)
    size_before = size_of(catalog, sizing.before.instance_type, region)
    facts = dict(
        address=address,
        type=kind,
        actions=actions,
        changed="create" in actions or "update" in actions,
        pool=pool,
        team=owner.get(TEAM_TAG) or None,
        instance_type=instance_type,
        vcpu=size.vcpu, memory_gib=size.memory_gib, monthly_cost_usd=size.monthly_cost_usd,
        instance_type_before=sizing.before.instance_type,
        vcpu_before=size_before.vcpu, memory_gib_before=size_before.memory_gib,
        monthly_cost_usd_before=size_before.monthly_cost_usd,
        count_before=counted_before[0].usage.instances,
        count_after=counted_after[0].usage.instances,
        usage_before=counted_before[0].usage.as_dict(),
        usage_after=counted_after[0].usage.as_dict(),
        overrides=counted_after[1],
        tags=tags,
        region=region,
    )
    grows = "create" in actions or not sizing.before.same_size(sizing.after)
    return facts, _unsized(address, kind, pool, instance_type, counted_after[0], grows)


def _count(catalog: Catalog, side: _Side,
           region: str | None) -> tuple[Counted, list[InstanceOverride]]:
    overrides: list[InstanceOverride] = []
    if side.overrides:
        counted, overrides = count_overrides(catalog, side.overrides, side.count, region)
    elif side.instance_type is not None:
        counted = count_instances(catalog, side.instance_type, side.count, region)
    else:
        counted = Counted()
        counted.usage.instances = side.count
        if side.count > 0 and side.unknown is None:
            counted.mark(SIZE_METRICS, "the plan names no instance type for it",
                         "set its instance type in the configuration")
    if side.unknown is not None:
        metrics, reason, fix = side.unknown
        counted.mark(metrics, reason, fix)
    return counted, overrides


def _unsized(address: str, kind: str, pool: str | None, instance_type: str | None,
             counted: Counted, grows: bool) -> UnsizedResource | None:
    """Describe a pool resource whose usage after the change cannot be fully counted."""
    if pool is None or not counted.uncounted:
        return None
    return UnsizedResource(address=address, type=kind, pool=pool, instance_type=instance_type,
                           reason=counted.reason or "", fix=counted.fix or "",
                           metrics=counted.uncounted, changed=grows)


def _exists_before(actions: list[str]) -> bool:
    return actions != ["create"]


def _exists_after(actions: list[str]) -> bool:
    if "forget" in actions:
        return False
    return "delete" not in actions or "create" in actions


def _sizing(change: dict[str, Any], kind: str, actions: list[str],
            context: _PlanContext) -> _Sizing:
    sizing = _Sizing()
    if kind not in _SIZED_TYPES:
        return sizing
    body = change.get("change") or {}
    sides = {"before": _exists_before(actions), "after": _exists_after(actions)}
    template: Template | None = None
    if kind in (GROUP_TYPE, NODE_GROUP_TYPE) or (kind == "aws_instance"
                                                  and _has_template_block(body)):
        template = context.templates.resolve(change)
        if template is not None:
            sizing.template_tags = tags_of(template.after or template.before)

    for side, exists in sides.items():
        if not exists:
            continue
        values = body.get(side) or {}
        unknown = (body.get("after_unknown") or {}) if side == "after" else {}
        template_values: dict[str, Any] = {}
        if template is not None:
            template_values = template.after if side == "after" else template.before
        if kind in SINGLE_INSTANCE_TYPES:
            result = _single_side(kind, values, unknown, template_values)
        elif kind == GROUP_TYPE:
            result = _group_side(values, unknown, template, template_values)
        elif kind == NODE_GROUP_TYPE:
            result = _node_group_side(change, values, unknown, template, template_values, context)
        elif kind in TEMPLATE_TYPES:
            result = _Side(instance_type=_string(values.get("instance_type")))
        else:
            result = _Side()
        setattr(sizing, side, result)
    return sizing


def _has_template_block(body: dict[str, Any]) -> bool:
    """Tell whether an instance names a launch template, which may give its type."""
    return any((body.get(side) or {}).get("launch_template") for side in ("before", "after"))


def _single_side(kind: str, values: dict[str, Any], unknown: dict[str, Any],
                 template_values: dict[str, Any]) -> _Side:
    name = SINGLE_INSTANCE_TYPES[kind]
    side = _Side(instance_type=_string(values.get(name)), count=1)
    if side.instance_type is None and kind == "aws_instance":
        side.instance_type = _string(template_values.get("instance_type"))
    if side.instance_type is None and unknown.get(name) is True:
        side.unknown = (SIZE_METRICS, f"its {name} is unknown until apply",
                        f"set {name} from a constant or a variable, not from a value that "
                        "is known only after apply")
    return side


def _group_side(values: dict[str, Any], unknown: dict[str, Any], template: Template | None,
                template_values: dict[str, Any]) -> _Side:
    side = _Side(count=_int(values.get("max_size")))
    policy = mixed_policy(values)
    if policy is not None and policy.overrides:
        side.overrides = policy.overrides
        side.instance_type = policy.overrides[0][0]
    else:
        side.instance_type = _string(template_values.get("instance_type"))

    if unknown.get("max_size") is True:
        side.unknown = (_ALL_METRICS, "its max_size is unknown until apply",
                        "set max_size from a constant or a variable")
    elif policy is not None and policy.by_requirements:
        side.unknown = (SIZE_METRICS, "its mixed instances policy chooses types by "
                        "instance_requirements, so the types it launches are not known",
                        "list the instance types in override blocks")
    elif side.instance_type is None:
        side.unknown = _template_problem(template)
    return side


def _node_group_side(change: dict[str, Any], values: dict[str, Any], unknown: dict[str, Any],
                     template: Template | None, template_values: dict[str, Any],
                     context: _PlanContext) -> _Side:
    scaling = _first(values.get("scaling_config"))
    side = _Side(count=_int(scaling.get("max_size")))
    types = values.get("instance_types")
    if isinstance(types, list) and types and isinstance(types[0], str):
        side.instance_type = types[0]
    elif template is not None:
        side.instance_type = _string(template_values.get("instance_type"))
        if side.instance_type is None:
            side.unknown = _template_problem(template)
    elif unknown.get("instance_types") is True and _configured(change, context,
                                                               "instance_types"):
        side.unknown = (SIZE_METRICS, "its instance_types are unknown until apply",
                        "set instance_types from a constant or a variable")
    else:
        side.instance_type = EKS_DEFAULT_TYPE

    scaling_unknown = _first(unknown.get("scaling_config"))
    if unknown.get("scaling_config") is True or scaling_unknown.get("max_size") is True:
        side.unknown = (_ALL_METRICS, "its scaling_config max_size is unknown until apply",
                        "set scaling_config max_size from a constant or a variable")
    return side


def _template_problem(template: Template | None) -> tuple[tuple[Metric, ...], str, str]:
    if template is None:
        return (SIZE_METRICS,
                "its launch template or launch configuration was not found in the plan",
                "reference an aws_launch_template of this configuration "
                "(aws_launch_template.NAME.id), or name the instance types in "
                "mixed_instances_policy override blocks")
    return (SIZE_METRICS, f"the instance type of {template.address} is not known at plan time",
            f"set instance_type in {template.address} from a constant or a variable")


def _configured(change: dict[str, Any], context: _PlanContext, name: str) -> bool:
    resource = context.configuration.resource(parse_address(str(change.get("address"))))
    return resource is not None and name in (resource.block.get("expressions") or {})


def _first(value: object) -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return {}


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def tags_of(values: dict[str, Any]) -> dict[str, str]:
    """Merge a resource's ``tags_all``, ``tags`` and ASG ``tag`` blocks into one map."""
    merged: dict[str, str] = {}
    for name in ("tags_all", "tags", "tag"):
        value = values.get(name)
        if isinstance(value, dict):
            # A loop rather than str() on every key and value: most are strings already.
            for key, text in value.items():
                if text is not None:
                    merged[key if type(key) is str else str(key)] = (
                        text if type(text) is str else str(text))
        elif isinstance(value, list):
            # ASG tag blocks, and the list-of-maps "tags" of AWS provider 2.x and 3.x.
            for block in value:
                if isinstance(block, dict) and "key" in block and block.get("value") is not None:
                    merged[str(block["key"])] = str(block["value"])
    return merged


def _totals(resources: list[ResourceFacts]) -> UsageChange:
    before, after = Tally(), Tally()
    for facts in resources:
        before.add(facts.usage_before)
        after.add(facts.usage_after)
    return UsageChange(before=before.usage(), after=after.usage())


def normalize_config(config: ResourceConfig, catalog: Catalog,
                     *, usage: UsageDocument | None = None,
                     usage_source: str = "usage document") -> PolicyInput:
    """Build the policy input of the declarations alone, every pool fully allocated."""
    resources: list[ResourceFacts] = []
    unsized: list[UnsizedResource] = []
    for pool in config.allocation.pools:
        facts, counted = _declared_facts(pool, catalog)
        resources.append(facts)
        problem = _unsized(facts.address, facts.type, facts.pool, facts.instance_type, counted,
                           True)
        if problem is not None:
            unsized.append(problem)

    external: dict[str, ExternalPool] = {}
    if usage is not None:
        external = external_usage(usage, set(), usage_source)
    pools, teams = summarize(resources, unsized, config, external)
    return PolicyInput(source="config", terraform_version=None, resources=resources,
                       pools=pools, teams=teams, totals=_totals(resources), unsized=unsized)


def _declared_facts(pool: Pool, catalog: Catalog) -> tuple[ResourceFacts, Counted]:
    counted = count_instances(catalog, pool.instance_type, pool.instance_count, pool.region)
    size = size_of(catalog, pool.instance_type, pool.region)
    facts = ResourceFacts(
        address=f"allocation.pools.{pool.name}",
        type=_KIND_TYPES[pool.kind],
        actions=["create"],
        changed=True,
        pool=pool.name,
        team=pool.team,
        instance_type=pool.instance_type,
        vcpu=size.vcpu,
        memory_gib=size.memory_gib,
        monthly_cost_usd=size.monthly_cost_usd,
        instance_type_before=None, vcpu_before=None, memory_gib_before=None,
        count_before=0,
        count_after=pool.instance_count,
        usage_after=counted.usage.usage(),
        tags={**pool.tags, POOL_TAG: pool.name, TEAM_TAG: pool.team},
        region=pool.region,
    )
    return facts, counted
