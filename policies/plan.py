"""Read a ``terraform show -json`` plan: loading, format checks, addresses and configuration.

Terraform 0.12 to 1.0 write format_version 0.1 or 0.2, and later releases write 1.x.
These versions share every field read here. A new major version may change them, so
it is rejected rather than misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cdk.errors import InputError

SUPPORTED_MAJOR_VERSIONS = (0, 1)

_SHOW_JSON_HINT = (
    "create it with 'terraform plan -out=tfplan && terraform show -json tfplan > plan.json'"
)
_HCL_START = re.compile(r'^\s*(resource|provider|module|terraform|variable|data|locals)\b[\s"{]',
                        re.MULTILINE)
# One instance key in an address: [0] or ["key"] with escapes inside the quotes.
_KEY = r'\[(?:\d+|"(?:[^"\\]|\\.)*")\]'
_MODULE_STEP = re.compile(rf"module\.([A-Za-z0-9_-]+)({_KEY})?\.")
_RESOURCE = re.compile(rf"((?:data\.)?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)({_KEY})?$")
# A whole address of the usual form, whose keys can be cut out with one substitution.
_WELL_FORMED = re.compile(
    rf"(?:module\.[A-Za-z0-9_-]+(?:{_KEY})?\.)*(?:data\.)?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:{_KEY})?"
)
_KEYS = re.compile(_KEY)


def read_input_file(path: Path, *, expected: str, hint: str) -> bytes:
    """Read a JSON input file that must not be empty; every failure is an ``InputError``.

    ``expected`` names the file to pass instead of a directory, and ``hint``
    says how to create the file.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found; {hint}") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, not a file; pass {expected}") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not raw.strip():
        raise InputError(f"{path}: the file is empty; {hint}")
    return raw


def load_plan(path: Path) -> dict[str, Any]:
    """Read a plan JSON file; every failure is an ``InputError`` that names the fix."""
    raw = read_input_file(
        path, expected="the plan JSON file that 'terraform show -json PLANFILE' writes",
        hint=_SHOW_JSON_HINT,
    )
    if raw.startswith(b"PK\x03\x04"):
        raise InputError(
            f"{path}: this is a binary plan file from 'terraform plan -out'; convert it "
            f"with 'terraform show -json {path.name} > plan.json' and check that file"
        )
    try:
        plan = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(_describe_json_error(path, raw, exc)) from exc

    check_plan_document(plan, str(path))
    return plan


def _describe_json_error(path: Path, raw: bytes, error: orjson.JSONDecodeError) -> str:
    text = raw.decode("utf-8", errors="replace")
    if _HCL_START.search(text) and not text.lstrip().startswith(("{", "[")):
        return (
            f"{path}: this looks like Terraform configuration (HCL), not a plan; "
            f"{_SHOW_JSON_HINT}"
        )
    where = f"line {error.lineno}, column {error.colno}"
    if error.pos >= len(text.rstrip()):
        return (
            f"{path}: the JSON ends early at {where}; the file looks truncated, so "
            "write it again with 'terraform show -json PLANFILE > plan.json'"
        )
    return f"{path}: not valid JSON at {where} ({error.msg}); {_SHOW_JSON_HINT}"


def identify_document(document: dict[str, Any]) -> str | None:
    """Name the kind of a JSON document by its top-level keys, or None when unknown.

    The kinds are ``plan``, ``state`` (a state file or its ``terraform show -json``
    form), ``data`` (quotaform.json), ``usage`` (a usage document) and ``decision``
    (the JSON output of ``quotaform check``).
    """
    keys = set(document)
    if "format_version" in keys and keys & {"resource_changes", "planned_values"}:
        return "plan"
    if {"lineage", "serial"} <= keys or ("values" in keys and "format_version" in keys):
        return "state"
    if "allocation" in keys or {"capacity", "monitoring", "optimization"} & keys:
        return "data"
    if {"allowed", "violations"} <= keys:
        return "decision"
    if "pools" in keys and keys <= {"version", "generated_at", "regions", "pools"}:
        return "usage"
    return None


