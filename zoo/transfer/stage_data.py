"""The arrays the stages train on: the decoded images (uint8) and, for stage 1 without augmentation, the
backbone's features from the feature cache (zoo.transfer.features), split into train, val and inner rows,
with the extra views' rows of the training images when the run uses them (zoo.transfer.views)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.folders import LabelledImages
from zoo.errors import BadDataset, BadImage
from zoo.transfer import features as feature_cache
from zoo.transfer import rundir
from zoo.transfer.views import extra_views, view_of, views_used

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
    """What stage 1 trains on: the cached features with the run's extra views of the training images
    (no augmentation), or the decoded images (augmentation in the loop)."""
    if run.cfg.stage_augment(1):
        return image_arrays(run)
    return with_views(stage1_features(run), view_rows(run, views_used(run.cfg)))


def with_views(arrays: Arrays, views: list[np.ndarray]) -> Arrays:
    """`arrays` with the views' rows of its training images after them (same labels, same order)."""
    if not views:
        return arrays
    x_train = np.concatenate([arrays.x_train, *views])
    return dataclasses.replace(arrays, x_train=x_train, y_train=np.tile(arrays.y_train, 1 + len(views)))


def view_rows(run: Run, count: int) -> list[np.ndarray]:
    """The features of the first `count - 1` extra views of the images stage 1 fits on (never the inner
    split's or val's), each in the order of stage1_features(run).x_train: cached per view."""
    base = stage1_features(run)
    skipped = {path for path, _ in run.skipped}
    paths = [p for p in fit_images(run).paths if p not in skipped]
    out = []
    for view in extra_views(count):
        if view not in run.views:

            def compute(view: str = view) -> tuple[np.ndarray, list[tuple[Path, str]]]:
                pixels = image_arrays(run).x_train  # the same images, in the same order
                return feature_cache.extract(run.net.extractor, view_of(pixels, view), run.cfg.batch_size), []

            found = feature_cache.features_for(
                paths, run.cfg.model, run.net.backbone, run.image_size, run.policy, compute,
                run.progress.log, view=view,
            )  # fmt: skip
            run.views[view] = np.stack([found.by_path[p] for p in paths])
        out.append(run.views[view])
    assert all(len(rows) == len(base.y_train) for rows in out)
    return out


def stage1_features(run: Run) -> Arrays:
    """The cached backbone features of the train, val and inner images, one row each."""
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


def fit_images(run: Run) -> LabelledImages:
    """The training images stage 1 fits on: all of them, or all but the inner split."""
    return run.train if run.inner is None else run.train.without(run.inner.paths)


def _split(run: Run, rows: np.ndarray, index: dict[Path, int]) -> Arrays:
    """The rows of the train, val and inner images (`index`: path -> row; images not in it were skipped);
    the inner split's images are not trained on."""
    out = []
    for subset in (fit_images(run), run.val, *([run.inner] if run.inner is not None else [])):
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
