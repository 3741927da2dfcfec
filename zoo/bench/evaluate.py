"""`zoo.evaluate`: top-1/top-5 accuracy of a model on a labelled image folder, kept in the results store.

The folder's class names are mapped onto the model's outputs: a run directory's labels.json, or for
ImageNet models the 1000 ImageNet classes, where a folder may be named by WordNet id (the ImageNet
validation layout, `n01440764/...`) or by class name. Images go through the one decoder with the
model's registry resize policy, so evaluation sees exactly the pixels prediction sees.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.bench.results import append_results, stamp
from zoo.engine.reference import Loaded, input_size, load, resolve
from zoo.errors import BadDataset, InvalidSetting

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from zoo.data.decode import ResizePolicy
    from zoo.data.folders import LabelledImages

TOP_K = 5
Progress = Callable[[int, int], None]  # (images done, images in total)


@dataclass(frozen=True)
class Scores:
    """Accuracy over the images that decoded; `skipped` lists the ones that did not, with the reason."""

    top1: float
    top5: float
    images: int
    correct_top1: int
    correct_top5: int
    skipped: tuple[tuple[str, str], ...] = ()


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


def interleaved_subset(data: LabelledImages, limit: int | None) -> LabelledImages:
    """The first `limit` images taking one per class in turn, so a small limit still covers every class."""
    if limit is None or limit >= len(data):
        return data
    seen: dict[int, int] = {}
    rank = []
    for index, label in enumerate(data.labels):
        rank.append((seen.get(label, 0), label, index))
        seen[label] = seen.get(label, 0) + 1
    return data.subset(sorted(index for *_, index in sorted(rank)[:limit]))


def fingerprint(data: LabelledImages, root: Path) -> str:
    """A short content key of the evaluated set: relative paths, sizes and class names (not pixels)."""
    digest = hashlib.sha256()
    for path, label in zip(data.paths, data.labels, strict=True):
        rel = Path(path).relative_to(root) if Path(path).is_relative_to(root) else Path(path)
        line = f"{rel.as_posix()}\0{Path(path).stat().st_size}\0{data.classes[label]}\n"
        digest.update(os.fsencode(line))  # file names need not be valid UTF-8 (surrogate-escaped bytes)
    return digest.hexdigest()[:16]


def score(
    predict: Callable[[np.ndarray], np.ndarray],
    data: LabelledImages,
    targets: Sequence[int],
    policy: ResizePolicy,
    *,
    batch_size: int = 32,
    on_bad_image: str = "skip",
    progress: Progress | None = None,
) -> Scores:
    """Top-1/top-5 of `predict` on `data`, where `targets[c]` is the output index of folder class c."""
    from zoo.data.decode import iter_batches

    target_of = dict(zip(data.paths, (targets[label] for label in data.labels), strict=True))
    correct1 = correct5 = seen = 0
    skipped: list[tuple[str, str]] = []
    for batch in iter_batches(data.paths, policy, batch_size, on_bad_image=on_bad_image):  # type: ignore[arg-type]
        skipped.extend((str(p), reason) for p, reason in batch.skipped)
        if len(batch):
            scores = np.asarray(predict(batch.images.astype(np.float32)))
            truth = np.array([target_of[Path(p)] for p in batch.paths])
            hits1, hits5 = top_k_hits(scores, truth)
            correct1 += hits1
            correct5 += hits5
        seen += len(batch) + len(batch.skipped)
        if progress is not None:
            progress(seen, len(data))
    images = seen - len(skipped)
    if images == 0:
        raise BadDataset("no image in the data set could be decoded", hint="see the skipped files above")
    return Scores(correct1 / images, correct5 / images, images, correct1, correct5, tuple(skipped))


def top_k_hits(scores: np.ndarray, truth: np.ndarray, k: int = TOP_K) -> tuple[int, int]:
    """How many rows have the true class first, and within the first `k` (ties: lower index first)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top1 = int(np.sum(order[:, 0] == truth))
    topk = int(np.sum(np.any(order == truth[:, None], axis=1)))
    return top1, topk


