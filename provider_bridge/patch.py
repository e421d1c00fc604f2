"""Edit a CDKTF app's source: change pool settings, keeping everything else.

A pool construct call names the pool in its second positional argument (or
``id=``), a string literal, and sets ``instance_type=`` (and ``count=``,
``min_size=``, ...) by keyword, as in
``AsgPool(stack, "api", team="payments", instance_type="m5.xlarge")``. The
value is a literal, or a name bound once to a literal (``API_TYPE =
"m5.xlarge"``). A name's binding changes only when no other place reads it. Only that literal changes; LibCST keeps every other character, comments
included. A change that cannot be made safely is skipped with the reason.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import (
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    ScopeProvider,
)

from cdk.errors import ExecutionError, InputError

Value = str | int
Settings = Mapping[str, Mapping[str, Value]]


@dataclass(frozen=True, slots=True)
class Edit:
    """One pool setting as changed in a source file."""

    pool: str
    old: Value
    new: Value
    line: int
    attribute: str = "instance_type"
    file: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A requested change that was not made, and why."""

    pool: str
    attribute: str
    reason: str


@dataclass(frozen=True, slots=True)
class PatchResult:
    """The edited source, its unified diff against the original, the edits and the skips."""

    source: str
    diff: str
    changes: list[Edit]
    skipped: list[Skipped] = field(default_factory=list)
    path: Path | None = None


def _string(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString) and isinstance(node.evaluated_value, str):
        return node.evaluated_value
    return None


def _pool_name(call: cst.Call) -> str | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "id":
            return _string(arg.value)
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    return _string(positional[1].value) if len(positional) >= 2 else None


