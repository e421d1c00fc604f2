"""Find the launch template or launch configuration that a group or an instance launches.

Auto Scaling groups, EKS node groups and instances all name their template in a
``launch_template`` block, so one lookup serves them.

At plan time a new template's id is unknown, so the group's own values cannot
name it. The plan's ``configuration`` section still records which resource the
expression refers to (``aws_launch_template.web.id``), relative to the group's
module; that reference is followed first. A template id or name that is known
(an existing template) is matched against the templates in the plan next.
Templates left out of ``resource_changes`` (a ``-target`` plan) are looked up in
the prior state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from policies.plan import Address, Configuration, expression_references, parse_address

TEMPLATE_TYPES = ("aws_launch_template", "aws_launch_configuration")

_SPECIFICATION = ("mixed_instances_policy", 0, "launch_template", 0,
                  "launch_template_specification", 0)
# Expression paths at which a group names its template, each with the template type it expects.
REFERENCE_PATHS: tuple[tuple[str, tuple[str | int, ...]], ...] = (
    ("aws_launch_template", ("launch_template", 0, "id")),
    ("aws_launch_template", ("launch_template", 0, "name")),
    ("aws_launch_configuration", ("launch_configuration",)),
    ("aws_launch_template", (*_SPECIFICATION, "launch_template_id")),
    ("aws_launch_template", (*_SPECIFICATION, "launch_template_name")),
)
_REFERENCE = re.compile(r'^((?:data\.)?(aws_launch_template|aws_launch_configuration)'
                        r'\.[A-Za-z0-9_-]+(?:\[(?:\d+|"(?:[^"\\]|\\.)*")\])?)')


@dataclass(frozen=True, slots=True)
class Template:
    """A template's values before and after the plan; either is empty when absent."""

    address: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


class TemplateIndex:
    """Templates of one plan, from its resource changes and its prior state."""

    def __init__(self, plan: dict[str, Any], configuration: Configuration,
                 prior: dict[str, dict[str, Any]]):
        self._configuration = configuration
        self._templates: dict[str, Template] = {}
        for address, resource in prior.items():
            if resource.get("type") in TEMPLATE_TYPES:
                values = resource.get("values") or {}
                self._templates[address] = Template(address, values, values)
        for change in plan.get("resource_changes") or []:
            if change.get("type") in TEMPLATE_TYPES:
                body = change.get("change") or {}
                address = str(change.get("address"))
                self._templates[address] = Template(
                    address, body.get("before") or {}, body.get("after") or {}
                )

    def resolve(self, group: dict[str, Any]) -> Template | None:
        """Return the template a group launches, or None when the plan does not show it."""
        address = parse_address(str(group.get("address")))
        found = self._by_reference(address)
        if found is None:
            found = self._by_identity(group)
        return found

    def _by_reference(self, address: Address) -> Template | None:
        resource = self._configuration.resource(address)
        if resource is None:
            return None
        for kind, path in REFERENCE_PATHS:
            for reference in expression_references(resource.block, path):
                match = _REFERENCE.match(reference)
                if match is None or match.group(2) != kind:
                    continue
                found = self._in_module(address, match.group(1))
                if found is not None:
                    return found
        return None

    def _in_module(self, group: Address, reference: str) -> Template | None:
        """Find ``reference`` in the group's module instance, preferring the group's own key."""
        exact = self._templates.get(group.module_instance + reference)
        if exact is not None:
            return exact
        target = parse_address(group.module_instance + reference)
        candidates = sorted(
            address for address in self._templates
            if (parsed := parse_address(address)).resource == target.resource
            and parsed.module_instance == target.module_instance
        )
        if not candidates:
            return None
        same_key = group.module_instance + target.resource + (group.key or "")
        return self._templates.get(same_key) or self._templates[candidates[0]]

    def _by_identity(self, group: dict[str, Any]) -> Template | None:
        body = group.get("change") or {}
        values = body.get("after") or body.get("before") or {}
        identities = set(_identities(values))
        if not identities:
            return None
        for template in self._templates.values():
            for side in (template.after, template.before):
                if {side.get("id"), side.get("name")} & identities:
                    return template
        return None


def _identities(values: dict[str, Any]) -> list[str]:
    """Return the template ids and names a group's values name, skipping unknown ones."""
    found: list[str] = []
    for block in values.get("launch_template") or []:
        found += [block.get("id"), block.get("name")]
    configuration = values.get("launch_configuration")
    if isinstance(configuration, str):
        found.append(configuration)
    for policy in values.get("mixed_instances_policy") or []:
        for template in policy.get("launch_template") or []:
            for specification in template.get("launch_template_specification") or []:
                found += [specification.get("launch_template_id"),
                          specification.get("launch_template_name")]
    return [item for item in found if isinstance(item, str) and item]


@dataclass(frozen=True, slots=True)
class MixedPolicy:
    """The instance types a mixed instances policy lists, each with its weighted capacity."""

    overrides: list[tuple[str, int]]
    by_requirements: bool = False


def mixed_policy(values: dict[str, Any]) -> MixedPolicy | None:
    """Return the override types of a group's mixed instances policy, or None without one.

    A weighted capacity that is unset or unknown at plan time counts as 1, the
    weight that lets a group run the most instances. An override that selects
    types by ``instance_requirements`` names no type, so ``by_requirements`` is set.
    """
    policies = values.get("mixed_instances_policy") or []
    if not policies:
        return None
    found = MixedPolicy(overrides=[])
    for policy in policies:
        for template in policy.get("launch_template") or []:
            for override in template.get("override") or []:
                instance_type = override.get("instance_type")
                if isinstance(instance_type, str) and instance_type:
                    weight = capacity_weight(override.get("weighted_capacity"))
                    found.overrides.append((instance_type, weight))
                elif override.get("instance_requirements"):
                    found = MixedPolicy(found.overrides, by_requirements=True)
    return found


def capacity_weight(value: object) -> int:
    """Return a weighted capacity as a whole number of at least 1, which unset values also get."""
    try:
        weight = int(str(value))
    except ValueError:
        return 1
    return max(weight, 1)
