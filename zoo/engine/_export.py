"""Export a model or a run directory to another format, checked against the original before it is done.

    export(model_or_run_dir, out, format="keras"|"savedmodel"|"litert"|"litert-int8"|"onnx"|"openvino"|...)

Each export is written to a temporary path next to `out`, loaded back with the format's own runtime
(Keras with safe_mode, tf.saved_model, LiteRT, onnxruntime, OpenVINO), run on a few inputs and compared
with the original model; only an export that agrees is renamed to `out`. A run directory's labels are written
beside the export as `<out>.labels.json`, so a .tflite or .onnx file still knows its class names.

The check runs on real images, because only outputs that differ from input to input show a wrong export
(random pixels into a model give near-identical outputs, so outputs of other inputs would agree too): the
`check_inputs` or `calibration` given, else a run directory's own validation images (re-derived from its
config.json), else its training images. Random pixels are the last resort, and say so on stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.choices import CALIBRATED_EXPORTS, EXPORT_FORMATS, PLAIN_INT8
from zoo.engine.agreement import Agreement, compare
from zoo.engine.backend import check_convertible, converts_in_child
from zoo.engine.runtime_onnx import OnnxRuntime, convert_to_onnx
from zoo.engine.runtimes import (
    KerasRuntime,
    LiteRTRuntime,
    check_single_io,
    convert_to_litert,
    export_saved_model,
    sample_shape,
)
from zoo.errors import ExportCheckFailed, InvalidSetting, ZooError

if TYPE_CHECKING:
    import keras

    from zoo.engine.bundle import Bundle
    from zoo.engine.topk import Accuracy

CHECK_SAMPLES = 4
# Spatial size of the check inputs for models that accept any size.
DEFAULT_CHECK_SIZE = 224
# What an export must reach to be reported done. Float formats compute the same function (only the op
# order differs); int8 is a lossy format, so it is held to a cosine bound instead of a value bound.
FLOAT_MAX_REL = 1e-4
INT8_MIN_COSINE = 0.9
INT8_FORMATS = ("litert-int8", "litert-int8-plain", "openvino-int8", "openvino-int8-plain")


@dataclass(frozen=True)
class ExportResult:
    """The checked export: where it is, its format, its agreement with the original (and its labels)."""

    path: Path
    format: str
    agreement: Agreement
    labels_path: Path | None = None
    checked_on: str = ""  # which inputs the check ran on, e.g. "4 validation images of data/flowers"
    accuracy: Accuracy | None = None  # the accuracy gate's figures against fp32 keras (with check_on)
    gated_on: str = ""  # the gate's check and calibration images, in words

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "agreement": self.agreement.to_dict(),
            "labels_path": str(self.labels_path) if self.labels_path else None,
            "accuracy": self.accuracy.to_dict() if self.accuracy else None,
            "gated_on": self.gated_on,
            "checked_on": self.checked_on,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportResult:
        """The ExportResult whose to_dict() is `data` (a TensorFlow child's answer: zoo.engine.tf_convert)."""
        from zoo.engine.topk import Accuracy

        return cls(
            path=Path(data["path"]),
            format=data["format"],
            agreement=Agreement(**data["agreement"]),
            labels_path=Path(data["labels_path"]) if data["labels_path"] else None,
            checked_on=data["checked_on"],
            accuracy=Accuracy(**data["accuracy"]) if data["accuracy"] else None,
            gated_on=data["gated_on"],
        )


def export(
    model_or_run_dir: keras.Model | str | Path,
    out: str | Path,
    format: str = "keras",
    *,
    calibration: np.ndarray | None = None,
    check_inputs: np.ndarray | None = None,
    overwrite: bool = False,
    check_on: str | Path | None = None,
    calibrate_on: str | Path | None = None,
    max_drop: float = 1.0,
) -> ExportResult:
    """Export `model_or_run_dir` (a keras.Model, a run directory or a .keras file) to `out`.

    format: "keras" (.keras), "savedmodel" (a folder), "litert" (fp32 .tflite), "litert-int8" (dynamic-range
        int8 .tflite; fully int8 when `calibration` is given), "onnx" (through tf2onnx), "openvino" (an
        fp32 OpenVINO IR: `out` names the .xml, its weights go to the .bin beside it), "openvino-int8"
        (that IR quantized by NNCF, calibrated on `calibration`, else `calibrate_on`, else a run
        directory's training images; never on the `check_on` images). litert-int8 and openvino-int8 keep
        the layers that cost agreement float (the float-layer search); "litert-int8-plain" and
        "openvino-int8-plain" are the plain calibrated int8, every layer int8, always calibrated as
        openvino-int8 is. bf16 is no format: it is how a runtime computes, chosen when a file is compiled.
    calibration: typical model inputs (N, H, W, C); calibrates litert-int8 and serves as check inputs.
    check_inputs: the inputs the export is checked on (default: calibration[:4], else seeded random
        pixels in 0-255, the range of zoo's raw-input models).
    overwrite: replace an existing `out` (otherwise an existing `out` is an error, before any work).
    check_on: a labelled folder, or "val" for a run directory's validation images: the reloaded export
        is scored against fp32 keras there (top-1, top-5, agreement: `accuracy` of the result) and
        refused (ExportCheckFailed, nothing written) when top-1 or top-5 drops by more than `max_drop`
        points. With it, litert-int8 calibrates on `calibrate_on`, else on a run directory's training
        images (never on the images checked); without either it stays dynamic-range int8.
    calibrate_on: a folder of typical images int8 calibrates on (see check_on and "openvino-int8").
    """
    if format not in EXPORT_FORMATS:
        raise InvalidSetting(
            f"unknown export format {format!r}", hint=f"choose one of {', '.join(EXPORT_FORMATS)}"
        )
    out = Path(out).expanduser()
    if format.startswith("openvino") and out.suffix != ".xml":
        raise InvalidSetting(
            f"an openvino export is an IR: `out` must end in .xml (got {out.name})",
            hint="e.g. out='model.xml' (its weights go to model.bin beside it)",
        )
    for path in (out, *_companions(format, out)):
        if path.exists() and not overwrite:
            raise ZooError(f"{path} already exists", hint="choose another output path or remove it first")
    if converts_in_child(format):
        check_convertible(format)
        from zoo.engine.tf_convert import export_via_tensorflow

        exported = export_via_tensorflow(
            model_or_run_dir, out, format, calibration=calibration, check_inputs=check_inputs,
            overwrite=overwrite, check_on=check_on, calibrate_on=calibrate_on, max_drop=max_drop,
        )  # fmt: skip
        return ExportResult.from_dict(exported)
    writer, loader = _FORMATS[format]
    from zoo.engine.reference import load

    loaded = load(model_or_run_dir)
    model, bundle = loaded.model, loaded.bundle
    check_single_io(model)
    check_convertible(format)
    gate, accuracy = None, None
    if check_on is not None:
        from zoo.engine.accuracy_gate import prepare_gate

        gate = prepare_gate(loaded, check_on, calibrate_on if calibration is None else None)
        if calibration is None and format in INT8_FORMATS:
            calibration = gate.calibration.images
    if calibration is None and format in CALIBRATED_EXPORTS:
        calibration = _calibration_for(loaded, calibrate_on, gate, format)
    inputs, checked_on = _check_inputs(model, bundle, calibration, check_inputs)
    reference = KerasRuntime(model).predict(inputs)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.partial{_suffix_for(format)}"
    try:
        writer(model, staging, calibration)
        agreement = compare(reference, loader(staging, inputs))
        if gate is None or format not in INT8_FORMATS:  # int8: judged by accuracy, when it is measured
            require_agreement(format, agreement, out.name)
        if gate is not None:  # before the move: a refused export leaves nothing at `out`
            accuracy = gate.require(loader(staging, gate.images), max_drop, f"the {format} export")
        if out.exists():
            _remove(out)
        # companion files first: the main file appears last, when everything it needs is in place
        for companion, final in zip(_companions(format, staging), _companions(format, out), strict=True):
            os.replace(companion, final)
        os.replace(staging, out)
    finally:
        for path in (staging, *_companions(format, staging)):
            if path.exists():
                _remove(path)
    labels_path = _write_labels(out, bundle.labels) if bundle is not None else None
    gated_on = gate.describe() if gate else ""
    return ExportResult(out, format, agreement, labels_path, checked_on, accuracy, gated_on)


def _check_inputs(
    model: Any, bundle: Bundle | None, calibration: np.ndarray | None, check_inputs: np.ndarray | None
) -> tuple[np.ndarray, str]:
    """The inputs the export is checked on, and what they are (real images first, noise only if none)."""
    if check_inputs is not None:
        return np.asarray(check_inputs, dtype=np.float32), "the inputs given"
    if calibration is not None and len(calibration):
        return np.asarray(calibration[:CHECK_SAMPLES], dtype=np.float32), "calibration images"
    shape = tuple(DEFAULT_CHECK_SIZE if d is None else d for d in sample_shape(model))
    why = "no run directory"
    if bundle is not None:
        from zoo.engine.check_images import run_check_images

        images, source = run_check_images(bundle, shape, CHECK_SAMPLES)
        if len(images):
            return images.astype(np.float32), source
        why = source
    print(f"Warning: checked on random inputs: no real images given ({why})", file=sys.stderr, flush=True)
    noise = np.random.default_rng(0).uniform(0, 255, (CHECK_SAMPLES, *shape)).astype(np.float32)
    return noise, "random inputs"


def _calibration_for(loaded: Any, calibrate_on: str | Path | None, gate: Any, format: str) -> np.ndarray:
    """A calibrated export's calibration images: the gate's (none of them checked), else `calibrate_on`,
    else the run's training images; InvalidSetting when there are none."""
    from zoo.engine.calibration import required_calibration
    from zoo.engine.reference import input_size

    if gate is not None:
        raise InvalidSetting(
            f"{format} needs calibration images: {gate.calibration.why_none}",
            hint="pass `calibrate_on=DIR`: typical images, not those checked",
        )
    policy = loaded.resize_policy(input_size(loaded.model), crop_pct=1.0)
    runtime, precision = CALIBRATED_EXPORTS[format]
    images = required_calibration(runtime, precision, policy, calibrate_on=calibrate_on, bundle=loaded.bundle)
    assert images is not None
    return images


def require_agreement(format: str, agreement: Agreement, name: str) -> None:
    """Refuse an export whose outputs do not reproduce the original's (ExportCheckFailed)."""
    if format in INT8_FORMATS:
        ok, bound = agreement.min_cosine >= INT8_MIN_COSINE, f"min cosine >= {INT8_MIN_COSINE}"
    else:
        ok, bound = agreement.max_rel <= FLOAT_MAX_REL, f"max relative difference <= {FLOAT_MAX_REL:g}"
    if not ok:
        raise ExportCheckFailed(
            f"the {format} export of {name} does not reproduce the original model ({bound} required; "
            f"got max_rel={agreement.max_rel:.3g}, min_cosine={agreement.min_cosine:.4f}); nothing written",
            hint="try another format (litert for fp32), or report the model so we can look",
        )


def _write_labels(out: Path, labels: list[str]) -> Path:
    from zoo.atomic import atomic_write_text

    path = out.with_name(out.name + ".labels.json")
    atomic_write_text(path, json.dumps(labels, indent=2) + "\n")
    return path


def _suffix_for(format: str) -> str:
    # model.save insists on a .keras name; the others keep the suffix so the staging file is recognisable
    return {
        "keras": ".keras",
        "savedmodel": "",
        "litert": ".tflite",
        "litert-int8": ".tflite",
        "litert-int8-plain": ".tflite",
        "onnx": ".onnx",
        "openvino": ".xml",
        "openvino-int8": ".xml",
        "openvino-int8-plain": ".xml",
    }[format]


def _companions(format: str, path: Path) -> list[Path]:
    """Files a format writes beside `path` (an OpenVINO IR's weights go to a .bin of the same stem)."""
    return [path.with_suffix(".bin")] if format.startswith("openvino") else []


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------------ writers and loaders per format


def _write_keras(model: Any, path: Path, calibration: np.ndarray | None) -> None:
    model.save(str(path))


def _load_keras(path: Path, inputs: np.ndarray) -> np.ndarray:
    from zoo.engine.bundle import load_model_safely

    return KerasRuntime(load_model_safely(path)).predict(inputs)


def _write_savedmodel(model: Any, path: Path, calibration: np.ndarray | None) -> None:
    export_saved_model(model, path)


def _load_savedmodel(path: Path, inputs: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    outputs = serve(tf.constant(inputs))
    (output,) = outputs.values()
    return output.numpy()


def _write_litert(model: Any, path: Path, calibration: np.ndarray | None) -> None:
    path.write_bytes(convert_to_litert(model, "fp32"))


def _write_litert_int8(model: Any, path: Path, calibration: np.ndarray | None) -> None:
    precision = "int8-full" if calibration is not None else "int8"
    path.write_bytes(convert_to_litert(model, precision, calibration=calibration))


def _write_litert_int8_plain(model: Any, path: Path, calibration: np.ndarray | None) -> None:
    path.write_bytes(convert_to_litert(model, PLAIN_INT8, calibration=calibration))


def _load_litert(path: Path, inputs: np.ndarray) -> np.ndarray:
    return LiteRTRuntime(path, "exported").predict(inputs)


def _write_onnx(model: Any, path: Path, calibration: np.ndarray | None) -> None:
    convert_to_onnx(model, path)


def _load_onnx(path: Path, inputs: np.ndarray) -> np.ndarray:
    return OnnxRuntime(path, "exported").predict(inputs)


def _write_openvino(model: Any, path: Path, calibration: np.ndarray | None) -> None:
    from zoo.engine.runtime_openvino import convert_to_openvino, save_ir

    save_ir(convert_to_openvino(model, "fp32"), path)


def _openvino_int8_writer(precision: str) -> Callable[[Any, Path, Any], None]:
    def write(model: Any, path: Path, calibration: np.ndarray | None) -> None:
        from zoo.engine.runtime_base import checked_calibration
        from zoo.engine.runtime_openvino import convert_to_openvino, save_ir

        calibration = checked_calibration(model, calibration, f"the openvino {precision} export")
        save_ir(convert_to_openvino(model, precision, calibration=calibration), path)

    return write


def _load_openvino(path: Path, inputs: np.ndarray) -> np.ndarray:
    from zoo.engine.runtime_openvino import predict_ir

    return predict_ir(path, inputs)


_FORMATS: dict[str, tuple[Callable[[Any, Path, Any], None], Callable[[Path, np.ndarray], np.ndarray]]] = {
    "keras": (_write_keras, _load_keras),
    "savedmodel": (_write_savedmodel, _load_savedmodel),
    "litert": (_write_litert, _load_litert),
    "litert-int8": (_write_litert_int8, _load_litert),
    "litert-int8-plain": (_write_litert_int8_plain, _load_litert),
    "onnx": (_write_onnx, _load_onnx),
    "openvino": (_write_openvino, _load_openvino),
    "openvino-int8": (_openvino_int8_writer("int8"), _load_openvino),
    "openvino-int8-plain": (_openvino_int8_writer(PLAIN_INT8), _load_openvino),
}
