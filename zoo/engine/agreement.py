"""How closely one model's outputs follow another's on the same inputs (runtimes, precisions, exports).

Measure agreement on inputs whose outputs really differ from one another (real images into a trained
model): on random pixels, or with random weights, every output is nearly the same vector, so even the
outputs of other inputs, or one constant output, would score as agreeing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from zoo.errors import InvalidSetting


@dataclass(frozen=True)
class Agreement:
    """How closely a runtime's outputs follow a reference's, on the same inputs.

    max_abs: the largest absolute difference of any output value.
    max_rel: max_abs relative to the largest reference magnitude (an element-wise relative error is
             meaningless for values near zero, which ReLU features are full of).
    mean_cosine / min_cosine: cosine similarity of each sample's output vector with the reference's.
    top1_agreement: the share of samples whose argmax is the same as the reference's.
    """

    max_abs: float
    max_rel: float
    mean_cosine: float
    min_cosine: float
    top1_agreement: float
    samples: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def compare(reference: np.ndarray, candidate: np.ndarray) -> Agreement:
    """The Agreement of `candidate` outputs with `reference` outputs (same shape, batch first)."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise InvalidSetting(f"output shapes differ: {reference.shape} vs {candidate.shape}")
    ref = reference.reshape(len(reference), -1)
    cand = candidate.reshape(len(candidate), -1)
    max_abs = float(np.max(np.abs(ref - cand))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    cosines = _row_cosines(ref, cand)
    top1 = float(np.mean(np.argmax(ref, axis=1) == np.argmax(cand, axis=1))) if ref.size else 1.0
    return Agreement(
        max_abs=max_abs,
        max_rel=max_rel,
        mean_cosine=float(np.mean(cosines)) if len(cosines) else 1.0,
        min_cosine=float(np.min(cosines)) if len(cosines) else 1.0,
        top1_agreement=top1,
        samples=len(ref),
    )


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(b, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)
    return np.where(both_zero, 1.0, cosines)
