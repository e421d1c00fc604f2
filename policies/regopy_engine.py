"""The ``regopy`` engine: our policies on regopy, the Python binding of Microsoft's rego-cpp.

regopy 1.5.2 gets some valid Rego wrong. The engine works around each fault
without changing what a policy means:

- ``some key, value in collection`` inside a comprehension is rejected
  ("Invalid collection"); it is rewritten to ``some key, value; value =
  collection[key]``, which binds the same pairs for objects, arrays and sets.
- sprintf formats a string computed during evaluation (by a built-in such as
  concat or upper, or a variable bound to a literal) with its JSON quotes
  whenever the format writes anything beside it: ``sprintf("%s %s", ["a",
  upper("b")])`` gives ``a "B"``. A string copied by ``trim_prefix(value, "")``
  is formatted plainly, so every sprintf argument list passes through a helper
  that copies its strings that way.
- Strings holding ``"``, ``\\`` or a control character come back unescaped, so
  the result is not valid JSON, when the input is handed over as a Python
  object. Handed over as JSON text they keep their escapes inside rego-cpp:
  results decode to the original text and comparisons with literals hold, but
  ``count`` and the other string built-ins see the escaped form.
- rego-cpp prints compile errors to the process's standard output, which
  would corrupt ``--format json`` output. The engine captures them and puts the
  message in the error it raises.

Still different from regorus: a built-in's runtime error carries no message,
and ``with input as {...}`` around a rule that calls a built-in crashes the
process (so the Rego unit tests run on regorus only).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any, NoReturn

import orjson

from cdk.errors import ExecutionError
from policies.engine import (
    PolicyInputJson,
    RuleInfo,
    checked_deny,
    index_rules,
    input_json,
    policy_files,
)

logger = logging.getLogger(__name__)

HELPER_NAME = "quotaform_regopy/plain.rego"
HELPER = """package quotaform_regopy

import rego.v1

plain(values) := [_plain(value) | some value in values]

_plain(value) := trim_prefix(value, "") if is_string(value)

