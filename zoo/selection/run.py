"""`zoo.select`: score every candidate backbone on the user's images, time it here, conclude.

For each candidate (a registered backbone at an input size, zoo.selection.candidates):
1. ms/image on this machine of the backbone + pooling (a stored timing row, else a short measurement of
   the network built for scoring; zoo.selection.latency); a candidate over --max-ms-per-image is not
   scored ("too slow");
2. the k-fold CV accuracy of a linear head on its cached features (zoo.selection.scoring), stored in the
   results store as soon as it is known (zoo.selection.store), so a re-run skips it;
3. a candidate that fails (no weights offline, a build error) gets a row saying why; the others go on.
A time budget stops before the next candidate once spent; the rows so far are still concluded
(Pareto front, recommendation; zoo.selection.report).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import config
from zoo.data.folders import LabelledImages, load_labelled
from zoo.errors import WeightsUnavailable, ZooError
from zoo.selection import report, store
from zoo.selection.candidates import (
    DEFAULT_FOLDS,
    Candidate,
    Constraints,
    check_folds,
    check_options,
    find_candidates,
    parse_duration,
)
from zoo.selection.decoding import DecodedOnce
from zoo.selection.latency import Latency, measured_latency, stored_latency
from zoo.selection.scoring import Built, Score, build_candidate, score_candidate

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = (
    "model", "image_size", "status", "cv_accuracy", "cv_std", "ms_per_image", "pareto", "recommended",
    "meets", "timing", "timed", "runtime", "batch_size", "images", "cache_hit", "seconds", "reason",
)  # fmt: skip
Progress = Callable[[int, int, str], None]  # (candidates done, total, the one starting now)


def select(
    data: str | Path,
    patterns: str | Sequence[str] = (),
    *,
    family: str | None = None,
    tag: str | None = None,
    max_params: float | int | str | None = None,
    source: str | None = None,
    image_sizes: Sequence[int] | None = None,
    weights: str = "imagenet",
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    max_ms_per_image: float | None = None,
    batch_size: int = 1,
    runtime: str = "keras",
    time_budget: str | float | None = None,
    fresh: bool = False,
    plot: str | Path | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Which backbone for these images and this latency budget: one row per candidate, best score first.

    `data` is a class-folder tree (or `path,label` CSV) of training images; candidates are the models the
    `zoo list` filters leave (`patterns`, `family`, `tag`, `max_params`, `source`), each at its own input
    size or at each of `image_sizes`. The frame's `attrs["verdict"]` is the one-line recommendation (or
    why there is none) and `attrs["recommended"]` the winning row as a dict (None when nothing qualifies).

    >>> zoo.select("photos/train", "mobilenet*", max_ms_per_image=5, image_sizes=[128, 224])
    """
    import pandas as pd

    constraints = Constraints(max_ms_per_image, batch_size, runtime)
    check_options(constraints, folds, weights, image_sizes)
    budget = parse_duration(time_budget)
    images = load_labelled(data)
    check_folds(images, folds, str(data))
    candidates = find_candidates(
        [patterns] if isinstance(patterns, str) else patterns,
        family=family, tag=tag, max_params=max_params, source=source, image_sizes=image_sizes,
    )  # fmt: skip
    job = _Job(images, str(data), constraints, weights, folds, seed, fresh, log or _quiet)
    rows = job.run(candidates, budget, progress)
    report.mark_pareto(rows)
    winner, verdict = report.recommend(rows, constraints, folds)
    rows.sort(key=lambda r: (r.get("cv_accuracy") is None, -(r.get("cv_accuracy") or 0.0)))
    if plot is not None:
        report.plot_selection(rows, plot, constraints, folds)
    frame = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    frame.attrs.update(verdict=verdict, recommended=winner, folds=folds, data=str(data))
    return frame


def _quiet(message: str) -> None:
    """The default log: nothing."""


