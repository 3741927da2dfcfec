"""Per-candidate scores in the results store (kind "select"), so a run stopped by Ctrl-C or a time budget
resumes where it stopped: a candidate whose score is stored under the same key is not scored again.

The key covers everything that changes a score: the images (their content digests and labels), the
model, its input size, the weights, the number of folds and the seed. Timing is not part of it (it is
cheap, and stored apart as benchmark rows).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from zoo.bench.results import append_results, read_results, stamp
from zoo.data.folders import LabelledImages
from zoo.selection.candidates import Candidate
from zoo.selection.scoring import Score

KIND = "select"


def data_fingerprint(data: LabelledImages, digests: Sequence[str]) -> str:
    """sha256 over the sorted (image digest, class name) pairs."""
    pairs = sorted(f"{d}:{data.classes[label]}" for d, label in zip(digests, data.labels, strict=True))
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


def score_key(candidate: Candidate, fingerprint: str, weights: str, folds: int, seed: int) -> str:
    fields = {
        "data": fingerprint,
        "model": candidate.model,
        "image_size": candidate.image_size,
        "weights": weights,
        "folds": folds,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def stored_scores() -> dict[str, dict[str, Any]]:
    """The newest stored score per key."""
    return {r["key"]: r for r in read_results(kind=KIND) if isinstance(r.get("key"), str)}


def store_score(key: str, candidate: Candidate, score: Score, data: str) -> None:
    append_results(
        [
            stamp(
                {
                    "kind": KIND,
                    "key": key,
                    "model": candidate.model,
                    "image_size": candidate.image_size,
                    "data": data,
                    "cv_accuracy": score.cv_accuracy,
                    "cv_std": score.cv_std,
                    "fold_accuracies": list(score.fold_accuracies),
                    "images": score.images,
                    "seconds": score.seconds,
                }
            )
        ]
    )


def score_from_record(record: dict[str, Any]) -> Score:
    return Score(
        cv_accuracy=float(record["cv_accuracy"]),
        cv_std=float(record["cv_std"]),
        fold_accuracies=tuple(record.get("fold_accuracies", ())),
        images=int(record.get("images", 0)),
        cache_hit=True,
        seconds=0.0,
    )
