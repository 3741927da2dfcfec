"""Calibration images for int8 conversions, kept apart from the images that are scored.

A quantized model calibrated on the images it is then scored on looks better than it is, so the
calibration set is a run directory's training images or a folder the user names, and any file that is
also being scored is taken out of it (by resolved path).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import BadDataset, InvalidSetting, ZooError

if TYPE_CHECKING:
    from zoo.data.decode import ResizePolicy
    from zoo.data.folders import LabelledImages
    from zoo.engine.bundle import Bundle

# How many calibration images are decoded (spread over the classes); LiteRT uses at most 200.
CALIBRATION_IMAGES = 100


@dataclass(frozen=True)
class Calibration:
    """Decoded calibration images and the files they came from, or why there are none."""

    images: np.ndarray | None
    paths: tuple[Path, ...] = ()
    source: str = ""
    why_none: str = ""
    excluded: tuple[Path, ...] = field(default=())  # files dropped because they are also scored


def calibration_images(
    policy: ResizePolicy,
    *,
    calibrate_on: str | Path | None = None,
    bundle: Bundle | None = None,
    scored: Iterable[str | Path] = (),
    count: int = CALIBRATION_IMAGES,
) -> Calibration:
    """Up to `count` images of `calibrate_on`, else of the run's training images, none of them in `scored`."""
    from zoo.data.decode import decode_batch
    from zoo.engine.check_images import run_split, spread_over_classes

    if calibrate_on is not None:
        images, source = _images_of(Path(calibrate_on)), f"images of {calibrate_on}"
    elif bundle is not None:
        try:
            images, source = run_split(bundle)[0], "training images of the run"
        except (ZooError, OSError, ValueError) as exc:
            return Calibration(None, why_none=f"the run's training images cannot be read ({exc})")
    else:
        return Calibration(
            None, why_none="no calibration images (pass `calibrate_on=DIR`, or a run directory)"
        )
    taken = {Path(p).resolve() for p in scored}
    candidates = spread_over_classes(images, len(images))
    excluded = tuple(p for p in candidates if Path(p).resolve() in taken)
    kept = [p for p in candidates if Path(p).resolve() not in taken][:count]
    if not kept:
        why = f"every calibration image ({source}) is also scored"
        return Calibration(None, why_none=why, excluded=excluded)
    decoded = decode_batch(kept, policy, on_bad_image="skip")
    if not len(decoded):
        return Calibration(None, why_none=f"none of the {source} decodes", excluded=excluded)
    paths = tuple(Path(p) for p in decoded.paths)
    return Calibration(decoded.images.astype(np.float32), paths, f"{len(paths)} {source}", "", excluded)


def _images_of(source: Path) -> LabelledImages:
    """The images of a CSV, or of a folder at any depth, each folder taken as a group to spread over (no
    labels are needed to calibrate: a flat folder of typical images will do)."""
    from zoo.data.folders import LabelledImages, list_images, load_labelled

    if source.is_file():
        return load_labelled(source)
    paths = list_images(source) if source.is_dir() else []
    if not paths:
        raise BadDataset(f"{source}: no images to calibrate on", hint="name a folder of typical images")
    folders = sorted({p.parent for p in paths})
    group = {folder: index for index, folder in enumerate(folders)}
    labels = tuple(group[p.parent] for p in paths)
    return LabelledImages(tuple(paths), labels, tuple(str(f) for f in folders))


def required_calibration(
    runtime: str,
    precision: str,
    policy: ResizePolicy,
    *,
    calibrate_on: str | Path | None = None,
    bundle: Bundle | None = None,
    scored: Iterable[str | Path] = (),
) -> np.ndarray | None:
    """The calibration images `runtime` at `precision` needs (None when it needs none); a clear refusal
    (InvalidSetting) when there are none to be had."""
    from zoo.choices import CALIBRATED

    if (runtime, precision) not in CALIBRATED:
        return None
    found = calibration_images(policy, calibrate_on=calibrate_on, bundle=bundle, scored=scored)
    if found.images is None:
        raise InvalidSetting(
            f"{runtime} {precision} needs calibration images: {found.why_none}",
            hint="pass `calibrate_on=DIR`: a folder of typical images, not the ones you run the model on",
        )
    return found.images
