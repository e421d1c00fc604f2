"""CDKTF constructs that declare quotaform pools, quotas and access, and emit AWS resources.

Each construct records its part of the ``ResourceConfig`` model on its
``QuotaformStack`` and, for pools, adds raw ``TerraformResource`` objects for
the hashicorp/aws provider (~> 5.0). The prebuilt AWS bindings are not used:
they add about 15 s of import time and 490 MB, and the few attributes emitted
here are checked against ``terraform providers schema -json`` in the tests.
The stack validates the whole model when the app synthesizes, so an invalid
declaration writes no Terraform JSON.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cdk.errors import InputError
from cdk.model import (
    NAME_PATTERN,
    POOL_TAG,
    TEAM_TAG,
    ResourceConfig,
    describe_validation_error,
    validate_config,
)
from cdk.synth import silence_node_version_warning

# jsii reads these when cdktf starts Node.js during the import below.
silence_node_version_warning(os.environ)

import cdktf  # noqa: E402
import jsii  # noqa: E402
from constructs import Construct, IValidation  # noqa: E402

AWS_PROVIDER_SOURCE = "hashicorp/aws"
AWS_PROVIDER_VERSION = "~> 5.0"
DEFAULT_IMAGE_ID = "ami-12c6146b"
# The quotaform Terraform provider, installed by 'quotaform provider install'.
QUOTAFORM_PROVIDER_SOURCE = "quotaform/quotaform"
QUOTAFORM_PROVIDER_VERSION = "~> 0.1"

_NAME = re.compile(NAME_PATTERN)
_MODEL_PATH = re.compile(r"^  allocation\.(teams|pools|quotas|access)\.(\d+)", re.MULTILINE)


class _RawResource(cdktf.TerraformResource):
    """A Terraform resource whose attributes are given as a plain dict."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resource_type: str,
        attributes: dict[str, Any],
        provider: cdktf.TerraformProvider,
        count: int | None = None,
    ) -> None:
        super().__init__(
            scope, construct_id, terraform_resource_type=resource_type, provider=provider,
            count=count,
        )
        self.attributes = attributes

    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return self.attributes


