"""Time the utilization statistics of a fleet: p50, p95, p99, max, mean and burstiness.

The default is the fleet size the bridge is built for: 10,000 instances with
14 days of 5-minute CPU points (4,032 each). Of these, 5 % have holes or
start late, so both the whole-series path and the gap path of ``summarize``
run.
Series are synthetic (gamma-distributed load with a daily cycle); their
values do not change the work done. A sample of results is checked against
the ``statistics`` module before any time is reported.

    .venv/bin/python bench/analysis.py [--instances N] [--days D] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provider_bridge.analysis import summarize  # noqa: E402
from provider_bridge.metrics import Series  # noqa: E402

PERIOD = 300


def build_series(count: int, slots: int, gapped_share: float, seed: int) -> dict[str, Series]:
    """Return ``count`` series on the window [0, slots * PERIOD), some with holes or late starts."""
    rng = np.random.default_rng(seed)
    stamps = (np.arange(slots) * PERIOD).astype("datetime64[s]")
    daily = 1 + 0.5 * np.sin(np.arange(slots) * 2 * np.pi * PERIOD / 86400)
    series = {}
    gapped = set(rng.choice(count, size=int(count * gapped_share), replace=False).tolist())
    for index in range(count):
        scale = rng.uniform(1, 30)
        values = rng.gamma(2.0, scale / 2, size=slots) * daily
        if index in gapped:
            # Drop 1 % of the points at random and start up to 5 % late.
            keep = rng.random(slots) > 0.01
            keep[: rng.integers(0, slots // 20)] = False
            series[f"i-{index:05d}"] = Series(stamps[keep], values[keep])
        else:
            series[f"i-{index:05d}"] = Series(stamps, values)
    return series


def cpu_model() -> str:
    """Return the processor's model name from /proc/cpuinfo, or the machine type elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def check_sample(series: dict[str, Series], stats: dict, sample: int) -> None:
    """Compare a few results with the statistics module; stop on any difference."""
    for key in list(series)[:: max(1, len(series) // sample)]:
        values = series[key].values.tolist()
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        got = stats[key]
        if not got.sufficient:
            continue
        expected = (cuts[49], cuts[94], cuts[98], max(values),
                    statistics.pstdev(values) / statistics.fmean(values))
        actual = (got.p50, got.p95, got.p99, got.max, got.burstiness)
        if not np.allclose(actual, expected, rtol=1e-9, atol=1e-9):
            raise SystemExit(f"{key}: statistics differ: {actual} != {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gapped-share", type=float, default=0.05)
    args = parser.parse_args()

    slots = int(args.days * 86400) // PERIOD
    series = build_series(args.instances, slots, args.gapped_share, seed=1)
    timings = []
    cpu_timings = []
    stats: dict = {}
    for _ in range(args.repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = summarize(series, period_seconds=PERIOD, lookback_seconds=slots * PERIOD,
                          window_end=np.datetime64(slots * PERIOD, "s"))
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu_started)
    check_sample(series, stats, sample=50)
    sufficient = sum(1 for item in stats.values() if item.sufficient)

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"series: {args.instances} x {slots} points ({args.days:g} d at {PERIOD} s), "
          f"{args.gapped_share:.0%} with holes; {sufficient} sufficient")
    print(f"summarize: min {min(timings):.3f} s, median {statistics.median(timings):.3f} s, "
          f"max {max(timings):.3f} s over {args.repeat} runs (wall clock)")
    print(f"summarize CPU time: min {min(cpu_timings):.3f} s, "
          f"median {statistics.median(cpu_timings):.3f} s")


if __name__ == "__main__":
    main()
