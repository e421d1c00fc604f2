"""Schemas of the provider block and of the three data sources, as tf.schema objects.

Only tf's light modules are imported here: building a schema must not load
boto3, numpy or pydantic, because Terraform starts the provider several times
per command just to read them.
"""

from __future__ import annotations

from tf.schema import Attribute, Block, NestedBlock, NestMode, Schema
from tf.types import Bool, List, Map, Number, String


def _in(
    name: str, kind: object, description: str, *, required: bool = False, sensitive: bool = False
) -> Attribute:
    return Attribute(
        name,
        kind,
        description=description,
        required=required,
        optional=not required,
        sensitive=sensitive,
    )


def _out(name: str, kind: object, description: str) -> Attribute:
    return Attribute(name, kind, description=description, computed=True)


def _in_out(name: str, kind: object, description: str) -> Attribute:
    return Attribute(name, kind, description=description, optional=True, computed=True)


def provider_schema() -> Schema:
    """Return the schema of the ``provider "quotaform"`` block."""
    assume_role = Block(
        attributes=[
            _in(
                "role_arn",
                String(),
                "ARN of the IAM role to assume before any AWS call.",
                required=True,
            ),
            _in("session_name", String(), "Role session name; default quotaform-provider."),
            _in(
                "external_id",
                String(),
                "External ID the role's trust policy requires.",
                sensitive=True,
            ),
        ],
        description="Assume an IAM role with STS, using the credentials terraform runs with.",
    )
    return Schema(
        attributes=[
            _in(
                "region",
                String(),
                "AWS region for instance_id and asg_name look-ups and the "
                "default region of quotaform_instance_type. Default: AWS_REGION, "
                "AWS_DEFAULT_REGION, then us-east-1. Pools use the region they declare.",
            ),
            _in(
                "profile",
                String(),
                "Named profile of the AWS config files; default: the "
                "standard AWS credential chain (AWS_PROFILE, environment, instance role).",
            ),
            _in(
                "endpoint",
                String(),
                "One URL for every AWS API the provider calls (EC2, Auto "
                "Scaling, CloudWatch, RDS, STS), such as http://127.0.0.1:5000 for a local moto "
                "server. Default: the AWS endpoints, or AWS_ENDPOINT_URL.",
            ),
            _in(
                "config",
                String(),
                "Path (relative to the folder terraform runs in) or http(s) "
                "URL of the quotaform.json that 'quotaform synth' writes: the declared pools, "
                "quotas and optimization rules. Default: QUOTAFORM_CONFIG.",
            ),
        ],
        block_types=[NestedBlock("assume_role", NestMode.Single, assume_role)],
        description="quotaform: pool quotas, live usage and rightsizing inside terraform plan.",
    )


def pool_schema() -> Schema:
    """Return the schema of the ``quotaform_pool`` data source."""
    limit = "Limit from the pool's quota in quotaform.json; null when none is declared."
    live = (
        "Live usage of the resources tagged with the pool, counted as 'quotaform usage' "
        "counts them (an Auto Scaling group at its max_size)."
    )
    headroom = "Limit minus live usage; negative when over quota, null without a limit."
    return Schema(
        attributes=[
            _in("name", String(), "Name of a pool declared in quotaform.json.", required=True),
            _in(
                "exclude_tags",
                Map(String()),
                "Leave out of the usage the instances that carry "
                "all of these tags, such as the instances this configuration manages itself, so "
                "that a precondition adds their planned count without counting them twice.",
            ),
            _out("id", String(), "The pool name."),
            _out("team", String(), "Owner team."),
            _out("kind", String(), "asg, instances or db."),
            _out("region", String(), "The pool's region."),
            _out("instance_type", String(), "Declared instance type."),
            _out(
                "declared_instances",
                Number(),
                "Instances the declaration allows: max_size for an asg pool, count otherwise.",
            ),
            _out("max_instances", Number(), limit),
            _out("max_vcpu", Number(), limit),
            _out("max_memory_gib", Number(), limit),
            _out("max_monthly_cost_usd", Number(), limit),
            _out("instances", Number(), live),
            _out("vcpu", Number(), f"{live} Sum of their vCPU."),
            _out("memory_gib", Number(), f"{live} Sum of their memory in GiB."),
            _out(
                "monthly_cost_usd",
                Number(),
                f"{live} On-demand USD a month (730 h), for the types the catalog prices.",
            ),
            _out(
                "resource_ids",
                List(String()),
                "The resources counted: instance IDs, Auto Scaling group names, DB identifiers.",
            ),
            _out("headroom_instances", Number(), headroom),
            _out("headroom_vcpu", Number(), headroom),
            _out("headroom_memory_gib", Number(), headroom),
            _out("headroom_monthly_cost_usd", Number(), headroom),
            _out("within_quota", Bool(), "True when the live usage is within every limit."),
        ],
        description="A declared pool: its quota limits, its live usage and the headroom left.",
    )


