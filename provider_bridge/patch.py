"""Edit a CDKTF app's source: move pools to new instance types, keeping everything else.

A pool construct call names the pool in its second positional argument, a
string literal, and sets ``instance_type=`` to a string literal, as in
``AsgPool(stack, "api", team="payments", instance_type="m5.xlarge")``. Only
that literal changes; LibCST keeps every other character, comments included.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from cdk.errors import ExecutionError, InputError


@dataclass(frozen=True, slots=True)
class TypeChange:
    """One pool's instance type change as applied to the source."""

    pool: str
    old_type: str
    new_type: str
    line: int


@dataclass(frozen=True, slots=True)
class PatchResult:
    """The edited source, its unified diff against the original and the changes made."""

    source: str
    diff: str
    changes: list[TypeChange]


def _pool_name(call: cst.Call) -> str | None:
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    if len(positional) < 2 or not isinstance(positional[1].value, cst.SimpleString):
        return None
    value = positional[1].value.evaluated_value
    return value if isinstance(value, str) else None


class _PoolCalls(cst.CSTVisitor):
    """Collect every call whose second positional argument names a requested pool."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, pools: set[str]) -> None:
        self.pools = pools
        self.found: dict[str, list[tuple[cst.Call, int]]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        name = _pool_name(node)
        if name in self.pools:
            line = self.get_metadata(PositionProvider, node).start.line
            self.found.setdefault(name, []).append((node, line))


class _ReplaceType(cst.CSTTransformer):
    """Swap the ``instance_type=`` literal of the given calls, keeping its quote style."""

    def __init__(self, targets: dict[cst.Call, str]) -> None:
        self.targets = targets

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        new_type = self.targets.get(original)
        if new_type is None:
            return updated
        args = []
        for arg in updated.args:
            if arg.keyword is not None and arg.keyword.value == "instance_type":
                literal = arg.value
                assert isinstance(literal, cst.SimpleString)
                quote = literal.quote
                arg = arg.with_changes(
                    value=literal.with_changes(value=f"{literal.prefix}{quote}{new_type}{quote}")
                )
            args.append(arg)
        return updated.with_changes(args=args)


def _type_literal(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "instance_type":
            return arg.value
    return None


def patch_instance_types(source: str, changes: Mapping[str, str], filename: str) -> PatchResult:
    """Return ``source`` with each pool of ``changes`` moved to its new instance type.

    Raises InputError when a pool's call, or a string literal ``instance_type=``
    in it, is not found exactly once.
    """
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise InputError(f"{filename}: not valid Python ({exc.message} at line {exc.raw_line})") from exc
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    visitor = _PoolCalls(set(changes))
    wrapper.visit(visitor)

    targets: dict[cst.Call, str] = {}
    applied: list[TypeChange] = []
    for pool in sorted(changes):
        call, line = _single_call(visitor.found.get(pool, []), pool, filename)
        literal = _type_literal(call)
        if not isinstance(literal, cst.SimpleString) or not isinstance(
            literal.evaluated_value, str
        ):
            raise InputError(
                f"{filename}:{line}: pool '{pool}' has no string literal instance_type=; write "
                f"it as instance_type=\"{changes[pool]}\" or edit the value by hand"
            )
        targets[call] = changes[pool]
        applied.append(TypeChange(pool, literal.evaluated_value, changes[pool], line))

    patched = module.visit(_ReplaceType(targets)).code
    return PatchResult(patched, unified_diff(source, patched, filename), applied)


def _single_call(
    found: list[tuple[cst.Call, int]], pool: str, filename: str
) -> tuple[cst.Call, int]:
    if not found:
        raise InputError(
            f"{filename}: no pool construct call for pool '{pool}' found; expected a call "
            f"such as InstancePool(stack, \"{pool}\", ..., instance_type=\"m5.large\") with "
            "the pool name as a string literal in the second positional argument"
        )
    if len(found) > 1:
        lines = ", ".join(str(line) for _, line in found)
        raise InputError(
            f"{filename}: pool '{pool}' is declared by {len(found)} calls (lines {lines}); "
            "keep one declaration per pool so the change has one place to go"
        )
    return found[0]


def unified_diff(old: str, new: str, filename: str) -> str:
    """Return the unified diff of two versions of ``filename``, with a/ and b/ prefixes."""
    name = filename.lstrip("/")
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"a/{name}", tofile=f"b/{name}",
        )
    )


def format_summary(changes: list[TypeChange], teams: Mapping[str, str | None] | None = None) -> str:
    """Render the changes as Terraform renders an in-place update, one block per pool."""
    lines = []
    for change in changes:
        team = (teams or {}).get(change.pool)
        owner = f" (team {team})" if team else ""
        lines.append(f"  # pool \"{change.pool}\"{owner} will be updated in-place")
        lines.append(f"  ~ instance_type = \"{change.old_type}\" -> \"{change.new_type}\"")
    count = len(changes)
    lines.append(f"{count} pool{'s' if count != 1 else ''} to change.")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` through a temporary file; return the backup's path.

    The original stays recoverable as ``<path>.orig``.
    """
    backup = path.with_name(path.name + ".orig")
    try:
        original = path.read_bytes()
        backup.write_bytes(original)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as exc:
        raise ExecutionError(f"{path}: could not write the patched source ({exc})") from exc
    return backup
