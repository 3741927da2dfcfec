"""How often `--runtime auto`'s measurement picks each candidate when asked again and again under the
current load: the decision before session 24 (one measurement, one 2 s extra on a close call, rounds
rotated cyclically) against zoo.bench.contest.race, alternating, on the same built runtimes.

    .venv/bin/python benchmarks/auto_flips.py                                  # MobileNetV2 b1 fp32
    .venv/bin/python benchmarks/auto_flips.py --precision int8 --repeats 8 --batch 32 --model ResNet50

Prints each decision's winner and seconds, then per method how often each candidate won and the mean
time a decision took, with the load average before and after. A steadier method wins with one
candidate more often; when two candidates are truly equal, either is right and flips are harmless.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from zoo.bench.timing import Timing, paired_rates

Call = Callable[[np.ndarray], object]


def before(calls: dict[str, Call], batch: np.ndarray) -> str:
    """auto's measure as of dced051: 5+ rounds for 2 s, cyclic rotation, one 2 s extra on a close call
    (leader < 5% ahead), the fastest by paired_rates."""
    timings = _cyclic(calls, batch, warmup=1, min_time_s=2.0)
    rates = paired_rates(timings)
    first, second = sorted(rates.values(), reverse=True)[:2]
    if first < second * 1.05:
        more = _cyclic(calls, batch, warmup=0, min_time_s=2.0)
        rates = paired_rates({n: timings[n].joined(more[n]) for n in timings})
    return max(rates, key=rates.__getitem__)


def _cyclic(calls: dict[str, Call], batch: np.ndarray, warmup: int, min_time_s: float) -> dict[str, Timing]:
    for call in calls.values():
        for _ in range(warmup):
            np.asarray(call(batch))
    names, seen, rounds, start = list(calls), {n: [] for n in calls}, 0, time.perf_counter()
    while rounds < 5 or time.perf_counter() - start < min_time_s:
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            np.asarray(calls[name](batch))
            seen[name].append(time.perf_counter() - t0)
        rounds += 1
    total = time.perf_counter() - start
    return {n: Timing(len(batch), tuple(v), total) for n, v in seen.items()}


def after(calls: dict[str, Call], batch: np.ndarray) -> str:
    from zoo.bench.contest import race

    return race(calls, batch)[1]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="MobileNetV2", help="a keras.applications name")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--precision", nargs="+", default=["fp32"], help="auto's candidates' precisions")
    parser.add_argument("--repeats", type=int, default=10, help="decisions per method")
    args = parser.parse_args()
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-auto-flips-")
    import keras

    from zoo.bench.auto import build_candidate, candidates
    from zoo.engine.installed import runtime_pairs

    model = getattr(keras.applications, args.model)(weights=None)
    rng = np.random.default_rng(0)
    calibration = rng.uniform(0, 255, (16, 224, 224, 3)).astype(np.float32)
    calls: dict[str, Call] = {}
    for candidate in candidates(runtime_pairs(precisions=args.precision)):
        try:
            calls[candidate.name] = build_candidate(
                model, candidate, calibration, f"flips-{model.name}"
            ).predict
        except Exception as exc:  # a path this machine cannot build: say so, go on
            print(f"  {candidate.name}: not built ({type(exc).__name__})")
    batch = rng.uniform(0, 255, (args.batch, 224, 224, 3)).astype(np.float32)
    print(f"{args.model} batch {args.batch}, candidates: {', '.join(calls)}; load {load()}")
    methods = {"before": before, "after": after}
    wins: dict[str, Counter[str]] = {m: Counter() for m in methods}
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    for repeat in range(args.repeats):
        for method, decide in methods.items() if repeat % 2 == 0 else reversed(methods.items()):
            started = time.perf_counter()
            winner = decide(calls, batch)
            seconds[method].append(time.perf_counter() - started)
            wins[method][winner] += 1
            print(f"  {repeat:>2} {method:<6} {winner:<32} {seconds[method][-1]:5.1f} s  load {load()}")
    print(f"\nload at the end {load()}; {os.cpu_count()} CPUs")
    for method in methods:
        counted = ", ".join(f"{name} {count}" for name, count in wins[method].most_common())
        print(f"{method:<6} mean {np.mean(seconds[method]):4.1f} s/decision; wins: {counted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
