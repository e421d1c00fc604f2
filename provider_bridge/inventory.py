"""The pools' compute, read from Terraform state or a plan and, for Auto Scaling groups, from AWS.

Three inputs are read, each a Terraform format:

- ``terraform show -json`` of a state: ``values.root_module`` with
  ``resources`` and ``child_modules`` nested to any depth;
- the state file itself (``terraform.tfstate``, format version 4): top-level
  ``resources``, each with ``instances`` holding ``attributes``;
- ``terraform show -json PLANFILE``: ``resource_changes`` with the values
  after the change (``planned_values`` when a plan has no changes list).

Only resources tagged ``quotaform:pool`` belong to a pool. Resources that a
plan creates have no id yet, so they are listed in ``not_created`` and get no
metrics.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from cdk.errors import ExecutionError, InputError
from cdk.model import POOL_TAG, TEAM_TAG
from provider_bridge.aws import CredentialSource, account_from_arn

log = logging.getLogger(__name__)

ResourceKind = Literal["instance", "asg-member", "db"]
PoolKind = Literal["asg", "instances", "db"]
InventoryFormat = Literal["state", "plan"]

# DescribeAutoScalingGroups accepts at most 100 group names per request.
_ASG_NAMES_PER_CALL = 100
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]+):")
_POOL_TYPES: dict[str, PoolKind] = {
    "aws_instance": "instances", "aws_autoscaling_group": "asg", "aws_db_instance": "db",
}
_SHOW_STATE_HINT = "create it with 'terraform show -json > state.json'"
_SHOW_PLAN_HINT = "create it with 'terraform show -json PLANFILE > plan.json'"


@dataclass(frozen=True, slots=True)
class Resource:
    """One running instance (or RDS instance) that belongs to a pool.

    ``launch_time`` comes from live discovery, or from AWS after a state or
    plan is read. ``source`` is the credential source that discovered it live.
    """

    resource_id: str
    kind: ResourceKind
    instance_type: str
    pool: str
    team: str | None
    region: str
    address: str
    asg_name: str | None = None
    launch_time: dt.datetime | None = None
    account_id: str | None = None
    source: CredentialSource | None = None


@dataclass(frozen=True, slots=True)
class AutoScalingGroup:
    """An Auto Scaling group of a pool, with its sizes when the input names them."""

    name: str
    pool: str
    team: str | None
    region: str
    address: str
    template_type: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    desired_capacity: int | None = None
    account_id: str | None = None
    source: CredentialSource | None = None


@dataclass(slots=True)
class PoolInventory:
    """The resources of one pool, as found in state, a plan or AWS."""

    pool: str
    team: str | None
    kind: PoolKind
    region: str
    resources: list[Resource] = field(default_factory=list)
    asg_names: list[str] = field(default_factory=list)
    declared_types: list[str] = field(default_factory=list)
    groups: list[AutoScalingGroup] = field(default_factory=list)
    not_created: list[str] = field(default_factory=list)

    @property
    def instance_types(self) -> list[str]:
        """Types in use, most common first; the declared type when nothing runs."""
        counts: dict[str, int] = {}
        for resource in self.resources:
            counts[resource.instance_type] = counts.get(resource.instance_type, 0) + 1
        ordered = sorted(counts, key=lambda name: (-counts[name], name))
        return ordered or list(dict.fromkeys(self.declared_types))


@dataclass(frozen=True, slots=True)
class TerraformResource:
    """A managed resource of a state or plan: its address, type and attribute values.

    ``created`` is False for a resource that the plan creates or replaces, whose
    id is not known until apply.
    """

    address: str
    type: str
    values: dict[str, Any]
    created: bool = True


def _read_json(path: Path, hint: str) -> Any:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found; {hint}") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a folder, not a file; {hint}") from exc
    if data.startswith(b"PK"):
        raise InputError(
            f"{path}: is a binary plan file, not JSON; convert it with "
            f"'terraform show -json {path.name} > plan.json'"
        )
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); {hint}") from exc


def read_state(path: Path) -> dict[str, Any]:
    """Read a state as ``terraform show -json`` prints it or as a state file, rejecting plans."""
    document = _read_json(path, "pass the output of 'terraform show -json' or a terraform.tfstate")
    if not isinstance(document, dict) or not (
        "format_version" in document or ("resources" in document and "version" in document)
    ):
        raise InputError(
            f"{path}: not Terraform JSON output (no 'format_version') and not a state file "
            f"(no 'version' and 'resources'); {_SHOW_STATE_HINT}"
        )
    if "planned_values" in document or "resource_changes" in document:
        raise InputError(
            f"{path}: this is a plan, not a state; pass it with --plan, or run "
            "'terraform show -json' without a plan file to print the current state"
        )
    if "format_version" not in document and document.get("version") != 4:
        raise InputError(
            f"{path}: state file format version {document.get('version')!r} is not supported; "
            f"only version 4 (terraform 0.12 and later) is read, or {_SHOW_STATE_HINT}"
        )
    values = document.get("values")
    if values is not None and not isinstance(values.get("root_module"), dict):
        raise InputError(f"{path}: 'values.root_module' is missing or not an object")
    return document


def read_plan(path: Path) -> dict[str, Any]:
    """Read ``terraform show -json PLANFILE`` output, rejecting states and other JSON."""
    document = _read_json(path, _SHOW_PLAN_HINT)
    if not isinstance(document, dict) or "format_version" not in document:
        if isinstance(document, dict) and "version" in document and "resources" in document:
            raise InputError(f"{path}: this is a state file, not a plan; pass it with --state")
        raise InputError(f"{path}: not Terraform JSON output (no 'format_version'); "
                         f"{_SHOW_PLAN_HINT}")
    if "planned_values" not in document and "resource_changes" not in document:
        raise InputError(
            f"{path}: this is a state, not a plan (no 'planned_values' or 'resource_changes'); "
            "pass it with --state"
        )
    return document


def iter_state_resources(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the managed resources of a ``terraform show -json`` document at any module depth."""
    yield from _walk_module((document.get("values") or {}).get("root_module") or {})


