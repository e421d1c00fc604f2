"""Time the regorus and regopy engines on the same normalized input, in one run.

The input is the normalized policy input of a generated plan (bench/generate_plans.py,
written if missing) with its quotaform.json: the document our rules read,
built once before any timing. Each engine then evaluates every rule on it
``--repeat`` times. An evaluation is what ``quotaform check`` pays per plan.
For regorus that is a clone of the compiled policies plus the evaluation. For
regopy it is a new interpreter that loads and compiles the policies, then the
evaluation, because a regopy interpreter cannot be reset to other data. Both
engines must return the same violations, or the script exits 1.

Run: ``.venv/bin/python bench/engines.py --changes 1000 --repeat 5``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from cdk.model import load_config  # noqa: E402
from generate_plans import write_plan  # noqa: E402
from policies import load_plan, normalize_plan  # noqa: E402
from policies.engine import Engine, RegorusEngine  # noqa: E402
from policies.gate import add_check_facts  # noqa: E402
from policies.regopy_engine import RegopyEngine  # noqa: E402
from provider_bridge.catalog import load_catalog  # noqa: E402


def normalized_input(changes: int, plans: Path, seed: int) -> tuple[dict[str, Any],
                                                                     dict[str, Any]]:
    """Return the normalized input and the data document of the generated plan."""
    plan_path, data_path = plans / f"plan-{changes}.json", plans / f"quotaform-{changes}.json"
    if not plan_path.exists() or not data_path.exists():
        plan_path, data_path = write_plan(changes, plans, seed)
    catalog = load_catalog()
    config = load_config(data_path, catalog)
    policy_input = normalize_plan(load_plan(plan_path), config, catalog, source="plan")
    add_check_facts(policy_input, config, catalog, None)
    return policy_input.model_dump(mode="json"), config.model_dump(mode="json")


def time_engine(engine: Engine, policy_input: dict[str, Any], data: dict[str, Any],
                repeat: int) -> tuple[list[float], list[dict[str, Any]]]:
    """Return the seconds of each evaluation and the last evaluation's violations."""
    seconds: list[float] = []
    violations: list[dict[str, Any]] = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        violations = engine.evaluate(policy_input, data)
        seconds.append(time.perf_counter() - started)
    return seconds, violations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=1000,
                        help="Resource changes of the generated plan (default: 1000).")
    parser.add_argument("--repeat", type=int, default=5,
                        help="Evaluations per engine (default: 5).")
    parser.add_argument("--plans", type=Path, default=BENCH / "plans",
                        help="Folder of the generated plans (default: bench/plans).")
    parser.add_argument("--seed", type=int, default=20261201, help="Seed of a new plan.")
    args = parser.parse_args(argv)

    policy_input, data = normalized_input(args.changes, args.plans, args.seed)
    size = len(orjson.dumps(policy_input)) / 1e6
    print(f"input: {len(policy_input['resources'])} resources, {len(policy_input['pools'])} "
          f"pools, {size:.2f} MB of JSON; {args.repeat} evaluations per engine")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")

    # The same document without resources or pools: the fixed cost of one evaluation.
    empty = {**policy_input, "resources": [], "pools": {}, "teams": {}, "unsized": []}
    results: dict[str, tuple[float, float, list[float], list[dict[str, Any]]]] = {}
    for name, engine_class in (("regorus", RegorusEngine), ("regopy", RegopyEngine)):
        started = time.perf_counter()
        engine = engine_class()
        setup = time.perf_counter() - started
        fixed, _ = time_engine(engine, empty, data, args.repeat)
        seconds, violations = time_engine(engine, policy_input, data, args.repeat)
        results[name] = (setup, statistics.median(fixed), seconds, violations)

    print("| engine | load policies s | empty input s | evaluate median s | min s | max s "
          "| violations |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (setup, fixed, seconds, violations) in results.items():
        print(f"| {name} | {setup:.3f} | {fixed:.3f} | {statistics.median(seconds):.3f} | "
              f"{min(seconds):.3f} | {max(seconds):.3f} | {len(violations)} |")
    ratio = statistics.median(results["regopy"][2]) / statistics.median(results["regorus"][2])
    print(f"regopy / regorus, median evaluation: {ratio:.1f}x")

    same = (sorted(map(orjson.dumps, results["regorus"][3]))
            == sorted(map(orjson.dumps, results["regopy"][3])))
    print(f"identical violations: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