def check_plan_document(plan: object, source: str) -> None:
    """Raise ``InputError`` unless ``plan`` is a plan document in a supported format."""
    if not isinstance(plan, dict):
        kind = type(plan).__name__
        raise InputError(f"{source}: expected a JSON object, found a {kind}; {_SHOW_JSON_HINT}")
    if not plan:
        raise InputError(f"{source}: the plan is an empty JSON object; {_SHOW_JSON_HINT}")
    kind = identify_document(plan)
    if kind in _MISPLACED:
        raise InputError(f"{source}: {_MISPLACED[kind]}")
    if "lineage" in plan and "serial" in plan:
        raise InputError(
            f"{source}: this is a Terraform state file (terraform.tfstate), not a plan; "
            f"{_SHOW_JSON_HINT}"
        )
    if "values" in plan and "resource_changes" not in plan and "planned_values" not in plan:
        raise InputError(
            f"{source}: this is the JSON of a state ('terraform show -json' without a plan "
            "file), not a plan; run 'terraform show -json PLANFILE' on a saved plan instead"
        )
    _check_format_version(plan.get("format_version"), source)
    if plan.get("errored") is True:
        # Terraform 1.6+ writes an errored plan with -out; its changes are incomplete.
        raise InputError(
            f"{source}: terraform could not finish this plan (errored: true); "
            "fix the terraform errors and plan again"
        )
    changes = plan.get("resource_changes", [])
    if not isinstance(changes, list):
        raise InputError(f"{source}: 'resource_changes' must be a list, found "
                         f"{type(changes).__name__}")


_MISPLACED = {
    "data": "this is a quotaform.json data document, not a plan; pass it with --data and "
            "give the plan JSON ('terraform show -json PLANFILE') as the first argument",
    "usage": "this is a quotaform usage document, not a plan; pass it with --usage and "
             "give the plan JSON ('terraform show -json PLANFILE') as the first argument",
    "decision": "this is the JSON output of 'quotaform check', not a plan; "
                + _SHOW_JSON_HINT,
}


def check_data_document(path: Path) -> None:
    """Raise ``InputError`` when the file given as ``--data`` is another known document.

    A file that cannot be read or decoded is left to the loader of quotaform.json,
    which reports that itself.
    """
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return
    kind = identify_document(document) if isinstance(document, dict) else None
    fixes = {
        "plan": "this is a Terraform plan, not a quotaform.json; give the plan as the first "
                "argument and pass the quotaform.json that 'quotaform synth' writes as --data",
        "state": "this is a Terraform state, not a quotaform.json; pass the quotaform.json "
                 "that 'quotaform synth' writes as --data",
        "usage": "this is a quotaform usage document, not a quotaform.json; pass it with "
                 "--usage and the quotaform.json that 'quotaform synth' writes as --data",
        "decision": "this is the JSON output of 'quotaform check', not a quotaform.json; pass "
                    "the quotaform.json that 'quotaform synth' writes as --data",
    }
    if kind in fixes:
        raise InputError(f"{path}: {fixes[kind]}")


def _check_format_version(version: object, source: str) -> None:
    if version is None:
        raise InputError(
            f"{source}: no 'format_version' field, so this is not 'terraform show -json' "
            f"output; {_SHOW_JSON_HINT}"
        )
    match = re.fullmatch(r"(\d+)\.(\d+)", str(version))
    if match is None:
        raise InputError(f"{source}: format_version '{version}' is not of the form MAJOR.MINOR")
    if int(match.group(1)) not in SUPPORTED_MAJOR_VERSIONS:
        raise InputError(
            f"{source}: plan format_version {version} is newer than this quotaform reads "
            "(0.x and 1.x); upgrade quotaform or write the plan with Terraform 1.x"
        )


@dataclass(frozen=True, slots=True)
class Address:
    """A resource instance address split into its module path and resource parts."""

    modules: tuple[tuple[str, str | None], ...]
    resource: str
    key: str | None

    @property
    def module_instance(self) -> str:
        """The module instance prefix with keys, such as ``module.a["x"].``."""
        return "".join(f"module.{name}{key or ''}." for name, key in self.modules)

    @property
    def module_path(self) -> str:
        """The module prefix without keys, as the configuration section names it."""
        return "".join(f"module.{name}." for name, _ in self.modules)

    @property
    def config_address(self) -> str:
        return self.module_path + self.resource


