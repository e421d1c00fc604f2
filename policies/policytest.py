"""Run Rego unit tests the way ``opa test`` does.

Every ``.rego`` file under the given directories is loaded into one engine
(policies, data helpers and tests alike). Each rule whose name starts with
``test_`` is a test. It passes when it evaluates to ``true`` and fails when it
is false or undefined. An evaluation error is reported as an error, and rules
named ``todo_test_*`` are listed as skipped. Tests conventionally live in
``*_test.rego`` files beside the policies they test, but, as in ``opa test``,
a ``test_`` rule in any loaded file runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import regorus

from cdk.errors import InputError
from policies.custom import load_rego, module_rules, rego_files

Outcome = Literal["pass", "fail", "error", "skip"]


@dataclass(slots=True)
class RegoTestResult:
    """The outcome of one test rule, with its duration and what it printed."""

    package: str
    name: str
    file: str
    outcome: Outcome
    seconds: float = 0.0
    message: str = ""
    prints: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.name}"


def shipped_policy_dir() -> Path:
    """Return the folder of quotaform's own rules and their tests."""
    return Path(str(resources.files("policies") / "rego"))


def run_tests(directories: Sequence[Path], *, run: str | None = None) -> list[RegoTestResult]:
    """Load every ``.rego`` file under ``directories`` and run its tests, in file order.

    ``run`` is a regular expression matched against ``data.PACKAGE.RULE``, as
    ``opa test --run`` does. Raises ``InputError`` for a file that does not
    parse, an invalid expression or a selection without tests.
    """
    try:
        selected = re.compile(run) if run is not None else None
    except re.error as exc:
        raise InputError(f"--run '{run}': invalid regular expression ({exc})") from exc
    files = rego_files(directories, tests=True)
    if not files:
        raise InputError(f"{', '.join(map(str, directories))}: no .rego files found")

    engine = regorus.Engine()
    engine.set_gather_prints(True)
    for path in files:
        load_rego(engine, path)

    results: list[RegoTestResult] = []
    seen: set[tuple[str, str]] = set()
    for file, package, name in module_rules(engine):
        if (package, name) in seen or not name.startswith(("test_", "todo_test_")):
            continue
        seen.add((package, name))
        if selected is not None and not selected.search(f"data.{package}.{name}"):
            continue
        results.append(_run_one(engine, file, package, name))
    if not results:
        raise InputError(f"{', '.join(map(str, directories))}: no test cases found (rules "
                         "named test_*); see 'opa test' conventions")
    return results


def _run_one(engine: regorus.Engine, file: str, package: str, name: str) -> RegoTestResult:
    result = RegoTestResult(package=package, name=name, file=file, outcome="skip")
    if name.startswith("todo_"):
        return result
    started = time.perf_counter()
    try:
        value = engine.eval_rule(result.path)
    except RuntimeError as exc:
        result.outcome = "error"
        result.message = str(exc).split("Stack backtrace:", 1)[0].strip()
    else:
        result.outcome = "pass" if value is True else "fail"
    result.seconds = time.perf_counter() - started
    result.prints = list(engine.take_prints())
    return result


def summarize(results: Sequence[RegoTestResult]) -> dict[Outcome, int]:
    """Count the results by outcome."""
    counts: dict[Outcome, int] = {"pass": 0, "fail": 0, "error": 0, "skip": 0}
    for result in results:
        counts[result.outcome] += 1
    return counts
