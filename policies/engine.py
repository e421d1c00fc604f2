"""Policy engines that evaluate our Rego rules over the normalized input.

Every rule lives in a package ``quotaform.rules.<name>`` with one entry point,
``deny``, a set of violations. An engine returns the union of those sets. It
fails closed: an engine error, a missing ``deny`` result or a result of the
wrong shape raises ``ExecutionError``, never an empty list.

Three engines give the same decisions on the same policies: ``regorus``
(embedded, the default), ``regopy`` (embedded, Microsoft's rego-cpp) and
``opa`` (an OPA server, see ``policies.opa``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Protocol

import orjson
import regorus

from cdk.errors import ExecutionError, InputError

logger = logging.getLogger(__name__)

ENGINE_NAMES = ("regorus", "regopy", "opa")
DEFAULT_OPA_TIMEOUT_SECONDS = 30.0

VIOLATION_FIELDS = frozenset({"rule", "message", "severity", "pool", "address"})

_METADATA_ID = re.compile(r"^#\s+id:\s*(\S+)\s*$", re.MULTILINE)
_METADATA_SEVERITY = re.compile(r"^#\s+severity:\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A rule's id and severity as its METADATA annotation declares them."""

    id: str
    severity: str
    package: str


# The policy input as a decoded document or as JSON text. The check passes text, which
# pydantic writes straight from the models without an intermediate document.
PolicyInputJson = dict[str, Any] | str


def input_json(policy_input: PolicyInputJson) -> str:
    """Return the policy input as JSON text."""
    if isinstance(policy_input, str):
        return policy_input
    return orjson.dumps(policy_input).decode()