def evaluate(
    model: str | os.PathLike[str] | keras.Model,
    data_dir: str | Path,
    *,
    labels: Sequence[str] | None = None,
    runtime: str = "keras",
    precision: str = "fp32",
    batch_size: int = 32,
    limit: int | None = None,
    weights: str = "imagenet",
    on_bad_image: str = "skip",
    record: bool = True,
    progress: Progress | None = None,
    unsafe: bool = False,
) -> pd.DataFrame:
    """Top-1/top-5 of `model` on `data_dir` (class folders or a CSV); one row.

    `model` is a registry name, a .keras file, a run directory, or a keras.Model object together with
    its class names (`labels`, in output order). `weights` applies to registry models. `unsafe=True` lets a
    model file run the code it stores (Lambda layers): dangerous, only for files you trust.
    """
    import pandas as pd

    from zoo.data.folders import load_labelled

    if batch_size < 1 or (limit is not None and limit < 1):
        raise InvalidSetting(f"batch size and limit must be positive, got {batch_size} and {limit}")
    root = Path(data_dir)
    ref = resolve(model)  # a typo fails before the data is scanned
    data = interleaved_subset(load_labelled(root), limit)
    if ref.kind == "registry":  # ImageNet classes are known before the (maybe downloaded) weights
        map_classes(data.classes, *_imagenet_classes())
    loaded = load(ref, weights=weights, labels=labels if ref.kind == "object" else None, unsafe=unsafe)
    targets = map_classes(data.classes, *_model_classes(loaded))
    height, width = input_size(loaded.model)
    policy = loaded.resize_policy((height, width), crop_pct=1.0)  # no centre crop without a registry entry
    calibration = _first_images(data, policy)
    predictor = _runtime(loaded, runtime, precision, calibration)
    scores = score(
        predictor.predict, data, targets, policy, batch_size=batch_size, on_bad_image=on_bad_image,
        progress=progress,
    )  # fmt: skip
    row = {
        "model": loaded.name,
        "runtime": runtime,
        "precision": precision,
        "precision_ran": predictor.effective_precision,
        "top1": scores.top1,
        "top5": scores.top5,
        "images": scores.images,
        "skipped": len(scores.skipped),
        "classes": len(data.classes),
        "batch_size": batch_size,
        "image_size": height,
        "weights": loaded.weights,
        "weights_sha256": loaded.weights_sha256,
        "dataset": str(root.resolve()),
        "dataset_fingerprint": fingerprint(data, root),
    }
    if record:
        append_results([stamp({"kind": "evaluate", **row, "skipped_files": list(scores.skipped)})])
    return pd.DataFrame([row])


def _model_classes(loaded: Loaded) -> tuple[list[str], list[str] | None]:
    """The model's class names and, for ImageNet heads, the WordNet ids in the same order."""
    if loaded.labels is None:
        raise BadDataset(
            f"{loaded.name} has no class names to match the folders against",
            hint="evaluate a registry model with its ImageNet head, or a run directory (it has labels.json)",
        )
    if loaded.ref.kind == "registry":
        return _imagenet_classes()
    return loaded.labels, None


def _imagenet_classes() -> tuple[list[str], list[str]]:
    from zoo.engine.labels import imagenet_labels, imagenet_wnids

    return list(imagenet_labels()), list(imagenet_wnids())


def _first_images(data: LabelledImages, policy: ResizePolicy, count: int = 8) -> np.ndarray:
    """A few decoded images: int8 conversion calibrates on the evaluation data itself."""
    from zoo.data.decode import decode_batch

    return decode_batch(data.paths[:count], policy).images.astype(np.float32)


def _runtime(loaded: Loaded, runtime: str, precision: str, calibration: np.ndarray) -> Any:
    from zoo.engine.runtimes import make_runtime

    key = f"{loaded.name}-{loaded.weights_sha256}" if loaded.weights_sha256 else None
    return make_runtime(
        loaded.model, runtime=runtime, precision=precision, calibration=calibration, cache_key=key
    )
