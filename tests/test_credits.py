"""CPU credit simulation against the AWS credit table and balances computed by hand.

Figures from the AWS credit table (burstable-credits-baseline-concepts):
t3.nano earns 6 credits an hour (2 vCPU, 5 % a vCPU), t3.large 36 (2 vCPU,
30 %), t3a.xlarge and t4g.xlarge 96 (4 vCPU, 40 %), t3.2xlarge 192 (8 vCPU,
40 %). The balance caps at 24 hours of earnings. One 5-minute period at
100 % on 2 vCPU spends 10 credits.
"""

from __future__ import annotations

import numpy as np
import pytest

from provider_bridge.catalog import Catalog
from provider_bridge.credits import credits_per_hour, simulate_credits


@pytest.mark.parametrize(("name", "earned"), [
    ("t3.nano", 6), ("t3.large", 36), ("t3a.xlarge", 96), ("t4g.xlarge", 96), ("t3.2xlarge", 192),
])
def test_earn_rate_matches_aws_table(catalog: Catalog, name: str, earned: float) -> None:
    assert credits_per_hour(catalog.types[name]) == pytest.approx(earned)


def test_baseline_load_keeps_empty_balance(catalog: Catalog) -> None:
    check = simulate_credits(np.full(288, 30.0), catalog.types["t3.large"])

    assert check.lasts
    assert check.min_balance == pytest.approx(0.0, abs=1e-9)
    assert check.end_balance == pytest.approx(0.0, abs=1e-9)


def test_load_above_baseline_from_empty_runs_out(catalog: Catalog) -> None:
    check = simulate_credits(np.full(12, 31.0), catalog.types["t3.large"])

    assert not check.lasts
    assert check.short_points == 12
    # Each period earns 3 credits and spends 2 x 0.31 x 5 = 3.1.
    assert check.min_balance == pytest.approx(-0.1)


def test_balance_caps_at_one_day_of_credits(catalog: Catalog) -> None:
    check = simulate_credits(np.zeros(360), catalog.types["t3.nano"])

    assert check.max_balance == pytest.approx(144.0)
    assert check.end_balance == pytest.approx(144.0)


@pytest.mark.parametrize(("burst", "short"), [(15, 0), (16, 1)])
def test_full_balance_covers_fifteen_busy_periods(catalog: Catalog, burst: int,
                                                  short: int) -> None:
    # 288 idle periods earn 144 credits; each busy period nets 0.5 - 10 = -9.5.
    series = np.concatenate([np.zeros(288), np.full(burst, 100.0)])

    check = simulate_credits(series, catalog.types["t3.nano"])

    assert check.short_points == short
    assert check.lasts is (short == 0)


def test_missing_periods_neither_earn_nor_spend(catalog: Catalog) -> None:
    series = np.array([0.0, np.nan, np.nan, 0.0])

    check = simulate_credits(series, catalog.types["t3.nano"])

    assert check.end_balance == pytest.approx(1.0)
    assert check.points == 2


def test_each_row_has_its_own_balance(catalog: Catalog) -> None:
    rows = np.array([[0.0] * 10 + [100.0], [100.0] * 11])

    check = simulate_credits(rows, catalog.types["t3.nano"])

    # Row one has 5 credits when it bursts and ends short; row two is short every period.
    assert check.short_points == 12


def test_type_without_baseline_is_rejected(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="m5.large has no CPU credit baseline"):
        simulate_credits(np.zeros(3), catalog.types["m5.large"])