class Engine(Protocol):
    """Evaluates the deny sets of every rule for one input and one data document."""

    def rules(self) -> dict[str, RuleInfo]:
        """Return the loaded rules by rule id."""
        ...

    def evaluate(self, policy_input: PolicyInputJson, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Return every violation of every rule; raise ``ExecutionError`` on any failure.

        ``policy_input`` is the input document, or its JSON text.
        """
        ...


def policy_files(root: Traversable | None = None) -> list[tuple[str, str]]:
    """Return ``(name, text)`` of every shipped policy, without the ``*_test.rego`` files."""
    root = root or resources.files("policies") / "rego"
    found: list[tuple[str, str]] = []
    for folder in sorted(root.iterdir(), key=lambda item: item.name):
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
            if item.name.endswith(".rego") and not item.name.endswith("_test.rego"):
                found.append((f"{folder.name}/{item.name}", item.read_text()))
    return found


def _rule_info(name: str, text: str) -> RuleInfo | None:
    package = re.search(r"^package\s+(\S+)", text, re.MULTILINE)
    if package is None or not package.group(1).startswith("quotaform.rules."):
        return None
    rule_id = _METADATA_ID.search(text)
    severity = _METADATA_SEVERITY.search(text)
    if rule_id is None or severity is None:
        raise ExecutionError(f"policy {name}: its METADATA lacks a custom id or severity")
    return RuleInfo(rule_id.group(1), severity.group(1), "data." + package.group(1))


def index_rules(policies: list[tuple[str, str]]) -> dict[str, RuleInfo]:
    """Return the rules of ``policies`` by rule id, from their METADATA annotations."""
    found: dict[str, RuleInfo] = {}
    for name, text in policies:
        info = _rule_info(name, text)
        if info is not None:
            found[info.id] = info
    return found


def engine_message(error: Exception) -> str:
    """Return the engine's own message without the native stack trace regorus appends."""
    return str(error).split("Stack backtrace:", 1)[0].strip()


class RegorusEngine:
    """The embedded default engine: regorus, Microsoft's Rust Rego interpreter."""

    name = "regorus"

    def __init__(self, policies: list[tuple[str, str]] | None = None):
        self._policies = policy_files() if policies is None else policies
        self._rules = index_rules(self._policies)
        self._base = self._compile()

    def _compile(self) -> regorus.Engine:
        engine = regorus.Engine()
        for name, text in self._policies:
            try:
                engine.add_policy(name, text)
            except RuntimeError as exc:
                raise ExecutionError(
                    f"policy {name} failed to load: {engine_message(exc)}"
                ) from exc
        return engine

    def rules(self) -> dict[str, RuleInfo]:
        return dict(self._rules)

    def evaluate(self, policy_input: PolicyInputJson, data: dict[str, Any]) -> list[dict[str, Any]]:
        started = time.perf_counter()
        engine = self._base.clone()
        try:
            engine.add_data_json(orjson.dumps({"quotaform": data}).decode())
            engine.set_input_json(input_json(policy_input))
        except (RuntimeError, TypeError) as exc:
            raise ExecutionError(f"the policy engine rejected its input: "
                                 f"{engine_message(exc)}") from exc

        violations: list[dict[str, Any]] = []
        for info in self._rules.values():
            violations += checked_deny(info, self._deny(engine, info))
        logger.info("evaluated engine=regorus rules=%d violations=%d seconds=%.3f",
                    len(self._rules), len(violations), time.perf_counter() - started)
        return violations

    def _deny(self, engine: regorus.Engine, info: RuleInfo) -> object:
        try:
            text = engine.eval_rule_as_json(f"{info.package}.deny")
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ExecutionError(
                f"rule {info.id} failed to evaluate: {engine_message(exc)}"
            ) from exc
        if text is None:
            raise ExecutionError(f"rule {info.id} returned no deny set")
        return orjson.loads(text)


def checked_deny(info: RuleInfo, result: object) -> list[dict[str, Any]]:
    """Return ``result`` when it is a list of violations of the expected shape."""
    if not isinstance(result, list):
        raise ExecutionError(
            f"rule {info.id} returned a {type(result).__name__} as its deny set; "
            "a deny rule must build a set of violations"
        )
    for item in result:
        if not isinstance(item, dict) or set(item) != VIOLATION_FIELDS:
            raise ExecutionError(
                f"rule {info.id} returned a violation without the fields "
                f"{', '.join(sorted(VIOLATION_FIELDS))}: {str(item)[:200]}"
            )
        if not isinstance(item["message"], str) or not isinstance(item["rule"], str):
            raise ExecutionError(f"rule {info.id} returned a violation whose rule or "
                                 "message is not a string")
    return result


_engines = threading.local()


def default_engine() -> RegorusEngine:
    """Return this thread's regorus engine with our policies, parsed once per thread.

    A regorus engine may only be used on the thread that created it, and
    callers such as the Terraform provider evaluate on several threads.
    """
    engine = getattr(_engines, "regorus", None)
    if engine is None:
        engine = _engines.regorus = RegorusEngine()
    return engine


def create_engine(name: str = "regorus", *, opa_url: str | None = None,
                  opa_timeout: float = DEFAULT_OPA_TIMEOUT_SECONDS,
                  policies: list[tuple[str, str]] | None = None) -> Engine:
    """Create the engine ``name`` with our policies, or with ``policies`` when given.

    ``opa_url`` is required for, and only accepted with, the ``opa`` engine.
    """
    if name not in ENGINE_NAMES:
        raise InputError(f"--engine: unknown engine '{name}'; use one of "
                         f"{', '.join(ENGINE_NAMES)}")
    if name != "opa" and opa_url is not None:
        raise InputError(f"--opa-url is only used with --engine opa, not with --engine {name}; "
                         "add --engine opa or drop --opa-url")
    if name == "opa":
        if not opa_url:
            raise InputError("--engine opa needs the server's address: add --opa-url URL, "
                             "such as --opa-url http://127.0.0.1:8181")
        # Imported here so that the embedded engines do not load the HTTP client.
        from policies.opa import OpaEngine

        return OpaEngine(opa_url, policies=policies, timeout=opa_timeout)
    if name == "regopy":
        from policies.regopy_engine import RegopyEngine

        return RegopyEngine(policies)
    return default_engine() if policies is None else RegorusEngine(policies)
