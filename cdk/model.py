"""The quotaform model: the one source of truth for pools, quotas, access and rules.

``ResourceConfig`` is what the constructs build, what ``synth`` writes as
``quotaform.json`` and what the policy gate and the rightsizing bridge read.
Every model forbids unknown fields, so a misspelt key fails validation with its
path instead of being ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cdk.errors import InputError

SCHEMA_VERSION = 1

POOL_TAG = "quotaform:pool"
TEAM_TAG = "quotaform:team"

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="Lower-case kebab-case name.")]

PoolKind = Literal["asg", "instances", "db"]
EnforcementLevel = Literal["advisory", "soft-mandatory", "hard-mandatory"]
Action = Literal["downsize", "upsize", "move-to-burstable", "stop-idle", "scale-in", "scale-out"]
Statistic = Literal["p50", "p95", "p99", "max", "mean", "burstiness"]
Comparison = Literal["below", "above"]

_INSTANCE_TYPE = re.compile(r"^(db\.)?[a-z0-9-]+\.[a-z0-9-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Team(_Strict):
    """A team that owns pools and is charged for what they allocate."""

    name: Name
    description: str = ""
    contacts: list[str] = Field(default_factory=list, description="E-mail or chat handles.")
    members: list[str] = Field(
        default_factory=list,
        description="CI logins of the people who request changes for this team (GITHUB_ACTOR, "
        "GITLAB_USER_LOGIN or --requestor), matched without regard to case.",
    )


class Pool(_Strict):
    """A named group of compute with one instance type, owned by one team."""

    name: Name
    kind: PoolKind = Field(description="asg: launch template + auto scaling group; "
                           "instances: standalone EC2 instances; db: RDS instances.")
    team: Name = Field(description="Owner team; must be declared in allocation.teams.")
    parent: Name | None = Field(default=None, description="Enclosing pool, for nested quotas.")
    region: str = "us-east-1"
    instance_type: str = Field(description="EC2 type (m5.large) or RDS class (db.m5.large).")
    min_size: int = Field(default=1, ge=0, description="asg only: minimum instance count.")
    max_size: int = Field(default=1, ge=0, description="asg only: maximum instance count.")
    desired_capacity: int | None = Field(default=None, ge=0, description="asg only.")
    count: int = Field(default=1, ge=0, description="instances and db: number of instances.")
    allowed_instance_types: list[str] = Field(
        default_factory=list, description="Types this pool may use; empty means any."
    )
    allowed_families: list[str] = Field(
        default_factory=list, description="Families (m5, c6g) this pool may use; empty means any."
    )
    max_instance_vcpu: int | None = Field(
        default=None, gt=0, description="Largest vCPU count one instance of this pool may have."
    )
    max_instance_memory_gib: float | None = Field(
        default=None, gt=0, description="Largest memory in GiB one instance of this pool may have."
    )
    image_id: str = Field(default="ami-12c6146b", description="AMI for asg and instances pools.")
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("instance_type", "allowed_instance_types")
    @classmethod
    def _check_type_syntax(cls, value: str | list[str]) -> str | list[str]:
        for name in [value] if isinstance(value, str) else value:
            if not _INSTANCE_TYPE.match(name):
                raise ValueError(f"'{name}' is not an instance type name such as 'm5.large'")
        return value

    @model_validator(mode="after")
    def _check_sizes(self) -> Pool:
        if self.kind == "asg" and self.min_size > self.max_size:
            raise ValueError(
                f"min_size {self.min_size} is larger than max_size {self.max_size}; "
                "raise max_size or lower min_size"
            )
        if self.desired_capacity is not None and not (
            self.min_size <= self.desired_capacity <= self.max_size
        ):
            raise ValueError("desired_capacity must lie between min_size and max_size")
        return self

    @property
    def instance_count(self) -> int:
        """Instances the pool may run at most: max_size for an ASG, count otherwise."""
        return self.max_size if self.kind == "asg" else self.count


class Quota(_Strict):
    """Upper limits for one pool or one team; an unset limit is not enforced."""

    scope: Literal["pool", "team"] = "pool"
    target: Name = Field(description="Pool or team name, by scope.")
    max_instances: int | None = Field(default=None, ge=0)
    max_vcpu: int | None = Field(default=None, ge=0)
    max_memory_gib: float | None = Field(default=None, ge=0)
    max_monthly_cost_usd: float | None = Field(default=None, ge=0)


class AccessGrant(_Strict):
    """Lets a team (and optionally named principals) allocate in some pools."""

    team: Name
    pools: list[Name]
    principals: list[str] = Field(default_factory=list)


class Waiver(_Strict):
    """A time-limited exception to one rule for one pool, team or resource address."""

    rule: str = Field(description="Rule id, such as 'pool-vcpu-quota' or 'main.deny'.")
    pool: Name | None = Field(default=None, description="Pool whose findings are waived.")
    team: Name | None = Field(
        default=None,
        description="Team whose team-scope findings (team-vcpu-quota and the other team "
        "quotas) are waived.",
    )
    address: str | None = Field(
        default=None,
        description="Resource address whose findings are waived. It also covers the instances "
        "of a count or for_each resource (aws_instance.web covers aws_instance.web[0]) and "
        "everything inside a module (module.app).",
    )
    owner: str = Field(min_length=1, description="The person or team accountable for the exception.")
    reason: str = Field(min_length=1)
    ticket: str = Field(default="", description="Ticket reference, such as 'OPS-1234'.")
    expires: dt.date = Field(description="Last day the waiver applies.")

    @model_validator(mode="after")
    def _check_scope(self) -> Waiver:
        scopes = [self.pool, self.team, self.address]
        if sum(scope is not None for scope in scopes) != 1:
            raise ValueError("a waiver names exactly one of 'pool', 'team' or 'address'")
        return self


class PolicySetting(_Strict):
    """Enforcement level and on/off switch of one policy rule."""

    rule: str = Field(description="Rule id, such as 'pool-vcpu-quota'.")
    enforcement: EnforcementLevel | None = Field(
        default=None,
        description="Null keeps the rule's default: hard-mandatory for most rules, advisory "
        "for unknown-requestor, unpriced-cost and the warn rules of user policies.",
    )
    enabled: bool = True


class Allocation(_Strict):
    teams: list[Team] = Field(default_factory=list)
    pools: list[Pool] = Field(default_factory=list)
    quotas: list[Quota] = Field(default_factory=list)
    access: list[AccessGrant] = Field(default_factory=list)
    policies: list[PolicySetting] = Field(default_factory=list)
    waivers: list[Waiver] = Field(default_factory=list)
    required_tags: list[str] = Field(default_factory=lambda: [POOL_TAG, TEAM_TAG])
    allowed_regions: list[str] = Field(
        default_factory=list, description="Regions resources may be created in; empty means any."
    )
    allowed_tag_values: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Values each listed tag key may take. The pool and team tags always take "
        "the declared pool and team names, so they are not listed here.",
    )
    max_monthly_cost_delta_usd: float | None = Field(
        default=None, ge=0,
        description="Budget of one plan: the most its on-demand monthly cost may rise, in USD.",
    )

    @field_validator("allowed_tag_values")
    @classmethod
    def _check_tag_values(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, allowed in value.items():
            if key in (POOL_TAG, TEAM_TAG):
                raise ValueError(
                    f"'{key}' takes the declared {key.split(':')[1]} names; remove it from "
                    "allowed_tag_values"
                )
            if not allowed:
                raise ValueError(f"tag '{key}' lists no allowed values; list some or remove it")
        return value


class ScalingStrategy(_Strict):
    pool: Name
    target_cpu_percent: float = Field(default=50.0, gt=0, le=100)
    min_size: int | None = Field(default=None, ge=0)
    max_size: int | None = Field(default=None, ge=0)


class PerformanceTarget(_Strict):
    p95_cpu_percent: float = Field(
        default=70.0, gt=0, le=100, description="p95 CPU a right-sized instance stays under."
    )
    max_memory_percent: float = Field(
        default=90.0, gt=0, le=100,
        description="Peak memory use, in percent of the type's memory, that a right-sized "
        "instance stays under; applies when memory is measured.",
    )


class Capacity(_Strict):
    forecast_horizon_days: int = Field(default=90, gt=0)
    forecast_lookback_days: int = Field(default=28, gt=0)
    growth_percent_per_month: float = 0.0
    scaling: list[ScalingStrategy] = Field(default_factory=list)
    performance: PerformanceTarget = Field(default_factory=PerformanceTarget)


class AlarmThreshold(_Strict):
    metric: str = "CPUUtilization"
    statistic: Literal["Average", "Maximum", "Minimum", "Sum", "p95", "p99"] = "Average"
    comparison: Literal["above", "below"] = "above"
    threshold: float
    period_seconds: int = Field(default=300, gt=0)
    evaluation_periods: int = Field(default=3, gt=0)
    pool: Name | None = None


class Monitoring(_Strict):
    metrics: list[str] = Field(default_factory=lambda: ["CPUUtilization"])
    alarms: list[AlarmThreshold] = Field(default_factory=list)
    alert_targets: list[str] = Field(default_factory=list, description="SNS topic ARNs or e-mails.")
    health_checks: bool = True


class OptimizationRule(_Strict):
    """When ``statistic(metric)`` is ``comparison`` ``threshold``, take ``action``."""

    name: Name
    metric: str = "CPUUtilization"
    statistic: Statistic = "p95"
    comparison: Comparison
    threshold: float = Field(ge=0)
    action: Action
    priority: int = Field(default=100, description="Lower runs first and wins a conflict.")


def _default_rules() -> list[OptimizationRule]:
    return [
        OptimizationRule(
            name="downsize-underused", comparison="below", threshold=20.0, action="downsize",
            priority=20,
        ),
        OptimizationRule(
            name="upsize-saturated", comparison="above", threshold=80.0, action="upsize",
            priority=10,
        ),
    ]


class Optimization(_Strict):
    rules: list[OptimizationRule] = Field(default_factory=_default_rules)
    allowed_families: list[str] = Field(
        default_factory=list,
        description="Families a recommendation may move to; empty means the pool's own family.",
    )
    headroom_percent: float = Field(default=0.0, ge=0, le=100)
    allowed_architectures: list[str] = Field(
        default_factory=list,
        description="Architectures (x86_64, arm64) a recommendation may move to; empty means "
        "the current type's architectures only.",
    )
    unmeasured_memory: Literal["keep-current", "cpu-only"] = Field(
        default="keep-current",
        description="Sizing when a pool has no memory metric: keep-current never recommends "
        "less memory than the current type has; cpu-only sizes on CPU alone and says so in "
        "the reason.",
    )
    burstable_families: list[str] = Field(
        default_factory=lambda: ["t3", "t3a", "t4g"],
        description="Burstable families that move-to-burstable may choose from, after the "
        "pool's own allowed families and types.",
    )
    lookback_days: int = Field(default=14, gt=0, le=455)
    period_seconds: int = Field(default=300, gt=0)


class ResourceConfig(_Strict):
    """The whole declaration: allocation, capacity, monitoring and optimization."""

    version: Literal[1] = SCHEMA_VERSION
    allocation: Allocation = Field(default_factory=Allocation)
    capacity: Capacity = Field(default_factory=Capacity)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    optimization: Optimization = Field(default_factory=Optimization)

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> ResourceConfig:
        alloc = self.allocation
        teams = {t.name for t in alloc.teams}
        pools = {p.name: p for p in alloc.pools}
        _reject_duplicates("allocation.teams", [t.name for t in alloc.teams])
        _reject_duplicates("allocation.pools", [p.name for p in alloc.pools])

        for i, pool in enumerate(alloc.pools):
            where = f"allocation.pools[{i}] ({pool.name})"
            if pool.team not in teams:
                raise ValueError(
                    f"{where}.team: unknown team '{pool.team}'; declare it in allocation.teams "
                    f"(declared: {', '.join(sorted(teams)) or 'none'})"
                )
            if pool.parent is not None and pool.parent not in pools:
                raise ValueError(f"{where}.parent: unknown pool '{pool.parent}'")
            if alloc.allowed_regions and pool.region not in alloc.allowed_regions:
                raise ValueError(
                    f"{where}.region: '{pool.region}' is not one of allocation.allowed_regions "
                    f"({', '.join(alloc.allowed_regions)}); move the pool or allow its region"
                )
        _reject_parent_cycles(pools)

        for i, quota in enumerate(alloc.quotas):
            known = pools if quota.scope == "pool" else teams
            if quota.target not in known:
                raise ValueError(
                    f"allocation.quotas[{i}].target: unknown {quota.scope} '{quota.target}'"
                )
        for i, grant in enumerate(alloc.access):
            if grant.team not in teams:
                raise ValueError(f"allocation.access[{i}].team: unknown team '{grant.team}'")
            for name in grant.pools:
                if name not in pools:
                    raise ValueError(f"allocation.access[{i}].pools: unknown pool '{name}'")
        for i, waiver in enumerate(alloc.waivers):
            _check_waiver_scope(f"allocation.waivers[{i}]", waiver, set(pools), teams)

        catalog = (info.context or {}).get("catalog")
        if catalog is not None:
            _check_catalog(alloc.pools, catalog)
            _check_instance_limits(alloc.pools, catalog)
        return self

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.allocation.pools if p.name == name), None)


def _check_waiver_scope(where: str, waiver: Waiver, pools: set[str], teams: set[str]) -> None:
    # A misspelt name would match no finding and leave the denial in place.
    if waiver.pool is not None and waiver.pool not in pools:
        raise ValueError(
            f"{where}.pool: unknown pool '{waiver.pool}'; name a pool declared in "
            f"allocation.pools (declared: {', '.join(sorted(pools)) or 'none'})"
        )
    if waiver.team is not None and waiver.team not in teams:
        raise ValueError(
            f"{where}.team: unknown team '{waiver.team}'; name a team declared in "
            f"allocation.teams (declared: {', '.join(sorted(teams)) or 'none'})"
        )


def _reject_duplicates(where: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{where}: name '{name}' is declared twice")
        seen.add(name)


def _reject_parent_cycles(pools: dict[str, Pool]) -> None:
    for start in pools.values():
        seen = {start.name}
        current = start
        while current.parent is not None:
            if current.parent in seen:
                raise ValueError(f"allocation.pools: pool '{start.name}' is its own ancestor")
            seen.add(current.parent)
            current = pools[current.parent]


def _check_catalog(pools: list[Pool], catalog: object) -> None:
    for i, pool in enumerate(pools):
        if pool.kind == "db":
            # RDS classes are priced and sized apart from EC2 types; the EC2
            # catalog has no entry for them.
            continue
        for name in [pool.instance_type, *pool.allowed_instance_types]:
            if name not in catalog:  # type: ignore[operator]
                raise ValueError(
                    f"allocation.pools[{i}] ({pool.name}): instance type '{name}' is not in "
                    "the instance catalog; check the spelling (for example 'm5.large')"
                )


def _check_instance_limits(pools: list[Pool], catalog: object) -> None:
    """Reject a pool whose own instance type is larger than its per-instance limits."""
    for i, pool in enumerate(pools):
        # RDS runs class db.X on the EC2 type X, with the same vCPU and memory.
        spec = catalog.get(pool.instance_type.removeprefix("db."))  # type: ignore[attr-defined]
        if spec is None:
            continue
        where = f"allocation.pools[{i}] ({pool.name})"
        if pool.max_instance_vcpu is not None and spec.vcpu > pool.max_instance_vcpu:
            raise ValueError(
                f"{where}: instance type '{pool.instance_type}' has {spec.vcpu} vCPU, more than "
                f"max_instance_vcpu {pool.max_instance_vcpu}; choose a smaller type or raise "
                "the limit"
            )
        limit = pool.max_instance_memory_gib
        if limit is not None and spec.memory_gib > limit:
            raise ValueError(
                f"{where}: instance type '{pool.instance_type}' has {spec.memory_gib:g} GiB of "
                f"memory, more than max_instance_memory_gib {limit:g}; choose a smaller type "
                "or raise the limit"
            )


def validate_config(document: dict, catalog: object | None = None) -> ResourceConfig:
    """Validate a ``quotaform.json`` document, checking instance types against ``catalog``."""
    return ResourceConfig.model_validate(document, context={"catalog": catalog})


def describe_validation_error(error: ValidationError, source: str) -> str:
    """Render a pydantic error as one message per problem, naming the file and field path."""
    lines = [f"{source}: invalid declaration"]
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {path}: {message}" if path else f"  {message}")
    return "\n".join(lines)


def load_config(path: Path, catalog: object | None = None) -> ResourceConfig:
    """Read and validate a ``quotaform.json`` file; every failure is an ``InputError``."""
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found; run 'quotaform synth APP.py' first") from exc
    except OSError as exc:
        raise InputError(
            f"{path}: could not read the file ({exc.strerror}); pass the quotaform.json that "
            "'quotaform synth' writes"
        ) from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); pass the quotaform.json that "
                         "'quotaform synth' writes") from exc
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object with 'allocation', 'capacity', ...")
    if "version" not in document:
        # Every quotaform.json that synth writes has one, so its absence means another file.
        raise InputError(f"{path}: missing version; is this a quotaform.json written by "
                         "quotaform synth?")
    try:
        return validate_config(document, catalog)
    except ValidationError as exc:
        raise InputError(describe_validation_error(exc, str(path))) from exc