def parse_address(address: str) -> Address:
    """Split ``module.a[0].aws_instance.web["k"]`` into modules, resource and key."""
    modules: list[tuple[str, str | None]] = []
    position = 0
    while (step := _MODULE_STEP.match(address, position)) is not None:
        modules.append((step.group(1), step.group(2)))
        position = step.end()
    tail = _RESOURCE.match(address, position)
    if tail is None:
        return Address(tuple(modules), address[position:], None)
    return Address(tuple(modules), tail.group(1), tail.group(2))


def config_address(address: str) -> str:
    """Return an instance address without its keys, as the configuration section names it.

    Equal to ``parse_address(address).config_address``, in one regular expression
    substitution for the usual form, because a large plan looks up every address.
    """
    if _WELL_FORMED.fullmatch(address):
        return _KEYS.sub("", address)
    return parse_address(address).config_address


@dataclass(frozen=True, slots=True)
class ConfigResource:
    """One resource block of the plan's ``configuration`` section."""

    address: str
    module_path: str
    block: dict[str, Any]


class Configuration:
    """Index of the plan's ``configuration`` section: resource blocks and provider regions."""

    def __init__(self, plan: dict[str, Any]):
        section = plan.get("configuration") or {}
        self._providers: dict[str, Any] = section.get("provider_config") or {}
        self._variables: dict[str, Any] = plan.get("variables") or {}
        self.resources: dict[str, ConfigResource] = {}
        self._regions: dict[str, str | None] = {}
        self._index_module(section.get("root_module") or {}, "")

    def _index_module(self, module: dict[str, Any], prefix: str) -> None:
        for block in module.get("resources") or []:
            own = str(block.get("address", ""))
            # Terraform writes module resources relative to their module; keep a
            # full address as it is in case a writer already prefixed it.
            address = own if own.startswith("module.") else prefix + own
            self.resources[address] = ConfigResource(address, prefix, block)
        for name, call in (module.get("module_calls") or {}).items():
            self._index_module(call.get("module") or {}, f"{prefix}module.{name}.")

    def resource(self, address: Address) -> ConfigResource | None:
        return self.resources.get(address.config_address)

    def region_of(self, address: str) -> str | None:
        """Return the constant region of the provider that the resource at ``address`` uses.

        Cached by configuration address, which the instances of one block share.
        """
        key = config_address(address)
        if key not in self._regions:
            self._regions[key] = self.region(self.resources.get(key))
        return self._regions[key]

    def region(self, resource: ConfigResource | None) -> str | None:
        """Return the region of the provider configuration a resource uses, when constant."""
        if resource is None:
            key = "aws"
        else:
            key = str(resource.block.get("provider_config_key") or "aws")
        provider_name = key.rsplit(":", 1)[-1]
        module_address = resource.module_path.removesuffix(".") if resource else ""
        for candidate in (key, f"{module_address}:{provider_name}", provider_name):
            region = self._provider_region(self._providers.get(candidate))
            if region is not None:
                return region
        return None

    def _provider_region(self, provider: dict[str, Any] | None) -> str | None:
        expression = ((provider or {}).get("expressions") or {}).get("region") or {}
        if isinstance(expression.get("constant_value"), str):
            return expression["constant_value"]
        for reference in expression.get("references") or []:
            if reference.startswith("var."):
                value = (self._variables.get(reference[4:]) or {}).get("value")
                if isinstance(value, str):
                    return value
        return None


def expression_references(block: dict[str, Any], path: tuple[str | int, ...]) -> list[str]:
    """Return the ``references`` of the expression at ``path`` in a configuration block."""
    node: Any = block.get("expressions") or {}
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or len(node) <= step:
                return []
        elif not isinstance(node, dict) or step not in node:
            return []
        node = node[step]
    if not isinstance(node, dict):
        return []
    return [str(item) for item in node.get("references") or []]


def prior_state_resources(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the prior state's resources by address, from the root and every child module."""
    found: dict[str, dict[str, Any]] = {}
    pending = [((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}]
    while pending:
        module = pending.pop()
        for resource in module.get("resources") or []:
            found[str(resource.get("address"))] = resource
        pending.extend(module.get("child_modules") or [])
    return found
