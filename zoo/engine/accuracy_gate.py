"""The accuracy gate of an export: the exported file, reloaded, scored against fp32 keras on labelled photos.

An export that reproduces the model's outputs to a cosine of 0.9 can still lose points of accuracy (int8
on a depthwise-heavy network), so `export(check_on=...)` measures top-1, top-5 and top-1 agreement on the
user's own labelled images and refuses an export that drops either accuracy by more than `max_drop`
points. The images checked are never the calibration images (zoo.engine.calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo.engine.calibration import Calibration, calibration_images
from zoo.engine.topk import Accuracy, accuracy_of, map_classes, top_k_indices
from zoo.errors import BadDataset, ExportCheckFailed, InvalidSetting

if TYPE_CHECKING:
    from zoo.engine.reference import Loaded


@dataclass(frozen=True)
class Gate:
    """Decoded check images, their targets, fp32 keras' top-5 on them, and the calibration set."""

    images: np.ndarray
    paths: tuple[Path, ...]
    truth: np.ndarray
    reference_top: np.ndarray
    source: str
    calibration: Calibration

    def describe(self) -> str:
        calibrated = self.calibration.source or self.calibration.why_none
        return f"{len(self.paths)} {self.source}; calibration: {calibrated}"

    def require(self, outputs: np.ndarray, max_drop: float, what: str) -> Accuracy:
        """The candidate's Accuracy; ExportCheckFailed when top-1 or top-5 drops by over `max_drop` points."""
        measured = accuracy_of(top_k_indices(outputs), self.reference_top, self.truth)
        drop = max(-measured.delta_top1, -measured.delta_top5) * 100
        if drop > max_drop:
            raise ExportCheckFailed(
                f"{what} loses {drop:.1f} points of accuracy on {len(self.paths)} {self.source} "
                f"(top-1 {measured.top1:.3f}, {measured.delta_top1 * 100:+.1f}; top-5 {measured.top5:.3f}, "
                f"{measured.delta_top5 * 100:+.1f}; max drop {max_drop:g}); nothing written",
                hint="export at a higher precision (litert for fp32), or calibrate on more training images",
            )
        return measured


def prepare_gate(loaded: Loaded, check_on: str | Path, calibrate_on: str | Path | None) -> Gate:
    """The gate for `loaded` on `check_on` (a labelled folder, or "val": a run's validation images)."""
    from zoo.data.decode import decode_batch
    from zoo.data.folders import load_labelled
    from zoo.engine.reference import input_size
    from zoo.engine.runtimes import KerasRuntime

    if str(check_on) == "val":
        if loaded.bundle is None:
            raise InvalidSetting("check_on='val' needs a run directory", hint="pass a labelled folder")
        from zoo.engine.check_images import run_split

        data, source = run_split(loaded.bundle)[1], "validation images of the run"
        if data is None:
            raise BadDataset("the run records no validation split", hint="pass a labelled folder to check on")
    else:
        data, source = load_labelled(Path(check_on)), f"images of {check_on}"
    if loaded.labels is None:
        raise BadDataset(f"{loaded.name} has no class names to match {check_on}'s folders against")
    targets = map_classes(data.classes, loaded.labels)
    policy = loaded.resize_policy(input_size(loaded.model), crop_pct=1.0)
    decoded = decode_batch(data.paths, policy, on_bad_image="skip")
    if not len(decoded):
        raise BadDataset(f"none of the {source} decodes")
    target_of = dict(zip(data.paths, (targets[label] for label in data.labels), strict=True))
    truth = np.array([target_of[Path(p)] for p in decoded.paths])
    images = decoded.images.astype(np.float32)
    reference_top = top_k_indices(KerasRuntime(loaded.model).predict(images))
    calibration = calibration_images(
        policy, calibrate_on=calibrate_on, bundle=loaded.bundle, scored=data.paths
    )  # fmt: skip
    return Gate(images, tuple(Path(p) for p in decoded.paths), truth, reference_top, source, calibration)
