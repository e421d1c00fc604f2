"""The policy gate's documents: the normalized policy input, the usage document, the decision.

Their JSON Schemas in ``policies/schemas`` are generated from these models with
``python -m policies.documents``; a test fails when a committed schema drifts.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

INPUT_VERSION = 1
USAGE_VERSION = 1

EnforcementLevel = Literal["advisory", "soft-mandatory", "hard-mandatory"]
Metric = Literal["instances", "vcpu", "memory_gib", "monthly_cost_usd"]
METRICS: tuple[Metric, ...] = ("instances", "vcpu", "memory_gib", "monthly_cost_usd")
SIZE_METRICS: tuple[Metric, ...] = ("vcpu", "memory_gib", "monthly_cost_usd")

# Memory is rounded to MiB-sized steps and cost to cents, so sums stay readable.
MEMORY_DIGITS = 3
COST_DIGITS = 2


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Usage(_Document):
    """Instances, vCPU, memory and on-demand monthly cost at one moment."""

    instances: int = Field(default=0, ge=0)
    vcpu: int = Field(default=0, ge=0)
    memory_gib: float = Field(default=0.0, ge=0)
    monthly_cost_usd: float = Field(
        default=0.0, ge=0, description="On-demand Linux price in USD for 730 hours."
    )

    def add(self, other: Usage) -> None:
        """Add ``other`` into this usage in place, keeping the rounding of each metric."""
        self.instances += other.instances
        self.vcpu += other.vcpu
        self.memory_gib = round(self.memory_gib + other.memory_gib, MEMORY_DIGITS)
        self.monthly_cost_usd = round(self.monthly_cost_usd + other.monthly_cost_usd,
                                      COST_DIGITS)


class InstanceOverride(_Document):
    """One instance type of a mixed instances policy, with the instances it alone may run."""

    instance_type: str
    weighted_capacity: int = Field(ge=1, description="Capacity units one instance provides.")
    instances: int = Field(ge=0, description="Instances of this type alone that fill max_size.")
    vcpu: int | None
    memory_gib: float | None
    monthly_cost_usd: float | None = Field(description="Per instance; null without a price.")


class ResourceFacts(_Document):
    """One managed resource of the plan with the facts the rules compare."""

    address: str
    type: str
    actions: list[str]
    changed: bool = Field(description="The plan creates or updates the resource.")
    pool: str | None = Field(description="Pool from the quotaform:pool tag.")
    team: str | None = Field(description="Team from the quotaform:team tag.")
    instance_type: str | None = Field(
        description="EC2 type or RDS class after the change (before it, for a delete). "
        "For a mixed instances policy, its first override."
    )
    vcpu: int | None = Field(description="vCPU per instance; null when the type is unknown.")
    memory_gib: float | None = Field(description="Memory per instance in GiB.")
    monthly_cost_usd: float | None = Field(
        default=None, description="On-demand USD a month per instance; null without a price."
    )
    instance_type_before: str | None
    vcpu_before: int | None
    memory_gib_before: float | None
    monthly_cost_usd_before: float | None = None
    count_before: int = Field(ge=0, description="Instances the resource runs before the plan.")
    count_after: int = Field(
        ge=0, description="Instances after the plan (groups: at max_size, the worst case)."
    )
    usage_before: Usage = Field(default_factory=Usage,
                                description="What the resource counts against quotas before.")
    usage_after: Usage = Field(default_factory=Usage,
                               description="What the resource counts against quotas after.")
    overrides: list[InstanceOverride] = Field(
        default_factory=list, description="Mixed instances policy types after the change."
    )
    tags: dict[str, str]
    region: str | None


class UnsizedResource(_Document):
    """A pool resource whose usage cannot be fully counted, and which metrics are missing."""

    address: str
    type: str
    pool: str | None
    instance_type: str | None
    reason: str
    fix: str = Field(default="", description="What the user changes so that it can be counted.")
    metrics: list[Metric] = Field(default_factory=lambda: list(SIZE_METRICS))
    changed: bool = Field(default=True,
                          description="The plan creates the resource or changes its size.")


class PoolUsage(Usage):
    """A pool's usage after the change (its own and its descendants'), and before it."""

    team: str | None
    before: Usage
    parent: str | None = None
    path: str = Field(default="", description="Names from the root pool down, such as "
                      "'org/payments/api'.")
    ancestors: list[str] = Field(default_factory=list, description="Parent first, root last.")
    descendants: list[str] = Field(default_factory=list)
    declared: bool = Field(default=True, description="false: named only by a quotaform:pool tag.")
    external: Usage = Field(default_factory=Usage,
                            description="Usage from the usage document, in before and after.")
    uncounted: dict[Metric, int] = Field(
        default_factory=dict,
        description="Resources whose usage of a metric is unknown and left out, by metric.",
    )


class TeamUsage(Usage):
    """The usage of every pool a team owns, after the change and before it."""

    before: Usage
    pools: list[str]
    uncounted: dict[Metric, int] = Field(default_factory=dict)


class UsageChange(_Document):
    """Usage before and after the change."""

    before: Usage = Field(default_factory=Usage)
    after: Usage = Field(default_factory=Usage)


class Requestor(_Document):
    """The person requesting the change, from --requestor or the CI environment, never the plan."""

    name: str
    source: Literal["flag", "github-actions", "gitlab-ci"] = Field(
        description="flag: --requestor; github-actions: GITHUB_ACTOR; "
        "gitlab-ci: GITLAB_USER_LOGIN."
    )
    teams: list[str] = Field(description="Declared teams that list the name among their members.")


class ResourceCost(_Document):
    """On-demand monthly cost of one resource before and after the change, in USD."""

    address: str
    pool: str | None
    before_usd: float
    after_usd: float
    delta_usd: float


class UnpricedResource(_Document):
    """A resource that launches instances but has no on-demand price, so the delta omits it."""

    address: str
    type: str
    pool: str | None
    instance_type: str | None
    reason: str


class CostEstimate(_Document):
    """The plan's on-demand monthly cost change, in USD.

    Prices are on-demand Linux prices from the instance catalog times 730 hours;
    an auto scaling group counts max_size instances.
    """

    hours_per_month: float
    before_usd: float = Field(description="Monthly cost of the priced resources before the plan.")
    after_usd: float = Field(description="Monthly cost of the priced resources after the plan.")
    delta_usd: float = Field(description="after_usd - before_usd.")
    budget_usd: float | None = Field(
        description="Most the monthly cost may rise in one plan; null when no budget is set."
    )
    resources: list[ResourceCost] = Field(
        description="Resources whose cost changes, largest increase first."
    )
    unpriced: list[UnpricedResource]


class PolicyInput(_Document):
    """The compact document our Rego rules read as ``input``."""

    version: Literal[1] = INPUT_VERSION
    source: Literal["plan", "config"] = Field(
        description="plan: a terraform plan; config: the declarations, every pool fully allocated."
    )
    terraform_version: str | None
    resources: list[ResourceFacts]
    pools: dict[str, PoolUsage]
    teams: dict[str, TeamUsage] = Field(default_factory=dict)
    totals: UsageChange = Field(
        default_factory=UsageChange,
        description="Every counted resource of the plan, pooled or not; no usage document.",
    )
    unsized: list[UnsizedResource]
    requestor: Requestor | None = Field(default=None, description="Null when no one is known.")
    cost: CostEstimate | None = None


class WaiverRecord(_Document):
    """The declared waiver that turned a denial into a warning."""

    owner: str
    reason: str
    ticket: str
    expires: dt.date


class Override(_Document):
    """A soft-mandatory denial overridden with --override RULE=REASON."""

    rule: str
    reason: str
    requestor: str = Field(description="Who overrode: the requestor of the check.")


class AppliedOverride(Override):
    """An override of the check and how many denials it turned into warnings."""

    applied: int = Field(ge=0)


class Violation(_Document):
    """One finding of one rule, with the same fields for every rule."""

    rule: str = Field(description="Rule id, such as 'pool-vcpu-quota'.")
    message: str
    severity: str = Field(description="Severity from the rule's METADATA: low, medium or high.")
    enforcement: EnforcementLevel
    pool: str | None = None
    address: str | None = None
    waiver: WaiverRecord | None = Field(default=None, description="Set when a waiver applies.")
    override: Override | None = Field(default=None, description="Set when overridden.")


class QuotaRow(_Document):
    """One quota limit compared with the usage before and after the change."""

    scope: Literal["pool", "team"]
    target: str
    metric: Metric
    limit: int | float
    before: int | float | None = Field(description="Usage before the plan; null for declarations.")
    after: int | float
    headroom: int | float = Field(description="limit - after; negative when over quota.")
    ancestors: list[str] = Field(
        default_factory=list, description="Pool scope: the enclosing pools, parent first."
    )
    unsized: int = Field(
        default=0, ge=0, description="Resources in scope whose usage of this metric is unknown, "
        "so 'after' leaves them out."
    )

    @property
    def path(self) -> str:
        """The pool path from the root, such as ``org/payments/api``; a team's name."""
        return "/".join([*reversed(self.ancestors), self.target])


