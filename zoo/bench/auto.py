"""`--runtime auto`: the fastest runtime x precision for this model, batch size and machine, measured once.

    runtime, decision = choose(model, batch_size)      # a built zoo Runtime, and why it was chosen
    zoo.predict(..., runtime="auto")                    # the same, through AutoChooser

Candidates are the installed runtimes (zoo.engine.installed) at the precisions that passed this model's
accuracy gate (zoo.bench.gate, written by `zoo evaluate MODEL DATA --runtime all`), or at fp32 only when
no gate was run; naming precisions explicitly picks the fastest runtime among those instead (the caller
has chosen the precision). A runtime with a spinning variant (zoo.choices.SPINNING_RUNTIMES: an
onnxruntime session whose workers spin, faster on a quiet machine, slower on a busy one) is two
candidates, `onnxruntime fp32` and `onnxruntime fp32 (spinning)`; so is, for a batch of two or more, a
runtime that can split it over streams (zoo.choices.STREAMS_RUNTIMES: `openvino int8 (streams)`). Every
candidate is built (a converter that fails skips that candidate, with the reason) and timed on a few
batches, in blocks of back-to-back calls interleaved in rotating order; the fastest by paired per-round
speed ratios wins, the close ones timed longer until one leads beyond doubt (zoo.bench.contest). The
decision is cached as JSON in ZOO_HOME/auto/, keyed by the machine, the model's fingerprint, the batch
size, the input shape, the candidates and the versions of their libraries, so the next call with the
same key measures nothing and builds the same variant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import config
from zoo.atomic import atomic_write_text
from zoo.bench.contest import race
from zoo.bench.gate import auto_dir, passing_pairs, read_gate
from zoo.bench.machine import library_versions, machine_info
from zoo.choices import CALIBRATED, SPINNING_RUNTIMES, STREAMS_RUNTIMES
from zoo.engine.fingerprint import model_fingerprint
from zoo.engine.installed import runtime_distributions, runtime_pairs
from zoo.engine.runtime_base import sample_shape
from zoo.errors import InvalidSetting, RuntimeUnavailable, ZooError

if TYPE_CHECKING:
    import keras

    from zoo.engine.runtime_base import Runtime

REFERENCE = ("keras", "fp32")
NO_CALIBRATION = "needs calibration images, and none were given"
FREE_SIZE = 224  # the measuring batch's size along an axis the model leaves free
Report = Callable[[str], None]


@dataclass(frozen=True)
class Candidate:
    """A runtime at a precision, its onnxruntime session spinning or not, its openvino batches split over
    streams or not."""

    runtime: str
    precision: str
    spinning: bool = False
    streams: bool = False

    @property
    def name(self) -> str:
        """`onnxruntime fp32 (spinning)`: as Runtime.label names the built runtime."""
        variant = " (spinning)" if self.spinning else " (streams)" if self.streams else ""
        return f"{self.runtime} {self.precision}{variant}"


def candidates(pairs: Sequence[tuple[str, str]], batch_size: int | None = None) -> list[Candidate]:
    """Each pair, and beside it its spinning variant for a runtime that has one, and its streams variant
    for one that has it when the batch can be split (`batch_size` of two or more; None: any batch)."""
    split = batch_size is None or batch_size > 1
    found = []
    for runtime, precision in pairs:
        found.append(Candidate(runtime, precision))
        if runtime in SPINNING_RUNTIMES:
            found.append(Candidate(runtime, precision, spinning=True))
        if runtime in STREAMS_RUNTIMES and split:
            found.append(Candidate(runtime, precision, streams=True))
    return found


@dataclass
class Decision:
    """What auto chose, how fast each candidate was (images/s), and which were skipped and why."""

    runtime: str
    precision: str
    precision_ran: str
    rates: dict[str, float]
    skipped: dict[str, str]
    candidates_from: str
    path: Path
    measured: bool = True
    measured_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    spinning: bool = False  # the onnxruntime session's workers spin (Candidate.spinning)
    streams: bool = False  # openvino splits a batch over its streams (Candidate.streams)

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.runtime, self.precision, self.spinning, self.streams)

    @property
    def choice(self) -> str:
        """`onnxruntime fp32 (spinning)`, `openvino fp32, ran bf16`."""
        ran = "" if self.precision_ran == self.precision else f", ran {self.precision_ran}"
        return f"{self.candidate.name}{ran}"

    def line(self) -> str:
        """`auto: openvino fp32 (measured 1.8x keras fp32; cached in ...)`."""
        reference = self.rates.get(" ".join(REFERENCE))
        rate = self.rates[self.candidate.name]
        speed = f"{rate / reference:.2f}x keras fp32" if reference else f"{rate:,.1f} images/s"
        if self.measured:
            return f"auto: {self.choice} (measured {speed}; cached in {self.path})"
        return f"auto: {self.choice} ({speed}, measured {self.measured_at}; from {self.path})"


class AutoChooser:
    """What zoo.engine's predict/embed take as `runtime` for "auto": (model, batch size) -> Runtime, with
    the decision line reported (stderr by default) and kept in `.decision`."""

    def __init__(
        self,
        precisions: Sequence[str] | None = None,
        *,
        calibration: np.ndarray | None = None,
        cache_key: str | None = None,
        report: Report | None = None,
    ) -> None:
        self.precisions = precisions
        self.calibration = calibration
        self.cache_key = cache_key
        self.report = report or _to_stderr
        self.decision: Decision | None = None

    def __call__(self, model: keras.Model, batch_size: int, calibration: np.ndarray | None = None) -> Runtime:
        """The chosen runtime; int8 candidates calibrate on `calibration`, else on the chooser's own."""
        runtime, self.decision = choose(
            model, batch_size, precisions=self.precisions,
            calibration=self.calibration if calibration is None else calibration,
            cache_key=self.cache_key, report=self.report,
        )  # fmt: skip
        self.report(self.decision.line())
        return runtime


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def choose(
    model: keras.Model,
    batch_size: int,
    *,
    precisions: Sequence[str] | None = None,
    calibration: np.ndarray | None = None,
    cache_key: str | None = None,
    report: Report | None = None,
) -> tuple[Runtime, Decision]:
    """The fastest candidate runtime for `model` at `batch_size`, built, and the Decision (from the cache
    when this key was measured before; skipped candidates are reported through `report`).

    `calibration` goes to the int8 candidates (without it they are skipped); `cache_key` names the model
    in the conversion cache (zoo.engine.runtimes.make_runtime; default: its fingerprint)."""
    report = report or _to_stderr
    fingerprint = model_fingerprint(model)
    pairs, candidates_from = candidate_pairs(fingerprint, precisions)
    # without calibration images the calibrated int8 pairs cannot be built: left out of the key too, so a
    # later call that has images measures them rather than reusing a choice made without them
    skipped = {f"{r} {p}": NO_CALIBRATION for r, p in pairs if calibration is None and (r, p) in CALIBRATED}
    pairs = [(r, p) for r, p in pairs if f"{r} {p}" not in skipped]
    if skipped and pairs:
        report(f"auto: left out {', '.join(skipped)}: {NO_CALIBRATION} (--calibrate-on DIR)")
    if not pairs and skipped:
        raise InvalidSetting(
            f"{', '.join(skipped)} {NO_CALIBRATION}",
            hint="pass calibration images (`--calibrate-on DIR`, or a run directory's training images)",
        )
    if not pairs:
        raise RuntimeUnavailable(
            f"no runtime is installed for precision {', '.join(precisions or ['fp32'])}",
            hint="pip install zoo-hub[openvino], or choose another precision",
        )
    shape = tuple(FREE_SIZE if d is None else d for d in sample_shape(model))
    contestants = candidates(pairs, batch_size)
    key = decision_key(fingerprint, batch_size, shape, contestants)
    path = auto_dir() / f"{key[:32]}.json"
    key_name = cache_key or f"model-{fingerprint[:16]}"
    cached = _read(path, key)
    if cached is not None:
        try:
            return build_candidate(model, cached.candidate, calibration, key_name), cached
        except ZooError as exc:  # e.g. the conversion cache was cleared and the converter now fails
            why = f"the cached choice {cached.choice} cannot be built ({exc.message})"
            report(f"auto: {why}; measuring again")
    built: dict[str, Runtime] = {}
    for candidate in contestants:
        name = candidate.name
        try:
            built[name] = build_candidate(model, candidate, calibration, key_name)
        except Exception as exc:  # a converter failing on this model: skip it, the others go on
            skipped[name] = _reason(exc)
            report(f"auto: skipped {name}: {skipped[name]}")
    if not built:
        raise RuntimeUnavailable(
            f"none of the {len(contestants)} candidate runtimes could be built for this model",
            hint="; ".join(f"{n}: {why}" for n, why in skipped.items()),
        )
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, (batch_size, *shape)).astype(np.float32)  # speed does not depend on pixels
    rates, fastest_name = race({n: r.predict for n, r in built.items()}, batch)
    winner, chosen = built[fastest_name], next(c for c in contestants if c.name == fastest_name)
    decision = Decision(
        chosen.runtime, chosen.precision, winner.effective_precision, rates, skipped, candidates_from, path,
        spinning=chosen.spinning, streams=chosen.streams,
    )  # fmt: skip
    _write(path, key, decision, {n: r.effective_precision for n, r in built.items()})
    return winner, decision