class _PoolCalls(cst.CSTVisitor):
    """Collect every call whose pool name argument names a requested pool."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, pools: set[str]) -> None:
        self.pools = pools
        self.found: dict[str, list[tuple[cst.Call, int]]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        name = _pool_name(node)
        if name in self.pools:
            line = self.get_metadata(PositionProvider, node).start.line
            self.found.setdefault(name, []).append((node, line))


class _ReplaceLiterals(cst.CSTTransformer):
    """Swap the given literal nodes for new values, keeping quote style and prefix."""

    def __init__(self, targets: dict[cst.CSTNode, Value]) -> None:
        self.targets = targets

    def leave_SimpleString(
        self, original: cst.SimpleString, updated: cst.SimpleString
    ) -> cst.SimpleString:
        if original not in self.targets:
            return updated
        quote = original.quote
        return updated.with_changes(
            value=f"{original.prefix}{quote}{self.targets[original]}{quote}"
        )

    def leave_Integer(self, original: cst.Integer, updated: cst.Integer) -> cst.Integer:
        if original not in self.targets:
            return updated
        return updated.with_changes(value=str(self.targets[original]))


@dataclass(slots=True)
class _Resolver:
    """Finds the literal behind a keyword argument: in place, or a name bound once."""

    wrapper: MetadataWrapper
    filename: str
    scopes: Mapping[cst.CSTNode, object] = field(init=False)
    parents: Mapping[cst.CSTNode, cst.CSTNode] = field(init=False)
    positions: Mapping[cst.CSTNode, object] = field(init=False)

    def __post_init__(self) -> None:
        self.scopes = self.wrapper.resolve(ScopeProvider)
        self.parents = self.wrapper.resolve(ParentNodeProvider)
        self.positions = self.wrapper.resolve(PositionProvider)

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line  # type: ignore[attr-defined]

    def literal(
        self, value: cst.BaseExpression, kind: type
    ) -> tuple[cst.BaseExpression | None, str | None]:
        """Return the literal node to edit, or None and the reason it cannot be edited."""
        if isinstance(value, kind):
            return value, None
        if not isinstance(value, cst.Name):
            return None, "its value is an expression, not a literal or a name bound to one"
        scope = self.scopes.get(value)
        accesses = [a for a in scope.accesses[value] if a.node is value] if scope else []
        referents = [r for a in accesses for r in a.referents]  # type: ignore[attr-defined]
        if len(referents) != 1:
            return None, (f"the name {value.value} is bound {len(referents)} times or not at "
                          "all in this file")
        binding = referents[0]
        target = self.parents.get(binding.node)
        assign = self.parents.get(target) if isinstance(target, cst.AssignTarget) else None
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            return None, f"the name {value.value} is not bound by a plain assignment"
        if not isinstance(assign.value, kind):
            return None, (f"{value.value} (line {self.line(assign)}) is not bound to a "
                          "literal")
        readers = sorted(self.line(access.node) for access in binding.references)
        if len(readers) > 1:
            lines = ", ".join(str(n) for n in readers)
            return None, (f"{value.value} (line {self.line(assign)}) is also read elsewhere "
                          f"(lines {lines}), so changing it would change more than this pool; "
                          "give the pool its own value or edit it by hand")
        return assign.value, None


_LITERAL_KIND = {"instance_type": cst.SimpleString}


def patch_app(source: str, settings: Settings, filename: str) -> PatchResult:
    """Return ``source`` with each pool's settings changed, such as ``{"api": {"count": 3}}``.

    A setting whose literal already has the new value is neither an edit nor a
    skip. Raises InputError when the source is not valid Python. A pool whose call
    is not found exactly once, or whose value cannot be changed safely, is
    listed in ``skipped`` with the reason.
    """
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise InputError(
            f"{filename}: not valid Python ({exc.message} at line {exc.raw_line})"
        ) from exc
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    visitor = _PoolCalls({pool for pool, changes in settings.items() if changes})
    wrapper.visit(visitor)
    resolver = _Resolver(wrapper, filename)

    targets: dict[cst.CSTNode, Value] = {}
    applied: list[Edit] = []
    skipped: list[Skipped] = []
    for pool in sorted(settings):
        if not settings[pool]:
            continue
        calls = visitor.found.get(pool, [])
        problem = _call_problem(calls, pool, filename)
        if problem:
            skipped.extend(Skipped(pool, name, problem) for name in settings[pool])
            continue
        call, line = calls[0]
        for name, new in settings[pool].items():
            edit, reason = _edit_argument(call, line, pool, name, new, resolver, filename)
            if edit is None and reason is None:
                continue  # the source already sets this value
            if edit is None:
                skipped.append(Skipped(pool, name, reason or "not changed"))
                continue
            node, change = edit
            targets[node] = new
            applied.append(change)

    patched = module.visit(_ReplaceLiterals(targets)).code if targets else source
    return PatchResult(patched, unified_diff(source, patched, filename), applied, skipped)


def _edit_argument(
    call: cst.Call, line: int, pool: str, name: str, new: Value, resolver: _Resolver,
    filename: str,
) -> tuple[tuple[cst.CSTNode, Edit] | None, str | None]:
    kind = _LITERAL_KIND.get(name, cst.Integer)
    argument = next((a for a in call.args if a.keyword is not None and a.keyword.value == name),
                    None)
    if argument is None:
        literal = f'"{new}"' if kind is cst.SimpleString else str(new)
        return None, (f"{filename}:{line}: the pool's call has no {name}= argument; add "
                      f"{name}={literal} by hand")
    node, reason = resolver.literal(argument.value, kind)
    if node is None:
        return None, f"{filename}:{line}: {name}= cannot be changed safely: {reason}"
    old: Value | None = None
    if isinstance(node, cst.SimpleString) and isinstance(node.evaluated_value, str):
        old = node.evaluated_value
    elif isinstance(node, cst.Integer):
        old = int(node.value, 0)
    if old is None:
        return None, f"{filename}:{line}: {name}= is not a plain literal"
    if old == new:
        return None, None
    return (node, Edit(pool, old, new, resolver.line(node), name, filename)), None


def _call_problem(found: list[tuple[cst.Call, int]], pool: str, filename: str) -> str | None:
    if not found:
        return (f"{filename}: no pool construct call for pool '{pool}' found; expected a call "
                f"such as InstancePool(stack, \"{pool}\", ..., instance_type=\"m5.large\") with "
                "the pool name as a string literal in the second positional argument")
    if len(found) > 1:
        lines = ", ".join(str(line) for _, line in found)
        return (f"{filename}: pool '{pool}' is declared by {len(found)} calls (lines {lines}); "
                "keep one declaration per pool so the change has one place to go")
    return None


def patch_instance_types(source: str, changes: Mapping[str, str], filename: str) -> PatchResult:
    """Return ``source`` with each pool of ``changes`` moved to its new instance type.

    Raises InputError when a change cannot be made, naming the place and the fix.
    """
    result = patch_app(source, {pool: {"instance_type": t} for pool, t in changes.items()},
                       filename)
    if result.skipped:
        raise InputError(result.skipped[0].reason)
    return result


def patch_path(
    path: Path, settings: Settings, display: str | None = None
) -> tuple[list[PatchResult], list[Skipped]]:
    """Apply pool settings to a CDKTF app (``.py``), a ``.tf`` or ``.tf.json`` file or a folder.

    A folder means its ``*.tf`` and ``*.tf.json`` files, as terraform reads a
    module. Returns the changed files and the changes that were skipped.
    ``display`` names ``path`` in diffs and messages.
    """
    from provider_bridge.patch_hcl import patch_terraform

    name = display or str(path)
    if path.is_dir():
        files = sorted([*path.glob("*.tf"), *path.glob("*.tf.json")])
        if not files:
            raise InputError(f"{path}: no .tf or .tf.json files in the folder")
        shown = {f: f"{name.rstrip('/')}/{f.name}" for f in files}
        return patch_terraform(files, settings, shown)
    if path.name.endswith((".tf", ".tf.json")):
        return patch_terraform([path], settings, {path: name})
    if path.suffix != ".py":
        raise InputError(f"{path}: unsupported source; pass a CDKTF app (.py), a .tf or "
                         ".tf.json file, or a folder of them")
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found; pass the CDKTF app source, such as "
                         "app.py") from exc
    result = patch_app(source, settings, name)
    patched = PatchResult(result.source, result.diff, result.changes, [], path)
    return ([patched] if result.changes else []), result.skipped


def unified_diff(old: str, new: str, filename: str) -> str:
    """Return the unified diff of two versions of ``filename``, with a/ and b/ prefixes."""
    name = filename.lstrip("/")
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"a/{name}", tofile=f"b/{name}",
        )
    )


def _quoted(value: Value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def format_summary(changes: list[Edit], teams: Mapping[str, str | None] | None = None) -> str:
    """Render the changes as Terraform renders an in-place update, one block per pool."""
    lines = []
    pools: dict[str, list[Edit]] = {}
    for change in changes:
        pools.setdefault(change.pool, []).append(change)
    for pool, edits in pools.items():
        team = (teams or {}).get(pool)
        owner = f" (team {team})" if team else ""
        lines.append(f"  # pool \"{pool}\"{owner} will be updated in-place")
        width = max(len(e.attribute) for e in edits)
        seen: set[tuple[str, Value]] = set()
        for edit in edits:
            if (edit.attribute, edit.new) in seen:
                continue
            seen.add((edit.attribute, edit.new))
            lines.append(f"  ~ {edit.attribute:<{width}} = {_quoted(edit.old)} -> "
                         f"{_quoted(edit.new)}")
    count = len(pools)
    lines.append(f"{count} pool{'s' if count != 1 else ''} to change.")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` through a temporary file; return the backup's path.

    The original is copied to ``<path>.orig`` first. An existing backup is never
    replaced: the copy goes to the first free name of ``<path>.orig.1``,
    ``<path>.orig.2``, ..., so ``<path>.orig`` keeps the oldest original.
    """
    try:
        original = path.read_bytes()
        backup = _write_backup(path, original)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as exc:
        raise ExecutionError(f"{path}: could not write the patched source ({exc})") from exc
    return backup


def _write_backup(path: Path, original: bytes) -> Path:
    for number in range(1000):
        suffix = ".orig" if number == 0 else f".orig.{number}"
        backup = path.with_name(path.name + suffix)
        try:
            # Mode "x" fails on an existing file, so no backup is ever overwritten.
            with backup.open("xb") as stream:
                stream.write(original)
        except FileExistsError:
            continue
        return backup
    raise ExecutionError(f"{path}: {path.name}.orig to {path.name}.orig.999 all exist; "
                         "remove the old backups and run again")
