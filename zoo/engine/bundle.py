"""The saved-model bundle: a run directory that `zoo finetune` writes and predict/evaluate/export read.

Layout (every file but model.keras and labels.json is optional for readers):
    model.keras     the whole model, raw RGB 0-255 in (preprocessing layer inside), logits out
    labels.json     the class names, in output order: ["cat", "dog", ...]
    config.json     every setting of the run (`zoo finetune --config RUN_DIR/config.json` repeats it);
                    readers use "model" (the backbone's registry name) and "image_size"
    metrics.json    validation accuracy/loss, per-class precision/recall/F1, confusion matrix
    history.csv, history.png, confusion.png, skipped.txt, tensorboard/, checkpoints/   (training only)

Registered bundles: `zoo register RUN_DIR --name NAME` writes a user registry entry whose `bundle` field
is the run directory's absolute path. `zoo.load(NAME)` must check `spec.bundle` first and, when set,
return `load_bundle(spec.bundle).model` instead of building from keras.applications.

Loading uses `keras.saving.load_model(..., safe_mode=True)`: a bundle that needs unsafe deserialization
(a Lambda layer, i.e. arbitrary code) raises UnsafeModelError instead of running it. Only an explicit
`unsafe=True` (`--unsafe` on the CLI) turns safe mode off. That is DANGEROUS: the file's code runs with
your permissions, so use it only for files you made yourself or fully trust.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.atomic import atomic_path, atomic_write_text
from zoo.errors import InvalidSetting, RunDirError, UnknownModel, UnsafeModelError

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelSpec

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"


@dataclass
class Bundle:
    """A loaded run directory."""

    run_dir: Path
    model: keras.Model
    labels: list[str]
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    spec: ModelSpec | None = None  # the backbone's registry entry, when config names a known model

    @property
    def image_size(self) -> int | None:
        shape = self.model.input_shape
        return int(shape[1]) if shape and shape[1] else self.config.get("image_size")


def is_bundle(path: str | Path) -> bool:
    """Does `path` look like a run directory (a model.keras and a labels.json)?"""
    path = Path(path)
    return (path / MODEL_FILE).is_file() and (path / LABELS_FILE).is_file()


def write_json(path: Path, data: Any) -> None:
    """Pretty JSON, written atomically (a kill leaves the old file or the new one)."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunDirError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc})") from None


def save_model_atomic(model: keras.Model, path: Path) -> None:
    """model.save to a temporary file next to `path`, then rename: never a half-written model.keras."""
    with atomic_path(path, prefix=f".{path.stem}.", suffix=".keras") as tmp:
        model.save(tmp)


def check_labels(model: keras.Model, labels: Sequence[str]) -> list[str]:
    """`labels` as a list, when there is one per model output."""
    outputs = int(model.output_shape[-1])
    if len(labels) != outputs:
        raise InvalidSetting(f"the model has {outputs} outputs but {len(labels)} labels were given")
    return list(labels)


def save_bundle(
    run_dir: str | Path,
    model: keras.Model,
    labels: list[str],
    config: dict[str, Any],
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write model.keras, labels.json, config.json (and metrics.json) into `run_dir`; returns it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_labels(model, labels)
    save_model_atomic(model, run_dir / MODEL_FILE)
    write_json(run_dir / LABELS_FILE, list(labels))
    write_json(run_dir / CONFIG_FILE, config)
    if metrics is not None:
        write_json(run_dir / METRICS_FILE, metrics)
    return run_dir


def load_model_safely(path: Path, *, unsafe: bool = False) -> keras.Model:
    """keras.saving.load_model with safe_mode=True; arbitrary-code layers raise UnsafeModelError.

    `unsafe=True` runs the code stored in the file (Lambda layers): only for files you trust."""
    import keras

    import zoo.engine.preprocessing  # noqa: F401  registers zoo's serializable layers with Keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except TypeError as exc:  # e.g. a Lambda naming a function that is not registered: no code to run
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunDirError(
            f"cannot load {path}: it needs custom code zoo does not have ({first_line})",
            hint="rebuild the model from keras layers only (zoo's run directories never need custom code)",
        ) from None
    except ValueError as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise UnsafeModelError(
                f"{path} needs unsafe deserialization (it contains a Lambda layer or other code)",
                hint="rebuild it without Lambda layers, or pass `unsafe=True` only if you trust"
                " the file: its code then runs with your permissions",
            ) from None
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "File not found" in detail and path.is_file():  # Keras' words for a file that is no zip
            detail = "not a valid .keras archive (truncated or corrupt)"
        raise RunDirError(f"cannot load {path}: {detail}") from None


def check_run_dir(run_dir: str | Path) -> Path:
    """The resolved path of a run directory; RunDirError when it is missing or lacks its files."""
    run_dir = Path(run_dir).expanduser().resolve()
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    for name in (MODEL_FILE, LABELS_FILE):
        if not (run_dir / name).is_file():
            raise RunDirError(
                f"{run_dir}: not a run directory ({name} is missing)",
                hint="a run directory is what `zoo finetune --out RUN_DIR` writes",
            )
    return run_dir


def load_bundle(run_dir: str | Path, *, unsafe: bool = False) -> Bundle:
    """Read a run directory written by save_bundle (or `zoo finetune`); `unsafe` as in load_model_safely."""
    run_dir = check_run_dir(run_dir)
    labels = read_json(run_dir / LABELS_FILE)
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise RunDirError(f"{run_dir / LABELS_FILE}: expected a JSON list of class names")
    config = read_json(run_dir / CONFIG_FILE) if (run_dir / CONFIG_FILE).is_file() else {}
    metrics = read_json(run_dir / METRICS_FILE) if (run_dir / METRICS_FILE).is_file() else None
    model = load_model_safely(run_dir / MODEL_FILE, unsafe=unsafe)
    if model.output_shape[-1] != len(labels):
        raise RunDirError(
            f"{run_dir}: the model has {model.output_shape[-1]} outputs but labels.json has {len(labels)}"
        )
    return Bundle(run_dir, model, labels, config, metrics, _backbone_spec(config))


def _backbone_spec(config: dict[str, Any]) -> ModelSpec | None:
    name = config.get("model")
    if not isinstance(name, str):
        return None
    from zoo import registry

    try:
        return registry.get(name)
    except UnknownModel:
        return None