def fastest(rates: dict[str, float]) -> str:
    return max(rates, key=rates.__getitem__)


def candidate_pairs(fingerprint: str, precisions: Sequence[str] | None) -> tuple[list[tuple[str, str]], str]:
    """The installed (runtime, precision) pairs auto may pick, and where that list came from."""
    if precisions:
        return runtime_pairs(precisions=precisions), f"precision {', '.join(precisions)} as asked"
    gate = read_gate(fingerprint)
    if gate is None:
        why = "fp32 only: no accuracy gate for this model (zoo evaluate MODEL DATA --runtime all)"
        return runtime_pairs(precisions=("fp32",)), why
    installed = set(runtime_pairs())
    passed = [pair for pair in passing_pairs(gate) if pair in installed]
    return passed, f"passed the accuracy gate on {gate.get('dataset', 'labelled photos')} ({gate['time']})"


def decision_key(
    fingerprint: str,
    batch_size: int,
    shape: Sequence[int],
    contestants: Sequence[Candidate],
    *,
    backend: str | None = None,
    versions: dict[str, str] | None = None,
) -> str:
    """sha256 of everything a decision depends on, the versions of the candidates' libraries (default: as
    installed; the keras runtime's include the back-end's own, e.g. jax and jaxlib) among them."""
    backend = backend or config.keras_backend()
    versions = versions or library_versions()
    distributions = sorted({d for c in contestants for d in runtime_distributions(c.runtime, backend)})
    settings = {
        "backend": backend,  # the keras runtime is another engine on each back-end
        "machine": machine_info(),
        "model": fingerprint,
        "batch_size": batch_size,
        "input_shape": list(shape),
        "candidates": [c.name for c in contestants],
        "versions": {"zoo": versions["zoo"], **{d: versions.get(d, "absent") for d in distributions}},
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def build_candidate(model: Any, candidate: Candidate, calibration: Any, cache_key: str) -> Runtime:
    """`candidate` built for `model` (zoo.engine.runtimes.make_runtime; `cache_key` names its conversions)."""
    from zoo.engine.runtimes import make_runtime

    return make_runtime(
        model, candidate.runtime, candidate.precision, calibration=calibration, cache_key=cache_key,
        spinning=candidate.spinning, streams=candidate.streams,
    )  # fmt: skip


def _reason(exc: Exception) -> str:
    if isinstance(exc, ZooError):
        return exc.message
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _write(path: Path, key: str, decision: Decision, ran: dict[str, str]) -> None:
    record = {
        "key": key,
        "runtime": decision.runtime,
        "precision": decision.precision,
        "precision_ran": decision.precision_ran,
        "spinning": decision.spinning,
        "streams": decision.streams,
        "images_per_s": decision.rates,
        "precision_ran_by_candidate": ran,
        "skipped": decision.skipped,
        "candidates_from": decision.candidates_from,
        "measured_at": decision.measured_at,
        "machine": machine_info(),
    }
    try:
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    except OSError as exc:  # a read-only ZOO_HOME: the choice stands, it is just measured again next time
        print(f"auto: could not cache the decision in {path}: {exc}", file=sys.stderr)


def _read(path: Path, key: str) -> Decision | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("key") != key:
            return None
        return Decision(
            record["runtime"], record["precision"], record["precision_ran"], record["images_per_s"],
            record.get("skipped", {}), record.get("candidates_from", ""), path, measured=False,
            measured_at=record.get("measured_at", "?"), spinning=bool(record.get("spinning", False)),
            streams=bool(record.get("streams", False)),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # absent or unreadable: measure
