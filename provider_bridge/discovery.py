"""Pools found in AWS itself: tagged EC2 instances, Auto Scaling groups and RDS instances.

``discover`` searches every region with every credential source and groups
what carries the ``quotaform:pool`` tag into pools, as ``load_inventory`` does
for a state. ``complete_from_aws`` adds what a state or plan lacks: the
members of Auto Scaling groups and the launch time of each instance, which
distinguishes a young resource from one with missing metrics.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from cdk.errors import ExecutionError, InputError
from cdk.model import POOL_TAG, TEAM_TAG
from provider_bridge.aws import AwsAccess, CredentialSource, account_from_arn
from provider_bridge.inventory import (
    AutoScalingGroup,
    PoolInventory,
    PoolKind,
    Resource,
    add_asg_members,
    pool_for,
    read_inventory,
)

log = logging.getLogger(__name__)

# Ids go into describe filters in batches, which keeps each request small.
_EC2_FILTER_VALUES = 200
_RDS_FILTER_VALUES = 100
_ASG_TAG = "aws:autoscaling:groupName"
# RDS states in which an instance runs and publishes metrics.
_RDS_RUNNING = {"available", "backing-up", "modifying", "maintenance", "storage-optimization",
                "configuring-enhanced-monitoring", "configuring-log-exports", "upgrading"}


InventorySource = Literal["state", "plan", "live"]
INVENTORY_SOURCES = ("state", "plan", "live")


@dataclass(frozen=True, slots=True)
class InventoryInput:
    """The origin of the pools: a state file, a plan file, or AWS itself.

    ``regions`` are searched with ``live``; with a state or plan, the first one
    is the region of resources whose input names none.
    """

    source: InventorySource
    path: Path | None = None
    regions: tuple[str, ...] = ()


def load_pools(spec: InventoryInput, access: AwsAccess) -> dict[str, PoolInventory]:
    """Return the pools of ``spec``, completed from AWS: group members and launch times."""
    if spec.source == "live":
        return discover(access, spec.regions or (access.default_region,))
    if spec.path is None:
        raise InputError(f"--source {spec.source} needs --{spec.source} FILE")
    pools = read_inventory(spec.path, default_region=spec.regions[0] if spec.regions else None,
                           input_format=spec.source)
    complete_from_aws(pools, access)
    return pools


def discover(access: AwsAccess, regions: Sequence[str]) -> dict[str, PoolInventory]:
    """Return the pools found in ``regions`` with each credential source of ``access``.

    Resources that two sources both reach (two profiles of one account) are
    listed once.
    """
    started = time.perf_counter()
    log.info("discovery started sources=%d regions=%s", len(access.sources), ",".join(regions))
    pools: dict[str, PoolInventory] = {}
    seen: set[tuple[str | None, str, str]] = set()
    for source in access.sources:
        for region in regions:
            _merge(pools, _discover_region(access, source, region), region, seen)
    log.info("discovery finished sources=%d regions=%d pools=%d resources=%d seconds=%.2f",
             len(access.sources), len(regions), len(pools),
             sum(len(p.resources) for p in pools.values()), time.perf_counter() - started)
    return pools


def _merge(pools: dict[str, PoolInventory], found: _Found, region: str,
           seen: set[tuple[str | None, str, str]]) -> None:
    """Add what one source found in one region, skipping what another source found already."""
    for resource in found.resources:
        key = (resource.account_id, region, resource.resource_id)
        if key in seen:
            continue
        seen.add(key)
        pool = pool_for(pools, resource.pool, resource.team, _pool_kind(resource), region)
        pool.resources.append(resource)
    for group in found.groups:
        key = (group.account_id, region, f"asg:{group.name}")
        if key in seen:
            continue
        seen.add(key)
        pool = pool_for(pools, group.pool, group.team, "asg", region)
        pool.groups.append(group)
        pool.asg_names.append(group.name)
        if group.template_type:
            pool.declared_types.append(group.template_type)


@dataclass
class _Found:
    resources: list[Resource]
    groups: list[AutoScalingGroup]


def _discover_region(access: AwsAccess, source: CredentialSource, region: str) -> _Found:
    ec2 = access.client("ec2", region, source)
    groups, members = _tagged_groups(access.client("autoscaling", region, source), ec2, region,
                                     source)
    resources = _tagged_instances(ec2, region, source, {g.name: g for g in groups}, members)
    resources.extend(_tagged_db_instances(access.client("rds", region, source), region, source))
    log.debug("discovered source=%s region=%s groups=%d resources=%d", source.label, region,
              len(groups), len(resources))
    return _Found(resources, groups)


_POOL_KINDS: dict[str, PoolKind] = {"instance": "instances", "asg-member": "asg", "db": "db"}


def _pool_kind(resource: Resource) -> PoolKind:
    return _POOL_KINDS[resource.kind]


def _call(operation: str, where: str, pages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        return list(pages)
    except (BotoCoreError, ClientError) as exc:
        raise ExecutionError(f"{operation} failed in {where}: {exc}") from exc


def _tagged_groups(
    autoscaling: Any, ec2: Any, region: str, source: CredentialSource
) -> tuple[list[AutoScalingGroup], dict[str, tuple[str, str | None, str]]]:
    """Return the pool-tagged groups and their in-service members (id -> type, group, pool)."""
    where = f"{region} ({source.label})"
    pages = _call("DescribeAutoScalingGroups", where,
                  autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
                      Filters=[{"Name": "tag-key", "Values": [POOL_TAG]}]))
    groups: list[AutoScalingGroup] = []
    members: dict[str, tuple[str, str | None, str]] = {}
    for page in pages:
        for item in page.get("AutoScalingGroups", []):
            tags = {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}
            name = item["AutoScalingGroupName"]
            running = [i for i in item.get("Instances", [])
                       if i.get("LifecycleState", "InService") == "InService"]
            template_type = _template_type(ec2, item, where) or _most_common(
                [i.get("InstanceType") for i in running])
            arn = item.get("AutoScalingGroupARN")
            groups.append(AutoScalingGroup(
                name, tags[POOL_TAG], tags.get(TEAM_TAG), region, arn or name, template_type,
                item.get("MinSize"), item.get("MaxSize"), item.get("DesiredCapacity"),
                account_from_arn(arn), source,
            ))
            for instance in running:
                members[instance["InstanceId"]] = (instance.get("InstanceType") or template_type
                                                   or "unknown", name, tags[POOL_TAG])
    return groups, members


def _template_type(ec2: Any, group: dict[str, Any], where: str) -> str | None:
    spec = group.get("LaunchTemplate") or (
        (group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}
    ).get("LaunchTemplateSpecification")
    if not spec or not spec.get("LaunchTemplateId"):
        return None
    try:
        reply = ec2.describe_launch_template_versions(
            LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec.get("Version", "$Default")]
        )
    except (BotoCoreError, ClientError) as exc:
        log.warning("DescribeLaunchTemplateVersions failed for %s in %s: %s; the group's type "
                    "comes from its members", spec["LaunchTemplateId"], where, exc)
        return None
    versions = reply.get("LaunchTemplateVersions") or [{}]
    return (versions[0].get("LaunchTemplateData") or {}).get("InstanceType")


def _most_common(names: list[str | None]) -> str | None:
    counts = Counter(name for name in names if name)
    return counts.most_common(1)[0][0] if counts else None


def _tagged_instances(
    ec2: Any,
    region: str,
    source: CredentialSource,
    groups: dict[str, AutoScalingGroup],
    members: dict[str, tuple[str, str | None, str]],
) -> list[Resource]:
    """Return running pool-tagged instances and every in-service member of the groups."""
    where = f"{region} ({source.label})"
    filters = [{"Name": "tag-key", "Values": [POOL_TAG]},
               {"Name": "instance-state-name", "Values": ["running"]}]
    found = _instances(ec2, filters, where)
    missing = [i for i in members if i not in found]
    for start in range(0, len(missing), _EC2_FILTER_VALUES):
        batch = missing[start : start + _EC2_FILTER_VALUES]
        found.update(_instances(ec2, [{"Name": "instance-id", "Values": batch}], where))

    resources = []
    for instance_id, (instance, owner) in found.items():
        tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
        arn = f"arn:aws:ec2:{region}:{owner}:instance/{instance_id}"
        common = {"launch_time": instance.get("LaunchTime"), "account_id": owner,
                  "source": source}
        if instance_id in members:
            instance_type, group_name, pool = members[instance_id]
            group = groups[group_name]
            resources.append(Resource(instance_id, "asg-member", instance_type, pool,
                                      group.team, region, group.address, asg_name=group_name,
                                      **common))
        elif tags.get(_ASG_TAG):
            log.debug("skipped %s: member of group %s, which carries no %s tag or is not in "
                      "service", instance_id, tags[_ASG_TAG], POOL_TAG)
        else:
            resources.append(Resource(instance_id, "instance", instance["InstanceType"],
                                      tags[POOL_TAG], tags.get(TEAM_TAG), region, arn,
                                      **common))
    return resources


def _instances(ec2: Any, filters: list[dict[str, Any]],
               where: str) -> dict[str, tuple[dict[str, Any], str | None]]:
    pages = _call("DescribeInstances", where,
                  ec2.get_paginator("describe_instances").paginate(Filters=filters))
    return {
        instance["InstanceId"]: (instance, reservation.get("OwnerId"))
        for page in pages
        for reservation in page.get("Reservations", [])
        for instance in reservation.get("Instances", [])
    }


def _tagged_db_instances(rds: Any, region: str, source: CredentialSource) -> list[Resource]:
    where = f"{region} ({source.label})"
    pages = _call("DescribeDBInstances", where,
                  rds.get_paginator("describe_db_instances").paginate())
    resources = []
    for page in pages:
        for item in page.get("DBInstances", []):
            tags = {tag["Key"]: tag["Value"] for tag in item.get("TagList", [])}
            if POOL_TAG not in tags:
                continue
            identifier = item["DBInstanceIdentifier"]
            if item.get("DBInstanceStatus") not in _RDS_RUNNING:
                log.info("skipped DB instance %s in %s: status %s", identifier, region,
                         item.get("DBInstanceStatus"))
                continue
            arn = item.get("DBInstanceArn")
            resources.append(Resource(
                identifier, "db", item["DBInstanceClass"], tags[POOL_TAG], tags.get(TEAM_TAG),
                region, arn or identifier, launch_time=item.get("InstanceCreateTime"),
                account_id=account_from_arn(arn), source=source,
            ))
    return resources


def source_of(access: AwsAccess, resource: Resource | AutoScalingGroup) -> CredentialSource:
    """Return the credential source for the calls about ``resource``."""
    return resource.source or access.source_for_account(resource.account_id)


def complete_from_aws(pools: dict[str, PoolInventory], access: AwsAccess) -> None:
    """Add Auto Scaling members and launch times to pools read from a state or plan."""
    add_asg_members(pools, lambda group: access.client("autoscaling", group.region,
                                                       source_of(access, group)))
    add_launch_times(pools, access)


def add_launch_times(pools: dict[str, PoolInventory], access: AwsAccess) -> None:
    """Fill in ``launch_time`` of each resource that lacks it, from EC2 and RDS.

    A resource that AWS no longer lists keeps no launch time, and a warning
    names it: its metrics end when it was terminated.
    """
    buckets: dict[tuple[CredentialSource, str, bool], list[Resource]] = {}
    for pool in pools.values():
        for resource in pool.resources:
            if resource.launch_time is None:
                key = (source_of(access, resource), resource.region, resource.kind == "db")
                buckets.setdefault(key, []).append(resource)

    times: dict[tuple[str, str], Any] = {}
    for (source, region, is_db), resources in buckets.items():
        ids = sorted({r.resource_id for r in resources})
        where = f"{region} ({source.label})"
        if is_db:
            times.update(((region, i), t) for i, t in
                         _db_create_times(access.client("rds", region, source), ids, where).items())
        else:
            times.update(((region, i), t) for i, t in
                         _launch_times(access.client("ec2", region, source), ids, where).items())

    for pool in pools.values():
        for index, resource in enumerate(pool.resources):
            if resource.launch_time is not None:
                continue
            launched = times.get((resource.region, resource.resource_id))
            if launched is None:
                log.warning("%s (%s) was not found in %s; it may have been terminated since the "
                            "state was written", resource.resource_id, resource.address,
                            resource.region)
                continue
            pool.resources[index] = dataclasses.replace(resource, launch_time=launched)


def _launch_times(ec2: Any, ids: list[str], where: str) -> dict[str, Any]:
    times = {}
    for start in range(0, len(ids), _EC2_FILTER_VALUES):
        batch = ids[start : start + _EC2_FILTER_VALUES]
        found = _instances(ec2, [{"Name": "instance-id", "Values": batch}], where)
        times.update({i: instance.get("LaunchTime") for i, (instance, _) in found.items()
                      if (instance.get("State") or {}).get("Name") != "terminated"})
    return times


def _db_create_times(rds: Any, ids: list[str], where: str) -> dict[str, Any]:
    times = {}
    paginator = rds.get_paginator("describe_db_instances")
    for start in range(0, len(ids), _RDS_FILTER_VALUES):
        batch = ids[start : start + _RDS_FILTER_VALUES]
        pages = _call("DescribeDBInstances", where, paginator.paginate(
            Filters=[{"Name": "db-instance-id", "Values": batch}]))
        times.update({item["DBInstanceIdentifier"]: item.get("InstanceCreateTime")
                      for page in pages for item in page.get("DBInstances", [])})
    return times
