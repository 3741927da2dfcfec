"""`zoo.evaluate(..., runtime="all")`: every runtime x precision zoo has, on the same labelled images.

One row each: top-1, top-5, the share of images whose top-1 equals fp32 keras' (agreement), and the
deltas of top-1/top-5 against fp32 keras. Rows follow zoo.choices.RUNTIMES and RUNTIME_PRECISIONS, so a
runtime added there is evaluated here too. Calibrated precisions calibrate on a run directory's training
images or on `calibrate_on`, never on the images being scored (zoo.engine.calibration); a runtime that
cannot convert or is not installed gets a row that says why, and the others go on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.choices import RUNTIME_PRECISIONS, RUNTIMES
from zoo.engine.topk import accuracy_of, top_k_indices
from zoo.errors import ZooError

if TYPE_CHECKING:
    import pandas as pd

    from zoo.data.decode import ResizePolicy
    from zoo.data.folders import LabelledImages
    from zoo.engine.calibration import Calibration
    from zoo.engine.reference import Loaded

REFERENCE = ("keras", "fp32")


def evaluate_runtimes(
    loaded: Loaded,
    data: LabelledImages,
    targets: list[int],
    policy: ResizePolicy,
    calibration: Calibration,
    *,
    batch_size: int = 32,
    on_bad_image: str = "skip",
    progress: Any = None,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Rows of every runtime x precision (status "ok" or why not) and the files that did not decode."""
    from zoo.data.decode import iter_batches
    from zoo.engine.runtimes import make_runtime

    key = f"{loaded.name}-{loaded.weights_sha256}" if loaded.weights_sha256 else None
    runners: dict[tuple[str, str], Any] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for runtime in RUNTIMES:
        for precision in RUNTIME_PRECISIONS[runtime]:
            rows[(runtime, precision)] = {"runtime": runtime, "precision": precision, "status": "ok"}
            try:
                runner = make_runtime(
                    loaded.model, runtime, precision, calibration=calibration.images, cache_key=key
                )
                runners[(runtime, precision)] = runner
                rows[(runtime, precision)]["precision_ran"] = runner.effective_precision
            except ZooError as exc:
                rows[(runtime, precision)]["status"] = _why_not(exc, precision, calibration)
            except Exception as exc:  # a converter's own error: this row says so, the others go on
                rows[(runtime, precision)]["status"] = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
    if REFERENCE not in runners:
        raise ZooError(f"the fp32 keras reference cannot run: {rows[REFERENCE]['status']}")
    target_of = dict(zip(data.paths, (targets[label] for label in data.labels), strict=True))
    tops: dict[tuple[str, str], list[np.ndarray]] = {k: [] for k in runners}
    truth: list[int] = []
    skipped: list[tuple[str, str]] = []
    seen = 0
    for batch in iter_batches(data.paths, policy, batch_size, on_bad_image=on_bad_image):  # type: ignore[arg-type]
        skipped.extend((str(p), reason) for p, reason in batch.skipped)
        if len(batch):
            images = batch.images.astype(np.float32)
            truth.extend(target_of[Path(p)] for p in batch.paths)
            for choice, runner in list(runners.items()):
                try:
                    tops[choice].append(top_k_indices(runner.predict(images)))
                except Exception as exc:  # a runtime failing mid-way must not take the others down
                    if choice == REFERENCE:
                        raise
                    rows[choice]["status"] = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
                    del runners[choice]
        seen += len(batch) + len(batch.skipped)
        if progress is not None:
            progress(seen, len(data))
    if not truth:
        from zoo.errors import BadDataset

        raise BadDataset("no image in the data set could be decoded", hint="see the skipped files above")
    reference = np.concatenate(tops[REFERENCE])
    for choice in runners:
        measured = accuracy_of(np.concatenate(tops[choice]), reference, np.asarray(truth))
        rows[choice].update(measured.to_dict())
    return list(rows.values()), skipped


def _why_not(exc: ZooError, precision: str, calibration: Calibration) -> str:
    if calibration.images is None and "calibrat" in str(exc).lower():
        return f"skipped: {calibration.why_none}"
    return f"skipped: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")


def frame_of(rows: list[dict[str, Any]], common: dict[str, Any]) -> pd.DataFrame:
    """The rows with the columns every row shares (model, images, dataset ...) in front."""
    import pandas as pd

    columns = ["top1", "top5", "agreement", "delta_top1", "delta_top5"]
    frame = pd.DataFrame([{**common, **{c: np.nan for c in columns}, **row} for row in rows])
    return frame
