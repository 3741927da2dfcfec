"""Which of several ways of computing a batch is fastest, decided on interleaved rounds of calls, robustly
on a machine shared with other work.

    rates, winner = race(calls, batch)          # what zoo.bench.auto's measure runs

A first measurement (rounds in a balanced rotating order) rates them by paired per-round ratios
(zoo.bench.timing.paired_rates). In its turn of a round each candidate runs back-to-back calls that take
about BLOCK_S, after one untimed call, and the median of that block is its latency in the round. Call by
call, each ran right after another whose workers still spun (onnxruntime's spinning session,
TensorFlow's pool), which a process running one runtime never pays: on an idle machine that made auto
pick onnxruntime's spinning session for MobileNetV2 at batch 1, which alone ran 0.95x LiteRT. Those the
leader beat in more rounds than they won by over one standard deviation of a fair coin's count (the sign
test: wins - losses > sqrt(rounds)) are out; the rest, the field, are timed on their own (shorter rounds:
more of them per second), a step at a time, until the field's leader beats each of the others *clearly*
(wins - losses > 2 sqrt(rounds): a coin would hardly do it) or EXTRA_TIME_S has passed; then the one
faster in the majority of paired rounds (the best paired rate) wins. A median lead alone is not
trusted: under a load of 12 on 2 cores, stopping at a median lead over 5% (15-20 rounds) picked three
different runtimes in eight tries (MobileNetV2 batch 1, fp32). The decision rules (`leader`,
`beats_clearly`, `field`, `final_rates`) take Timings as plain data, so they are tested on given numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from zoo.bench.timing import Timing, block_lengths, paired_rates, time_interleaved

WARMUP = 1  # untimed calls per candidate (after its build)
# A candidate's turn in a round: back-to-back calls that take about BLOCK_S, at most MOST_IN_BLOCK (one
# call for a slow one). ResNet50 at batch 1 (40 ms a call) still read 0.95x its peer call by call and
# 1.02x alone, so a call of 40 ms is not long enough to hide what the call before left spinning.
BLOCK_S = 0.1
MOST_IN_BLOCK = 5
ITERS = 5  # timed rounds at least, one turn (a block of calls) of every candidate each
# ...and rounds until this many seconds have passed: on a busy machine 3 rounds of a fast model at batch 1
# (a few ms a call) picked a runtime 30% slower than the best
MIN_TIME_S = 2.0
# The field is timed EXTRA_STEP_S more at a time, at most EXTRA_TIME_S in all: on a busy machine 2 s
# picked keras fp32 over a faster openvino fp32, and a single 2 s extra on a close call still flipped
# between two int8 paths 20% apart.
EXTRA_STEP_S = 1.0
EXTRA_TIME_S = 4.0
# wins - losses beyond this many standard deviations of a fair coin's (sqrt(rounds)): to settle the race,
# and to leave the field after the first measurement (under a load of 12 on 2 cores keras, at half the
# speed, often stayed within 2 deviations of the leader in 20 rounds)
SIGN_TEST_SIGMAS = 2.0
FIELD_SIGMAS = 1.0


def race(calls: Mapping[str, Callable[[np.ndarray], Any]], batch: np.ndarray) -> tuple[dict[str, float], str]:
    """Load-corrected images/s of each call and the fastest one's name (see the module docstring)."""
    blocks = block_lengths(calls, batch, warmup=WARMUP, block_s=BLOCK_S, most=MOST_IN_BLOCK)
    timings = time_interleaved(
        calls, batch, warmup=0, iters=ITERS, min_time_s=MIN_TIME_S, rotate=True, blocks=blocks
    )
    first = paired_rates(timings)
    contest = field(timings, list(calls))
    spent = 0.0
    while len(contest) > 1 and spent < EXTRA_TIME_S:
        lead = leader(timings, contest)
        if all(beats_clearly(timings, lead, name) for name in contest):
            break
        more = time_interleaved(
            {n: calls[n] for n in contest},
            batch,
            warmup=0,
            iters=ITERS,
            min_time_s=EXTRA_STEP_S,
            rotate=True,
            blocks=blocks,
        )
        timings = {
            **timings,
            **{n: timings[n].joined(more[n]) for n in contest},
        }  # the field's rounds, paired
        spent += EXTRA_STEP_S
    return final_rates(first, timings, contest), leader(timings, contest)


def field(timings: Mapping[str, Timing], names: list[str]) -> list[str]:
    """The leader of `names` (paired rates) first, then those it has not beaten by FIELD_SIGMAS."""
    lead = leader(timings, names)
    return [lead] + [n for n in names if not beats_clearly(timings, lead, n, sigmas=FIELD_SIGMAS)]


def leader(timings: Mapping[str, Timing], field: list[str]) -> str:
    """The fastest of `field` by paired per-round ratios over the rounds they all ran (with two, the one
    faster in the majority of rounds)."""
    if len(field) == 1:
        return field[0]
    rates = paired_rates({n: timings[n] for n in field})
    return max(field, key=rates.__getitem__)


def beats_clearly(
    timings: Mapping[str, Timing], first: str, other: str, sigmas: float = SIGN_TEST_SIGMAS
) -> bool:
    """Has `first` been faster than `other` in so many more of their paired rounds than it was slower that
    chance would not explain it (the sign test: wins - losses > `sigmas` sqrt(rounds))? True for `first`
    itself."""
    if first == other:
        return True
    ratios = round_ratios(timings[first], timings[other])
    wins, losses = int(np.sum(ratios > 1)), int(np.sum(ratios < 1))
    return wins - losses > sigmas * math.sqrt(len(ratios))


def round_ratios(first: Timing, other: Timing) -> np.ndarray:
    """`first`'s speed over `other`'s in each round both ran (images per second, so > 1: first faster)."""
    rounds = min(len(first.latencies_s), len(other.latencies_s))
    mine = first.batch_size / np.asarray(first.latencies_s[:rounds])
    theirs = other.batch_size / np.asarray(other.latencies_s[:rounds])
    return mine / theirs


def final_rates(
    first: Mapping[str, float], timings: Mapping[str, Timing], contest: list[str]
) -> dict[str, float]:
    """The first measurement's rates, those of the field `contest` (its first leader first) replaced by
    their paired rates over all the rounds they ran, scaled so that first leader keeps its first rate:
    the field is ranked by its longer rounds, and its winner stays above every candidate ruled out."""
    rates = dict(first)
    if len(contest) < 2:
        return rates
    longer = paired_rates({n: timings[n] for n in contest})
    anchor = contest[0]
    rates.update({n: first[anchor] * longer[n] / longer[anchor] for n in contest})
    return rates
