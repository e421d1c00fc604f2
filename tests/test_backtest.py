"""Backtest: recommend from the first days of each recorded series, replay the rest.

Prices (us-east-1, USD an hour): m5.large 0.096, m5.xlarge 0.192, m5.2xlarge
0.384, t3a.nano 0.0047; 730 hours a month. Each recorded series has 4,032
points of 5 minutes (14 days): 2,880 train the recommender, 1,152 test it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cdk.model import Optimization
from provider_bridge.backtest import BacktestResult, run_backtest, split_series
from provider_bridge.catalog import Catalog

ROOT = Path(__file__).resolve().parent.parent
SERIES = ROOT / "examples" / "data" / "cloudwatch"


def _cpu_only(**fields: object) -> Optimization:
    # The series carry no memory metric and these tests replay CPU fit, so they size on CPU
    # alone, the backtest command's default.
    return Optimization(unmeasured_memory="cpu-only", **fields)  # type: ignore[arg-type]


def _values(name: str) -> np.ndarray:
    with (SERIES / f"ec2_cpu_utilization_{name}.csv").open() as handle:
        return np.array([float(row["value"]) for row in csv.DictReader(handle)])


def _write_series(folder: Path, name: str, values: list[float]) -> None:
    start = dt.datetime(2024, 1, 1)
    lines = ["timestamp,value"] + [
        f"{(start + dt.timedelta(minutes=5 * i)).isoformat(sep=' ')},{v}"
        for i, v in enumerate(values)
    ]
    (folder / f"ec2_cpu_utilization_{name}.csv").write_text("\n".join(lines) + "\n")


def test_split_takes_ten_and_four_days() -> None:
    split = split_series(SERIES / "ec2_cpu_utilization_24ae8d.csv", 10, 4)

    assert split.name == "24ae8d"
    assert split.train.values.size == 2880
    assert split.test.values.size == 1152
    assert split.test.values[0] == _values("24ae8d")[2880]


def test_recorded_series_never_exceed_100(catalog: Catalog) -> None:
    result = run_backtest(SERIES, catalog, optimization=_cpu_only())
    rows = {row.series: row for row in result.rows}

    assert [row.over_100_percent for row in result.rows] == [0.0] * 5
    assert result.series_over_100 == 0
    assert rows["24ae8d"].recommended_type == "m5.large"
    assert rows["24ae8d"].test_max == pytest.approx(_values("24ae8d")[2880:].max() * 2)
    assert rows["5f5533"].action == "keep"
    assert rows["825cc2"].recommended_type == "m5.2xlarge"
    assert rows["825cc2"].test_max == pytest.approx(_values("825cc2")[2880:].max() / 2)
    # Two downsizes save 2 x 70.08, two upsizes cost 2 x 140.16.
    assert result.downsize_savings == pytest.approx(140.16)
    assert result.upsize_cost == pytest.approx(280.32)
    assert result.monthly_savings == pytest.approx(-140.16)


def test_points_over_100_are_counted(catalog: Catalog, tmp_path: Path) -> None:
    # 10 % on 4 vCPU for ten days downsizes to 2 vCPU, where 60 % becomes 120 %.
    _write_series(tmp_path, "jump", [10.0] * 2880 + [60.0] * 1152)

    result = run_backtest(tmp_path, catalog, optimization=_cpu_only())

    row = result.rows[0]
    assert row.recommended_type == "m5.large"
    assert row.over_100_percent == pytest.approx(100.0)
    assert row.over_target_percent == pytest.approx(100.0)
    assert row.test_max == pytest.approx(120.0)
    assert result.series_over_100 == 1


def test_burstable_replay_carries_credit_balance(catalog: Catalog, tmp_path: Path) -> None:
    # Training: 2 % of 4 vCPU is 4 % of t3a.nano's 2, which nets +0.1 credit a period and
    # fills the 144-credit balance. Testing: 60 % nets -5.5 a period, so 26 periods pass
    # and the other 1,126 of 1,152 run short.
    _write_series(tmp_path, "step", [2.0] * 2880 + [30.0] * 1152)

    result = run_backtest(tmp_path, catalog,
                          optimization=_cpu_only(allowed_families=["m5", "t3a"]))

    row = result.rows[0]
    assert row.recommended_type == "t3a.nano"
    assert row.over_100_percent == 0.0
    assert row.credit_short_percent == pytest.approx(100 * 1126 / 1152)
    assert row.monthly_savings == pytest.approx((0.192 - 0.0047) * 730, abs=0.005)


def test_start_types_per_series(catalog: Catalog) -> None:
    result = run_backtest(SERIES, catalog, start_types={"24ae8d": "m5.2xlarge"},
                          optimization=_cpu_only())

    row = next(r for r in result.rows if r.series == "24ae8d")
    assert row.start_type == "m5.2xlarge"
    assert row.monthly_savings == pytest.approx((0.384 - 0.096) * 730)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from quotaform.cli import main; main()", "backtest", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_cli_prints_table_and_savings() -> None:
    result = _cli("--data-dir", str(SERIES), "--format", "markdown")

    assert result.returncode == 0, result.stderr
    assert "| 24ae8d | m5.xlarge | m5.large | downsize |" in result.stdout
    assert ("Savings: -$140.16 a month ($140.16 saved by cheaper types, $280.32 added by "
            "larger ones) on 5 series; 0 had a test point above 100 %.") in result.stdout
    assert "sized on CPU alone (--unmeasured-memory cpu-only)" in result.stdout


def test_cli_keep_current_memory_keeps_downsizes() -> None:
    # m5.xlarge has 16 GiB; the only cheaper m5, m5.large ($0.096), has 8 GiB, so the idle
    # 24ae8d and the low 53ea38 keep m5.xlarge. The upsizes to m5.2xlarge (32 GiB) stay:
    # 2 x (0.384 - 0.192) x 730 = 280.32 added, nothing saved. Kept rows replay their own
    # recorded CPU, which never exceeds 100 %.
    result = _cli("--data-dir", str(SERIES), "--unmeasured-memory", "keep-current",
                  "--format", "markdown")

    assert result.returncode == 0, result.stderr
    assert "| 24ae8d | m5.xlarge | m5.xlarge | keep |" in result.stdout
    assert "| 53ea38 | m5.xlarge | m5.xlarge | keep |" in result.stdout
    assert "| 825cc2 | m5.xlarge | m5.2xlarge | upsize |" in result.stdout
    assert ("Savings: -$280.32 a month ($0.00 saved by cheaper types, $280.32 added by "
            "larger ones) on 5 series; 0 had a test point above 100 %.") in result.stdout
    assert "no type with less memory than the starting one was considered" in result.stdout


def test_cli_json_has_rows() -> None:
    result = _cli("--format", "json", "--allowed-families", "m5,t3a")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert len(document["rows"]) == 5
    assert document["series_over_100"] == 0
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(document, BacktestResult.model_json_schema())


@pytest.mark.parametrize(("args", "message"), [
    (("--assign", "zz=m5.large"), "--assign names series zz, which"),
    (("--assign", "24ae8d"), "--assign '24ae8d' is invalid; write SERIES=TYPE"),
    (("--train-days", "13"), "covers 14.0 days, fewer than 13 + 4"),
    (("--instance-type", "m5.huge"), "instance type m5.huge: not in the instance catalog"),
    (("--data-dir", "/nonexistent"), "/nonexistent: folder not found"),
    (("--format", "xml"), "--format 'xml' is invalid; use one of: table, json, markdown"),
    (("--unmeasured-memory", "none"),
     "--unmeasured-memory 'none' is invalid; use one of: cpu-only, keep-current"),
])
def test_cli_rejects_bad_input(args: tuple[str, ...], message: str) -> None:
    result = _cli(*args)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
