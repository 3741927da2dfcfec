"""The arrays the stages train on: the decoded images (uint8) and, for stage 1 without augmentation, the
backbone's features from the feature cache (zoo.transfer.features), split into train, val and inner rows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import BadDataset, BadImage
from zoo.transfer import features as feature_cache
from zoo.transfer import rundir

Run = Any  # zoo.transfer.stages.Run (which imports this module)


@dataclass
class Arrays:
    """Decoded images (uint8) or features (float32), with labels, for training and validation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_inner: np.ndarray | None = None  # the inner split of the training images (--inner-split), if any
    y_inner: np.ndarray | None = None


def image_arrays(run: Run) -> Arrays:
    """Decode every train and val image once (skipped images are recorded for skipped.txt)."""
    if run.images is not None:
        return run.images
    from zoo.data.decode import decode_batch

    started = time.perf_counter()
    decoded = decode_batch(run.paths, run.policy, on_bad_image=run.cfg.on_bad_image)  # type: ignore[arg-type]
    run.skipped = list(decoded.skipped)
    row = {p: i for i, p in enumerate(decoded.paths)}
    run.images, run.pixels = _split(run, decoded.images, row), decoded.images
    run.progress.log(
        f"decoded {len(decoded)} images in {time.perf_counter() - started:.1f}s"
        + (f", skipped {len(run.skipped)} (see skipped.txt)" if run.skipped else "")
    )
    return run.images


def stage1_arrays(run: Run) -> Arrays:
    """Cached features (no augmentation) or the decoded images (augmentation in the loop)."""
    if run.cfg.stage_augment(1):
        return image_arrays(run)
    if run.features is not None:
        return run.features

    def compute() -> tuple[np.ndarray, list[tuple[Path, str]]]:
        image_arrays(run)  # every decodable image of run.paths, in that order: run.pixels
        return feature_cache.extract(run.net.extractor, run.pixels, run.cfg.batch_size), run.skipped

    found = feature_cache.features_for(
        run.paths, run.cfg.model, run.net.backbone, run.image_size, run.policy, compute, run.progress.log
    )
    run.cache_hit, run.skipped = found.cache_hit, found.skipped
    if run.cfg.on_bad_image == "fail" and run.skipped:
        raise BadImage(*run.skipped[0])
    stacked = np.stack(list(found.by_path.values()))
    run.features = _split(run, stacked, {p: i for i, p in enumerate(found.by_path)})
    return run.features


def _split(run: Run, rows: np.ndarray, index: dict[Path, int]) -> Arrays:
    """The rows of the train, val and inner images (`index`: path -> row; images not in it were skipped);
    the inner split's images are not trained on."""
    out = []
    train = run.train if run.inner is None else run.train.without(run.inner.paths)
    for subset in (train, run.val, *([run.inner] if run.inner is not None else [])):
        keep = [i for i, p in enumerate(subset.paths) if p in index]
        out.append(rows[[index[subset.paths[i]] for i in keep]])
        out.append(np.asarray([subset.labels[i] for i in keep], np.int32))
    arrays = Arrays(*out)
    if len(arrays.y_val) == 0 or len(np.unique(arrays.y_train)) < 2:
        rundir.write_skipped(run.skipped, run.write_dir / "skipped.txt")
        raise BadDataset(
            f"too few decodable images left to train and validate ({len(run.skipped)} skipped)",
            hint=f"see {run.write_dir / 'skipped.txt'} for each file and why",
        )
    return arrays
