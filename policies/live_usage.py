"""Read each pool's usage from the live AWS account, for ``quotaform usage``.

A resource belongs to the pool its ``quotaform:pool`` tag names, and to the
team of its ``quotaform:team`` tag, else the pool's declared team. It is
counted as a plan counts the same resource (``policies.normalize``):

- EC2 instances in the pending, running, stopping or stopped state, one each;
  a stopped instance keeps its allocation and may start at any time. An
  instance that an Auto Scaling group launched counts through its group only.
- Auto Scaling groups at ``MaxSize`` of the instance type of the launch
  template version they name, or of their launch configuration. A mixed
  instances policy counts at the worst case of its overrides and weights, as
  ``policies.sizing`` describes. A group without a pool tag takes the tags of
  its launch template. The groups EKS creates for node groups are skipped.
- EKS managed node groups at ``scalingConfig.maxSize`` of ``instanceTypes[0]``,
  else of their launch template's type, else t3.medium (the EKS default).
- RDS DB instances, one each; a class ``db.X`` is sized and priced as ``X``.

Every resource records its ids (instance id, group name and ARN, DB identifier,
resource id and ARN, node group ARN), so that a check skips what its plan manages.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdk.errors import ExecutionError
from cdk.model import POOL_TAG, TEAM_TAG, ResourceConfig
from policies.documents import PoolRecord, Usage, UsageDocument, UsageKind, UsageResource
from policies.normalize import EKS_DEFAULT_TYPE
from policies.sizing import Counted, count_instances, count_overrides
from policies.templates import capacity_weight

if TYPE_CHECKING:
    from provider_bridge.catalog import Catalog

logger = logging.getLogger(__name__)

# (service, region) -> a boto3 client for that service in that region.
ClientFactory = Callable[[str, str], Any]

_LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_GROUP_TAG = "aws:autoscaling:groupName"
_NODE_GROUP_TAG = "eks:nodegroup-name"


@dataclass(frozen=True, slots=True)
class _Found:
    """One tagged resource with what it runs, before sizing."""

    kind: UsageKind
    ids: list[str]
    tags: dict[str, str]
    instance_type: str | None
    count: int
    overrides: list[tuple[str, int]] | None = None
    problem: str | None = None
    # Names of the Auto Scaling groups EKS runs for a node group, counted through it.
    launched_groups: tuple[str, ...] = ()


def collect_usage(config: ResourceConfig, catalog: Catalog, regions: list[str],
                  clients: ClientFactory,
                  on_region: Callable[[str], None] | None = None) -> UsageDocument:
    """Read every tagged resource of ``regions`` and sum its usage per pool.

    ``on_region`` is called with each region before it is read, for progress output.
    """
    started = time.perf_counter()
    logger.info("usage collection started regions=%s", ",".join(regions))
    pools: dict[str, PoolRecord] = {}
    count = 0
    for region in regions:
        if on_region is not None:
            on_region(region)
        for found in _region_resources(region, clients):
            pool = found.tags.get(POOL_TAG)
            if not pool:
                continue
            declared = config.pool(pool)
            team = found.tags.get(TEAM_TAG) or (declared.team if declared else None)
            record = pools.setdefault(pool, PoolRecord(team=team, usage=Usage()))
            resource = _sized(found, region, catalog)
            record.resources.append(resource)
            record.usage.add(resource.usage)
            count += 1

    undeclared = sorted(name for name in pools if config.pool(name) is None)
    if undeclared:
        logger.warning("pools %s are tagged on live resources but not declared; declare them "
                       "in the app or correct the tags", ", ".join(undeclared))
    logger.info("usage collection finished pools=%d resources=%d seconds=%.1f",
                len(pools), count, time.perf_counter() - started)
    return UsageDocument(generated_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
                         regions=regions, pools=dict(sorted(pools.items())))


def _sized(found: _Found, region: str, catalog: Catalog) -> UsageResource:
    if found.overrides:
        counted, _ = count_overrides(catalog, found.overrides, found.count, region)
    elif found.instance_type is not None:
        counted = count_instances(catalog, found.instance_type, found.count, region)
    else:
        counted = Counted()
        counted.usage.instances = found.count
        counted.mark(("vcpu", "memory_gib", "monthly_cost_usd"),
                     found.problem or "its instance type was not found", "")
    return UsageResource(kind=found.kind, ids=found.ids, region=region,
                         instance_type=found.instance_type, usage=counted.usage.usage(),
                         uncounted=counted.uncounted, reason=counted.reason)


def _region_resources(region: str, clients: ClientFactory) -> Iterator[_Found]:
    """Yield the resources of one region that may carry a pool tag."""
    # botocore is imported here so that importing policies does not load it.
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ec2 = clients("ec2", region)
        node_groups = list(_node_groups(clients("eks", region), ec2))
        yield from node_groups
        eks_groups = {name for found in node_groups for name in found.launched_groups}
        yield from _groups(clients("autoscaling", region), ec2, eks_groups)
        yield from _instances(ec2)
        yield from _databases(clients("rds", region))
    except (BotoCoreError, ClientError) as exc:
        raise ExecutionError(f"reading the usage of region {region} failed: {exc}; check "
                             "the credentials, the region and --endpoint-url") from exc


def _tags(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(item["Key"]): str(item.get("Value", "")) for item in items or []}


def _instances(ec2: Any) -> Iterator[_Found]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag-key", "Values": [POOL_TAG]},
        {"Name": "instance-state-name", "Values": _LIVE_STATES},
    ])
    for page in pages:
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                tags = _tags(instance.get("Tags"))
                if _GROUP_TAG in tags:
                    continue
                yield _Found("ec2-instance", [instance["InstanceId"]], tags,
                             instance.get("InstanceType"), 1)


def _groups(autoscaling: Any, ec2: Any, skipped: set[str]) -> Iterator[_Found]:
    for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page.get("AutoScalingGroups", []):
            tags = _tags(group.get("Tags"))
            name = group["AutoScalingGroupName"]
            if name in skipped or _NODE_GROUP_TAG in tags:
                continue
            ids = [name, group.get("AutoScalingGroupARN") or name]
            found = _group_type(autoscaling, ec2, group, POOL_TAG not in tags)
            if POOL_TAG not in tags:
                tags = {**found.template_tags, **tags}
            yield _Found("autoscaling-group", ids, tags, found.instance_type,
                         int(group.get("MaxSize", 0)), found.overrides, found.problem)


@dataclass(frozen=True, slots=True)
class _GroupType:
    instance_type: str | None
    overrides: list[tuple[str, int]] | None
    template_tags: dict[str, str]
    problem: str | None = None


def _group_type(autoscaling: Any, ec2: Any, group: dict[str, Any],
                with_tags: bool) -> _GroupType:
    from botocore.exceptions import ClientError

    policy = group.get("MixedInstancesPolicy") or {}
    specification = group.get("LaunchTemplate") or (
        (policy.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification") or {})
    try:
        template_type, template_tags = _template(ec2, specification, with_tags)
    except ClientError as exc:
        # A template deleted under a running group: count the group, unsized.
        problem = f"its launch template could not be read ({exc.response['Error']['Code']})"
        return _GroupType(None, None, {}, problem)
    overrides = [
        (item["InstanceType"], capacity_weight(item.get("WeightedCapacity")))
        for item in (policy.get("LaunchTemplate") or {}).get("Overrides") or []
        if item.get("InstanceType")
    ]
    if overrides:
        return _GroupType(overrides[0][0], overrides, template_tags)
    if group.get("LaunchConfigurationName"):
        configurations = autoscaling.describe_launch_configurations(
            LaunchConfigurationNames=[group["LaunchConfigurationName"]]
        ).get("LaunchConfigurations", [])
        if configurations:
            return _GroupType(configurations[0].get("InstanceType"), None, {})
    problem = None if template_type else "its launch template or configuration names no type"
    return _GroupType(template_type, None, template_tags, problem)


def _template(ec2: Any, specification: dict[str, Any],
              with_tags: bool = False) -> tuple[str | None, dict[str, str]]:
    """Return the instance type (and resource tags) of the template version a group names."""
    if not specification:
        return None, {}
    selector = ({"LaunchTemplateId": specification["LaunchTemplateId"]}
                if specification.get("LaunchTemplateId")
                else {"LaunchTemplateName": specification.get("LaunchTemplateName", "")})
    version = str(specification.get("Version") or "$Default")
    versions = ec2.describe_launch_template_versions(**selector, Versions=[version])
    data = (versions.get("LaunchTemplateVersions") or [{}])[0].get("LaunchTemplateData") or {}
    if not with_tags:
        return data.get("InstanceType"), {}
    templates = ec2.describe_launch_templates(
        **{key + "s": [value] for key, value in selector.items()}
    ).get("LaunchTemplates", [])
    tags = _tags(templates[0].get("Tags")) if templates else {}
    return data.get("InstanceType"), tags


def _node_groups(eks: Any, ec2: Any) -> Iterator[_Found]:
    for page in eks.get_paginator("list_clusters").paginate():
        for cluster in page.get("clusters", []):
            pages = eks.get_paginator("list_nodegroups").paginate(clusterName=cluster)
            for names in pages:
                for name in names.get("nodegroups", []):
                    group = eks.describe_nodegroup(clusterName=cluster,
                                                   nodegroupName=name)["nodegroup"]
                    yield _node_group(ec2, cluster, group)


def _node_group(ec2: Any, cluster: str, group: dict[str, Any]) -> _Found:
    name = group["nodegroupName"]
    asg_names = tuple(item["name"] for item in
                      (group.get("resources") or {}).get("autoScalingGroups") or [])
    ids = [f"{cluster}:{name}", group.get("nodegroupArn") or name]
    types = group.get("instanceTypes") or []
    instance_type = types[0] if types else None
    template = group.get("launchTemplate") or {}
    if instance_type is None and template:
        instance_type, _ = _template(ec2, {"LaunchTemplateId": template.get("id"),
                                           "LaunchTemplateName": template.get("name"),
                                           "Version": template.get("version")})
    return _Found("eks-node-group", ids, _plain_tags(group.get("tags")),
                  instance_type or EKS_DEFAULT_TYPE,
                  int((group.get("scalingConfig") or {}).get("maxSize", 0)),
                  launched_groups=asg_names)


def _plain_tags(tags: dict[str, Any] | None) -> dict[str, str]:
    return {str(key): str(value) for key, value in (tags or {}).items()}


def _databases(rds: Any) -> Iterator[_Found]:
    for page in rds.get_paginator("describe_db_instances").paginate():
        for database in page.get("DBInstances", []):
            tags = _tags(database.get("TagList"))
            if POOL_TAG not in tags:
                continue
            ids = [database["DBInstanceIdentifier"],
                   *(value for key in ("DbiResourceId", "DBInstanceArn")
                     if (value := database.get(key)))]
            yield _Found("db-instance", ids, tags, database.get("DBInstanceClass"), 1)
