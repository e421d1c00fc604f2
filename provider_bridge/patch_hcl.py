"""Edit plain Terraform: ``.tf`` files (HCL) and ``.tf.json`` files.

A resource belongs to a pool when its tags map ``quotaform:pool`` to the
pool's name. The tags are read from ``tags``, from ``tag_specifications``
blocks and from an Auto Scaling group's ``tag`` blocks. When no resource
carries the tag, a resource named like the pool is taken. An Auto Scaling group's type lives
in the launch template or launch configuration it references.

HCL is parsed with python-hcl2, whose parse tree gives the position of every
attribute value; only the characters of the changed literal are rewritten,
so formatting and comments stay. A value read from ``var.NAME`` or
``local.NAME`` changes at the variable's ``default`` or the local's
definition, but only when nothing else reads it. ``.tf.json`` files are
rewritten with orjson, which keeps the key order, at two-space indentation.
NOTE: other formatting of a ``.tf.json`` file is not kept: an empty object
written over two lines, as cdktf writes ``outputs``, becomes ``{}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import orjson
from hcl2.utils import SerializationOptions
from lark import Token, Tree
from lark.exceptions import LarkError

from cdk.errors import InputError
from cdk.model import POOL_TAG
from provider_bridge.patch import Edit, PatchResult, Settings, Skipped, Value, unified_diff

TYPE_RESOURCES = frozenset({
    "aws_instance", "aws_launch_template", "aws_launch_configuration",
    "aws_spot_instance_request",
})
COUNT_ATTRIBUTES = {
    "aws_instance": frozenset({"count"}),
    "aws_autoscaling_group": frozenset({"min_size", "max_size", "desired_capacity"}),
}
POOL_RESOURCES = TYPE_RESOURCES | set(COUNT_ATTRIBUTES)
_LAUNCH_REFERENCE = re.compile(r"\b(aws_launch_template|aws_launch_configuration)\.([\w-]+)\.")
_REFERENCE = re.compile(r"^(var|local)\.([A-Za-z_][\w-]*)$")
_PLAIN_STRING = re.compile(r'^"([^"\\$%]*)"$')
_PLAIN_INTEGER = re.compile(r"^\d+$")
_JSON_REFERENCE = re.compile(r"^\$\{(var|local)\.([A-Za-z_][\w-]*)\}$")
_STRIP = SerializationOptions(strip_string_quotes=True, with_comments=False,
                              explicit_blocks=False)


@dataclass(slots=True)
class _Attribute:
    name: str
    start: int
    end: int
    text: str
    line: int


@dataclass(slots=True)
class _Block:
    kind: str
    labels: list[str]
    attributes: dict[str, _Attribute]
    blocks: list[_Block]
    text: str
    line: int


@dataclass(slots=True)
class _Source:
    path: Path
    text: str
    blocks: list[_Block] = field(default_factory=list)
    json: dict[str, Any] | None = None
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    dirty: bool = False


def _children(tree: Tree, name: str) -> Iterator[Tree]:
    for child in tree.children:
        if isinstance(child, Tree) and child.data == name:
            yield child


def _label(node: Tree | Token, text: str) -> str:
    if isinstance(node, Token):
        return str(node.value)
    raw = text[node.meta.start_pos:node.meta.end_pos]
    return raw[1:-1] if raw.startswith('"') else raw


def _read_block(node: Tree, text: str) -> _Block:
    head = [c for c in node.children if not (isinstance(c, Tree) and c.data == "body")
            and not (isinstance(c, Token) and c.type in ("LBRACE", "RBRACE"))]
    kind, labels = _label(head[0], text), [_label(n, text) for n in head[1:]]
    attributes: dict[str, _Attribute] = {}
    blocks: list[_Block] = []
    for body in _children(node, "body"):
        attributes, blocks = _read_body(body, text)
    return _Block(kind, labels, attributes, blocks,
                  text[node.meta.start_pos:node.meta.end_pos], node.meta.line)


def _read_body(body: Tree, text: str) -> tuple[dict[str, _Attribute], list[_Block]]:
    attributes: dict[str, _Attribute] = {}
    blocks: list[_Block] = []
    for child in body.children:
        if not isinstance(child, Tree):
            continue
        if child.data == "block":
            blocks.append(_read_block(child, text))
        elif child.data == "attribute":
            name = _label(child.children[0], text)
            value = child.children[-1]
            start, end = value.meta.start_pos, value.meta.end_pos
            attributes[name] = _Attribute(name, start, end, text[start:end], value.meta.line)
    return attributes, blocks


def _parse_hcl(path: Path, text: str) -> list[_Block]:
    try:
        tree = hcl2.parses_to_tree(text)
    except LarkError as exc:
        where = f":{exc.line}" if getattr(exc, "line", None) else ""
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}{where}: not valid HCL ({first}); run 'terraform validate' "
                         "to find the error") from exc
    blocks: list[_Block] = []
    for body in _children(tree, "body"):
        blocks.extend(_read_block(node, text) for node in _children(body, "block"))
    return blocks


def _evaluate(expression: str) -> Any:
    try:
        return hcl2.loads(f"x = {expression}\n", serialization_options=_STRIP).get("x")
    except (LarkError, ValueError, TypeError):
        return None


def _hcl_tags(block: _Block) -> dict[str, Any]:
    tags: dict[str, Any] = {}
    sources = [block] + [b for b in block.blocks if b.kind == "tag_specifications"]
    for source in sources:
        value = _evaluate(source.attributes["tags"].text) if "tags" in source.attributes else None
        if isinstance(value, dict):
            tags.update(value)
    for tag in (b for b in block.blocks if b.kind == "tag"):
        key = tag.attributes.get("key")
        value = tag.attributes.get("value")
        if key and value:
            tags[str(_evaluate(key.text))] = _evaluate(value.text)
    return tags


@dataclass(slots=True)
class _Resource:
    source: _Source
    kind: str
    name: str
    tags: dict[str, Any]
    text: str
    hcl: _Block | None = None
    json_body: dict[str, Any] | None = None


def _resources(sources: Sequence[_Source]) -> list[_Resource]:
    found = []
    for source in sources:
        if source.json is not None:
            for kind, named in (source.json.get("resource") or {}).items():
                if kind not in POOL_RESOURCES or not isinstance(named, dict):
                    continue
                for name, body in named.items():
                    if isinstance(body, dict):
                        found.append(_Resource(source, kind, name, _json_tags(body),
                                               orjson.dumps(body).decode(), json_body=body))
            continue
        for block in source.blocks:
            if block.kind == "resource" and len(block.labels) == 2 \
                    and block.labels[0] in POOL_RESOURCES:
                found.append(_Resource(source, block.labels[0], block.labels[1],
                                       _hcl_tags(block), block.text, hcl=block))
    return found


def _json_tags(body: dict[str, Any]) -> dict[str, Any]:
    tags = dict(body.get("tags") or {}) if isinstance(body.get("tags"), dict) else {}
    specs = body.get("tag_specifications") or []
    for spec in specs if isinstance(specs, list) else [specs]:
        if isinstance(spec, dict) and isinstance(spec.get("tags"), dict):
            tags.update(spec["tags"])
    for tag in body.get("tag") or []:
        if isinstance(tag, dict) and "key" in tag:
            tags[str(tag["key"])] = tag.get("value")
    return tags


def _pool_members(resources: Sequence[_Resource], pool: str) -> list[_Resource]:
    tagged = [r for r in resources if r.tags.get(POOL_TAG) == pool]
    members = tagged or [r for r in resources if r.name == pool]
    referenced = set()
    for resource in members:
        if resource.kind == "aws_autoscaling_group":
            referenced.update(_LAUNCH_REFERENCE.findall(resource.text))
    extra = [r for r in resources if (r.kind, r.name) in referenced and r not in members]
    return members + extra


def load_sources(paths: Sequence[Path]) -> list[_Source]:
    """Read and parse ``.tf`` and ``.tf.json`` files; raise InputError naming a bad file."""
    sources = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{path}: could not read the file ({exc.strerror})") from exc
        source = _Source(path, text)
        if path.name.endswith(".json"):
            try:
                document = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}: not valid JSON ({exc})") from exc
            if not isinstance(document, dict):
                raise InputError(f"{path}: expected a Terraform JSON object with 'resource'")
            source.json = document
        else:
            source.blocks = _parse_hcl(path, text)
        sources.append(source)
    return sources


def patch_terraform(
    paths: Sequence[Path], settings: Settings, display: Mapping[Path, str] | None = None
) -> tuple[list[PatchResult], list[Skipped]]:
    """Apply pool settings to Terraform files; return one result per changed file and the skips.

    ``display`` names each path in diffs and messages; the default is the path.
    """
    sources = load_sources(paths)
    names = {s.path: (display or {}).get(s.path, str(s.path)) for s in sources}
    resources = _resources(sources)
    everything = "\n".join(s.text for s in sources)
    skipped: list[Skipped] = []
    for pool in sorted(settings):
        members = _pool_members(resources, pool)
        for attribute, new in settings[pool].items():
            allowed = [r for r in members if _carries(r, attribute)]
            made = sum(len(s.edits) for s in sources)
            reasons = [_apply(r, attribute, new, pool, sources, everything, names)
                       for r in allowed]
            skipped.extend(Skipped(pool, attribute, r) for r in reasons
                           if r and r is not _ALREADY_SET)
            if sum(len(s.edits) for s in sources) == made and not any(reasons):
                skipped.append(Skipped(pool, attribute, _not_found(pool, attribute, members)))
    results = []
    for source in sources:
        if not source.edits:
            continue
        patched = _render(source)
        name = names[source.path]
        results.append(PatchResult(patched, unified_diff(source.text, patched, name),
                                   source.edits, [], source.path))
    return results, skipped


def _carries(resource: _Resource, attribute: str) -> bool:
    if attribute == "instance_type":
        return resource.kind in TYPE_RESOURCES
    return attribute in COUNT_ATTRIBUTES.get(resource.kind, frozenset())


def _not_found(pool: str, attribute: str, members: Sequence[_Resource]) -> str:
    if not members:
        return (f"no Terraform resource of pool '{pool}' found; tag it with "
                f"\"{POOL_TAG}\" = \"{pool}\" or name it {pool}")
    names = ", ".join(f"{r.kind}.{r.name}" for r in members)
    return f"pool '{pool}' ({names}) has no resource that sets {attribute}"


# Returned by _apply when the source already sets the new value: neither an edit nor a skip.
_ALREADY_SET = "already set"


def _apply(
    resource: _Resource, attribute: str, new: Value, pool: str, sources: Sequence[_Source],
    everything: str, names: Mapping[Path, str],
) -> str | None:
    where = f"{names[resource.source.path]}: {resource.kind}.{resource.name}"
    if resource.json_body is not None:
        return _apply_json(resource, attribute, new, pool, sources, everything, where, names)
    assert resource.hcl is not None
    value = resource.hcl.attributes.get(attribute)
    if value is None:
        if attribute == "instance_type" and resource.kind == "aws_launch_template":
            return None  # a template may leave the type to the group's overrides
        return f"{where} sets no {attribute}; add {attribute} = {_hcl_literal(new)} by hand"
    target, source, reason = _hcl_target(value, resource.source, sources, everything)
    if target is None:
        return f"{where}: {attribute} cannot be changed safely: {reason}"
    old = _literal_value(target.text)
    if old is None:
        return f"{where}: {attribute} is not a plain literal"
    if old == new:
        return _ALREADY_SET
    source.spans.append((target.start, target.end, _hcl_literal(new)))
    source.edits.append(Edit(pool, old, new, target.line, attribute, names[source.path]))
    return None


def _hcl_literal(value: Value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _literal_value(text: str) -> Value | None:
    if match := _PLAIN_STRING.match(text):
        return match.group(1)
    if _PLAIN_INTEGER.match(text):
        return int(text)
    return None


def _hcl_target(
    value: _Attribute, source: _Source, sources: Sequence[_Source], everything: str
) -> tuple[_Attribute | None, _Source, str]:
    if _literal_value(value.text) is not None:
        return value, source, ""
    match = _REFERENCE.match(value.text.strip())
    if not match:
        return None, source, f"its value {value.text!r} is not a literal, var.NAME or local.NAME"
    scope, name = match.groups()
    reads = len(re.findall(rf"\b{scope}\.{re.escape(name)}\b", everything))
    if reads > 1:
        return None, source, (f"{scope}.{name} is read {reads} times, so changing it would "
                              "change more than this pool; give the pool its own value")
    for other in sources:
        for block in other.blocks:
            if scope == "var" and block.kind == "variable" and block.labels == [name]:
                default = block.attributes.get("default")
                if default is None:
                    return None, other, f"variable {name} has no default to change"
                return default, other, ""
            if scope == "local" and block.kind == "locals" and name in block.attributes:
                return block.attributes[name], other, ""
    return None, source, f"{scope}.{name} is not defined in the given files"


def _apply_json(
    resource: _Resource, attribute: str, new: Value, pool: str, sources: Sequence[_Source],
    everything: str, where: str, names: Mapping[Path, str],
) -> str | None:
    body = resource.json_body
    assert body is not None
    if attribute not in body:
        if attribute == "instance_type" and resource.kind == "aws_launch_template":
            return None
        return f"{where} sets no {attribute}; add \"{attribute}\": {_hcl_literal(new)} by hand"
    holder, key, source = body, attribute, resource.source
    value = body[attribute]
    if isinstance(value, str) and (match := _JSON_REFERENCE.match(value)):
        scope, name = match.groups()
        reads = len(re.findall(rf"\b{scope}\.{re.escape(name)}\b", everything))
        if reads > 1:
            return (f"{where}: {attribute} cannot be changed safely: {scope}.{name} is read "
                    f"{reads} times")
        found = _json_definition(sources, scope, name)
        if found is None:
            return f"{where}: {attribute} cannot be changed safely: {scope}.{name} is not defined"
        holder, key, source = found
        value = holder[key]
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (
            isinstance(value, str) and "${" in value):
        return f"{where}: {attribute} is not a plain literal"
    if value == new:
        return _ALREADY_SET
    holder[key] = new
    source.dirty = True
    source.edits.append(Edit(pool, value, new, 0, attribute, names[source.path]))
    return None


def _json_definition(
    sources: Sequence[_Source], scope: str, name: str
) -> tuple[dict[str, Any], str, _Source] | None:
    for source in sources:
        document = source.json or {}
        if scope == "var":
            variable = (document.get("variable") or {}).get(name)
            if isinstance(variable, dict) and "default" in variable:
                return variable, "default", source
        else:
            locals_ = document.get("locals") or {}
            if isinstance(locals_, dict) and name in locals_:
                return locals_, name, source
    return None


def _render(source: _Source) -> str:
    if source.json is not None:
        text = orjson.dumps(source.json, option=orjson.OPT_INDENT_2).decode()
        return text + "\n" if source.text.endswith("\n") else text
    text = source.text
    for start, end, replacement in sorted(source.spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text
