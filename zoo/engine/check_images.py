"""Real images to check a run directory's conversions on: its own validation images, re-derived.

A run's config.json records its settings (`data`, and `val` or `val_split` + `seed`, under "settings" as
zoo.transfer writes them, or at the top level as zoo.transfer also reads them); zoo.data's
train_and_validation is the split training made, so the validation files come back without any
training code. A run whose settings name no split gives its training images; a run whose data is gone
gives none (the caller says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.data.decode import ResizePolicy, decode_batch
from zoo.data.folders import LabelledImages, load_labelled, train_and_validation
from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.engine.bundle import Bundle


def run_check_images(bundle: Bundle, shape: tuple[int, ...], count: int) -> tuple[np.ndarray, str]:
    """Up to `count` of the run's images decoded to `shape` (H, W, 3), one class after another, and
    what they are; no images (and why) when the run's data cannot be read any more."""
    settings = bundle.config.get("settings", bundle.config)
    if not isinstance(settings, dict) or not isinstance(settings.get("data"), str):
        return np.zeros((0, *shape), np.uint8), "the run records no data folder"
    try:
        images, kind = _held_out(settings)
    except (ZooError, OSError, TypeError, ValueError) as exc:
        return np.zeros((0, *shape), np.uint8), f"the run's data cannot be read: {exc}"
    policy = ResizePolicy.from_spec(bundle.spec, shape[:2]) if bundle.spec else ResizePolicy(shape[:2])
    # decode a few more than needed: some files may have been replaced by bad ones since training
    decoded = decode_batch(spread_over_classes(images, 2 * count), policy, on_bad_image="skip")
    if not len(decoded):
        return decoded.images, f"none of the run's {kind} images decodes"
    return decoded.images[:count], f"{min(count, len(decoded))} {kind} images of {settings['data']}"


def run_split(bundle: Bundle) -> tuple[LabelledImages, LabelledImages | None]:
    """The run's training and validation images as training split them (validation None when the run
    records no split); ZooError when the run records no data folder or it cannot be read."""
    settings = bundle.config.get("settings", bundle.config)
    if not isinstance(settings, dict) or not isinstance(settings.get("data"), str):
        raise ZooError(f"the run {bundle.run_dir} records no data folder")
    data = Path(settings["data"]).expanduser()
    val = Path(settings["val"]).expanduser() if isinstance(settings.get("val"), str) else None
    if val is None and not ("val_split" in settings and "seed" in settings):
        return load_labelled(data), None
    split = float(settings.get("val_split", 0.0))
    return train_and_validation(data, val, val_split=split, seed=int(settings.get("seed", 0)))


def _held_out(settings: dict[str, Any]) -> tuple[LabelledImages, str]:
    data = Path(settings["data"]).expanduser()
    val = Path(settings["val"]).expanduser() if isinstance(settings.get("val"), str) else None
    if val is None and not ("val_split" in settings and "seed" in settings):
        return load_labelled(data), "training"
    split = float(settings.get("val_split", 0.0))
    _, held_out = train_and_validation(data, val, val_split=split, seed=int(settings.get("seed", 0)))
    return held_out, "validation"


def spread_over_classes(images: LabelledImages, count: int) -> list[Path]:
    """Up to `count` paths taking each class in turn (its first image, then its second...), so the
    picked images show different things."""
    per_class: list[list[Path]] = [[] for _ in images.classes]
    for path, label in zip(images.paths, images.labels, strict=True):
        per_class[label].append(path)
    picked: list[Path] = []
    for rank in range(max((len(paths) for paths in per_class), default=0)):
        picked.extend(paths[rank] for paths in per_class if rank < len(paths))
    return picked[:count]
