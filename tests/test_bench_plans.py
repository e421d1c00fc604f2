"""The benchmark's plan generator writes plans that quotaform reads like real ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from cdk.model import load_config
from policies import check_plan, load_plan
from provider_bridge import Catalog

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from generate_plans import write_plan  # noqa: E402

QUOTAFORM = Path(sys.executable).parent / "quotaform"


def test_generated_plan_has_requested_changes(tmp_path: Path) -> None:
    plan_path, _ = write_plan(60, tmp_path, 3)
    plan = load_plan(plan_path)
    addresses = [change["address"] for change in plan["resource_changes"]]
    assert len(addresses) == 60
    assert len(set(addresses)) == 60
    assert addresses[0] == 'module.team_01.module.service["orders-0"].aws_launch_template.app'
    assert plan["format_version"] == "1.2"
    assert plan["prior_state"]["values"]["root_module"]["child_modules"]
    assert plan["configuration"]["root_module"]["module_calls"]["team_01"]["module"][
        "module_calls"]["service"]["for_each_expression"] == {"references": ["local.services"]}


def test_generated_plan_same_for_same_seed(tmp_path: Path) -> None:
    first, _ = write_plan(30, tmp_path / "a", 11)
    second, _ = write_plan(30, tmp_path / "b", 11)
    other, _ = write_plan(30, tmp_path / "c", 12)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_generated_plan_is_checked(tmp_path: Path, catalog: Catalog) -> None:
    plan_path, data_path = write_plan(200, tmp_path, 5)
    decision = check_plan(load_plan(plan_path), load_config(data_path, catalog), catalog)
    counted = [row for row in decision.quotas if row.scope == "pool" and row.after > 0]
    assert counted
    assert not any("not known at plan time" in item.message for item in decision.violations)


def test_generated_plan_through_cli(tmp_path: Path) -> None:
    plan_path, data_path = write_plan(100, tmp_path, 8)
    result = subprocess.run([str(QUOTAFORM), "check", str(plan_path), "--data", str(data_path),
                             "--format", "json"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode in (0, 1), result.stderr
    assert orjson.loads(result.stdout)["quotas"]
