"""CPU credit simulation for burstable types (t3, t3a, t4g): do the credits last?

The figures follow the AWS page "Key concepts and definitions for burstable
performance instances"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/burstable-credits-baseline-concepts.html):

- one CPU credit is one vCPU at 100 % for one minute;
- credits earned per hour = baseline utilization per vCPU x vCPUs x 60;
- credits spent per minute = vCPUs x CPU utilization;
- the balance is capped at the credits earned in 24 hours, and credits
  earned above the cap are discarded;
- T3, T3a and T4g earn no launch credits.

A pool that moves to a burstable type comes from a type that earns no
credits, and T3, T3a and T4g get no launch credits, so the simulation starts
from an empty balance. The credits last when the balance never has to go
below zero, which means a Standard-mode instance is never throttled to its
baseline and an Unlimited-mode instance never spends surplus credits, which
are billed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from provider_bridge.catalog import InstanceType

MINUTES_PER_HOUR = 60.0
ACCRUAL_HOURS = 24.0


@dataclass(frozen=True, slots=True)
class CreditCheck:
    """The outcome of replaying utilization on one burstable type.

    ``short_points`` counts the periods, summed over the series, in which the
    demand above the baseline exceeded the balance. ``min_balance`` is the
    lowest balance reached, in CPU credits.
    """

    instance_type: str
    baseline_percent: float
    credits_per_hour: float
    max_balance: float
    min_balance: float
    end_balance: float
    short_points: int
    points: int

    @property
    def lasts(self) -> bool:
        """Whether the balance covered every period of every series."""
        return self.short_points == 0


def credits_per_hour(instance_type: InstanceType) -> float:
    """Return the CPU credits the type earns an hour, or raise for a type without a baseline."""
    baseline = instance_type.baseline_cpu_pct_per_vcpu
    if baseline is None:
        raise ValueError(f"{instance_type.name} has no CPU credit baseline in the catalog")
    return baseline / 100.0 * instance_type.vcpu * MINUTES_PER_HOUR


def simulate_credits(
    utilization: np.ndarray,
    instance_type: InstanceType,
    *,
    period_seconds: int = 300,
    start_balance: float = 0.0,
) -> CreditCheck:
    """Replay CPU utilization (percent of ``instance_type``) and track the credit balance.

    ``utilization`` is one series or a matrix with one series per row, each
    row an instance with its own balance; NaN marks a missing period, which
    neither earns nor spends. The loop runs over time and is vectorised over
    the rows, because the cap makes each balance depend on the one before.
    """
    earned_per_hour = credits_per_hour(instance_type)
    cap = earned_per_hour * ACCRUAL_HOURS
    rows = np.atleast_2d(np.asarray(utilization, dtype=float))
    minutes = period_seconds / 60.0
    earned = earned_per_hour * minutes / MINUTES_PER_HOUR
    spent = instance_type.vcpu * np.clip(rows, 0.0, 100.0) / 100.0 * minutes

    balance = np.full(rows.shape[0], min(start_balance, cap))
    points = int(np.count_nonzero(~np.isnan(rows)))
    baseline = instance_type.baseline_cpu_pct_per_vcpu or 0.0
    if not points or np.nanmax(rows) <= baseline:
        # Never above the baseline: the balance only grows, up to the cap.
        gained = np.nansum(earned - spent, axis=1) if points else np.zeros(rows.shape[0])
        end = np.minimum(balance + gained, cap)
        return CreditCheck(instance_type.name, float(baseline), earned_per_hour, cap,
                           float(balance.min()), float(end.min()), 0, points)
    lowest = balance.copy()
    short = 0
    for column in range(rows.shape[1]):
        step = spent[:, column]
        present = ~np.isnan(step)
        updated = np.minimum(balance + earned - np.where(present, step, 0.0), cap)
        updated = np.where(present, updated, balance)
        short += int(np.count_nonzero(updated < 0.0))
        lowest = np.minimum(lowest, updated)
        balance = np.maximum(updated, 0.0)
    return CreditCheck(
        instance_type=instance_type.name,
        baseline_percent=float(instance_type.baseline_cpu_pct_per_vcpu or 0.0),
        credits_per_hour=earned_per_hour,
        max_balance=cap,
        min_balance=float(lowest.min()) if lowest.size else 0.0,
        end_balance=float(balance.min()) if balance.size else 0.0,
        short_points=short,
        points=points,
    )