def _walk_module(root: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pending = [root]
    while pending:
        module = pending.pop()
        for resource in module.get("resources") or []:
            if resource.get("mode", "managed") == "managed":
                yield resource
        pending.extend(module.get("child_modules") or [])


def state_resources(document: dict[str, Any]) -> list[TerraformResource]:
    """Return the managed resources of a state, from either of its two formats."""
    if "format_version" in document:
        return [TerraformResource(item.get("address", "?"), item.get("type", ""),
                                  item.get("values") or {})
                for item in iter_state_resources(document)]
    resources = []
    for block in document.get("resources") or []:
        if block.get("mode", "managed") != "managed":
            continue
        base = f"{block.get('type')}.{block.get('name')}"
        if block.get("module"):
            base = f"{block['module']}.{base}"
        for instance in block.get("instances") or []:
            if "deposed" in instance:
                continue
            resources.append(TerraformResource(base + _index(instance), block.get("type", ""),
                                               instance.get("attributes") or {}))
    return resources


def _index(instance: dict[str, Any]) -> str:
    if "index_key" not in instance:
        return ""
    key = instance["index_key"]
    return f"[{key}]" if isinstance(key, int) else f"[{json.dumps(key)}]"


def plan_resources(document: dict[str, Any]) -> list[TerraformResource]:
    """Return the managed resources as they will be after the plan, without deleted ones."""
    changes = document.get("resource_changes")
    if changes is None:
        root = (document.get("planned_values") or {}).get("root_module") or {}
        return [TerraformResource(item.get("address", "?"), item.get("type", ""),
                                  item.get("values") or {}) for item in _walk_module(root)]
    resources = []
    for change in changes:
        if change.get("mode", "managed") != "managed":
            continue
        body = change.get("change") or {}
        actions = body.get("actions") or []
        if actions == ["delete"]:
            continue
        resources.append(TerraformResource(
            change.get("address", "?"), change.get("type", ""), body.get("after") or {},
            created="create" not in actions,
        ))
    return resources


def plan_region(document: dict[str, Any]) -> str | None:
    """Return the default aws provider's region from a plan's configuration, if it is known."""
    provider = ((document.get("configuration") or {}).get("provider_config") or {}).get("aws")
    expression = ((provider or {}).get("expressions") or {}).get("region") or {}
    if isinstance(expression.get("constant_value"), str):
        return expression["constant_value"]
    for reference in expression.get("references") or []:
        if reference.startswith("var."):
            value = ((document.get("variables") or {}).get(reference[4:]) or {}).get("value")
            if isinstance(value, str):
                return value
    return None


def read_inventory(
    path: Path,
    *,
    default_region: str | None = None,
    input_format: InventoryFormat = "state",
) -> dict[str, PoolInventory]:
    """Return the pools found in the state or plan at ``path`` without calling AWS.

    A resource whose input names no region (no ARN, no availability zone) is
    placed in ``default_region``. Without one, the first of these is used: the
    plan's aws provider region, AWS_REGION, AWS_DEFAULT_REGION, us-east-1.
    Auto Scaling groups have no members yet, so ``add_asg_members`` adds them.
    """
    if input_format == "plan":
        document = read_plan(path)
        resources = plan_resources(document)
        default_region = default_region or plan_region(document)
    else:
        document = read_state(path)
        resources = state_resources(document)
    default_region = (default_region or os.environ.get("AWS_REGION")
                      or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    if not resources:
        log.warning("%s contains no resources; check that the %s is not empty", path,
                    input_format)
    pools = pools_from_resources(resources, default_region, where=str(path))
    log.info("inventory read file=%s format=%s pools=%d resources=%d groups=%d", path,
             input_format, len(pools), sum(len(p.resources) for p in pools.values()),
             sum(len(p.groups) for p in pools.values()))
    return pools


def load_inventory(
    path: Path,
    *,
    default_region: str | None = None,
    autoscaling: Callable[[str], Any] | None = None,
    input_format: InventoryFormat = "state",
) -> dict[str, PoolInventory]:
    """Return the pools' compute found in the state or plan at ``path``, keyed by pool name.

    ``autoscaling(region)`` returns a boto3 Auto Scaling client; an Auto Scaling
    group's member instances and their types come from it. Without it a group
    contributes no instances, only its launch template's type.
    """
    pools = read_inventory(path, default_region=default_region, input_format=input_format)
    if autoscaling is not None:
        add_asg_members(pools, lambda group: autoscaling(group.region))
    else:
        _warn_unresolved_groups(pools)
    return pools


def pools_from_resources(
    resources: list[TerraformResource], default_region: str, *, where: str
) -> dict[str, PoolInventory]:
    """Group the tagged instances, Auto Scaling groups and DB instances into pools."""
    templates = _launch_template_types(resources)
    pools: dict[str, PoolInventory] = {}
    for item in resources:
        try:
            _add_resource(item, pools, templates, default_region)
        except KeyError as exc:
            raise InputError(
                f"{where}: resource {item.address} has no attribute {exc}; pass the output "
                "of 'terraform show -json' or a terraform.tfstate file"
            ) from exc
    return pools


def _add_resource(
    item: TerraformResource,
    pools: dict[str, PoolInventory],
    templates: dict[str, str],
    default_region: str,
) -> None:
    if item.type not in _POOL_TYPES:
        return
    values = item.values
    tags = _tags(item.type, values)
    pool_name = tags.get(POOL_TAG)
    if not pool_name:
        log.debug("skipped %s: no %s tag", item.address, POOL_TAG)
        return
    team = tags.get(TEAM_TAG)
    region = _region(values, default_region)
    account = account_from_arn(values.get("arn"))
    pool = pool_for(pools, pool_name, team, _POOL_TYPES[item.type], region)

    if item.type == "aws_autoscaling_group":
        template_type = _asg_template_type(values, templates)
        if template_type:
            pool.declared_types.append(template_type)
        if not item.created:
            pool.not_created.append(item.address)
            return
        pool.asg_names.append(values["name"])
        pool.groups.append(AutoScalingGroup(
            values["name"], pool_name, team, region, item.address, template_type,
            values.get("min_size"), values.get("max_size"), values.get("desired_capacity"),
            account,
        ))
        return

    type_key = "instance_type" if item.type == "aws_instance" else "instance_class"
    if not item.created:
        if values.get(type_key):
            pool.declared_types.append(values[type_key])
        pool.not_created.append(item.address)
        log.debug("%s is created by the plan; it has no metrics yet", item.address)
        return
    pool.declared_types.append(values[type_key])
    if item.type == "aws_instance":
        pool.resources.append(Resource(values["id"], "instance", values[type_key], pool_name,
                                       team, region, item.address, account_id=account))
    else:
        identifier = values.get("identifier") or values["id"]
        pool.resources.append(Resource(identifier, "db", values[type_key], pool_name, team,
                                       region, item.address, account_id=account))


def pool_for(
    pools: dict[str, PoolInventory], name: str, team: str | None, kind: PoolKind, region: str
) -> PoolInventory:
    """Return the pool ``name`` of ``pools``, adding it when new; warn when kinds or regions mix."""
    if name not in pools:
        pools[name] = PoolInventory(pool=name, team=team, kind=kind, region=region)
    pool = pools[name]
    if pool.kind != kind:
        log.warning("pool %s mixes %s and %s resources; rightsizing treats it as %s",
                    name, pool.kind, kind, pool.kind)
    if pool.region != region:
        log.warning("pool %s has resources in %s and %s; its recommendation is priced in %s",
                    name, pool.region, region, pool.region)
    return pool


def _tags(kind: str, values: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    blocks = list(values.get("tag") or []) if kind == "aws_autoscaling_group" else []
    for name in ("tags_all", "tags"):
        found = values.get(name) or {}
        if isinstance(found, list):
            # AWS provider 3 and older wrote an Auto Scaling group's 'tags' as a
            # list of {key, value, propagate_at_launch} maps.
            blocks.extend(found)
        else:
            tags.update(found)
    # An Auto Scaling group carries its tags as repeated 'tag' blocks.
    for block in blocks:
        if isinstance(block, dict) and "key" in block:
            tags[block["key"]] = block.get("value", "")
    return tags


def _region(values: dict[str, Any], default_region: str) -> str:
    match = _ARN_REGION.match(values.get("arn") or "")
    if match:
        return match.group(1)
    zone = values.get("availability_zone") or next(iter(values.get("availability_zones") or []), "")
    if zone and zone[-1].isalpha():
        return zone[:-1]
    return default_region


def _launch_template_types(resources: list[TerraformResource]) -> dict[str, str]:
    """Map each launch template's id and name to its instance type."""
    types: dict[str, str] = {}
    for item in resources:
        if item.type != "aws_launch_template" or not item.values.get("instance_type"):
            continue
        for key in (item.values.get("id"), item.values.get("name")):
            if key:
                types[key] = item.values["instance_type"]
    return types


def _asg_template_type(values: dict[str, Any], templates: dict[str, str]) -> str | None:
    specs = list(values.get("launch_template") or [])
    for policy in values.get("mixed_instances_policy") or []:
        for template in policy.get("launch_template") or []:
            specs.extend(template.get("launch_template_specification") or [])
    for spec in specs:
        for key in ("id", "launch_template_id", "name", "launch_template_name"):
            if spec.get(key) in templates:
                return templates[spec[key]]
    return None


def _warn_unresolved_groups(pools: dict[str, PoolInventory]) -> None:
    groups = [group for pool in pools.values() for group in pool.groups]
    if groups:
        log.warning("no Auto Scaling access; the members of %d group(s) are unknown and their "
                    "pools get no instance metrics", len(groups))


def add_asg_members(
    pools: dict[str, PoolInventory], autoscaling: Callable[[AutoScalingGroup], Any]
) -> None:
    """Add each group's in-service instances to its pool, described with ``autoscaling(group)``.

    Groups that share a client are described together, 100 names a request.
    """
    by_client: dict[int, tuple[Any, list[AutoScalingGroup]]] = {}
    for pool in pools.values():
        for group in pool.groups:
            client = autoscaling(group)
            by_client.setdefault(id(client), (client, []))[1].append(group)

    for client, groups in by_client.values():
        described = _describe_groups(client, [g.name for g in groups])
        for group in groups:
            members = described.get(group.name)
            if members is None:
                log.warning("Auto Scaling group %s (%s) was not found in %s; it may have been "
                            "deleted since the state was written", group.name, group.address,
                            group.region)
                continue
            for instance_id, instance_type in members:
                pools[group.pool].resources.append(Resource(
                    instance_id, "asg-member", instance_type or group.template_type or "unknown",
                    group.pool, group.team, group.region, group.address, asg_name=group.name,
                    account_id=group.account_id, source=group.source,
                ))


def _describe_groups(client: Any, names: list[str]) -> dict[str, list[tuple[str, str | None]]]:
    """Return each group's in-service members as (instance id, instance type)."""
    from botocore.exceptions import BotoCoreError, ClientError

    members: dict[str, list[tuple[str, str | None]]] = {}
    paginator = client.get_paginator("describe_auto_scaling_groups")
    for start in range(0, len(names), _ASG_NAMES_PER_CALL):
        batch = names[start : start + _ASG_NAMES_PER_CALL]
        try:
            for page in paginator.paginate(AutoScalingGroupNames=batch):
                for group in page.get("AutoScalingGroups", []):
                    members[group["AutoScalingGroupName"]] = [
                        (instance["InstanceId"], instance.get("InstanceType"))
                        for instance in group.get("Instances", [])
                        if instance.get("LifecycleState", "InService") == "InService"
                    ]
        except (BotoCoreError, ClientError) as exc:
            raise ExecutionError(
                f"DescribeAutoScalingGroups failed for {', '.join(batch)}: {exc}"
            ) from exc
    return members
