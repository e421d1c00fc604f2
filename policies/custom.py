"""Users' own Rego policies, written for conftest, run over the raw plan.

The conftest conventions apply unchanged:

- every ``*.rego`` file under a ``--policy-dir`` is loaded, except ``*_test.rego``;
- rules named ``deny``, ``warn`` or ``violation``, or starting with ``deny_``,
  ``warn_`` or ``violation_``, report findings, in package ``main`` unless other
  namespaces (packages) are named or all are requested;
- a rule returns a set or array of strings, or of objects with a string ``msg``
  (a ``true`` boolean reports the rule's name);
- ``input`` is the plan JSON exactly as ``terraform show -json`` wrote it.

A finding's rule id is ``PACKAGE.RULE`` (``main.deny``). ``deny`` and ``violation``
rules deny (hard-mandatory by default) and ``warn`` rules warn (advisory); both can
be changed in ``allocation.policies``. An object may also carry ``address``,
``pool`` and ``severity`` (low, medium, high), so waivers can name its resource.

Files are parsed as Rego v1, as OPA 1.x and current conftest do. A file that
only parses as Rego v0 (``deny[msg] { ... }``) is loaded as v0, so older policies
keep working. User policies run on the embedded regorus engine whichever engine
evaluates quotaform's own rules. Conftest's ``exception`` rules and ``--data``
files are not supported.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import regorus

from cdk.errors import ExecutionError, InputError
from policies.documents import EnforcementLevel

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACES = ("main",)
SEVERITIES = ("low", "medium", "high")

_FINDING_RULE = re.compile(r"^(deny|warn|violation)(_[A-Za-z0-9_]+)?$")
_ERROR_LOCATION = re.compile(r"-->\s*(.+?):(\d+):(\d+)")
_ERROR_TEXT = re.compile(r"^error:\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class UserRule:
    """One conftest-style rule: its id, its full path and the file that defines it."""

    id: str
    path: str
    kind: str
    file: str

    @property
    def default_level(self) -> EnforcementLevel:
        return "advisory" if self.kind == "warn" else "hard-mandatory"


def rego_files(directories: Iterable[Path], *, tests: bool) -> list[Path]:
    """Return the ``.rego`` files under each directory: policies, or with ``tests`` every file."""
    found: list[Path] = []
    for directory in directories:
        if directory.is_file() and directory.suffix == ".rego":
            found.append(directory)
            continue
        if not directory.is_dir():
            raise InputError(f"{directory}: policy directory not found; pass a directory of "
                             ".rego files")
        for path in sorted(directory.rglob("*.rego")):
            if tests or not path.name.endswith("_test.rego"):
                found.append(path)
    return found


def load_rego(engine: regorus.Engine, path: Path, text: str | None = None) -> None:
    """Add one policy file to ``engine``, as Rego v1 or else v0; raise ``InputError`` if neither.

    The message of an invalid file names the file, line and column of the error
    from whichever parse got further into the file.
    """
    text = path.read_text() if text is None else text
    name = str(path)
    errors: list[RuntimeError] = []
    for rego_v0 in (False, True):
        trial = regorus.Engine()
        trial.set_rego_v0(rego_v0)
        try:
            with _native_stderr_discarded(rego_v0):
                trial.add_policy(name, text)
        except RuntimeError as exc:
            errors.append(exc)
            continue
        engine.set_rego_v0(rego_v0)
        try:
            with _native_stderr_discarded(rego_v0):
                engine.add_policy(name, text)
        except RuntimeError as exc:
            raise InputError(f"{_located(exc, name)}; fix the policy") from exc
        finally:
            engine.set_rego_v0(False)
        return
    raise InputError(f"{_located(_furthest(errors), name)}; fix the Rego syntax") from errors[0]


@contextlib.contextmanager
def _native_stderr_discarded(active: bool) -> Iterator[None]:
    """Silence what regorus prints to file descriptor 2 while parsing Rego v0.

    Its v0 parser prints a warning for every v1 keyword it meets, such as
    "`if` will be treated as identifier", which would garble the one error message.
    """
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _furthest(errors: list[RuntimeError]) -> RuntimeError:
    def position(error: RuntimeError) -> tuple[int, int]:
        match = _ERROR_LOCATION.search(str(error))
        return (int(match.group(2)), int(match.group(3))) if match else (0, 0)

    return max(errors, key=position)


def _located(error: Exception, name: str) -> str:
    """Turn a regorus error into ``FILE:LINE:COL: text`` without the source excerpt."""
    text = str(error).split("Stack backtrace:", 1)[0]
    location = _ERROR_LOCATION.search(text)
    messages = _ERROR_TEXT.findall(text)
    summary = "; ".join(message.strip() for message in messages) or text.strip()
    if location is None:
        return f"{name}: {summary}"
    return f"{location.group(1)}:{location.group(2)}:{location.group(3)}: {summary}"


def module_rules(engine: regorus.Engine) -> list[tuple[str, str, str]]:
    """Return ``(file, package, rule name)`` of every non-function rule in the engine."""
    found: list[tuple[str, str, str]] = []
    for module in orjson.loads(engine.get_ast_as_json()):
        tree = module.get("ast") or {}
        package = _ref_name((tree.get("package") or {}).get("refr"))
        file = (module.get("source") or {}).get("file", "")
        for rule in tree.get("rules") or []:
            head = (rule.get("Spec") or {}).get("head") or {}
            for kind in ("Set", "Compr"):
                name = _ref_name((head.get(kind) or {}).get("refr"))
                if package and name and "." not in name:
                    found.append((file, package, name))
    return found


def _ref_name(node: Any) -> str | None:
    """Flatten a package or rule reference such as ``terraform.aws`` from its AST node."""
    if not isinstance(node, dict):
        return None
    if "Var" in node:
        return str(node["Var"].get("value"))
    if "RefDot" in node:
        parent = _ref_name(node["RefDot"].get("refr"))
        field = node["RefDot"].get("field")
        if parent is None or not isinstance(field, list) or len(field) != 2:
            return None
        return f"{parent}.{field[1]}"
    return None


class UserPolicies:
    """The conftest-style policies of one or more directories, parsed once."""

    def __init__(self, directories: Sequence[Path], *,
                 namespaces: Sequence[str] = DEFAULT_NAMESPACES, all_namespaces: bool = False):
        self.directories = list(directories)
        files = rego_files(self.directories, tests=False)
        if not files:
            raise InputError(f"--policy-dir {', '.join(map(str, self.directories))}: no .rego "
                             "policy files found (files ending in _test.rego are tests)")
        self._engine = regorus.Engine()
        for path in files:
            load_rego(self._engine, path)
        self._rules = self._find_rules(set(namespaces), all_namespaces)
        if not self._rules:
            # Fail closed: a policy directory that checks nothing must not pass a plan.
            scope = "any package" if all_namespaces else f"package(s) {', '.join(namespaces)}"
            raise InputError(
                f"--policy-dir {', '.join(map(str, self.directories))}: no deny, warn or "
                f"violation rules in {scope}; pass --namespace PACKAGE for the package your "
                "policies declare, or --all-namespaces"
            )

    def _find_rules(self, namespaces: set[str], all_namespaces: bool) -> list[UserRule]:
        rules: dict[str, UserRule] = {}
        for file, package, name in module_rules(self._engine):
            match = _FINDING_RULE.match(name)
            if match is None or not (all_namespaces or package in namespaces):
                continue
            rule_id = f"{package}.{name}"
            rules.setdefault(rule_id, UserRule(rule_id, f"data.{package}.{name}",
                                               match.group(1), file))
        return sorted(rules.values(), key=lambda rule: rule.id)

    @property
    def rules(self) -> list[UserRule]:
        return list(self._rules)

    def defaults(self) -> dict[str, EnforcementLevel]:
        """Return each rule id with the level it runs at unless the declarations set one."""
        return {rule.id: rule.default_level for rule in self._rules}

    def evaluate(self, plan: dict[str, Any] | bytes) -> list[dict[str, Any]]:
        """Return the findings of every rule over the raw plan, in the engine's violation shape."""
        started = time.perf_counter()
        engine = self._engine.clone()
        text = plan.decode() if isinstance(plan, bytes) else orjson.dumps(plan).decode()
        try:
            engine.set_input_json(text)
        except (RuntimeError, TypeError) as exc:
            raise ExecutionError(f"the policy engine rejected the plan as input: "
                                 f"{_located(exc, 'plan')}") from exc
        findings: list[dict[str, Any]] = []
        for rule in self._rules:
            findings += _findings(rule, self._result(engine, rule))
        logger.info("evaluated user rules=%d findings=%d seconds=%.3f",
                    len(self._rules), len(findings), time.perf_counter() - started)
        return findings

    def _result(self, engine: regorus.Engine, rule: UserRule) -> object:
        try:
            text = engine.eval_rule_as_json(rule.path)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ExecutionError(
                f"user policy rule {rule.id} ({rule.file}) failed to evaluate: "
                f"{_located(exc, rule.file)}"
            ) from exc
        value = None if text is None else json.loads(text)
        # regorus writes an undefined rule as the string "<undefined>".
        return None if value == "<undefined>" else value