class _RawDataSource(cdktf.TerraformDataSource):
    """A Terraform data source whose arguments are given as a plain dict."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data_type: str,
        attributes: dict[str, Any],
        provider: cdktf.TerraformProvider,
    ) -> None:
        super().__init__(scope, construct_id, terraform_resource_type=data_type,
                         provider=provider)
        self.attributes = attributes

    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return self.attributes


@jsii.implements(IValidation)
class _ConfigValidation:
    """Runs the model validation when the app synthesizes; a failure stops synth."""

    def __init__(self, stack: QuotaformStack) -> None:
        self._stack = weakref.ref(stack)

    def validate(self) -> list[str]:
        stack = self._stack()
        if stack is None:
            return []
        stack.last_error = None
        try:
            stack.config  # noqa: B018 - validation runs inside the property
        except InputError as exc:
            stack.last_error = exc
            return [str(exc)]
        return []


class QuotaformStack(cdktf.TerraformStack):
    """A Terraform stack with the AWS provider and the quotaform model of its pools."""

    _instances: list[weakref.ref[QuotaformStack]] = []

    def __init__(self, scope: Construct, id: str, *, region: str = "us-east-1") -> None:  # noqa: A002
        super().__init__(scope, id)
        self.name = id
        self.region = region
        self.last_error: InputError | None = None
        self.provider = cdktf.TerraformProvider(
            self,
            "aws",
            terraform_resource_type="aws",
            terraform_provider_source=AWS_PROVIDER_SOURCE,
            terraform_generator_metadata=cdktf.TerraformProviderGeneratorMetadata(
                provider_name="aws", provider_version_constraint=AWS_PROVIDER_VERSION
            ),
        )
        self.provider.add_override("region", region)
        # A relative path keeps the state in the stack's folder, where terraform runs;
        # the cdktf default is an absolute path under the folder synth ran in.
        cdktf.LocalBackend(self, path="terraform.tfstate")
        self._teams: list[dict[str, Any]] = []
        self._pools: list[dict[str, Any]] = []
        self._quotas: list[dict[str, Any]] = []
        self._access: list[dict[str, Any]] = []
        self._policies: list[dict[str, Any]] = []
        self._waivers: list[dict[str, Any]] = []
        self._allocation_settings: dict[str, Any] = {}
        self._sections: dict[str, dict[str, Any]] = {}
        self._quotaform_provider: cdktf.TerraformProvider | None = None
        self.node.add_validation(_ConfigValidation(self))
        QuotaformStack._instances.append(weakref.ref(self))

    @classmethod
    def instances(cls) -> list[QuotaformStack]:
        """Return the stacks built in this process that are still alive, oldest first."""
        return [stack for ref in cls._instances if (stack := ref()) is not None]

    @classmethod
    def validation_error(cls) -> InputError | None:
        """Return the error of the last failed validation of any stack, if one failed."""
        return next((s.last_error for s in cls.instances() if s.last_error is not None), None)

    @classmethod
    def from_config(cls, scope: Construct, id: str, config: ResourceConfig) -> QuotaformStack:  # noqa: A002
        """Build a stack and its constructs from an existing ``ResourceConfig``."""
        pools = config.allocation.pools
        stack = cls(scope, id, region=pools[0].region if pools else "us-east-1")
        for team in config.allocation.teams:
            Team(stack, team.name, description=team.description, contacts=team.contacts,
                 members=team.members)
        for pool in pools:
            _pool_from_model(stack, pool.model_dump())
        for i, quota in enumerate(config.allocation.quotas):
            Quota(stack, f"quota-{i}", **quota.model_dump())
        for i, grant in enumerate(config.allocation.access):
            Access(stack, f"access-{i}", **grant.model_dump())
        for setting in config.allocation.policies:
            stack.policy(**setting.model_dump())
        for waiver in config.allocation.waivers:
            stack.waiver(**waiver.model_dump())
        stack.allocation_settings(
            required_tags=config.allocation.required_tags,
            allowed_regions=config.allocation.allowed_regions,
            allowed_tag_values=config.allocation.allowed_tag_values,
            max_monthly_cost_delta_usd=config.allocation.max_monthly_cost_delta_usd,
        )
        stack.capacity(**config.capacity.model_dump())
        stack.monitoring(**config.monitoring.model_dump())
        stack.optimization(**config.optimization.model_dump())
        return stack

    def quotaform_provider(self) -> cdktf.TerraformProvider:
        """Return the stack's ``quotaform`` provider, declaring it on first use.

        It reads the quotaform.json that synth writes beside the stack's
        cdk.tf.json, so its data sources see this stack's declarations.
        """
        if self._quotaform_provider is None:
            provider = cdktf.TerraformProvider(
                self,
                "quotaform",
                terraform_resource_type="quotaform",
                terraform_provider_source=QUOTAFORM_PROVIDER_SOURCE,
                terraform_generator_metadata=cdktf.TerraformProviderGeneratorMetadata(
                    provider_name="quotaform",
                    provider_version_constraint=QUOTAFORM_PROVIDER_VERSION,
                ),
            )
            provider.add_override("region", self.region)
            provider.add_override("config", "${path.module}/quotaform.json")
            self._quotaform_provider = provider
        return self._quotaform_provider

    def document(self) -> dict[str, Any]:
        """Return the declarations as an unvalidated ``ResourceConfig`` document."""
        allocation = {
            "teams": self._teams,
            "pools": self._pools,
            "quotas": self._quotas,
            "access": self._access,
            "policies": self._policies,
            "waivers": self._waivers,
            **self._allocation_settings,
        }
        return {"allocation": allocation, **self._sections}

    @property
    def config(self) -> ResourceConfig:
        """The validated model; instance types are checked against the instance catalog."""
        from provider_bridge import load_catalog

        try:
            return validate_config(_plain(self.document()), load_catalog())
        except ValidationError as exc:
            message = describe_validation_error(exc, f"stack '{self.name}'")
            raise InputError(self._name_entries(message)) from exc

    def _name_entries(self, message: str) -> str:
        """Add the declared name after each ``allocation.<list>.<index>`` path."""
        lists = {"teams": self._teams, "pools": self._pools, "quotas": self._quotas,
                 "access": self._access}

        def _named(match: re.Match[str]) -> str:
            entry = lists[match.group(1)][int(match.group(2))]
            label = entry.get("name") or entry.get("target") or entry.get("team")
            return f"{match.group(0)} ({label})" if label else match.group(0)

        return _MODEL_PATH.sub(_named, message)

    def output_directory(self) -> Path:
        """Return the folder that ``app.synth()`` writes this stack's ``cdk.tf.json`` to."""
        return Path(cdktf.App.of(self).outdir) / "stacks" / self.name

    def policy(
        self, rule: str, *, enforcement: str = "hard-mandatory", enabled: bool = True
    ) -> None:
        """Set the enforcement level of one policy rule, such as 'pool-vcpu-quota'."""
        self._policies.append({"rule": rule, "enforcement": enforcement, "enabled": enabled})

    def waiver(self, rule: str, **fields: Any) -> None:
        """Add a time-limited exception (fields as in ``cdk.model.Waiver``)."""
        self._waivers.append({"rule": rule, **fields})

    def allocation_settings(
        self,
        *,
        required_tags: Iterable[str] | None = None,
        allowed_regions: Iterable[str] | None = None,
        allowed_tag_values: Mapping[str, Iterable[str]] | None = None,
        max_monthly_cost_delta_usd: float | None = None,
    ) -> None:
        """Set the tags every resource needs, the regions pools may use, allowed tag values
        and the largest monthly cost increase one plan may bring (USD)."""
        if required_tags is not None:
            self._allocation_settings["required_tags"] = list(required_tags)
        if allowed_regions is not None:
            self._allocation_settings["allowed_regions"] = list(allowed_regions)
        if allowed_tag_values is not None:
            self._allocation_settings["allowed_tag_values"] = {
                key: list(values) for key, values in allowed_tag_values.items()
            }
        if max_monthly_cost_delta_usd is not None:
            self._allocation_settings["max_monthly_cost_delta_usd"] = max_monthly_cost_delta_usd

    def capacity(self, **fields: Any) -> None:
        """Set forecasting, scaling and performance targets (fields of ``cdk.model.Capacity``)."""
        self._sections["capacity"] = fields

    def monitoring(self, **fields: Any) -> None:
        """Set tracked metrics, alarms and alert targets (``cdk.model.Monitoring``)."""
        self._sections["monitoring"] = fields

    def optimization(self, **fields: Any) -> None:
        """Set rightsizing rules and preferences (fields of ``cdk.model.Optimization``)."""
        self._sections["optimization"] = fields

    def register(self, kind: str, entry: dict[str, Any]) -> None:
        """Record one model entry; ``kind`` is 'teams', 'pools', 'quotas' or 'access'."""
        entries = {"teams": self._teams, "pools": self._pools, "quotas": self._quotas,
                   "access": self._access}[kind]
        entries.append(entry)


