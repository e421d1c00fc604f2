"""The pools' compute, read from Terraform state and, for Auto Scaling groups, from AWS.

Input is the JSON that ``terraform show -json`` prints for a state (not for a
plan): ``values.root_module`` with ``resources`` and ``child_modules`` nested to
any depth. Only resources tagged ``quotaform:pool`` belong to a pool.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from cdk.errors import ExecutionError, InputError
from cdk.model import POOL_TAG, TEAM_TAG

log = logging.getLogger(__name__)

ResourceKind = Literal["instance", "asg-member", "db"]

# DescribeAutoScalingGroups accepts at most 100 group names per request.
_ASG_NAMES_PER_CALL = 100
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]+):")


@dataclass(frozen=True, slots=True)
class Resource:
    """One running instance (or RDS instance) that belongs to a pool."""

    resource_id: str
    kind: ResourceKind
    instance_type: str
    pool: str
    team: str | None
    region: str
    address: str
    asg_name: str | None = None


@dataclass(slots=True)
class PoolInventory:
    """The resources of one pool, as found in state and AWS."""

    pool: str
    team: str | None
    kind: Literal["asg", "instances", "db"]
    region: str
    resources: list[Resource] = field(default_factory=list)
    asg_names: list[str] = field(default_factory=list)
    declared_types: list[str] = field(default_factory=list)

    @property
    def instance_types(self) -> list[str]:
        """Types in use, most common first; the declared type when nothing runs."""
        counts: dict[str, int] = {}
        for resource in self.resources:
            counts[resource.instance_type] = counts.get(resource.instance_type, 0) + 1
        ordered = sorted(counts, key=lambda name: (-counts[name], name))
        return ordered or list(dict.fromkeys(self.declared_types))


@dataclass(slots=True)
class _AsgRecord:
    name: str
    pool: str
    team: str | None
    region: str
    address: str
    template_type: str | None


def read_state(path: Path) -> dict[str, Any]:
    """Read ``terraform show -json`` output of a state, rejecting plans and other JSON."""
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found; pass the output of 'terraform show -json'") from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc}); create it with 'terraform show -json > state.json'"
        ) from exc
    if not isinstance(document, dict) or "format_version" not in document:
        raise InputError(
            f"{path}: not Terraform JSON output (no 'format_version'); "
            "create it with 'terraform show -json > state.json'"
        )
    if "planned_values" in document or "resource_changes" in document:
        raise InputError(
            f"{path}: this is a plan, not a state; run 'terraform show -json' without a plan "
            "file to print the current state"
        )
    values = document.get("values")
    if values is not None and not isinstance(values.get("root_module"), dict):
        raise InputError(f"{path}: 'values.root_module' is missing or not an object")
    return document


def iter_state_resources(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the managed resources of a state document, walking child modules at any depth."""
    root = (document.get("values") or {}).get("root_module") or {}
    pending = [root]
    while pending:
        module = pending.pop()
        for resource in module.get("resources") or []:
            if resource.get("mode", "managed") == "managed":
                yield resource
        pending.extend(module.get("child_modules") or [])


def load_inventory(
    path: Path,
    *,
    default_region: str = "us-east-1",
    autoscaling: Callable[[str], Any] | None = None,
) -> dict[str, PoolInventory]:
    """Return the pools' compute found in the state file at ``path``, keyed by pool name.

    ``autoscaling(region)`` returns a boto3 Auto Scaling client; an Auto Scaling
    group's member instances and their types come from it. Without it a group
    contributes no instances, only its launch template's type.
    """
    document = read_state(path)
    resources = list(iter_state_resources(document))
    if document.get("values") is None:
        log.warning("%s holds no resources; is the state empty?", path)
    templates = _launch_template_types(resources)

    pools: dict[str, PoolInventory] = {}
    groups: list[_AsgRecord] = []
    for item in resources:
        try:
            _add_state_resource(item, pools, groups, templates, default_region)
        except KeyError as exc:
            raise InputError(
                f"{path}: resource {item.get('address', '?')} has no attribute {exc}; "
                "pass the output of 'terraform show -json' for a state"
            ) from exc
    _add_asg_members(groups, pools, autoscaling)
    log.info("inventory read file=%s pools=%d resources=%d", path, len(pools),
             sum(len(p.resources) for p in pools.values()))
    return pools