_plain(value) := value if not is_string(value)
"""
_PLAIN_CALL = "data.quotaform_regopy.plain("

_SOME_KEY_VALUE = re.compile(r"\bsome\s+([A-Za-z_]\w*)\s*,\s*([A-Za-z_]\w*)\s+in\s+")
_PRINTED_ERROR = re.compile(r"^Errors:\n(?P<message>[^\n]+)\n--\s*(?P<place>\S+)", re.MULTILINE)
_ERROR_MESSAGE = re.compile(r"\(errormsg \d+:([^\n]*)\)")


def _code_positions(text: str) -> list[bool]:
    """Mark each position of ``text`` that is Rego code, not a string literal or comment."""
    code = [True] * len(text)
    index = 0
    while index < len(text):
        char = text[index]
        if char == "#":
            end = text.find("\n", index)
            end = len(text) if end < 0 else end
        elif char == "`":
            end = text.find("`", index + 1) + 1 or len(text)
        elif char == '"':
            end = index + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            end += 1
        else:
            index += 1
            continue
        code[index:end] = [False] * (end - index)
        index = end
    return code


def _sprintf_arguments(text: str, code: list[bool]) -> list[tuple[int, int]]:
    """Return (start, end) of the second argument of every sprintf call in ``text``."""
    spans: list[tuple[int, int]] = []
    frames: list[tuple[bool, list[int]]] = []  # (is a sprintf call, [argument start])
    for index, char in enumerate(text):
        if not code[index]:
            continue
        if char in "([{":
            is_sprintf = (char == "(" and text[max(0, index - 7):index] == "sprintf"
                          and not text[max(0, index - 8):max(0, index - 7)].isidentifier())
            frames.append((is_sprintf, [-1]))
        elif char == "," and frames and frames[-1][0] and frames[-1][1][0] < 0:
            frames[-1][1][0] = index + 1
        elif char in ")]}" and frames:
            is_sprintf, start = frames.pop()
            if is_sprintf and start[0] >= 0:
                spans.append((start[0], index))
    return spans


def _in_comprehension(text: str, code: list[bool], position: int) -> bool:
    """Tell whether ``position`` lies in the body of an array, set or object comprehension."""
    frames: list[list[Any]] = []  # [bracket, seen a "|"]
    for index in range(position):
        if not code[index]:
            continue
        char = text[index]
        if char in "([{":
            frames.append([char, False])
        elif char in ")]}" and frames:
            frames.pop()
        elif char == "|" and frames:
            frames[-1][1] = True
    return bool(frames) and frames[-1][0] in "[{" and frames[-1][1]


def _expression_end(text: str, code: list[bool], start: int) -> int:
    """Return where the expression at ``start`` ends: ``;``, ``|``, a newline or a closer."""
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if code[index]:
            if char in "([{":
                depth += 1
            elif char in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and char in ";|\n":
                break
        index += 1
    return index


def _comprehensions(text: str, code: list[bool]) -> list[tuple[int, int, int]]:
    """Return (open, bar, close) of every outermost comprehension in ``text``.

    A bracket whose first top-level ``|`` comes before any top-level newline
    opens a comprehension; a rule body's brace has its first line break first.
    """
    found: list[tuple[int, int, int]] = []
    frames: list[list[int]] = []  # [open, bar or -1, newline seen]
    for index, char in enumerate(text):
        if not code[index]:
            continue
        if char in "([{":
            frames.append([index, -1, 0])
        elif char == "\n" and frames:
            frames[-1][2] = 1
        elif char == "|" and frames and frames[-1][1] < 0 and not frames[-1][2]:
            frames[-1][1] = index
        elif char in ")]}" and frames:
            opened, bar, _ = frames.pop()
            inside = any(frame[1] >= 0 and text[frame[0]] in "[{" for frame in frames)
            if bar >= 0 and text[opened] in "[{" and not inside:
                found.append((opened, bar, index))
    return found


_RULE_HEAD = re.compile(r"^([A-Za-z_][\w.]*)\(([^)]*)\)", re.MULTILINE)
_LINE_START = re.compile(r"^(?!import\b|package\b|default\b|else\b)[A-Za-z_]", re.MULTILINE)
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


def _function_arguments(text: str, position: int) -> list[str]:
    """Return the variable arguments of the function whose definition contains ``position``."""
    heads = [match.start() for match in _LINE_START.finditer(text, 0, position)]
    if not heads:
        return []
    head = _RULE_HEAD.match(text, heads[-1])
    if head is None:
        return []
    names = [name.strip() for name in head.group(2).split(",")]
    return [name for name in names if _IDENTIFIER.match(name) and name != "_"]


def _bind_function_arguments(text: str) -> str:
    """Copy a function's arguments into locals of each comprehension that uses them.

    regopy 1.5.2 treats a function argument used as a key inside a
    comprehension, as in ``[x | x := input.pools[name]]``, as a new variable and
    iterates every key. A local bound inside the comprehension is kept bound.
    """
    # NOTE: a comprehension that declares a new variable with the argument's
    # name (shadowing it) is rewritten into a redeclaration that fails to load.
    code = _code_positions(text)
    edits: list[tuple[int, int, str]] = []
    for opened, bar, closed in _comprehensions(text, code):
        bindings = []
        for name in _function_arguments(text, opened):
            pattern = re.compile(rf"(?<![\w.]){name}(?!\w)")
            uses = [match for match in pattern.finditer(text, opened + 1, closed)
                    if code[match.start()]]
            if not uses:
                continue
            bindings.append(f" __qf_{name} := {name};")
            edits += [(use.start(), use.end(), f"__qf_{name}") for use in uses]
        if bindings:
            edits.append((bar + 1, bar + 1, "".join(bindings)))
    return _apply(text, edits)


def _rewrite_some_key_value(text: str) -> str:
    """Rewrite ``some key, value in collection`` inside comprehensions to indexing."""
    code = _code_positions(text)
    edits: list[tuple[int, int, str]] = []
    for match in _SOME_KEY_VALUE.finditer(text):
        if not code[match.start()] or not _in_comprehension(text, code, match.start()):
            continue
        end = _expression_end(text, code, match.end())
        collection = text[match.end():end].rstrip()
        key, value = match.groups()
        if value == "_":
            replacement = f"some {key}; _ = {collection}[{key}]"
        else:
            replacement = f"some {key}, {value}; {value} = {collection}[{key}]"
        edits.append((match.start(), match.end() + len(collection), replacement))
    return _apply(text, edits)


def _wrap_sprintf_arguments(text: str) -> str:
    """Pass the argument list of every sprintf call through the helper's ``plain``."""
    edits: list[tuple[int, int, str]] = []
    for start, end in _sprintf_arguments(text, _code_positions(text)):
        edits += [(start, start, _PLAIN_CALL), (end, end, ")")]
    return _apply(text, edits)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    # Applied from the end, so the positions of the edits still to apply stay valid.
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def regopy_compatible(text: str) -> str:
    """Rewrite the Rego forms that regopy 1.5.2 handles wrongly into equivalent ones.

    No rewrite adds a line, so line numbers in regopy's messages stay right.
    """
    text = _bind_function_arguments(text)
    text = _rewrite_some_key_value(text)
    return _wrap_sprintf_arguments(text)


@contextlib.contextmanager
def _native_stdout_captured() -> Iterator[list[str]]:
    """Capture what native code writes to file descriptor 1; the text is appended on exit."""
    captured: list[str] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as stream:
        os.dup2(stream.fileno(), 1)
        try:
            yield captured
        finally:
            # rego-cpp writes through C stdio, which buffers when fd 1 is a file.
            ctypes.CDLL(None).fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            stream.seek(0)
            captured.append(stream.read().decode(errors="replace"))