def _findings(rule: UserRule, value: object) -> list[dict[str, Any]]:
    if value is None or value is False:
        return []
    if value is True:
        return [_finding(rule, rule.id)]
    if not isinstance(value, list):
        raise InputError(
            f"user policy rule {rule.id} ({rule.file}) returned a {type(value).__name__}; "
            "a conftest rule returns a set of messages, such as 'deny contains msg if {...}'"
        )
    return [_from_item(rule, item) for item in value]


def _from_item(rule: UserRule, item: object) -> dict[str, Any]:
    if isinstance(item, str):
        return _finding(rule, item)
    if isinstance(item, dict) and isinstance(item.get("msg"), str):
        severity = item.get("severity")
        return _finding(
            rule, item["msg"],
            address=_text(item.get("address")),
            pool=_text(item.get("pool")),
            severity=severity if severity in SEVERITIES else "medium",
        )
    raise InputError(
        f"user policy rule {rule.id} ({rule.file}) returned {str(item)[:120]}; each result "
        "must be a string or an object with a string 'msg'"
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _finding(rule: UserRule, message: str, *, address: str | None = None,
             pool: str | None = None, severity: str = "medium") -> dict[str, Any]:
    return {"rule": rule.id, "message": message, "severity": severity, "pool": pool,
            "address": address}
