"""zoo.bench.contest's decision rules on given timings (plain data: what each round measured)."""

from __future__ import annotations

import pytest

from zoo.bench.contest import beats_clearly, field, final_rates, leader, round_ratios
from zoo.bench.timing import Timing, paired_rates


def rounds(*latencies_ms: float, batch: int = 1) -> Timing:
    return Timing(batch, tuple(ms / 1e3 for ms in latencies_ms), sum(latencies_ms) / 1e3)


def test_the_leader_is_faster_in_most_rounds_even_when_its_median_call_is_slower() -> None:
    # load tripled in rounds 3-5; a was faster in rounds 1-3, b in 4-5 (by less than a was before)
    timings = {"a": rounds(10, 10, 30, 32, 32), "b": rounds(11, 11, 31, 29, 29)}
    assert timings["b"].images_per_s > timings["a"].images_per_s  # each one's own median says b
    assert leader(timings, ["a", "b"]) == "a"
    assert leader(timings, ["b"]) == "b"


def test_a_big_lead_in_the_median_round_is_not_clear_in_few_rounds() -> None:
    # 12% faster in 5 of 8 rounds, 10% slower in 3: a median lead, but a coin could give 5 of 8
    timings = {"a": rounds(*[10.0] * 8), "b": rounds(*[11.2] * 5, *[9.0] * 3)}
    assert leader(timings, ["a", "b"]) == "a"
    assert not beats_clearly(timings, "a", "b")
    assert beats_clearly(timings, "a", "a")
    steady = {"a": rounds(*[10.0] * 8), "b": rounds(*[10.2] * 8)}  # 2% in every one of 8 rounds
    assert beats_clearly(steady, "a", "b") and not beats_clearly(steady, "b", "a")


def test_a_small_lead_is_clear_only_when_a_coin_would_not_give_it() -> None:
    # a 2% lead (under the close-call margin) in 70 of 100 rounds, a 2% loss in the other 30
    a = rounds(*[10.0] * 100)
    often = {"a": a, "b": rounds(*[10.2] * 70, *[9.8] * 30)}
    assert round_ratios(often["a"], often["b"]) == pytest.approx([1.02] * 70 + [9.8 / 10] * 30)
    assert beats_clearly(often, "a", "b")  # wins - losses = 40 > 2 sqrt(100)
    coin = {"a": a, "b": rounds(*[10.2] * 55, *[9.8] * 45)}
    assert leader(coin, ["a", "b"]) == "a" and not beats_clearly(coin, "a", "b")  # 10 < 20: measure more


def test_the_field_is_the_leader_and_those_it_has_not_beaten_clearly() -> None:
    timings = {
        "keras fp32": rounds(*[20.0] * 10),  # slower in every round: out
        "litert fp32": rounds(*[10.0] * 10),
        "onnxruntime fp32": rounds(*[10.5] * 6, *[9.5] * 4),  # 6 of 10 rounds: a coin could
        "openvino fp32": rounds(*[10.1] * 10),  # 1% slower, in every round: out
        "litert int8": rounds(*[10.5] * 7, *[9.5] * 3),  # 7 of 10: 4 > sqrt(10), out; not beaten clearly
    }
    assert field(timings, list(timings)) == ["litert fp32", "onnxruntime fp32"]
    assert not beats_clearly(timings, "litert fp32", "litert int8")


def test_final_rates_rank_the_field_by_its_longer_rounds_and_keep_it_above_those_ruled_out() -> None:
    # the first measurement put b ahead of a; the longer rounds of the field {a, b} say a
    first = {"a": 98.0, "b": 100.0, "c": 80.0}
    timings = {"a": rounds(*[10.0] * 20), "b": rounds(*[10.5] * 20), "c": rounds(12.5, 12.5)}
    rates = final_rates(first, timings, ["b", "a"])
    assert max(rates, key=rates.__getitem__) == "a" == leader(timings, ["a", "b"])
    assert rates["a"] / rates["b"] == pytest.approx(1.05)
    assert rates["b"] == 100.0  # the first leader keeps its first rate: the new one is above it
    assert rates["c"] == 80.0
    assert final_rates(first, timings, ["b"]) == first


def test_paired_rates_of_two_agree_with_the_majority_of_rounds() -> None:
    timings = {"a": rounds(10, 10, 30, 32, 32), "b": rounds(11, 11, 31, 29, 29)}
    rates = paired_rates(timings)
    assert rates["a"] > rates["b"]
