"""Timing waits for results on the host and its figures are consistent with each other."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

from zoo.bench.timing import on_host, time_calls


class LazyResult:
    """An output whose work happens only when it is read, like an asynchronous runtime's tensor."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        time.sleep(self.seconds)
        return np.zeros(3)


def test_timing_includes_the_work_behind_a_lazy_result() -> None:
    timing = time_calls(lambda batch: LazyResult(0.02), np.zeros((4, 2)), warmup=1, iters=5)
    assert min(timing.latencies_s) >= 0.02  # dispatch alone would be microseconds
    assert timing.p50_ms >= 20


def test_throughput_is_robust_to_a_preempted_call() -> None:
    delays = iter([0.01] * 9 + [0.2])  # one call interrupted by other work on the machine
    timing = time_calls(
        lambda batch: (time.sleep(next(delays)), batch)[1], np.zeros((8, 2)), warmup=0, iters=10
    )
    assert timing.batch_size == 8 and len(timing.latencies_s) == 10
    assert timing.images_per_s == pytest.approx(8 / 0.01, rel=0.3)  # a mean would give about 280
    assert timing.p50_ms <= timing.p90_ms <= timing.p99_ms and timing.p99_ms >= 150
    assert timing.total_s >= sum(timing.latencies_s)


def test_warmup_calls_are_not_timed() -> None:
    calls = []
    time_calls(lambda batch: calls.append(1) or batch, np.zeros((1,)), warmup=3, iters=4)
    assert len(calls) == 7


def test_on_host_converts_nested_outputs() -> None:
    out = on_host({"a": [LazyResult(0), LazyResult(0)]})
    assert isinstance(out["a"][0], np.ndarray)


def test_iters_must_be_positive() -> None:
    with pytest.raises(ValueError):
        time_calls(lambda b: b, np.zeros(1), iters=0)


def test_interleaved_timing_takes_one_call_of_each_per_round() -> None:
    from zoo.bench.timing import time_interleaved

    order: list[str] = []
    calls = {name: (lambda batch, name=name: order.append(name) or batch) for name in ("a", "b", "c")}
    timings = time_interleaved(calls, np.zeros((2, 1)), warmup=1, iters=3)
    assert order == ["a", "b", "c"] + ["a", "b", "c"] * 3  # warm-up of each, then rounds
    assert {name: len(t.latencies_s) for name, t in timings.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(t.batch_size == 2 for t in timings.values())


def test_rotated_rounds_put_each_call_in_each_place_and_after_each_other_call_alike() -> None:
    from zoo.bench.timing import round_orders, time_interleaved

    order: list[str] = []
    calls = {name: (lambda batch, name=name: order.append(name) or batch) for name in ("a", "b", "c")}
    time_interleaved(calls, np.zeros((1, 1)), warmup=0, iters=4, rotate=True)
    # 4 rounds asked for, 6 run: whole turns of 3 places; then the same orders backwards
    assert "".join(order) == "abc" + "bca" + "cab" + "cba" + "acb" + "bac"
    for count in (2, 4, 5, 6):
        names = [str(i) for i in range(count)]
        rows = round_orders(names)
        assert len(rows) == (count if count % 2 == 0 else 2 * count)
        places = {(row.index(name), name) for row in rows[:count] for name in row}
        assert len(places) == count * count  # each name in each place once in the first turn
        follows = Counter((row[i], row[i + 1]) for row in rows for i in range(count - 1))
        assert len(follows) == count * (count - 1) and len(set(follows.values())) == 1


def test_paired_rates_follow_the_per_round_ratio_not_each_paths_own_median() -> None:
    from zoo.bench.timing import Timing, paired_rates

    # load hit rounds 3-4 for both; b's call in round 2 alone was preempted: b was 10% faster in 4 of 5
    # rounds, yet its median call (27 ms) is slower than a's (10 ms)
    timings = {
        "a": Timing(1, (0.010, 0.010, 0.010, 0.030, 0.030), 1.0),
        "b": Timing(1, (0.009, 0.009, 0.040, 0.027, 0.027), 1.0),
    }
    assert timings["a"].images_per_s > timings["b"].images_per_s
    rates = paired_rates(timings)
    assert rates["b"] / rates["a"] == pytest.approx(10 / 9)


def test_blocks_time_back_to_back_calls_after_an_untimed_one_and_keep_rounds_paired() -> None:
    from zoo.bench.timing import time_interleaved

    # a call is 30 ms slower right after the other one (what another runtime's spinning workers cost it)
    order: list[str] = []

    def call(name: str, ms: float):
        def predict(batch: np.ndarray) -> np.ndarray:
            after_other = bool(order) and order[-1] != name
            order.append(name)
            time.sleep((ms + (30 if after_other else 0)) / 1e3)
            return batch

        return predict

    calls = {"a": call("a", 5), "b": call("b", 5)}
    by_call = time_interleaved(calls, np.zeros((1, 1)), warmup=0, iters=4)
    assert all(t.p50_ms >= 35 for t in by_call.values())  # every call ran after the other one

    order.clear()
    in_blocks = time_interleaved(calls, np.zeros((1, 1)), warmup=0, iters=4, blocks={"a": 2})
    assert "".join(order) == "aaab" * 4  # a: one untimed call and 2 timed ones in each turn
    assert {name: len(t.latencies_s) for name, t in in_blocks.items()} == {"a": 4, "b": 4}
    # a's blocks saw no penalty; b, a call at a time, did
    assert in_blocks["a"].p90_ms < 15 and in_blocks["b"].p50_ms >= 35


def test_block_lengths_cover_the_block_time_between_one_and_most_calls() -> None:
    from zoo.bench.timing import block_lengths

    calls = {
        "fast": lambda batch: (time.sleep(0.01), batch)[1],
        "slow": lambda batch: (time.sleep(0.08), batch)[1],
        "tiny": lambda batch: batch,
    }
    lengths = block_lengths(calls, np.zeros((1, 1)), warmup=1, block_s=0.05, most=8)
    assert 3 <= lengths["fast"] <= 5 and lengths["slow"] == 1 and lengths["tiny"] == 8
    with pytest.raises(ValueError, match="warm-up"):
        block_lengths(calls, np.zeros((1, 1)), warmup=0, block_s=0.05, most=8)