def _add_state_resource(
    item: dict[str, Any],
    pools: dict[str, PoolInventory],
    groups: list[_AsgRecord],
    templates: dict[str, str],
    default_region: str,
) -> None:
    kind = item.get("type")
    if kind not in ("aws_instance", "aws_autoscaling_group", "aws_db_instance"):
        return
    values = item.get("values") or {}
    address = item.get("address", "?")
    tags = _tags(kind, values)
    pool_name = tags.get(POOL_TAG)
    if not pool_name:
        log.debug("skipped %s: no %s tag", address, POOL_TAG)
        return
    team = tags.get(TEAM_TAG)
    region = _region(values, default_region)

    if kind == "aws_instance":
        pool = _pool(pools, pool_name, team, "instances", region)
        pool.resources.append(
            Resource(values["id"], "instance", values["instance_type"], pool_name, team, region,
                     address)
        )
    elif kind == "aws_db_instance":
        pool = _pool(pools, pool_name, team, "db", region)
        identifier = values.get("identifier") or values["id"]
        pool.resources.append(
            Resource(identifier, "db", values["instance_class"], pool_name, team, region, address)
        )
    else:
        pool = _pool(pools, pool_name, team, "asg", region)
        template_type = _asg_template_type(values, templates)
        if template_type:
            pool.declared_types.append(template_type)
        pool.asg_names.append(values["name"])
        groups.append(_AsgRecord(values["name"], pool_name, team, region, address, template_type))


def _pool(
    pools: dict[str, PoolInventory], name: str, team: str | None, kind: str, region: str
) -> PoolInventory:
    if name not in pools:
        pools[name] = PoolInventory(pool=name, team=team, kind=kind, region=region)  # type: ignore[arg-type]
    pool = pools[name]
    if pool.kind != kind:
        log.warning("pool %s mixes %s and %s resources; rightsizing treats it as %s",
                    name, pool.kind, kind, pool.kind)
    return pool


def _tags(kind: str, values: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    tags.update(values.get("tags_all") or {})
    tags.update(values.get("tags") or {})
    if kind == "aws_autoscaling_group":
        # An Auto Scaling group carries its tags as repeated 'tag' blocks.
        for block in values.get("tag") or []:
            tags[block.get("key", "")] = block.get("value", "")
    return tags


def _region(values: dict[str, Any], default_region: str) -> str:
    match = _ARN_REGION.match(values.get("arn") or "")
    if match:
        return match.group(1)
    zone = values.get("availability_zone") or next(iter(values.get("availability_zones") or []), "")
    if zone and zone[-1].isalpha():
        return zone[:-1]
    return default_region


def _launch_template_types(resources: list[dict[str, Any]]) -> dict[str, str]:
    """Map each launch template's id and name to its instance type."""
    types: dict[str, str] = {}
    for item in resources:
        if item.get("type") != "aws_launch_template":
            continue
        values = item.get("values") or {}
        if values.get("instance_type"):
            for key in (values.get("id"), values.get("name")):
                if key:
                    types[key] = values["instance_type"]
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


def _add_asg_members(
    groups: list[_AsgRecord],
    pools: dict[str, PoolInventory],
    autoscaling: Callable[[str], Any] | None,
) -> None:
    by_region: dict[str, list[_AsgRecord]] = {}
    for group in groups:
        by_region.setdefault(group.region, []).append(group)

    for region, records in by_region.items():
        if autoscaling is None:
            log.warning("no Auto Scaling access for region %s; the members of %d group(s) "
                        "are unknown and their pools get no metrics", region, len(records))
            continue
        described = _describe_groups(autoscaling(region), [r.name for r in records])
        for record in records:
            members = described.get(record.name)
            if members is None:
                log.warning("Auto Scaling group %s (%s) was not found in %s; it may have been "
                            "deleted since the state was written", record.name, record.address,
                            region)
                continue
            for instance_id, instance_type in members:
                pools[record.pool].resources.append(
                    Resource(instance_id, "asg-member", instance_type or record.template_type
                             or "unknown", record.pool, record.team, region, record.address,
                             asg_name=record.name)
                )


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
