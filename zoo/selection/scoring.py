"""How well a frozen backbone's features separate the user's classes: k-fold CV of a linear head.

The features are exactly stage 1's (zoo.transfer.network builds the same extractor a `zoo finetune` run
builds, and zoo.transfer.features caches them under the same key), so a second `zoo select` is nearly
free, and `zoo finetune` on the winner over the same folder starts from a cache hit.

The head is multinomial logistic regression on standardised features (scikit-learn), scored by
stratified k-fold cross-validation on the training images: mean and spread of the fold accuracies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo.data.folders import LabelledImages
from zoo.selection.candidates import Candidate

if TYPE_CHECKING:
    from zoo.data.decode import DecodedBatch, ResizePolicy
    from zoo.registry import ModelSpec
    from zoo.transfer.network import Network

    Decode = Callable[[ResizePolicy], DecodedBatch]

HEAD_C = 1.0  # inverse L2 strength of the linear head; features are standardised first
HEAD_MAX_ITER = 2000


@dataclass(frozen=True)
class Score:
    cv_accuracy: float
    cv_std: float
    fold_accuracies: tuple[float, ...]
    images: int  # decodable images scored
    cache_hit: bool
    seconds: float


@dataclass
class Built:
    """A candidate's network, built once: scored through its features and timed through its extractor."""

    network: Network
    spec: ModelSpec
    policy: ResizePolicy


def build_candidate(candidate: Candidate, num_classes: int, *, weights: str, seed: int = 0) -> Built:
    """The network `zoo finetune` builds for `candidate` (the feature extractor is raw RGB -> pooled
    features). A backbone without pretrained weights is drawn from `seed`, so its score (and cache
    entry) repeats."""
    import keras

    from zoo.data.decode import ResizePolicy
    from zoo.engine.reference import spec_of
    from zoo.transfer.network import build_network
    from zoo.transfer.settings import FinetuneSettings

    spec = spec_of(candidate.model)
    cfg = FinetuneSettings(model=spec.name, data="", weights=weights, image_size=candidate.image_size)
    keras.utils.set_random_seed(seed)
    net = build_network(cfg, spec, candidate.image_size, num_classes)
    return Built(net, spec, ResizePolicy.from_spec(spec, candidate.image_size))


def candidate_features(
    candidate: Candidate,
    built: Built,
    data: LabelledImages,
    *,
    batch_size: int,
    log: Callable[[str], None],
    decode: Decode | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(features, labels, cache hit) of every decodable image of `data` under `built`'s backbone;
    `decode(policy)` decodes `data`'s images (default: decode_batch, skipping bad images)."""
    from zoo.data.decode import decode_batch
    from zoo.transfer import features as feature_cache

    net, policy = built.network, built.policy

    def compute() -> tuple[np.ndarray, list[tuple[Path, str]]]:
        decoded = decode(policy) if decode else decode_batch(data.paths, policy, on_bad_image="skip")
        return feature_cache.extract(net.extractor, decoded.images, batch_size), list(decoded.skipped)

    found = feature_cache.features_for(
        list(data.paths), built.spec.name, net.backbone, candidate.image_size, policy, compute, log
    )
    label_of = dict(zip(data.paths, data.labels, strict=True))
    features = np.stack(list(found.by_path.values())).astype(np.float32)
    labels = np.asarray([label_of[p] for p in found.by_path], np.int64)
    return features, labels, found.cache_hit


def cross_validate(features: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> tuple[float, ...]:
    """Accuracy of the linear head on each of `folds` stratified folds (trained on the others)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    head = make_pipeline(StandardScaler(), LogisticRegression(C=HEAD_C, max_iter=HEAD_MAX_ITER))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # one BLAS thread: these matrices are small, and BLAS threads spinning against TensorFlow's and other
    # processes' made the folds 10-20x slower on a busy 2-core machine (measured: 10.2 s against 0.5 s)
    with threadpool_limits(limits=1, user_api="blas"):
        scores = cross_val_score(head, features, labels, cv=splits, scoring="accuracy")
    return tuple(float(s) for s in scores)


def score_candidate(
    candidate: Candidate,
    built: Built,
    data: LabelledImages,
    *,
    folds: int,
    seed: int,
    batch_size: int,
    log: Callable[[str], None],
    decode: Decode | None = None,
) -> Score:
    """Features (cached), then the k-fold CV accuracy of a linear head on them."""
    import time

    started = time.perf_counter()
    features, labels, hit = candidate_features(
        candidate, built, data, batch_size=batch_size, log=log, decode=decode
    )
    accuracies = cross_validate(features, labels, folds, seed)
    return Score(
        cv_accuracy=float(np.mean(accuracies)),
        cv_std=float(np.std(accuracies)),
        fold_accuracies=accuracies,
        images=int(len(labels)),
        cache_hit=hit,
        seconds=time.perf_counter() - started,
    )
