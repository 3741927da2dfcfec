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

from zoo import config
from zoo.bench.results import append_results, stamp
from zoo.engine.reference import Loaded, input_size, load, resolve
from zoo.engine.topk import map_classes, top_k_hits
from zoo.errors import BadDataset, InvalidSetting

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from zoo.data.decode import ResizePolicy
    from zoo.data.folders import LabelledImages

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


def evaluate(
    model: str | os.PathLike[str] | keras.Model,
    data_dir: str | Path,
    *,
    labels: Sequence[str] | None = None,
    runtime: str = "keras",
    precision: str | None = None,
    batch_size: int = 32,
    limit: int | None = None,
    weights: str = "imagenet",
    on_bad_image: str = "skip",
    record: bool = True,
    progress: Progress | None = None,
    unsafe: bool = False,
    calibrate_on: str | Path | None = None,
) -> pd.DataFrame:
    """Top-1/top-5 of `model` on `data_dir` (class folders or a CSV); one row, or with runtime="all"
    one row per runtime x precision with its top-1 agreement with fp32 keras and its deltas against it;
    those verdicts are kept as the model's accuracy gate (zoo.bench.gate), which runtime="auto" (the
    fastest runtime x precision measured here, zoo.bench.auto) then picks among. An auto row names the
    runtime and precision it ran and says so in `auto_choice`.

    int8 precisions that need calibration images calibrate on `calibrate_on` (a labelled folder), else
    on a run directory's training images, never on the images scored (those are taken out); without
    either such a row says it was skipped. The frame's attrs hold "scored_files" and
    "calibration_files".

    `model` is a registry name, a .keras file, a run directory, or a keras.Model object together with
    its class names (`labels`, in output order). `weights` applies to registry models. `unsafe=True` lets a
    model file run the code it stores (Lambda layers): dangerous, only for files you trust.
    """
    config.check_keras_settings()  # before any work: one clear line
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
    from zoo.choices import CALIBRATED
    from zoo.engine.calibration import calibration_images

    needs_calibration = runtime in ("all", "auto") or (runtime, precision or "fp32") in CALIBRATED
    calibration = calibration_images(
        policy, calibrate_on=calibrate_on, bundle=loaded.bundle, scored=data.paths
    ) if needs_calibration else calibration_images(policy)  # fmt: skip
    common = {
        "model": loaded.name,
        "classes": len(data.classes),
        "batch_size": batch_size,
        "image_size": height,
        "weights": loaded.weights,
        "weights_sha256": loaded.weights_sha256,
        "dataset": str(root.resolve()),
        "dataset_fingerprint": fingerprint(data, root),
        "calibration": calibration.source or calibration.why_none,
    }
    if runtime == "all":
        from zoo.bench.evaluate_runtimes import evaluate_runtimes, frame_of

        rows, skipped = evaluate_runtimes(
            loaded, data, targets, policy, calibration, batch_size=batch_size, on_bad_image=on_bad_image,
            progress=progress,
        )  # fmt: skip
        rows = [{**row, "images": row.pop("images", np.nan), "skipped": len(skipped)} for row in rows]
        if record:
            ran = [row for row in rows if row["status"] == "ok"]
            append_results([stamp({"kind": "evaluate", **common, **row}) for row in ran])
            _record_gate(loaded, rows, common)
        frame = frame_of(rows, common)
    else:
        if runtime == "litert" and (runtime, precision) in CALIBRATED and calibration.images is None:
            # never the scored images
            raise InvalidSetting(f"{precision} needs calibration images: {calibration.why_none}")
        predictor, chosen = _runtime(loaded, runtime, precision, calibration.images, batch_size)
        scores = score(
            predictor.predict, data, targets, policy, batch_size=batch_size, on_bad_image=on_bad_image,
            progress=progress,
        )  # fmt: skip
        row = {
            "model": loaded.name, "runtime": predictor.name, "precision": predictor.precision,
            **chosen, "precision_ran": predictor.effective_precision, "top1": scores.top1,
            "top5": scores.top5, "images": scores.images, "skipped": len(scores.skipped), **common,
        }  # fmt: skip
        if record:
            append_results([stamp({"kind": "evaluate", **row, "skipped_files": list(scores.skipped)})])
        frame = pd.DataFrame([row])
    frame.attrs["scored_files"] = [str(p) for p in data.paths]
    frame.attrs["calibration_files"] = [str(p) for p in calibration.paths]
    return frame


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


def _runtime(
    loaded: Loaded, runtime: str, precision: str | None, calibration: np.ndarray | None, batch_size: int
) -> tuple[Any, dict[str, str]]:
    """The runtime to score with, and for "auto" the row's note of what it chose."""
    if runtime == "auto":
        from zoo.bench.auto import AutoChooser

        key = f"{loaded.name}-{loaded.weights_sha256}" if loaded.weights_sha256 else None
        precisions = None if precision is None else (precision,)
        chooser = AutoChooser(precisions, calibration=calibration, cache_key=key)
        runner = chooser(loaded.model, batch_size)
        return runner, {"auto_choice": chooser.decision.choice if chooser.decision else ""}
    from zoo.engine.runtimes import make_runtime

    key = f"{loaded.name}-{loaded.weights_sha256}" if loaded.weights_sha256 else None
    return make_runtime(
        loaded.model, runtime=runtime, precision=precision or "fp32", calibration=calibration, cache_key=key
    ), {}


def _record_gate(loaded: Loaded, rows: list[dict[str, Any]], common: dict[str, Any]) -> None:
    """Keep the rows' verdicts as this model's accuracy gate (what runtime="auto" may pick from)."""
    from zoo.bench.gate import record_gate
    from zoo.engine.fingerprint import model_fingerprint

    about = {k: common[k] for k in ("model", "dataset", "dataset_fingerprint", "calibration")}
    scored = [row.get("images") for row in rows if row.get("status") == "ok"]
    record_gate(model_fingerprint(loaded.model), rows, {**about, "images": max(scored, default=0)})
