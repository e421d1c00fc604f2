"""The two documents of the policy gate: the normalized policy input and the decision.

Their JSON Schemas in ``policies/schemas`` are generated from these models with
``python -m policies.documents``; a test fails when a committed schema drifts.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

INPUT_VERSION = 1

EnforcementLevel = Literal["advisory", "soft-mandatory", "hard-mandatory"]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceFacts(_Document):
    """One managed resource of the plan with the facts the rules compare."""

    address: str
    type: str
    actions: list[str]
    changed: bool = Field(description="The plan creates or updates the resource.")
    pool: str | None = Field(description="Pool from the quotaform:pool tag.")
    team: str | None = Field(description="Team from the quotaform:team tag.")
    instance_type: str | None = Field(
        description="EC2 type or RDS class after the change (before it, for a delete)."
    )
    vcpu: int | None = Field(description="vCPU per instance; null when the type is unknown.")
    memory_gib: float | None = Field(description="Memory per instance in GiB.")
    instance_type_before: str | None
    vcpu_before: int | None
    memory_gib_before: float | None
    count_before: int = Field(ge=0, description="Instances the resource runs before the plan.")
    count_after: int = Field(ge=0, description="Instances after the plan (ASG: max_size).")
    tags: dict[str, str]
    region: str | None


class UnsizedResource(_Document):
    """A pool resource whose vCPU and memory cannot be looked up."""

    address: str
    type: str
    pool: str | None
    instance_type: str | None
    reason: str


class Usage(_Document):
    """Instances, vCPU and memory of a pool at one moment."""

    instances: int = 0
    vcpu: int = 0
    memory_gib: float = 0.0


class PoolUsage(Usage):
    """A pool's usage after the change, with its team and its usage before."""

    team: str | None
    before: Usage


class PolicyInput(_Document):
    """The compact document our Rego rules read as ``input``."""

    version: Literal[1] = INPUT_VERSION
    source: Literal["plan", "config"] = Field(
        description="plan: a terraform plan; config: the declarations, every pool fully allocated."
    )
    terraform_version: str | None
    resources: list[ResourceFacts]
    pools: dict[str, PoolUsage]
    unsized: list[UnsizedResource]


class Violation(_Document):
    """One finding of one rule, with the same fields for every rule."""

    rule: str = Field(description="Rule id, such as 'pool-vcpu-quota'.")
    message: str
    severity: str = Field(description="Severity from the rule's METADATA: low, medium or high.")
    enforcement: EnforcementLevel
    pool: str | None = None
    address: str | None = None


class QuotaRow(_Document):
    """One quota limit compared with the usage before and after the change."""

    scope: Literal["pool", "team"]
    target: str
    metric: Literal["instances", "vcpu"]
    limit: int
    before: int | None = Field(description="Usage before the plan; null for declarations.")
    after: int
    headroom: int = Field(description="limit - after; negative when over quota.")


class Decision(_Document):
    """The gate's verdict: denials, warnings and the quota table."""

    allowed: bool
    violations: list[Violation]
    warnings: list[Violation]
    quotas: list[QuotaRow]


SCHEMAS = {"input.schema.json": PolicyInput, "decision.schema.json": Decision}


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