def _message(printed: list[str], error: Exception | None = None) -> str:
    """Return 'file:line:column: message' from rego-cpp's printed errors, else its exception."""
    match = _PRINTED_ERROR.search("".join(printed))
    if match is not None:
        return f"{match.group('place')}: {match.group('message').strip()}"
    if error is not None:
        found = _ERROR_MESSAGE.search(str(error))
        return found.group(1) if found else str(error).splitlines()[0]
    return "regopy reported an error without a message"


class RegopyEngine:
    """The second embedded engine: regopy 1.5, Microsoft's rego-cpp for Python."""

    name = "regopy"

    def __init__(self, policies: list[tuple[str, str]] | None = None):
        import regopy

        self._regopy = regopy
        self._policies = policy_files() if policies is None else policies
        self._rules = index_rules(self._policies)
        self._sources = [(name, regopy_compatible(text)) for name, text in self._policies]
        self._sources.append((HELPER_NAME, HELPER))
        # rego-cpp compiles at the first query, so a trivial one reports every policy error.
        compiled, message = self._query(self._interpreter(), "x := 1")
        if compiled is None:
            raise ExecutionError(f"the policies failed to compile on regopy: {message}")

    def rules(self) -> dict[str, RuleInfo]:
        return dict(self._rules)

    def _interpreter(self) -> Any:
        """Return a new interpreter with the policies loaded."""
        interpreter = self._regopy.Interpreter()
        # Errors only: rego-cpp prints them, and _native_stdout_captured collects them.
        # NOTE: regopy.set_default_log_level aborts the process when called twice.
        interpreter.log_level = self._regopy.LogLevel.ERROR
        # Without this, a failing built-in (a division by zero) makes its rule
        # undefined and the deny set silently empty.
        interpreter.strict_built_in_errors = True
        for name, source in self._sources:
            with _native_stdout_captured() as printed:
                try:
                    interpreter.add_module(name, source)
                except self._regopy.RegoError as exc:
                    error: Exception | None = exc
                else:
                    error = None
            if error is not None:
                raise ExecutionError(
                    f"policy {name} failed to load on regopy: {_message(printed, error)}"
                ) from error
        return interpreter

    def evaluate(self, policy_input: PolicyInputJson, data: dict[str, Any]) -> list[dict[str, Any]]:
        started = time.perf_counter()
        interpreter = self._interpreter()
        try:
            interpreter.add_data_json(orjson.dumps({"quotaform": data}).decode())
            interpreter.set_input_term(input_json(policy_input))
        except (self._regopy.RegoError, TypeError) as exc:
            raise ExecutionError(
                f"the policy engine rejected its input: {_message([], exc)}"
            ) from exc

        # One query for every deny set, so rego-cpp compiles the policies once.
        rules = list(self._rules.values())
        query = "; ".join(f"r{index} := {info.package}.deny" for index, info in enumerate(rules))
        bindings, message = self._query(interpreter, query)
        if bindings is None or len(bindings) < len(rules):
            self._raise_for_failed(interpreter, rules, message)

        violations: list[dict[str, Any]] = []
        for index, info in enumerate(rules):
            violations += checked_deny(info, bindings[f"r{index}"])
        logger.info("evaluated engine=regopy rules=%d violations=%d seconds=%.3f",
                    len(rules), len(violations), time.perf_counter() - started)
        return violations

    def _query(self, interpreter: Any, query: str) -> tuple[dict[str, Any] | None, str]:
        """Return the bindings of ``query`` ({} when undefined), or None and the error message."""
        with _native_stdout_captured() as printed:
            try:
                output = interpreter.query(query)
            except (self._regopy.RegoError, ValueError) as exc:
                error: Exception | None = exc
            else:
                error = None
        if error is not None:
            return None, _message(printed, error)
        # An undefined query has one empty result; a failed one has none.
        if not output.results:
            return None, _message(printed)
        return dict(output.results[0].bindings), ""

    def _raise_for_failed(self, interpreter: Any, rules: list[RuleInfo],
                          message: str) -> NoReturn:
        """Find and report the rule that left the combined query without a result."""
        hint = "rerun with --engine regorus to see the engine's message"
        for info in rules:
            single, single_message = self._query(interpreter, f"x := {info.package}.deny")
            if single is None:
                # NOTE: regopy 1.5.2 gives a built-in's runtime error no message.
                raise ExecutionError(
                    f"rule {info.id} failed to evaluate on regopy: {single_message}; {hint}"
                )
            if "x" not in single:
                raise ExecutionError(f"rule {info.id} returned no deny set")
        raise ExecutionError(f"the rules failed to evaluate together on regopy: {message}; "
                             f"{hint}")
