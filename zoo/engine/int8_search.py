"""Which layers an int8 conversion keeps in float: a measured, bounded search, the same for every runtime.

Post-training int8 spreads its error over every quantized layer, and on a depthwise-heavy network such as
MobileNet v1 0.25 no single layer carries it (measured with LiteRT: keeping the 8 layers of worst isolated
error in float moved fp32 top-1 agreement from 0.56 to 0.58, 16 layers to 0.78, 28 to 0.88). So the
search does not guess names: the runtime ranks its own layers by measured sensitivity (LiteRT's
quantization debugger, NNCF's accuracy-aware ranking), and the search keeps the top of that ranking in
float in doubling steps until the int8 model's top-1 agrees with fp32 on `TARGET_AGREEMENT` of the
held-back calibration images. At most six conversions, whatever the model's size.

Held back: the last HOLDOUT_SHARE of the calibration images are not calibrated on but judge each
candidate, so the search never sees the images a user later scores (zoo.engine.calibration keeps those
apart already).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from zoo.engine.agreement import compare

Model = TypeVar("Model")

# Top-1 agreement with fp32 on the held-back calibration images that ends the search.
TARGET_AGREEMENT = 0.9
# The shares of the ranked layers kept in float, build after build (after one with none): never all of
# them, which would be the fp32 model under an int8 name, and so at most 1 + len(FLOAT_SHARES) builds.
FLOAT_SHARES = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4)
HOLDOUT_SHARE = 0.25
MIN_HOLDOUT = 8  # fewer calibration images than 2 * MIN_HOLDOUT: no search, every layer quantized
SEARCH_VERSION = 1  # part of the cache key of a searched conversion


@dataclass(frozen=True)
class FloatSearch:
    """The layers kept in float, the agreement reached, and each build tried (layers in float, agreement)."""

    kept_float: tuple[str, ...]
    agreement: float
    holdout: int
    trials: tuple[tuple[int, float], ...]
    ranked: int  # how many layers the runtime ranked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_calibration(calibration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(images to calibrate on, images held back to judge the search); none held back when too few. The
    held-back images are spread evenly over the set, so inputs sorted by class lend every class to both."""
    if len(calibration) < 2 * MIN_HOLDOUT:
        return calibration, calibration[:0]
    held = np.zeros(len(calibration), bool)
    held[evenly_spread(len(calibration), max(MIN_HOLDOUT, int(len(calibration) * HOLDOUT_SHARE)))] = True
    return calibration[~held], calibration[held]


def evenly_spread(total: int, count: int) -> np.ndarray:
    """`count` distinct indices of range(total), evenly spaced from first to last."""
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


def float_counts(ranked: int) -> list[int]:
    """How many of the `ranked` layers each build keeps in float: none, then FLOAT_SHARES of them."""
    counts = [0]
    for share in FLOAT_SHARES:
        count = min(ranked - 1, math.ceil(ranked * share))
        if count > counts[-1]:
            counts.append(count)
    return counts


def keep_sensitive_in_float(
    ranked: Sequence[str],
    build: Callable[[tuple[str, ...]], Model],
    predict: Callable[[Model, np.ndarray], np.ndarray],
    holdout: np.ndarray,
    reference: np.ndarray,
    target: float = TARGET_AGREEMENT,
) -> tuple[Model, FloatSearch]:
    """The first build (ranked[:k] in float, k from float_counts) whose top-1 agrees with `reference` (fp32
    outputs on `holdout`) on at least `target` of it, else the build that agreed best."""
    best: tuple[float, Model, tuple[str, ...]] | None = None
    trials: list[tuple[int, float]] = []
    for count in float_counts(len(ranked)):
        kept = tuple(ranked[:count])
        model = build(kept)
        agreement = compare(reference, predict(model, holdout)).top1_agreement
        trials.append((count, agreement))
        if best is None or agreement > best[0]:
            best = (agreement, model, kept)
        if agreement >= target:
            break
    assert best is not None
    agreement, model, kept = best
    return model, FloatSearch(kept, agreement, len(holdout), tuple(trials), len(ranked))
