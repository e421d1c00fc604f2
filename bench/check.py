"""Benchmark ``quotaform check`` against parsing the plan with orjson alone and against checkov.

Each measurement runs one command as a child process and records its wall
time, its CPU time (user plus system) and its peak resident memory
(``ru_maxrss`` of that child, from ``os.wait4``). On a machine shared with
other jobs the wall time grows with the load and the CPU time much less, so
both are reported. The commands, on the
same plan file in the same session:

- ``orjson``: read the file and ``orjson.loads`` it, nothing else;
- ``orjson-nogc``: the same with the cyclic garbage collector disabled, as
  ``quotaform check`` parses the plan;
- ``quotaform``: the whole ``quotaform check PLAN --data DATA`` process, text report;
- ``quotaform-reports``: the same, also writing the markdown, sarif and junit reports;
- ``checkov``: ``checkov -f PLAN --framework terraform_plan`` with its default checks;
- ``checkov-5``: the same, limited to five EC2 and RDS checks with ``--check``.

checkov is installed into its own virtual environment (``--checkov-venv``,
default ``bench/.venv-checkov``), never into the project's. Plans come from
``generate_plans.py`` and are generated when missing.

Run: ``.venv/bin/python bench/check.py``. On a shared 2-core machine it took
about 15 minutes, most of it in checkov; ``--skip-checkov`` measures the
quotaform and orjson rows only. ``--phases`` times the steps of one check
(imports, parse, normalization, evaluation, report) in CPU seconds instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

# Five checkov checks that look at the same resources as quotaform's rules.
FIVE_CHECKS = "CKV_AWS_79,CKV_AWS_126,CKV_AWS_135,CKV_AWS_8,CKV_AWS_16"


@dataclass
class Measurement:
    """Wall time, CPU time and peak RSS of one command, with the load average around it."""

    name: str
    changes: int
    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    returncode: int
    load: float


def run_measured(command: list[str], *, env: dict[str, str] | None = None,
                 timeout: float = 1800.0) -> tuple[float, float, float, int]:
    """Run ``command`` with output discarded.

    Returns the wall and CPU seconds, the peak RSS in MB and the exit code.

    Exit codes 0 and 1 both count as a run: quotaform and checkov exit 1 when
    the plan has findings.
    """
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                                   cwd=ROOT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                raise TimeoutError(f"{command[0]} ran longer than {timeout:.0f} s")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):
            stderr.seek(0)
            message = stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: {message}")
    # Linux reports ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss / 1024, process.returncode


def commands(plan: Path, data: Path, reports: Path, checkov: Path | None
             ) -> dict[str, list[str]]:
    python = sys.executable
    quotaform = str(Path(python).parent / "quotaform")
    found = {
        "orjson": [python, "-c", "import orjson, sys; orjson.loads(open(sys.argv[1], 'rb')"
                   ".read())", str(plan)],
        "orjson-nogc": [python, "-c", "import gc, orjson, sys; gc.disable(); "
                        "orjson.loads(open(sys.argv[1], 'rb').read())", str(plan)],
        "quotaform": [quotaform, "check", str(plan), "--data", str(data)],
        "quotaform-reports": [quotaform, "check", str(plan), "--data", str(data),
                              "--output", f"markdown:{reports / 'comment.md'}",
                              "--output", f"sarif:{reports / 'results.sarif'}",
                              "--output", f"junit:{reports / 'results.xml'}"],
        # Three conftest-style rules over the raw plan, loaded with --policy-dir.
        "quotaform-user-policies": [quotaform, "check", str(plan), "--data", str(data),
                                    "--policy-dir", str(BENCH / "policies")],
    }
    if checkov is not None:
        base = [str(checkov), "-f", str(plan), "--framework", "terraform_plan", "--compact",
                "--skip-download"]
        found["checkov"] = base
        found["checkov-5"] = [*base, "--check", FIVE_CHECKS]
    return found


def machine() -> dict[str, object]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split()[1])
        memory = f"{total_kib / 1024 / 1024:.1f} GiB"
    return {"cpu": model, "cores": os.cpu_count(), "memory": memory,
            "python": platform.python_version(), "system": platform.platform()}


def tool_versions(checkov: Path | None) -> dict[str, str]:
    from importlib import metadata

    versions = {name: metadata.version(name)
                for name in ("quotaform", "orjson", "gordon-to-regorus", "pydantic")}
    if checkov is not None:
        result = subprocess.run([str(checkov), "--version"], capture_output=True, text=True,
                                check=False)
        versions["checkov"] = result.stdout.strip() or result.stderr.strip()
    return versions


def measure(name: str, changes: int, command: list[str], repeat: int,
            env: dict[str, str]) -> Measurement:
    """Run a command ``repeat`` times and keep the medians of each figure."""
    load_before = os.getloadavg()[0]
    runs = [run_measured(command, env=env) for _ in range(repeat)]
    load = (load_before + os.getloadavg()[0]) / 2
    result = Measurement(
        name, changes,
        seconds=round(statistics.median(run[0] for run in runs), 3),
        cpu_seconds=round(statistics.median(run[1] for run in runs), 3),
        max_rss_mb=round(statistics.median(run[2] for run in runs), 1),
        returncode=runs[-1][3], load=round(load, 2))
    print(f"  {name:18} {result.seconds:8.2f} s wall {result.cpu_seconds:8.2f} s CPU "
          f"{result.max_rss_mb:8.0f} MB (median of {repeat}, load {result.load:.2f})",
          flush=True)
    return result


def phase_times(plan: Path, data: Path) -> dict[str, float]:
    """Time each step of a check in this process, in CPU seconds, as the CLI runs them."""
    clock = time.process_time
    started = clock()
    # The console script's imports, and the check command's, which it loads on use.
    import quotaform.cli  # noqa: F401
    import quotaform.commands.check  # noqa: F401
    from quotaform.runtime import paused_collection

    phases = {"import quotaform.cli and the check command": clock() - started}
    # The check command runs with the cyclic garbage collector paused, and so do the steps.
    with paused_collection():
        _time_steps(phases, plan, data)
    return {name: round(seconds, 3) for name, seconds in phases.items()}


def _time_steps(phases: dict[str, float], plan: Path, data: Path) -> None:
    from cdk.model import load_config
    from policies import load_plan, normalize_plan
    from policies.engine import default_engine
    from policies.gate import add_check_facts, evaluate_input
    from policies.report import render_text
    from provider_bridge.catalog import load_catalog

    clock = time.process_time
    started = clock()
    catalog = load_catalog()
    config = load_config(data, catalog)
    phases["load catalog and data"] = clock() - started
    started = clock()
    document = load_plan(plan)
    phases["policies.plan.load_plan"] = clock() - started
    started = clock()
    policy_input = normalize_plan(document, config, catalog, source=str(plan))
    add_check_facts(policy_input, config, catalog, None)
    phases["policies.normalize.normalize_plan + add_check_facts"] = clock() - started
    engine = default_engine()
    started = clock()
    decision = evaluate_input(policy_input, config, engine, options=None, plan=document)
    phases["policies.gate.evaluate_input"] = clock() - started
    started = clock()
    with open(os.devnull, "w") as sink:
        render_text(decision, sink, source=plan.name, color=False)
    phases["policies.report.render_text"] = clock() - started
    started = clock()
    del document, policy_input
    # The console script skips this step, because it exits without freeing the plan.
    phases["free the parsed plan"] = clock() - started


def ensure_plan(changes: int, plans: Path) -> tuple[Path, Path]:
    """Return the plan and data paths of a size, generating them when missing."""
    plan = plans / f"plan-{changes}.json"
    data = plans / f"quotaform-{changes}.json"
    if not plan.exists() or not data.exists():
        # Imported here: the generator loads the catalog, which would skew --phases.
        from generate_plans import write_plan

        write_plan(changes, plans, 20261201)
    return plan, data


def markdown_table(results: list[Measurement]) -> str:
    lines = ["| plan | command | wall time | CPU time | peak RSS | wall vs quotaform "
             "| CPU vs quotaform | load |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for item in results:
        own = next((r for r in results if r.changes == item.changes and r.name == "quotaform"),
                   None)
        wall = f"{item.seconds / own.seconds:.2f}x" if own else "-"
        cpu = f"{item.cpu_seconds / own.cpu_seconds:.2f}x" if own else "-"
        lines.append(f"| {item.changes:,} | {item.name} | {item.seconds:.2f} s "
                     f"| {item.cpu_seconds:.2f} s | {item.max_rss_mb:.0f} MB | {wall} | {cpu} "
                     f"| {item.load:.1f} |")
    return "\n".join(lines)


def ratio_lines(results: list[Measurement]) -> list[str]:
    """Compare quotaform with the orjson parse and with checkov, per plan size."""
    lines = []
    for changes in sorted({item.changes for item in results}):
        found = {item.name: item for item in results if item.changes == changes}
        own = found.get("quotaform")
        if own is None:
            continue
        for name in ("orjson", "orjson-nogc"):
            if name in found:
                lines.append(
                    f"{changes:,} changes: quotaform / {name} = "
                    f"{own.cpu_seconds / found[name].cpu_seconds:.2f}x CPU, "
                    f"{own.seconds / found[name].seconds:.2f}x wall")
        for name in ("checkov", "checkov-5"):
            if name in found:
                lines.append(
                    f"{changes:,} changes: {name} / quotaform = "
                    f"{found[name].cpu_seconds / own.cpu_seconds:.1f}x CPU, "
                    f"{found[name].seconds / own.seconds:.1f}x wall")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, action="append",
                        help="Plan sizes in resource changes (default: 1000 and 10000).")
    parser.add_argument("--plans", type=Path, default=BENCH / "plans",
                        help="Folder of generated plans (default: bench/plans).")
    parser.add_argument("--repeat", type=int, default=5,
                        help="Runs per quotaform and orjson measurement (default: 5).")
    parser.add_argument("--checkov-repeat", type=int, default=1,
                        help="Runs per checkov measurement (default: 1).")
    parser.add_argument("--checkov-venv", type=Path, default=BENCH / ".venv-checkov",
                        help="Virtual environment holding checkov (default: bench/.venv-checkov).")
    parser.add_argument("--skip-checkov", action="store_true", help="Leave out checkov.")
    parser.add_argument("--results", type=Path, default=None,
                        help="Write the measurements as JSON to this file.")
    parser.add_argument("--phases", action="store_true",
                        help="Only time the steps of one check per plan, in a fresh process.")
    parser.add_argument("--phases-of", nargs=2, type=Path, metavar=("PLAN", "DATA"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phases_of is not None:
        print(json.dumps(phase_times(*args.phases_of)))
        return 0
    if args.phases:
        return print_phases(args.changes or [1000, 10000], args.plans)

    checkov = None if args.skip_checkov else args.checkov_venv / "bin" / "checkov"
    if checkov is not None and not checkov.exists():
        print(f"error: {checkov} not found; create it with 'python3 -m venv {args.checkov_venv} "
              f"&& {args.checkov_venv}/bin/pip install checkov', or pass --skip-checkov",
              file=sys.stderr)
        return 2

    # Keeps checkov from fetching guideline mappings from its platform.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    results: list[Measurement] = []
    info = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "versions": tool_versions(checkov)}
    print(json.dumps(info, indent=2), flush=True)
    with tempfile.TemporaryDirectory() as reports:
        for changes in args.changes or [1000, 10000]:
            plan, data = ensure_plan(changes, args.plans)
            print(f"{plan}: {plan.stat().st_size / 1e6:.1f} MB", flush=True)
            for name, command in commands(plan, data, Path(reports), checkov).items():
                repeat = args.checkov_repeat if name.startswith("checkov") else args.repeat
                results.append(measure(name, changes, command, repeat, env))

    print()
    print(markdown_table(results))
    print()
    print("\n".join(ratio_lines(results)))
    if args.results is not None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(
            {**info, "results": [asdict(item) for item in results]}, indent=2) + "\n")
    return 0


def print_phases(sizes: list[int], plans: Path) -> int:
    """Print the CPU seconds of each step of a check, one fresh process per plan."""
    for changes in sizes:
        plan, data = ensure_plan(changes, plans)
        result = subprocess.run([sys.executable, __file__, "--phases-of", str(plan), str(data)],
                                capture_output=True, text=True, check=True, cwd=ROOT)
        phases = json.loads(result.stdout)
        print(f"\n{plan} ({plan.stat().st_size / 1e6:.1f} MB), load {os.getloadavg()[0]:.1f}\n")
        print("| step | CPU time |\n| --- | ---: |")
        for name, seconds in phases.items():
            print(f"| `{name}` | {seconds:.2f} s |")
        print(f"| total | {sum(phases.values()):.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