class Decision(_Document):
    """The gate's verdict: denials, warnings and the quota table."""

    allowed: bool
    violations: list[Violation]
    warnings: list[Violation]
    quotas: list[QuotaRow]
    cost: CostEstimate | None = None
    requestor: Requestor | None = None
    overrides: list[AppliedOverride] = Field(default_factory=list)


UsageKind = Literal["ec2-instance", "autoscaling-group", "db-instance", "eks-node-group"]


class UsageResource(_Document):
    """One live resource that counts against a pool, as ``quotaform usage`` found it."""

    kind: UsageKind
    ids: list[str] = Field(
        min_length=1,
        description="Instance id, group name, DB identifier or ARN; a plan that manages any of "
        "them already counts the resource, so 'check --usage' skips it.",
    )
    region: str
    instance_type: str | None = Field(description="For a mixed group, its first override.")
    usage: Usage
    uncounted: list[Metric] = Field(
        default_factory=list, description="Metrics left at 0 because the size is unknown."
    )
    reason: str | None = Field(default=None, description="Why a metric is uncounted.")


class PoolRecord(_Document):
    """The usage of one pool outside the plan, with the resources it is made of."""

    team: str | None = None
    usage: Usage
    resources: list[UsageResource] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_sum(self) -> PoolRecord:
        if not self.resources:
            return self
        total = Usage()
        for resource in self.resources:
            total.add(resource.usage)
        if total != self.usage:
            raise ValueError(
                f"usage {self.usage.model_dump()} is not the sum of the listed resources "
                f"{total.model_dump()}; correct it or leave 'resources' out"
            )
        return self


class UsageDocument(_Document):
    """Per-pool usage that lives outside the plan: other stacks, workspaces, the console."""

    version: Literal[1] = USAGE_VERSION
    generated_at: dt.datetime | None = None
    regions: list[str] = Field(default_factory=list, description="Regions that were read.")
    pools: dict[str, PoolRecord]


SCHEMAS = {
    "input.schema.json": PolicyInput,
    "decision.schema.json": Decision,
    "usage.schema.json": UsageDocument,
}


def generated_schema(model: type[BaseModel]) -> dict:
    """Return the JSON Schema of ``model`` as the committed schema file contains it."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def load_schema(name: str) -> dict:
    """Read a committed schema from the package data, such as ``decision.schema.json``."""
    return json.loads((resources.files("policies") / "schemas" / name).read_text())


def write_schemas(directory: Path) -> None:
    """Write every schema file into ``directory``."""
    for name, model in SCHEMAS.items():
        text = json.dumps(generated_schema(model), indent=2, sort_keys=True) + "\n"
        (directory / name).write_text(text)


if __name__ == "__main__":
    write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "schemas")
