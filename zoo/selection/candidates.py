"""What `zoo select` compares and under which constraints, checked before any model is built.

A candidate is a registered backbone at one input size (the same weights at 96 and 224 px are two
candidates with different speed and accuracy). Candidates come from the `zoo list` filters
(zoo.listing.model_rows), so `zoo select DATA 'mobilenet*' --tag mobile` compares what `zoo list
'mobilenet*' --tag mobile` shows. Nothing here imports TensorFlow or pandas.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from zoo.choices import AUTO, RUNTIMES, WEIGHT_CHOICES, image_size_problem
from zoo.data.folders import LabelledImages
from zoo.errors import InvalidSetting, UnknownModel
from zoo.listing import model_rows

# `--runtime` values: every inference runtime, and `auto` (the fastest measured one here)
SELECT_RUNTIMES: tuple[str, ...] = (*RUNTIMES, AUTO)
DEFAULT_FOLDS = 5
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Candidate:
    model: str  # canonical registry name
    image_size: int
    pulled: bool = True  # its weights are in the cache (zoo.listing's rule)

    @property
    def label(self) -> str:
        return f"{self.model}@{self.image_size}"


@dataclass(frozen=True)
class Constraints:
    """How candidates are timed and what they must meet."""

    max_ms_per_image: float | None = None
    batch_size: int = 1
    runtime: str = "keras"

    def problems(self) -> list[str]:
        out = []
        if self.max_ms_per_image is not None and not self.max_ms_per_image > 0:
            out.append(f"--max-ms-per-image must be positive, got {self.max_ms_per_image}")
        if self.batch_size < 1:
            out.append(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.runtime not in SELECT_RUNTIMES:
            out.append(f"--runtime must be one of {', '.join(SELECT_RUNTIMES)}, got {self.runtime!r}")
        return out

    def meets(self, ms_per_image: float | None) -> bool:
        if self.max_ms_per_image is None:
            return True
        return ms_per_image is not None and ms_per_image <= self.max_ms_per_image


def parse_duration(text: str | float | int | None) -> float | None:
    """'10m', '90s', '1.5h' or a number of seconds -> seconds (None stays None)."""
    if text is None or isinstance(text, int | float):
        seconds = text
    else:
        match = _DURATION.match(text)
        if match is None:
            raise InvalidSetting(f"not a duration: {text!r} (examples: 90s, 10m, 1.5h)")
        seconds = float(match.group(1)) * _SECONDS[match.group(2).lower()]
    if seconds is not None and seconds <= 0:
        raise InvalidSetting(f"a time budget must be positive, got {text!r}")
    return None if seconds is None else float(seconds)


def check_options(
    constraints: Constraints, folds: int, weights: str, image_sizes: Sequence[int] | None
) -> None:
    """InvalidSetting (a usage error) naming every impossible option, before any work."""
    problems = constraints.problems()
    if folds < 2:
        problems.append(f"--folds must be at least 2, got {folds}")
    if weights not in WEIGHT_CHOICES:
        problems.append(f"--weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    for size in image_sizes or ():
        if problem := image_size_problem(size):
            problems.append(f"--image-size {problem}")
    if problems:
        raise InvalidSetting("; ".join(problems))


def check_folds(data: LabelledImages, folds: int, where: str) -> None:
    """Stratified k-fold needs every class in every fold: at least `folds` images per class."""
    short = {name: n for name, n in data.counts().items() if n < folds}
    if short:
        listed = ", ".join(f"'{name}' has {n}" for name, n in short.items())
        raise InvalidSetting(
            f"{where}: {folds}-fold cross-validation needs {folds} images per class; {listed}",
            hint=f"add images, or lower --folds (to at least 2 and at most {min(data.counts().values())})",
        )


def find_candidates(
    patterns: Sequence[str] = (),
    *,
    family: str | None = None,
    tag: str | None = None,
    max_params: float | int | str | None = None,
    source: str | None = None,
    image_sizes: Sequence[int] | None = None,
) -> list[Candidate]:
    """Every (model, input size) the `zoo list` filters leave; UnknownModel when none is left."""
    rows = model_rows(patterns, family=family, tag=tag, max_params=max_params, source=source)
    rows = [row for row in rows if row["from"] != "run"]  # a registered run is already fine-tuned
    if not rows:
        asked = " ".join(patterns) or "(all)"
        given = {"family": family, "tag": tag, "max-params": max_params, "source": source}
        filters = [f"--{name} {value}" for name, value in given.items() if value]
        raise UnknownModel(
            f"no registered backbone matches {asked} {' '.join(filters)}".strip(),
            hint="`zoo list` with the same patterns and filters shows what is registered",
        )
    return [
        Candidate(row["name"], size, row["pulled"])
        for row in rows
        for size in (image_sizes or [row["input_size"]])
    ]