def _plain(value: Any) -> Any:
    """Turn pydantic models nested in user arguments into plain data for validation."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _stack_of(scope: Construct, what: str) -> QuotaformStack:
    if not isinstance(scope, QuotaformStack):
        raise InputError(
            f"{what}: the scope must be a QuotaformStack, not {type(scope).__name__}; "
            "pass the stack as the first argument"
        )
    return scope


def _child_id(stack: QuotaformStack, kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"stack '{stack.name}': {kind} name {name!r} is invalid; use lower-case "
            "letters, digits and '-', starting with a letter (for example 'web-api')"
        )
    # Prefixing the kind lets a team and a pool share a name without the
    # construct tree rejecting the second one.
    child_id = f"{kind}:{name}"
    if stack.node.try_find_child(child_id) is not None:
        raise InputError(
            f"stack '{stack.name}': {kind} '{name}' is declared twice; give each one its own name"
        )
    return child_id


def _name_of(value: str | Construct) -> str:
    return value.name if isinstance(value, Team | _Pool) else value  # type: ignore[return-value]


class Team(Construct):
    """A team that owns pools; it emits no resource, only the model entry."""

    def __init__(
        self,
        stack: QuotaformStack,
        name: str,
        *,
        description: str = "",
        contacts: Iterable[str] = (),
        members: Iterable[str] = (),
    ) -> None:
        owner = _stack_of(stack, f"Team '{name}'")
        super().__init__(owner, _child_id(owner, "team", name))
        self.name = name
        owner.register(
            "teams", {"name": name, "description": description, "contacts": list(contacts),
                      "members": list(members)}
        )


class _Pool(Construct):
    """Shared part of every pool: model entry, tags and the duplicate-name check."""

    kind = ""

    def __init__(
        self, stack: QuotaformStack, name: str, *, team: str | Team, tags: Mapping[str, str],
        fields: dict[str, Any],
    ) -> None:
        owner = _stack_of(stack, f"{type(self).__name__} '{name}'")
        super().__init__(owner, _child_id(owner, "pool", name))
        self.stack = owner
        self.name = name
        self.team = _name_of(team)
        reserved = sorted({POOL_TAG, TEAM_TAG} & set(tags))
        if reserved:
            raise InputError(
                f"stack '{owner.name}': pool '{name}': tags {', '.join(reserved)} are set by "
                "quotaform from the pool and team names; remove them from tags"
            )
        self.tags = {**tags, POOL_TAG: name, TEAM_TAG: self.team}
        self.rightsizing: _RawDataSource | None = None
        owner.register(
            "pools",
            {"name": name, "kind": self.kind, "team": self.team, "region": owner.region,
             "tags": dict(tags), **fields},
        )

    def _resource(
        self, construct_id: str, resource_type: str, attributes: dict[str, Any],
        count: int | None = None,
    ) -> _RawResource:
        resource = _RawResource(
            self, construct_id, resource_type=resource_type, attributes=attributes,
            provider=self.stack.provider, count=count,
        )
        # Addresses such as aws_instance.batch name the pool in plans and state.
        resource.override_logical_id(self.name)
        return resource

    def _instance_type(
        self, instance_type: str, from_rightsizing: bool, pin_current: bool,
        accepted_type: str | None,
    ) -> str:
        """Return the declared type, or a reference to a quotaform_rightsizing data source.

        With ``from_rightsizing`` the pool declares ``data.quotaform_rightsizing.<pool>``
        and its instances take the type the recommendation gives at plan time;
        the model keeps ``instance_type`` as declared.
        """
        if not from_rightsizing:
            if pin_current or accepted_type is not None:
                raise InputError(
                    f"stack '{self.stack.name}': pool '{self.name}': rightsizing_pin_current "
                    "and rightsizing_accepted_type need instance_type_from_rightsizing=True"
                )
            return instance_type
        arguments: dict[str, Any] = {"pool": self.name}
        if pin_current:
            arguments["pin_current"] = True
        if accepted_type is not None:
            arguments["accepted_type"] = accepted_type
        source = _RawDataSource(self, "rightsizing", data_type="quotaform_rightsizing",
                                attributes=arguments, provider=self.stack.quotaform_provider())
        source.override_logical_id(self.name)
        self.rightsizing = source
        return source.get_string_attribute("instance_type")


def _type_rules(
    allowed_instance_types: Iterable[str], allowed_families: Iterable[str],
    max_instance_vcpu: int | None, max_instance_memory_gib: float | None,
) -> dict[str, Any]:
    return {
        "allowed_instance_types": list(allowed_instance_types),
        "allowed_families": list(allowed_families),
        "max_instance_vcpu": max_instance_vcpu,
        "max_instance_memory_gib": max_instance_memory_gib,
    }


class AsgPool(_Pool):
    """An auto scaling group pool: ``aws_launch_template`` + ``aws_autoscaling_group``.

    With ``instance_type_from_rightsizing=True`` the launch template takes its
    type from a ``quotaform_rightsizing`` data source of the quotaform Terraform
    provider. ``rightsizing_pin_current`` and ``rightsizing_accepted_type``
    set the data source's ``pin_current`` and ``accepted_type``.
    """

    kind = "asg"

    def __init__(
        self,
        stack: QuotaformStack,
        name: str,
        *,
        team: str | Team,
        instance_type: str,
        min_size: int,
        max_size: int,
        desired_capacity: int | None = None,
        allowed_instance_types: Iterable[str] = (),
        allowed_families: Iterable[str] = (),
        max_instance_vcpu: int | None = None,
        max_instance_memory_gib: float | None = None,
        image_id: str = DEFAULT_IMAGE_ID,
        tags: Mapping[str, str] | None = None,
        parent: str | None = None,
        availability_zones: Iterable[str] | None = None,
        instance_type_from_rightsizing: bool = False,
        rightsizing_pin_current: bool = False,
        rightsizing_accepted_type: str | None = None,
    ) -> None:
        fields = {
            "instance_type": instance_type, "min_size": min_size, "max_size": max_size,
            "desired_capacity": desired_capacity, "image_id": image_id, "parent": parent,
            **_type_rules(allowed_instance_types, allowed_families, max_instance_vcpu,
                          max_instance_memory_gib),
        }
        super().__init__(stack, name, team=team, tags=tags or {}, fields=fields)
        zones = list(availability_zones or [f"{self.stack.region}a"])
        planned_type = self._instance_type(instance_type, instance_type_from_rightsizing,
                                           rightsizing_pin_current, rightsizing_accepted_type)
        template = self._resource("launch-template", "aws_launch_template", {
            "name_prefix": f"{name}-",
            "image_id": image_id,
            "instance_type": planned_type,
            "tags": self.tags,
            "tag_specifications": [
                {"resource_type": "instance", "tags": self.tags},
                {"resource_type": "volume", "tags": self.tags},
            ],
        })
        group: dict[str, Any] = {
            "name_prefix": f"{name}-",
            "min_size": min_size,
            "max_size": max_size,
            "availability_zones": zones,
            "launch_template": {"id": template.get_string_attribute("id"), "version": "$Latest"},
            "tag": [
                {"key": key, "value": value, "propagate_at_launch": True}
                for key, value in sorted(self.tags.items())
            ],
        }
        if desired_capacity is not None:
            group["desired_capacity"] = desired_capacity
        self.launch_template = template
        self.autoscaling_group = self._resource("group", "aws_autoscaling_group", group)


class InstancePool(_Pool):
    """A pool of standalone EC2 instances: one ``aws_instance`` with ``count``.

    The rightsizing options work as for ``AsgPool``, on the instances' type.
    """

    kind = "instances"

    def __init__(
        self,
        stack: QuotaformStack,
        name: str,
        *,
        team: str | Team,
        instance_type: str,
        count: int,
        allowed_instance_types: Iterable[str] = (),
        allowed_families: Iterable[str] = (),
        max_instance_vcpu: int | None = None,
        max_instance_memory_gib: float | None = None,
        image_id: str = DEFAULT_IMAGE_ID,
        tags: Mapping[str, str] | None = None,
        parent: str | None = None,
        instance_type_from_rightsizing: bool = False,
        rightsizing_pin_current: bool = False,
        rightsizing_accepted_type: str | None = None,
    ) -> None:
        fields = {
            "instance_type": instance_type, "count": count, "image_id": image_id,
            "parent": parent,
            **_type_rules(allowed_instance_types, allowed_families, max_instance_vcpu,
                          max_instance_memory_gib),
        }
        super().__init__(stack, name, team=team, tags=tags or {}, fields=fields)
        planned_type = self._instance_type(instance_type, instance_type_from_rightsizing,
                                           rightsizing_pin_current, rightsizing_accepted_type)
        self.instance = self._resource("instance", "aws_instance", {
            "ami": image_id,
            "instance_type": planned_type,
            "tags": self.tags,
            "volume_tags": self.tags,
        }, count=count)


class DbPool(_Pool):
    """A pool of RDS instances: one ``aws_db_instance`` with ``count``.

    The master password is managed by RDS in Secrets Manager, so no secret
    appears in the Terraform JSON or state.
    """

    kind = "db"

    def __init__(
        self,
        stack: QuotaformStack,
        name: str,
        *,
        team: str | Team,
        instance_type: str,
        count: int = 1,
        engine: str = "postgres",
        allocated_storage_gib: int = 20,
        username: str = "quotaform",
        allowed_instance_types: Iterable[str] = (),
        allowed_families: Iterable[str] = (),
        max_instance_vcpu: int | None = None,
        max_instance_memory_gib: float | None = None,
        tags: Mapping[str, str] | None = None,
        parent: str | None = None,
    ) -> None:
        fields = {
            "instance_type": instance_type, "count": count, "parent": parent,
            **_type_rules(allowed_instance_types, allowed_families, max_instance_vcpu,
                          max_instance_memory_gib),
        }
        super().__init__(stack, name, team=team, tags=tags or {}, fields=fields)
        self.db_instance = self._resource("db-instance", "aws_db_instance", {
            "identifier_prefix": f"{name}-",
            "instance_class": instance_type,
            "engine": engine,
            "allocated_storage": allocated_storage_gib,
            "username": username,
            "manage_master_user_password": True,
            "tags": self.tags,
        }, count=count)


def _pool_from_model(stack: QuotaformStack, pool: dict[str, Any]) -> _Pool:
    common = {
        "team": pool["team"], "instance_type": pool["instance_type"], "tags": pool["tags"],
        "parent": pool["parent"], "allowed_instance_types": pool["allowed_instance_types"],
        "allowed_families": pool["allowed_families"],
        "max_instance_vcpu": pool["max_instance_vcpu"],
        "max_instance_memory_gib": pool["max_instance_memory_gib"],
    }
    if pool["kind"] == "asg":
        return AsgPool(
            stack, pool["name"], min_size=pool["min_size"], max_size=pool["max_size"],
            desired_capacity=pool["desired_capacity"], image_id=pool["image_id"], **common,
        )
    if pool["kind"] == "instances":
        return InstancePool(
            stack, pool["name"], count=pool["count"], image_id=pool["image_id"], **common
        )
    return DbPool(stack, pool["name"], count=pool["count"], **common)


class Quota(Construct):
    """Upper limits for one pool (``scope='pool'``) or one team (``scope='team'``)."""

    def __init__(
        self,
        stack: QuotaformStack,
        id: str,  # noqa: A002
        *,
        target: str | Team | _Pool,
        scope: str = "pool",
        max_instances: int | None = None,
        max_vcpu: int | None = None,
        max_memory_gib: float | None = None,
        max_monthly_cost_usd: float | None = None,
    ) -> None:
        owner = _stack_of(stack, f"Quota '{id}'")
        super().__init__(owner, _child_id(owner, "quota", id))
        owner.register("quotas", {
            "scope": scope, "target": _name_of(target), "max_instances": max_instances,
            "max_vcpu": max_vcpu, "max_memory_gib": max_memory_gib,
            "max_monthly_cost_usd": max_monthly_cost_usd,
        })


class Access(Construct):
    """Lets a team (and optionally named principals) allocate in the given pools."""

    def __init__(
        self,
        stack: QuotaformStack,
        id: str,  # noqa: A002
        *,
        team: str | Team,
        pools: Iterable[str | _Pool],
        principals: Iterable[str] = (),
    ) -> None:
        owner = _stack_of(stack, f"Access '{id}'")
        super().__init__(owner, _child_id(owner, "access", id))
        owner.register("access", {
            "team": _name_of(team), "pools": [_name_of(p) for p in pools],
            "principals": list(principals),
        })
