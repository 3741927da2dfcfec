"""Prediction and feature extraction on image files: `predict` (top-k labels) and `embed` (features).

Both decode with zoo's one decoder (zoo.data.decode) under the model's resize policy, overlap decoding of
the next batch with inference on the current one, and run the model as a compiled graph (or through
zoo.engine.runtimes for other runtimes/precisions). A file that cannot be decoded never stops the others
unless on_bad_image="fail". What the model argument names is decided by zoo.engine.reference.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.choices import AUTO, EMBEDDING_SUFFIXES, OnBadImage
from zoo.data.decode import ResizePolicy, check_on_bad_image, iter_batches
from zoo.engine.labels import NUM_IMAGENET_CLASSES
from zoo.errors import InvalidSetting, ModelConfigError, ZooError
from zoo.registry import ModelSpec

if TYPE_CHECKING:
    import keras

    from zoo.engine.bundle import Bundle
    from zoo.engine.installed import RuntimeChooser

# The decoder's policy when a bare keras.Model comes without one: the common ImageNet evaluation crop.
DEFAULT_CROP_PCT = 0.875

BatchFn = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[int, int], None]  # called after each batch with (files done, files in all)


# -------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class TopK:
    label: str
    index: int
    probability: float


@dataclass
class Prediction:
    """The answer for one file: its top-k classes, or the one-line reason it could not be read."""

    path: Path
    top: list[TopK] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "top": [{"label": t.label, "index": t.index, "probability": t.probability} for t in self.top],
            "error": self.error,
        }


@dataclass
class Embeddings:
    """Features, one row per decoded image, with the paths in the same order and the files skipped."""

    features: np.ndarray
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    model: str = ""

    def save(self, out: str | os.PathLike[str]) -> list[Path]:
        """Write `.npy` (+ `<stem>.paths.json`) or `.parquet` (a "path" column, then f0..f{D-1}).

        Returns the files written."""
        from zoo.atomic import atomic_write_bytes, atomic_write_text

        out = Path(out)
        check_embedding_output(out)
        # Each file is written whole or not at all (temporary file + rename): a kill or a full disk
        # never leaves a truncated features file under the name the user asked for.
        buffer = io.BytesIO()
        if out.suffix == ".parquet":
            frame = _pandas().DataFrame(
                self.features, columns=[f"f{i}" for i in range(self.features.shape[1])]
            )
            frame.insert(0, "path", [str(p) for p in self.paths])
            frame.to_parquet(buffer, index=False)
            atomic_write_bytes(out, buffer.getvalue())
            return [out]
        np.save(buffer, self.features)
        atomic_write_bytes(out, buffer.getvalue())
        sidecar = paths_sidecar(out)
        atomic_write_text(sidecar, json.dumps([str(p) for p in self.paths], indent=0) + "\n")
        return [out, sidecar]


def paths_sidecar(npy: Path) -> Path:
    """features.npy -> features.paths.json (the file paths, one per feature row)."""
    return npy.with_name(npy.stem + ".paths.json")


def load_embeddings(path: str | os.PathLike[str]) -> Embeddings:
    """Read what Embeddings.save wrote."""
    path = Path(path)
    check_embedding_output(path)
    if path.suffix == ".parquet":
        frame = _pandas().read_parquet(path)
        return Embeddings(frame.drop(columns="path").to_numpy(np.float32), [Path(p) for p in frame["path"]])
    paths = json.loads(paths_sidecar(path).read_text(encoding="utf-8"))
    return Embeddings(np.load(path, allow_pickle=False), [Path(p) for p in paths])


def check_embedding_output(out: Path) -> None:
    """Refuse (before any work) an output format zoo cannot write here."""
    if out.suffix not in EMBEDDING_SUFFIXES:
        raise ModelConfigError(f"{out}: embeddings are written as .npy or .parquet, not '{out.suffix}'")
    if out.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ZooError(
                "writing .parquet needs the pyarrow package, which is not installed",
                hint="`pip install pyarrow`, or write .npy (features) + .paths.json (paths) instead",
            ) from None


def _pandas():
    import pandas

    return pandas


# ----------------------------------------------------------------------------------- what to run
@dataclass
class Predictor:
    """A model ready to answer image files: the batch function, its labels and its resize policy."""

    run: BatchFn
    labels: list[str] | None
    policy: ResizePolicy
    probabilities: bool  # outputs are already softmax probabilities
    name: str = ""
    loaded: Any = field(default=None, repr=False)  # the zoo.engine.reference.Loaded it came from

    @property
    def weights_sha256(self) -> str | None:
        return self.loaded.weights_sha256 if self.loaded is not None else None

    def probabilities_of(self, batch: np.ndarray) -> np.ndarray:
        outputs = np.asarray(self.run(batch), dtype=np.float64)
        return outputs if self.probabilities else softmax(outputs)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def outputs_probabilities(model: keras.Model) -> bool:
    """Does the model end in a softmax (keras.applications classifiers) rather than logits (zoo heads)?"""
    import keras

    activation = getattr(model.layers[-1], "activation", None)
    return activation is keras.activations.softmax


def batch_function(
    model: keras.Model,
    runtime: str | RuntimeChooser = "keras",
    precision: str | None = None,
    batch_size: int = 32,
    calibration: np.ndarray | None = None,
) -> BatchFn:
    """The model's batch call on a zoo runtime (precision None: fp32; int8 precisions calibrated on
    `calibration`), or on the runtime a chooser builds for this batch size (zoo.bench.auto.AutoChooser,
    what zoo.predict passes for runtime="auto"; its int8 candidates calibrate on `calibration`)."""
    from zoo.engine.runtimes import make_runtime

    if callable(runtime):
        return runtime(model, batch_size, calibration).predict
    if runtime == AUTO:
        raise InvalidSetting(
            "runtime='auto' measures runtimes, which zoo.engine does not do",
            hint="call zoo.predict / zoo.embed (they resolve 'auto'), or pass zoo.bench.auto.AutoChooser()",
        )
    return make_runtime(model, runtime, precision or "fp32", calibration=calibration).predict


def runtime_calibration(
    runtime: str | RuntimeChooser,
    precision: str | None,
    policy: ResizePolicy,
    *,
    calibrate_on: str | os.PathLike[str] | None = None,
    bundle: Any = None,
    scored: Iterable[str | os.PathLike[str]] = (),
) -> np.ndarray | None:
    """Calibration images for a named runtime that needs them (refused without a source), or, for a
    chooser, the images `calibrate_on` names (without them auto leaves the calibrated int8 candidates out)."""
    from zoo.engine.calibration import calibration_images, required_calibration

    if callable(runtime):
        if calibrate_on is None:
            return None
        return calibration_images(policy, calibrate_on=calibrate_on, bundle=bundle, scored=scored).images
    return required_calibration(
        runtime, precision or "fp32", policy, calibrate_on=calibrate_on, bundle=bundle, scored=scored
    )


def model_size(model: keras.Model) -> tuple[int, int]:
    height, width = model.input_shape[1:3]
    if not height or not width:
        raise ModelConfigError("the model has no fixed input size; pass a ResizePolicy")
    return int(height), int(width)


def make_predictor(
    model_or_name: str | os.PathLike[str] | ModelSpec | keras.Model | Bundle,
    *,
    weights: Any = "imagenet",
    labels: Sequence[str] | None = None,
    policy: ResizePolicy | None = None,
    runtime: str | RuntimeChooser = "keras",
    precision: str | None = None,
    unsafe: bool = False,
    batch_size: int = 32,
    calibrate_on: str | os.PathLike[str] | None = None,
    scored: Iterable[str | os.PathLike[str]] = (),
) -> Predictor:
    """What to run for `model_or_name` (anything zoo.engine.reference.resolve accepts).

    Labels come from, in order: `labels`, the run directory's labels.json, the shipped ImageNet names
    (for 1000 outputs); otherwise predictions name classes by index ("class_17"). `unsafe=True` lets a
    model file run the code it stores (Lambda layers): dangerous, only for files you trust.
    """
    from zoo.engine.reference import load

    loaded = load(model_or_name, weights=weights, labels=labels, unsafe=unsafe)
    model = loaded.model
    if policy is None:
        policy = loaded.resize_policy(model_size(model), DEFAULT_CROP_PCT)
    labels = loaded.labels
    if labels is None and int(model.output_shape[-1]) == NUM_IMAGENET_CLASSES:
        from zoo.engine.labels import imagenet_labels

        labels = imagenet_labels()
    calibration = runtime_calibration(
        runtime, precision, policy, calibrate_on=calibrate_on, bundle=loaded.bundle, scored=scored
    )
    return Predictor(
        run=batch_function(model, runtime, precision, batch_size, calibration),
        labels=labels,
        policy=policy,
        probabilities=outputs_probabilities(model),
        name=loaded.name,
        loaded=loaded,
    )


# -------------------------------------------------------------------------------------------- predict
def predict(
    model_or_name: str | os.PathLike[str] | ModelSpec | keras.Model | Bundle,
    images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    top: int = 5,
    runtime: str | RuntimeChooser = "keras",
    precision: str | None = None,
    on_bad_image: OnBadImage = "skip",
    *,
    weights: Any = "imagenet",
    labels: Sequence[str] | None = None,
    policy: ResizePolicy | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
    unsafe: bool = False,
    calibrate_on: str | os.PathLike[str] | None = None,
) -> list[Prediction]:
    """Top-k classes for each image file, in input order (folders are searched for image files).

    `model_or_name`: a registry name or alias, a run directory written by `zoo finetune`, a Bundle, or a
    keras.Model taking raw RGB 0-255. Probabilities are softmax over the outputs (models that already
    end in softmax are used as they are). A file that cannot be decoded gets a Prediction with `.error`
    (on_bad_image="skip") or raises BadImage ("fail"). `unsafe`, `calibrate_on` (calibrated int8): see
    make_predictor.
    """
    if top < 1:
        raise ModelConfigError(f"top must be at least 1, got {top}")
    check_on_bad_image(on_bad_image)
    from zoo.data.folders import list_images

    # folders are searched for image files, as `zoo predict` and embed() do; a missing file still gets
    # its own Prediction with the error instead of stopping the others
    paths = [p for item in _as_paths(images) for p in (list_images(item) if item.is_dir() else [item])]
    predictor = make_predictor(
        model_or_name, weights=weights, labels=labels, policy=policy, runtime=runtime, precision=precision,
        unsafe=unsafe, batch_size=max(1, min(batch_size, len(paths))), calibrate_on=calibrate_on,
        scored=paths,
    )  # fmt: skip
    results: list[Prediction] = []
    batches = iter_batches(paths, predictor.policy, batch_size, on_bad_image=on_bad_image)
    for start, batch in zip(range(0, len(paths), batch_size), batches, strict=True):
        answers = {p: Prediction(p, error=reason) for p, reason in batch.skipped}
        if len(batch):
            probabilities = predictor.probabilities_of(batch.images)
            for path, row in zip(batch.paths, probabilities, strict=True):
                answers[path] = Prediction(path, _top_k(row, top, predictor.labels))
        results.extend(answers[p] for p in paths[start : start + batch_size])
        if progress is not None:
            progress(len(results), len(paths))
    return results


def _top_k(probabilities: np.ndarray, k: int, labels: list[str] | None) -> list[TopK]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [
        TopK(labels[i] if labels is not None else f"class_{i}", int(i), float(probabilities[i]))
        for i in order
    ]


# ---------------------------------------------------------------------------------------------- embed
def embed(
    name: str | ModelSpec | keras.Model,
    paths_or_dirs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    weights: Any = "imagenet",
    pooling: str = "avg",
    input_size: int | None = None,
    batch_size: int = 32,
    on_bad_image: OnBadImage = "skip",
    runtime: str | RuntimeChooser = "keras",
    precision: str | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    calibrate_on: str | os.PathLike[str] | None = None,
) -> Embeddings:
    """Pooled backbone features (include_top=False), one row per image; directories are searched for
    image files. With `out`, also writes them (.npy + .paths.json, or .parquet). A calibrated int8
    precision calibrates on the images of `calibrate_on` (none of those embedded)."""
    check_on_bad_image(on_bad_image)
    if out is not None:
        check_embedding_output(Path(out))
    from zoo.data.folders import list_images
    from zoo.engine.reference import load

    paths = [p for item in _as_paths(paths_or_dirs) for p in list_images(item)]
    loaded = load(name, weights=weights, image_size=input_size, features=pooling)
    model = loaded.model
    policy = loaded.resize_policy(model_size(model), DEFAULT_CROP_PCT)
    label = loaded.ref.spec.name if loaded.ref.spec is not None else loaded.name
    calibration = runtime_calibration(runtime, precision, policy, calibrate_on=calibrate_on, scored=paths)
    run = batch_function(model, runtime, precision, max(1, min(batch_size, len(paths))), calibration)
    rows, kept, skipped = [], [], []
    for batch in iter_batches(paths, policy, batch_size, on_bad_image=on_bad_image):
        skipped.extend(batch.skipped)
        if len(batch):
            rows.append(np.asarray(run(batch.images), dtype=np.float32).reshape(len(batch), -1))
            kept.extend(batch.paths)
        if progress is not None:
            progress(len(kept) + len(skipped), len(paths))
    width = int(np.prod(model.output_shape[1:]))
    features = np.concatenate(rows) if rows else np.zeros((0, width), np.float32)
    embeddings = Embeddings(features, kept, skipped, label)
    if out is not None:
        embeddings.save(out)
    return embeddings


# ---------------------------------------------------------------------------------------------- helpers
def _as_paths(images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(images, (str, os.PathLike)):
        return [Path(images)]
    return [Path(p) for p in images]


__all__ = [
    "Embeddings",
    "Prediction",
    "Predictor",
    "TopK",
    "embed",
    "load_embeddings",
    "make_predictor",
    "predict",
]