def rightsizing_schema() -> Schema:
    """Return the schema of the ``quotaform_rightsizing`` data source."""
    return Schema(
        attributes=[
            _in_out(
                "pool",
                String(),
                "Pool to rightsize. With instance_id or asg_name, the "
                "pool named by the instance's quotaform:pool tag.",
            ),
            _in("instance_id", String(), "Rightsize one EC2 instance instead of a pool."),
            _in("asg_name", String(), "Rightsize the members of one Auto Scaling group."),
            _in(
                "pin_current",
                Bool(),
                "Keep instance_type at current_type (or at "
                "accepted_type) until a reviewer accepts the recommendation, so plans stay "
                "stable. A warning shows a recommendation that is not applied.",
            ),
            _in(
                "accepted_type",
                String(),
                "With pin_current: the type a reviewer accepted; instance_type is this type.",
            ),
            _in(
                "lookback_days",
                Number(),
                "Look-back window in days; default: the model's optimization.lookback_days.",
            ),
            _in(
                "period_seconds",
                Number(),
                "CloudWatch period in seconds; default: the model's optimization.period_seconds.",
            ),
            _out("id", String(), "The pool, instance or group rightsized."),
            _out("region", String(), "Region of the instances."),
            _out(
                "instance_type",
                String(),
                "The type to use: the recommended type when a "
                "change is proposed and not pinned, else current_type (or accepted_type).",
            ),
            _out(
                "current_type",
                String(),
                "The type running now (the most common one), or the "
                "declared type when nothing runs.",
            ),
            _out("recommended_type", String(), "The recommended type; null when the type stays."),
            _out(
                "action",
                String(),
                "downsize, upsize, move-to-burstable, stop-idle, "
                "scale-in, scale-out, keep or insufficient-data.",
            ),
            _out("rule", String(), "Name of the optimization rule that fired; null if none."),
            _out("reason", String(), "Why, with the figures behind the recommendation."),
            _out(
                "p95_cpu",
                Number(),
                "Observed p95 CPU percent, the maximum over the "
                "instances; null without enough data.",
            ),
            _out("max_cpu", Number(), "Observed maximum CPU percent; null without enough data."),
            _out("samples", Number(), "CloudWatch data points, summed over the instances."),
            _out(
                "recommended_count",
                Number(),
                "Instances after a scale-in or scale-out; null otherwise.",
            ),
            _out(
                "monthly_cost_current_usd",
                Number(),
                "On-demand USD a month of the instances now; null when unpriced.",
            ),
            _out(
                "monthly_cost_recommended_usd", Number(), "On-demand USD a month after the change."
            ),
            _out(
                "monthly_savings_usd",
                Number(),
                "USD a month the change saves; negative for an upsize.",
            ),
            _out("proposed", Bool(), "True when the change passes the policies."),
            _out("blocked_by", List(String()), "Policy rules that deny the change."),
            _out(
                "pinned",
                Bool(),
                "True when pin_current holds instance_type back from recommended_type.",
            ),
            _out("resource_ids", List(String()), "IDs of the instances measured."),
        ],
        description="A rightsizing recommendation from CloudWatch CPU, computed as "
        "'quotaform rightsize' does and checked against the same policies.",
    )


def instance_type_schema() -> Schema:
    """Return the schema of the ``quotaform_instance_type`` data source."""
    return Schema(
        attributes=[
            _in("name", String(), "EC2 instance type, such as m5.large.", required=True),
            _in_out("region", String(), "Region of the price; default: the provider's region."),
            _out("id", String(), "The instance type."),
            _out("family", String(), "Family, such as m5."),
            _out("size", String(), "Size, such as large."),
            _out("vcpu", Number(), "vCPU count."),
            _out("memory_gib", Number(), "Memory in GiB."),
            _out("architectures", List(String()), "CPU architectures, such as x86_64."),
            _out("burstable", Bool(), "True for burstable (T) types."),
            _out("current_generation", Bool(), "True for a current-generation type."),
            _out(
                "hourly_price_usd",
                Number(),
                "On-demand Linux USD an hour in region; null when the catalog has no price there.",
            ),
            _out("monthly_price_usd", Number(), "hourly_price_usd times 730 hours."),
        ],
        description="Facts from quotaform's instance catalog: vCPU, memory and on-demand price.",
    )
