"""Wall-clock timing of a predict function, with warm-up, where every timed call waits for its result.

Timing only the dispatch of work is a known trap (an asynchronous runtime returns before it computes):
each call here converts the output to a host NumPy array before the clock stops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.errors import InvalidSetting


@dataclass(frozen=True)
class Timing:
    """Latencies of `iters` timed calls on one batch.

    Throughput is batch / median latency: on a machine shared with other work, a few calls that were
    preempted would drag a mean-based figure down; the median is what the model itself sustains.
    """

    batch_size: int
    latencies_s: tuple[float, ...]
    total_s: float  # wall time of the whole timed loop (latencies plus loop overhead)

    @property
    def images_per_s(self) -> float:
        return self.batch_size / float(np.median(self.latencies_s))

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) * 1e3

    def joined(self, more: Timing) -> Timing:
        """These calls and `more`'s (same batch size) as one Timing."""
        return Timing(self.batch_size, self.latencies_s + more.latencies_s, self.total_s + more.total_s)

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p90_ms(self) -> float:
        return self.percentile_ms(90)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)


def on_host(output: Any) -> Any:
    """Force every array of a (possibly nested) output onto the host, so the work is really done."""
    if isinstance(output, dict):
        return {k: on_host(v) for k, v in output.items()}
    if isinstance(output, list | tuple):
        return [on_host(v) for v in output]
    return np.asarray(output)


def time_calls(
    predict: Callable[[np.ndarray], Any],
    batch: np.ndarray,
    *,
    warmup: int = 3,
    iters: int = 20,
    min_time_s: float = 0.0,
) -> Timing:
    """Call `predict(batch)` `warmup` times untimed, then at least `iters` times timed.

    `min_time_s` keeps timing past `iters` until that much wall time has passed (steadier numbers for
    very fast models).
    """
    return time_interleaved({"": predict}, batch, warmup=warmup, iters=iters, min_time_s=min_time_s)[""]


def time_interleaved(
    calls: Mapping[str, Callable[[np.ndarray], Any]],
    batch: np.ndarray,
    *,
    warmup: int = 3,
    iters: int = 20,
    min_time_s: float = 0.0,
    rotate: bool = False,
    blocks: Mapping[str, int] | None = None,
) -> dict[str, Timing]:
    """Time several ways of computing `batch` in rounds, one call of each per round, so that load from
    other processes hits them alike; each call warms up `warmup` times first.

    Each gets at least `iters` timed calls; `min_time_s` keeps the rounds going until that much wall
    time has passed. `total_s` of each Timing is the wall time of all the rounds. `rotate` orders the
    rounds as a balanced Latin square (`round_orders`): every call runs in every place of a round, and
    right after every other call, equally often (a runtime whose threads keep spinning after its call
    slows whatever runs next), and the rounds end on a whole turn of places.

    `blocks` (from `block_lengths`) runs a call that many times back to back in its turn, after one
    untimed call when that is more than one (it pays for what the call before left running, another
    runtime's spinning workers), and takes the median of the block as the round's latency: what a
    process that runs one of them again and again gets, still paired round by round.
    """
    if iters < 1:
        raise InvalidSetting(f"iters must be at least 1, got {iters}")
    for predict in calls.values():
        for _ in range(warmup):
            on_host(predict(batch))
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    clock = time.perf_counter
    start = clock()
    rounds = 0
    names = list(calls)
    orders = round_orders(names) if rotate else [names]
    while rounds < iters or clock() - start < min_time_s or rounds % len(names) and rotate:
        for name in orders[rounds % len(orders)]:
            latencies[name].append(_turn(calls[name], batch, blocks.get(name, 1) if blocks else 1))
        rounds += 1
    total = clock() - start
    size = int(batch.shape[0])
    return {name: Timing(size, tuple(values), total) for name, values in latencies.items()}


def _turn(predict: Callable[[np.ndarray], Any], batch: np.ndarray, block: int) -> float:
    """One call's latency, or with `block` > 1 the median of that many back-to-back calls after one
    untimed."""
    clock = time.perf_counter
    if block > 1:
        on_host(predict(batch))
    seen = []
    for _ in range(block):
        t0 = clock()
        on_host(predict(batch))
        seen.append(clock() - t0)
    return float(np.median(seen))


def block_lengths(
    calls: Mapping[str, Callable[[np.ndarray], Any]],
    batch: np.ndarray,
    *,
    warmup: int,
    block_s: float,
    most: int,
) -> dict[str, int]:
    """Warm each call up `warmup` (at least 1) times, and say how many back-to-back calls of it take
    `block_s` (from its last warm-up call), between 1 and `most`: time_interleaved's `blocks`."""
    if warmup < 1:
        raise InvalidSetting(f"block lengths need at least one warm-up call, got warmup={warmup}")
    lengths = {}
    for name, predict in calls.items():
        for _ in range(warmup):
            t0 = time.perf_counter()
            on_host(predict(batch))
            last = time.perf_counter() - t0
        lengths[name] = max(1, min(most, math.ceil(block_s / max(last, 1e-9))))
    return lengths


def round_orders(names: list[str]) -> list[list[str]]:
    """Orders of `names` for successive rounds, a balanced Latin square (Williams' design): each name is
    in each place once in the first len(names) rounds, and follows each other name equally often (once
    in those rounds for an even count, once in twice as many for an odd count, whose second half runs
    the first half's orders backwards)."""
    n = len(names)
    first = [0] + [(k + 1) // 2 if k % 2 else n - k // 2 for k in range(1, n)]
    rows = [[names[(i + shift) % n] for i in first] for shift in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


def paired_rates(timings: Mapping[str, Timing]) -> dict[str, float]:
    """Images/s of each of several interleaved Timings (same rounds), corrected for load that hit whole
    rounds: each call's rate is divided by the geometric mean rate of its round, the median of those
    relative rates is taken, and it is scaled back by the geometric mean of the median rates. The order
    it gives is that of the median per-round speed ratios, not of medians taken one path at a time."""
    names = list(timings)
    rounds = min(len(timings[name].latencies_s) for name in names)
    log_rates = np.log(
        [[timings[n].batch_size / timings[n].latencies_s[r] for n in names] for r in range(rounds)]
    )
    relative = np.median(log_rates - log_rates.mean(axis=1, keepdims=True), axis=0)
    scale = np.mean([np.log(timings[n].images_per_s) for n in names])
    return {name: float(np.exp(scale + value)) for name, value in zip(names, relative, strict=True)}
