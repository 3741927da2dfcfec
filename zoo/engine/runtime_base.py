"""What every inference runtime shares: the Runtime interface, input shapes and model digests.

Its own module so each runtime module (runtimes.py, runtime_onnx.py, ...) can build on it while
runtimes.make_runtime dispatches to them, without an import circle.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from zoo.atomic import atomic_write_bytes
from zoo.engine.agreement import Agreement, compare
from zoo.engine.fingerprint import model_config, update_with_weights
from zoo.errors import InvalidSetting, RuntimeUnavailable

if TYPE_CHECKING:
    import keras

Loaded = TypeVar("Loaded")

# predict() feeds at most this many images at a time, bounding the memory of big arrays.
PREDICT_CHUNK = 64
# Samples an int8 conversion calibrates on: more adds conversion time, not accuracy.
MAX_CALIBRATION_SAMPLES = 200


class Runtime(ABC):
    """A model ready for inference: float32 NumPy batches in, float32 NumPy outputs (on the host) out."""

    name: str
    precision: str
    input_shape: tuple[int | None, ...]  # one sample's shape (no batch axis); None where any size goes
    # How this runtime was set up beyond its precision, e.g. "spinning" (an onnxruntime session whose
    # workers spin); "" for the runtime's default
    variant: str = ""

    @property
    def label(self) -> str:
        """`onnxruntime fp32`, or `onnxruntime fp32 (spinning)` for a variant: how auto and tables name it."""
        return f"{self.name} {self.precision}" + (f" ({self.variant})" if self.variant else "")

    @property
    def effective_precision(self) -> str:
        """The precision that really runs (a runtime whose engine may compute otherwise overrides it)."""
        return self.precision

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Outputs for `batch` (N, *input_shape), computed in chunks of at most PREDICT_CHUNK."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self._check_shape(batch)
        if len(batch) <= PREDICT_CHUNK:
            return self._run(batch)
        chunks = [self._run(batch[i : i + PREDICT_CHUNK]) for i in range(0, len(batch), PREDICT_CHUNK)]
        return np.concatenate(chunks)

    def agreement(self, reference: Runtime, inputs: np.ndarray) -> Agreement:
        """How closely this runtime follows `reference` (normally keras fp32) on `inputs`."""
        return compare(reference.predict(inputs), self.predict(inputs))

    @abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray: ...

    def _check_shape(self, batch: np.ndarray) -> None:
        expected = self.input_shape
        sample = batch.shape[1:]
        if not shape_fits(expected, sample):
            shown = ", ".join("any" if e is None else str(e) for e in expected)
            raise InvalidSetting(f"{self!r} takes batches of shape (N, {shown}); got {batch.shape}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


def shape_fits(expected: tuple[int | None, ...], sample: tuple[int, ...]) -> bool:
    """Does one sample's shape match the expected one (None matches any size)?"""
    if len(sample) != len(expected):
        return False
    return all(e is None or e == s for e, s in zip(expected, sample, strict=True))


def sample_shape(model: Any) -> tuple[int | None, ...]:
    """One input sample's shape (no batch axis), None where the model takes any size."""
    return tuple(None if d is None else int(d) for d in model.inputs[0].shape[1:])


def model_digest(model: keras.Model) -> str:
    """sha256 of a model's architecture (its config) and every weight value."""
    digest = hashlib.sha256()
    digest.update(json.dumps(model_config(model), sort_keys=True, default=str).encode())
    update_with_weights(digest, model)
    return digest.hexdigest()


def distribution_version(dist: str) -> str:
    """An installed distribution's version from its metadata (no import: a JAX or torch process finds a
    conversion's cache key without importing TensorFlow), or "absent"."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def conversion_name(cache_key: str | None, label: str, settings: dict[str, Any]) -> str:
    """A converted file's name in the conversion cache: the readable cache_key (or "model"), `label`
    (what and at which precision) and a digest of every setting the conversion depends on."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", cache_key)[:60] if cache_key else "model"
    return f"{stem}-{label}-{digest}"


def array_digest(array: np.ndarray) -> str:
    """sha256 of an array's shape and float32 values (e.g. calibration images, for a cache key)."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    return hashlib.sha256(f"{array.shape}".encode() + array.tobytes()).hexdigest()


def checked_calibration(
    model: Any, calibration: np.ndarray | None, what: str, instead: str = "fp32"
) -> np.ndarray:
    """The calibration images `what` needs (float32, at most MAX_CALIBRATION_SAMPLES), checked against
    the model's input; a clear refusal without them (never a fallback to other images)."""
    if calibration is None or len(calibration) == 0:
        raise RuntimeUnavailable(
            f"{what} needs calibration images",
            hint="pass `calibration=<a few dozen typical inputs, not those you score>`, or use "
            f"`precision={instead}`",
        )
    calibration = np.ascontiguousarray(calibration, dtype=np.float32)
    expected, sample = sample_shape(model), calibration.shape[1:]
    if not shape_fits(expected, sample):
        raise RuntimeUnavailable(f"calibration samples have shape {sample}; the model takes {expected}")
    if len(calibration) <= MAX_CALIBRATION_SAMPLES:
        return calibration
    from zoo.engine.int8_search import evenly_spread  # spread: images sorted by class keep every class

    return calibration[evenly_spread(len(calibration), MAX_CALIBRATION_SAMPLES)]


def load_cached(path: Path, load: Callable[[], Loaded], convert_again: Callable[[], None]) -> Loaded:
    """`load()` of the cached conversion at `path`; when its runtime cannot read it (a truncated or corrupt
    file: a crash mid-copy, a full disk, a foreign file), warn, `convert_again()` and load once more."""
    try:
        return load()
    except Exception as exc:  # each runtime has its own error types (ValueError, RuntimeError...)
        # OpenVINO's first line only names its own source file ("Exception from src/...:84:")
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = next((line for line in lines if not line.startswith("Exception from")), type(exc).__name__)
        print(
            f"Warning: the cached conversion {path} cannot be read ({reason[:200]}); converting it again",
            file=sys.stderr,
            flush=True,
        )
    convert_again()
    return load()


def write_cached(path: Path, convert: Any, again: bool = False) -> None:
    """Write convert() (bytes) to `path` when it is missing (or `again`): atomic, one writer at a time."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(f".{path.name}.lock"))):
        if again:
            path.unlink(missing_ok=True)
        if not path.is_file():
            atomic_write_bytes(path, convert())