class _Job:
    """One selection's settings and the stored scores it may reuse."""

    def __init__(
        self,
        images: LabelledImages,
        data: str,
        constraints: Constraints,
        weights: str,
        folds: int,
        seed: int,
        fresh: bool,
        log: Callable[[str], None],
    ) -> None:
        from zoo.transfer.features import image_digests

        self.images, self.data, self.constraints = images, data, constraints
        self.weights, self.folds, self.seed, self.log = weights, folds, seed, log
        self.fingerprint = store.data_fingerprint(images, image_digests(images.paths))
        self.decoded = DecodedOnce(images.paths)  # decoded when a candidate first needs pixels
        self.stored = {} if fresh else store.stored_scores()

    def run(self, candidates: Sequence[Candidate], budget: float | None, progress: Progress | None) -> list:
        started = time.perf_counter()
        rows = []
        for done, candidate in enumerate(candidates):
            if progress is not None:
                progress(done, len(candidates), candidate.label)
            # the first candidate always runs: a budget too small for one answers nothing
            spent = done > 0 and budget is not None and time.perf_counter() - started >= budget
            rows.append(self.not_run(candidate, budget) if spent else self.evaluate(candidate))
            _release_models()
        if progress is not None:
            progress(len(candidates), len(candidates), "")
        return rows

    def not_run(self, candidate: Candidate, budget: float | None) -> dict[str, Any]:
        if self.key(candidate) in self.stored:  # a score from an earlier run costs nothing: still report it
            return self.evaluate(candidate)
        return _row(candidate, self.constraints, "not run", f"--time-budget {budget:g}s spent")

    def evaluate(self, candidate: Candidate) -> dict[str, Any]:
        """The candidate's row: timed, then scored unless too slow; a failure is the row's status. The
        network is built once, for both, and only when a stored timing or score does not answer."""
        constraints = self.constraints
        if self.weights == "imagenet" and not candidate.pulled and config.offline():
            reason = f"weights not cached and offline mode is on (`zoo pull {candidate.model}` when online)"
            return _row(candidate, constraints, "no weights", reason)
        stored_score = self.stored.get(self.key(candidate))
        latency = stored_latency(candidate, constraints)
        built: Built | None = None
        if latency is None or (stored_score is None and constraints.meets(latency.ms_per_image)):
            built_or_row = self.build(candidate, latency)
            if isinstance(built_or_row, dict):
                return built_or_row
            built = built_or_row
        if latency is None:
            try:
                latency = measured_latency(candidate, built, constraints)
            except Exception as exc:  # noqa: BLE001 - one candidate's failure must not stop the others
                return _row(candidate, constraints, "failed", f"timing: {_why(exc)}")
        timed = _timing(latency)
        if not constraints.meets(latency.ms_per_image):
            limit = constraints.max_ms_per_image
            reason = f"{latency.ms_per_image:.1f} ms/image > --max-ms-per-image {limit:g}"
            return _row(candidate, constraints, "too slow", reason, **timed)
        try:
            score = self.score(candidate, built)
        except Exception as exc:  # noqa: BLE001 - too few decodable images, ...
            return _row(candidate, constraints, "failed", _why(exc), **timed)
        figures = {"cv_accuracy": score.cv_accuracy, "cv_std": score.cv_std, "images": score.images,
                   "cache_hit": score.cache_hit, "seconds": round(score.seconds, 2)}  # fmt: skip
        return _row(candidate, constraints, "ok", "", **timed, **figures)

    def build(self, candidate: Candidate, latency: Latency | None) -> Built | dict[str, Any]:
        """The candidate's network, or its row when it cannot be built (with the stored timing, if any)."""
        timed = _timing(latency)
        try:
            return build_candidate(candidate, len(self.images.classes), weights=self.weights, seed=self.seed)
        except WeightsUnavailable as exc:
            return _row(candidate, self.constraints, "no weights", _why(exc), **timed)
        except Exception as exc:  # noqa: BLE001 - a build error must not stop the other candidates
            return _row(candidate, self.constraints, "failed", _why(exc), **timed)

    def key(self, candidate: Candidate) -> str:
        return store.score_key(candidate, self.fingerprint, self.weights, self.folds, self.seed)

    def score(self, candidate: Candidate, built: Built | None) -> Score:
        key = self.key(candidate)
        if key in self.stored:
            self.log(f"{candidate.label}: score stored by an earlier run (skipped)")
            return store.score_from_record(self.stored[key])
        assert built is not None  # evaluate builds the network whenever no score is stored
        score = score_candidate(
            candidate, built, self.images, folds=self.folds, seed=self.seed,
            batch_size=self.constraints.batch_size, log=lambda m: self.log(f"{candidate.label}: {m}"),
            decode=self.decoded.batch,
        )  # fmt: skip
        store.store_score(key, candidate, score, self.data)
        return score


def _row(candidate: Candidate, constraints: Constraints, status: str, reason: str, **figures: Any) -> dict:
    row = {
        "model": candidate.model,
        "image_size": candidate.image_size,
        "status": status,
        "reason": reason,
        "runtime": constraints.runtime,
        "batch_size": constraints.batch_size,
        **figures,
    }
    row["meets"] = status == "ok" and constraints.meets(row.get("ms_per_image"))
    return row


def _timing(latency: Latency | None) -> dict[str, Any]:
    """A row's timing columns (none without a figure)."""
    if latency is None:
        return {}
    return {"ms_per_image": latency.ms_per_image, "timing": latency.source, "runtime": latency.runtime,
            "timed": latency.timed}  # fmt: skip


def _why(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())[:300]


def _release_models() -> None:
    """Free the candidate's graphs before the next one (only when Keras was loaded at all)."""
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
