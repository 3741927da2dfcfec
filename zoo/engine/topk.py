"""Top-k accuracy on labelled images: folder classes mapped onto a model's outputs, and the figures of a
candidate (another runtime, precision or exported file) against a reference (normally fp32 keras).

Agreement and accuracy are both reported, and accuracy is what to judge by: on a weak model many top-1
predictions are near-ties, so a quantized model can disagree with fp32 on many images while it is right
as often.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from zoo.errors import BadDataset

TOP_K = 5


@dataclass(frozen=True)
class Accuracy:
    """A candidate's top-1/top-5 on labelled images, its top-1 agreement with the reference's top-1,
    and its deltas against the reference (in points: fractions, so -0.02 is 2 points lost)."""

    top1: float
    top5: float
    agreement: float
    delta_top1: float
    delta_top5: float
    images: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def top_k_indices(scores: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """The `k` best output indices of each row, best first (ties: lower index first)."""
    return np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]


def accuracy_of(candidate_top: np.ndarray, reference_top: np.ndarray, truth: np.ndarray) -> Accuracy:
    """`candidate_top` and `reference_top` from top_k_indices on the same images; `truth` their targets."""
    if not len(truth):
        raise BadDataset("no image to measure accuracy on")
    truth = np.asarray(truth)

    def top1_top5(top: np.ndarray) -> tuple[float, float]:
        return float(np.mean(top[:, 0] == truth)), float(np.mean(np.any(top == truth[:, None], axis=1)))

    top1, top5 = top1_top5(candidate_top)
    ref1, ref5 = top1_top5(reference_top)
    agreement = float(np.mean(candidate_top[:, 0] == reference_top[:, 0]))
    return Accuracy(top1, top5, agreement, top1 - ref1, top5 - ref5, len(truth))


def normalise_class_name(name: str) -> str:
    """'Egyptian_cat', 'egyptian-cat' and 'Egyptian cat' all compare equal."""
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


def map_classes(
    folder_classes: Sequence[str], labels: Sequence[str], wnids: Sequence[str] | None = None
) -> list[int]:
    """The model output index of each folder class, by WordNet id (when given) or by class name."""
    by_wnid = {w: i for i, w in enumerate(wnids or ())}
    by_name: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_name.setdefault(normalise_class_name(label), []).append(index)
    mapping: list[int] = []
    unknown: list[str] = []
    ambiguous: list[str] = []
    for folder in folder_classes:
        if folder in by_wnid:
            mapping.append(by_wnid[folder])
            continue
        matches = by_name.get(normalise_class_name(folder), [])
        if len(matches) == 1:
            mapping.append(matches[0])
        else:
            (ambiguous if matches else unknown).append(folder)
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise BadDataset(
            f"{len(unknown)} class folder(s) match none of the model's {len(labels)} classes: {shown}",
            hint="name folders by the model's class names"
            + (" or by WordNet id (n01440764)" if wnids else "")
            + " (case, '_' and '-' do not matter)",
        )
    if ambiguous:
        raise BadDataset(
            f"class folder(s) {', '.join(repr(a) for a in ambiguous)} match several of the model's classes",
            hint="name those folders by WordNet id (e.g. n02012849) instead",
        )
    return mapping


def top_k_hits(scores: np.ndarray, truth: np.ndarray, k: int = TOP_K) -> tuple[int, int]:
    """How many rows have the true class first, and within the first `k` (ties: lower index first)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top1 = int(np.sum(order[:, 0] == truth))
    topk = int(np.sum(np.any(order == truth[:, None], axis=1)))
    return top1, topk
