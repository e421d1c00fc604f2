"""The instances that run in AWS now, found by their pool tag, ID or group, for rightsizing.

The data sources read AWS directly instead of Terraform state, because a
pool's instances may be created by several configurations, by an Auto
Scaling group or by hand. Rightsizing measures the EC2 instances that are
pending or running, because a stopped instance has no CPU to measure. The
instances of an Auto Scaling group carry the group's pool tag when the group
propagates its tags at launch, as quotaform's AsgPool does. A pool's quota usage is
counted by ``policies.live_usage`` instead, as ``quotaform usage`` counts it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdk.model import POOL_TAG
from provider_bridge.provider.aws import AwsAccess, call
from provider_bridge.provider.diagnostics import ProviderError

log = logging.getLogger(__name__)

# EC2 sets this tag on every instance an Auto Scaling group launches.
ASG_TAG = "aws:autoscaling:groupName"
RUNNING_STATES = ("pending", "running")
_DB_INACTIVE = {
    "stopped",
    "stopping",
    "deleting",
    "deleted",
    "failed",
    "inaccessible-encryption-credentials",
}


@dataclass(frozen=True, slots=True)
class LiveInstance:
    """One EC2 or RDS instance as AWS describes it now."""

    resource_id: str
    kind: str  # "instance", "asg-member" or "db", as in provider_bridge.inventory.Resource
    instance_type: str
    tags: Mapping[str, str]
    asg_name: str | None = None

    @property
    def pool(self) -> str | None:
        return self.tags.get(POOL_TAG)


def _tags(items: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items or []}


def _ec2_instances(aws: AwsAccess, region: str, **request: Any) -> list[LiveInstance]:
    client = aws.client("ec2", region)

    def describe() -> list[LiveInstance]:
        found = []
        for page in client.get_paginator("describe_instances").paginate(**request):
            for reservation in page.get("Reservations", []):
                for item in reservation.get("Instances", []):
                    tags = _tags(item.get("Tags"))
                    group = tags.get(ASG_TAG)
                    found.append(
                        LiveInstance(
                            item["InstanceId"],
                            "asg-member" if group else "instance",
                            item["InstanceType"],
                            tags,
                            group,
                        )
                    )
        return found

    return call(f"ec2:DescribeInstances in {region}", describe)


def pool_instances(aws: AwsAccess, pool: str, region: str, kind: str) -> list[LiveInstance]:
    """Return the running instances tagged with ``pool``; RDS instances for a db pool."""
    if kind == "db":
        return _db_instances(aws, pool, region)
    filters = [
        {"Name": f"tag:{POOL_TAG}", "Values": [pool]},
        {"Name": "instance-state-name", "Values": list(RUNNING_STATES)},
    ]
    found = _ec2_instances(aws, region, Filters=filters)
    log.info("pool instances found pool=%s region=%s count=%d", pool, region, len(found))
    return found


def _db_instances(aws: AwsAccess, pool: str, region: str) -> list[LiveInstance]:
    client = aws.client("rds", region)

    def describe() -> list[LiveInstance]:
        found = []
        for page in client.get_paginator("describe_db_instances").paginate():
            for item in page.get("DBInstances", []):
                tags = _tags(item.get("TagList"))
                if tags.get(POOL_TAG) != pool or item.get("DBInstanceStatus") in _DB_INACTIVE:
                    continue
                found.append(
                    LiveInstance(item["DBInstanceIdentifier"], "db", item["DBInstanceClass"], tags)
                )
        return found

    return call(f"rds:DescribeDBInstances in {region}", describe)


def instance_by_id(aws: AwsAccess, instance_id: str, region: str) -> LiveInstance:
    """Return one EC2 instance; raise ``ProviderError`` when it does not run in ``region``."""
    from botocore.exceptions import ClientError

    try:
        found = _ec2_instances(aws, region, InstanceIds=[instance_id])
    except ProviderError as exc:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and "NotFound" in cause.response["Error"]["Code"]:
            found = []
        else:
            raise
    if not found:
        raise ProviderError(
            "Instance not found",
            f"EC2 instance {instance_id} was not found in {region}; check instance_id and the "
            "provider's region.",
            "instance_id",
        )
    return found[0]


def group_members(
    aws: AwsAccess, name: str, region: str
) -> tuple[dict[str, str], list[LiveInstance]]:
    """Return an Auto Scaling group's tags and its in-service members."""
    client = aws.client("autoscaling", region)
    groups = call(
        f"autoscaling:DescribeAutoScalingGroups in {region}",
        lambda: client.describe_auto_scaling_groups(AutoScalingGroupNames=[name]),
    )
    found = groups.get("AutoScalingGroups", [])
    if not found:
        raise ProviderError(
            "Auto Scaling group not found",
            f"Auto Scaling group {name!r} was not found in {region}; check asg_name and the "
            "provider's region.",
            "asg_name",
        )
    group = found[0]
    tags = {item["Key"]: item["Value"] for item in group.get("Tags", [])}
    members = [
        LiveInstance(
            item["InstanceId"], "asg-member", item.get("InstanceType") or "unknown", tags, name
        )
        for item in group.get("Instances", [])
        if item.get("LifecycleState", "InService") == "InService"
    ]
    return tags, members


def tagged_ids(aws: AwsAccess, region: str, tags: Mapping[str, str]) -> set[str]:
    """Return the ids of the EC2 instances, Auto Scaling groups and RDS instances in
    ``region`` that carry every one of ``tags``."""
    if not tags:
        return set()
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
    found = {item.resource_id for item in _ec2_instances(aws, region, Filters=filters)}

    def matches(items: Sequence[Mapping[str, str]] | None) -> bool:
        present = _tags(items)
        return all(present.get(key) == value for key, value in tags.items())

    autoscaling = aws.client("autoscaling", region)

    def groups() -> set[str]:
        names = set()
        pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            Filters=[{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
        )
        for page in pages:
            for group in page.get("AutoScalingGroups", []):
                names.update(
                    (group["AutoScalingGroupName"], group.get("AutoScalingGroupARN") or "")
                )
        return names - {""}

    found |= call(f"autoscaling:DescribeAutoScalingGroups in {region}", groups)
    rds = aws.client("rds", region)

    def databases() -> set[str]:
        names = set()
        for page in rds.get_paginator("describe_db_instances").paginate():
            for item in page.get("DBInstances", []):
                if matches(item.get("TagList")):
                    names.add(item["DBInstanceIdentifier"])
        return names

    return found | call(f"rds:DescribeDBInstances in {region}", databases)


def to_inventory(
    pool: str,
    team: str | None,
    kind: str,
    region: str,
    instances: Sequence[LiveInstance],
    declared_type: str | None,
) -> Any:
    """Build the ``PoolInventory`` that rightsizing reads, from live instances."""
    from provider_bridge.inventory import PoolInventory, Resource

    resources = [
        Resource(
            resource_id=item.resource_id,
            kind=item.kind,  # type: ignore[arg-type]
            instance_type=item.instance_type,
            pool=pool,
            team=team,
            region=region,
            address=item.resource_id,
            asg_name=item.asg_name,
        )
        for item in instances
    ]
    return PoolInventory(
        pool=pool,
        team=team,
        kind=kind,
        region=region,  # type: ignore[arg-type]
        resources=resources,
        asg_names=sorted({item.asg_name for item in instances if item.asg_name}),
        declared_types=[declared_type] if declared_type else [],
    )
