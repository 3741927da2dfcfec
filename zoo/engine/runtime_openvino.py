"""The OpenVINO runtime: a Keras model converted to OpenVINO IR and compiled for the CPU plugin.

    make_runtime(model, "openvino", "fp32")   IR compiled with INFERENCE_PRECISION_HINT f32
    make_runtime(model, "openvino", "bf16")   the same IR computed in bfloat16 (refused without native bf16)
    make_runtime(model, "openvino", "int8")   NNCF post-training quantization, calibrated on `calibration`
    make_runtime(model, "openvino", "int8+bf16")  the same int8 IR, its float parts computed in bfloat16
    make_runtime(model, "openvino", "bf16", streams=True)  a batch split over OpenVINO's throughput streams

The hint is always explicit: on a CPU with bf16 the plugin otherwise computes an fp32 model in bf16 and
nobody is told. `runtime.effective_precision` is what the compiled model says it runs, never the request.
IRs are cached beside the LiteRT conversions (zoo.config.converted_dir()), one folder per conversion.

With `streams` the model is compiled with OpenVINO's THROUGHPUT hint (its streams split the cores) and a
batch runs as one request per stream at once, each on a slice of it. On 2 cores that ran MobileNetV2 at
batch 32 7-11% faster than one request on both cores (bf16, int8), ResNet50 about 1% (fewer, bigger
convolutions keep two threads busy); a batch of one runs on one stream's threads, so auto times it only
for batches of two or more.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Sequence
from contextlib import redirect_stdout
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import config
from zoo.choices import INT8_BF16, PLAIN_INT8
from zoo.engine.agreement import compare
from zoo.engine.int8_search import SEARCH_VERSION, TARGET_AGREEMENT, split_calibration
from zoo.engine.runtime_base import (
    Runtime,
    array_digest,
    checked_calibration,
    conversion_name,
    distribution_version,
    load_cached,
    model_digest,
    sample_shape,
)  # fmt: skip
from zoo.errors import RuntimeUnavailable

if TYPE_CHECKING:
    import keras

IR_NAME = "model.xml"  # inside a cache folder; OpenVINO reads the weights from model.bin beside it
# int8: the layers NNCF left in float stay fp32; int8+bf16 (INT8_BF16): they compute in bf16
_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32", PLAIN_INT8: "f32", **dict.fromkeys(INT8_BF16, "bf16")}
# NNCF-quantized: searched (float layers kept), every layer int8, and those with bf16 float parts
INT8_PRECISIONS = ("int8", PLAIN_INT8, *INT8_BF16)
_PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}
# Layer types whose run-time precision shows whether the quantized graph really runs in int8.
_COMPUTE_LAYERS = ("Convolution", "FullyConnected", "MatMul", "Deconvolution")
INSTALL_HINT = "pip install zoo-hub[openvino]"
STREAMS = "streams"  # the runtime's variant name (Runtime.variant) when a batch is split over streams
# Rounds of NNCF's accuracy restorer (each puts one group of layers back to float) before it stops.
MAX_RESTORE_ITERATIONS = 24


def import_openvino() -> Any:
    """The openvino module, or RuntimeUnavailable naming the extra that installs it."""
    try:
        import openvino
    except ImportError:
        raise RuntimeUnavailable(
            "the openvino runtime needs the openvino package, which is not installed", hint=INSTALL_HINT
        ) from None
    return openvino


class OpenVINORuntime(Runtime):
    """An OpenVINO IR compiled for the CPU; one infer request (one per stream with `streams`), so calls are
    serialised by a lock.

    The IR keeps Keras' dynamic batch axis, so any batch size runs without recompiling.
    """

    name = "openvino"

    def __init__(
        self, path: Path, precision: str, *, num_threads: int | None = None, streams: bool = False
    ) -> None:
        ov = import_openvino()
        self.path = Path(path)
        self.precision = precision
        core = ov.Core()
        if _HINTS.get(precision) == "bf16":
            check_native_bf16(core, precision)
        settings: dict[str, Any] = {"INFERENCE_PRECISION_HINT": _HINTS.get(precision, "f32")}
        if num_threads:
            settings["INFERENCE_NUM_THREADS"] = num_threads
        if streams:
            settings["PERFORMANCE_HINT"] = "THROUGHPUT"
        self.variant = STREAMS if streams else ""
        model = core.read_model(str(self.path))
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise RuntimeUnavailable(f"{self.path}: expected one input and one output")
        self.input_shape = tuple(
            None if d.is_dynamic else d.get_length() for d in model.inputs[0].get_partial_shape()[1:]
        )
        self._compiled = core.compile_model(model, "CPU", settings)
        count = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) if streams else 1
        self._requests = [self._compiled.create_infer_request() for _ in range(max(1, count))]
        self._lock = threading.Lock()
        self.inference_precision = self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self._effective_precision = self._precision_that_runs()

    @property
    def effective_precision(self) -> str:
        return self._effective_precision

    def _precision_that_runs(self) -> str:
        """What the compiled model computes in: int8 only where its convolutions really run quantized."""
        floating = _PRECISION_NAMES.get(self.inference_precision, self.inference_precision)
        if self.precision not in INT8_PRECISIONS:
            return floating
        for op in self._compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            layer, runs_in = info["layerType"].astype(str), info["runtimePrecision"].astype(str)
            if layer in _COMPUTE_LAYERS and runs_in in ("u8", "i8"):
                # what OpenVINO's peer is reported as too: int8 with its float parts in bf16
                return "int8" if floating == "fp32" else f"int8+{floating}"
        return floating

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            count = min(len(self._requests), len(batch))  # slices: no more than images
            if count <= 1:
                request = self._requests[0]
                # the batch is read in place (predict made it contiguous float32), the output copied once
                request.infer({0: batch}, share_inputs=True, share_outputs=True)
                return np.array(request.get_output_tensor(0).data, dtype=np.float32)  # a copy
            slices = np.array_split(batch, count)
            running = self._requests[:count]
            for request, part in zip(running, slices, strict=True):
                request.start_async({0: part}, share_inputs=True)  # slices of rows: contiguous views
            outputs = []
            for request in running:
                request.wait()
                outputs.append(np.array(request.get_output_tensor(0).data, dtype=np.float32))
            return np.concatenate(outputs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label} (runs {self.effective_precision})>"

    @classmethod
    def from_model(
        cls,
        model: keras.Model,
        precision: str,
        *,
        calibration: np.ndarray | None = None,
        cache_key: str | None = None,
        num_threads: int | None = None,
        streams: bool = False,
    ) -> OpenVINORuntime:
        """Load the cached IR for these settings, converting (and caching) it first when missing."""
        ov = import_openvino()
        if _HINTS.get(precision) == "bf16":
            check_native_bf16(ov.Core(), precision)
        if precision in INT8_PRECISIONS:
            calibration = checked_calibration(
                model, calibration, f"the openvino runtime's precision {precision!r}"
            )
        # int8+bf16 compiles the int8 IR with another hint: one conversion (and one NNCF run) for both
        converted_as = ir_precision(precision)
        folder = ir_folder(model, converted_as, calibration=calibration, cache_key=cache_key)

        def convert() -> Any:
            return convert_to_openvino(model, converted_as, calibration=calibration)

        path = ensure_ir(folder, convert)
        return load_cached(
            path,
            lambda: cls(path, precision, num_threads=num_threads, streams=streams),
            partial(ensure_ir, folder, convert, True),
        )


def check_native_bf16(core: Any, precision: str = "bf16") -> None:
    """Refuse bf16 (or int8 with bf16 float parts) where the CPU would only emulate it (no AVX512_BF16 /
    AMX): it would be slower."""
    refusal = bf16_refusal(precision, core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    if refusal is not None:
        raise refusal


def bf16_refusal(precision: str, capabilities: Sequence[str]) -> RuntimeUnavailable | None:
    """Why `precision` (bf16 compute) is refused on a CPU plugin with these OPTIMIZATION_CAPABILITIES, or
    None when the CPU has native bf16."""
    if "BF16" in capabilities:
        return None
    instead = "'fp32' or 'int8'" if precision == "bf16" else repr(INT8_BF16[precision])
    return RuntimeUnavailable(
        f"precision {precision!r} is refused: this CPU has no native bfloat16 (no AVX512_BF16 or AMX), so "
        "OpenVINO would only emulate it",
        hint=f"use precision={instead}",
    )


def ir_precision(precision: str) -> str:
    """The precision whose IR `precision` compiles: int8+bf16 runs the int8 IR (INT8_BF16)."""
    return INT8_BF16.get(precision, precision)


# ------------------------------------------------------------------------------------------ conversion


def convert_to_openvino(model: keras.Model, precision: str, *, calibration: np.ndarray | None = None) -> Any:
    """An openvino.Model of `model`; for "int8", quantized by NNCF on `calibration` (one image a step),
    keeping the layers that cost agreement in float; for "int8-plain", every layer int8 (no search).

    Keras 3 models go through a TF SavedModel, the input OpenVINO's converter documents for TensorFlow.
    int8+bf16 converts as int8 (bf16 is a compile-time hint, not in the IR).
    """
    precision = ir_precision(precision)
    ov = import_openvino()
    with tempfile.TemporaryDirectory(prefix="zoo-openvino-") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        try:
            converted = ov.convert_model(tmp)
        except Exception as exc:  # the converter raises OpConversionFailure, RuntimeError...
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RuntimeUnavailable(
                f"OpenVINO conversion failed: {first}", hint="use runtime='keras' or 'litert'"
            ) from exc
    if precision not in INT8_PRECISIONS:
        return converted
    assert calibration is not None
    try:
        import nncf
    except ImportError:
        raise RuntimeUnavailable(
            "the openvino runtime's int8 needs nncf, which is not installed", hint=INSTALL_HINT
        ) from None
    calibrate, holdout = (
        split_calibration(calibration) if precision == "int8" else (calibration, calibration[:0])
    )
    dataset = nncf.Dataset(list(calibrate), lambda sample: sample[None])
    # Full bias correction (not NNCF's fast default): measured on the real MobileNet 0.25 classifier with 60
    # training photos, val top-1 agreement with fp32 rose from 0.58 to 0.81 (mean cosine 0.87 -> 0.96),
    # for a few seconds more conversion. NNCF draws progress bars on stdout, which carries zoo's data.
    with redirect_stdout(sys.stderr):
        if not len(holdout):
            return nncf.quantize(converted, dataset, subset_size=len(calibrate), fast_bias_correction=False)
        return _quantize_keeping_agreement(nncf, converted, dataset, holdout, model)


def _quantize_keeping_agreement(
    nncf: Any, converted: Any, dataset: Any, holdout: np.ndarray, model: Any
) -> Any:
    """NNCF's accuracy-aware quantization: the layers its ranking finds most costly go back to float until
    the int8 model's top-1 agrees with fp32 keras on TARGET_AGREEMENT of the held-back calibration images
    (zoo.engine.int8_search), in at most MAX_RESTORE_ITERATIONS rounds."""
    import keras

    reference = keras.ops.convert_to_numpy(model(holdout, training=False)).astype(np.float32)

    def agreement(compiled: Any, batches: Any) -> float:
        outputs = np.concatenate([np.asarray(compiled(batch)[0]) for batch in batches])
        return compare(reference, outputs).top1_agreement

    # NNCF logs each restoring round at INFO through a handler on stdout, which carries zoo's data
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(logging.WARNING)
    try:
        return _accuracy_control(nncf, converted, dataset, holdout, agreement)
    finally:
        nncf_logger.setLevel(level)


def _accuracy_control(nncf: Any, converted: Any, dataset: Any, holdout: np.ndarray, validate: Any) -> Any:
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    return nncf.quantize_with_accuracy_control(
        converted,
        dataset,
        nncf.Dataset([holdout]),
        validation_fn=validate,
        max_drop=1 - TARGET_AGREEMENT,
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=dataset.get_length(),
        fast_bias_correction=False,
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            max_num_iterations=MAX_RESTORE_ITERATIONS
        ),
    )


def save_ir(ov_model: Any, path: Path) -> None:
    """Write `ov_model` as IR at `path` (.xml) and its .bin, weights kept float32 (not fp16)."""
    import_openvino().save_model(ov_model, str(path), compress_to_fp16=False)


def ensure_ir(folder: Path, convert: Any, again: bool = False) -> Path:
    """folder/model.xml, converting (convert() -> openvino.Model) and writing it first when missing (or
    `again`: it cannot be read).

    The IR is written into a temporary folder beside `folder` and renamed, so a reader never sees half
    an IR; a file lock stops two processes converting the same model at once.
    """
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder / IR_NAME
    with FileLock(str(folder.with_name(f".{folder.name}.lock"))):
        if again and folder.exists():
            shutil.rmtree(folder)
        if path.is_file() and path.with_suffix(".bin").is_file():
            return path
        staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            staging.mkdir()
            save_ir(convert(), staging / IR_NAME)
            if folder.exists():  # an incomplete entry (e.g. from a crash before the lock existed)
                shutil.rmtree(folder)
            os.replace(staging, folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return path


def ir_folder(
    model: keras.Model,
    precision: str,
    *,
    calibration: np.ndarray | None = None,
    cache_key: str | None = None,
) -> Path:
    """converted_dir()/<cache_key>-openvino-<precision>-<digest>/, the digest of everything the IR
    depends on: the model identity, precision, input shape, calibration (int8) and converter versions.
    int8+bf16 shares the int8 IR's folder (ir_precision)."""
    precision = ir_precision(precision)
    settings = {
        "model": cache_key or model_digest(model),
        "runtime": "openvino",
        "precision": precision,
        "input_shape": list(sample_shape(model)),
        "calibration": array_digest(calibration)
        if precision in INT8_PRECISIONS and calibration is not None
        else None,
        "openvino": distribution_version("openvino"),
        "nncf": distribution_version("nncf") if precision in INT8_PRECISIONS else None,
        "search": SEARCH_VERSION if precision == "int8" else None,
        "tensorflow": distribution_version("tensorflow"),
    }
    return config.converted_dir() / conversion_name(cache_key, f"openvino-{precision}", settings)


def predict_ir(path: Path, inputs: np.ndarray) -> np.ndarray:
    """Outputs of the IR at `path` (.xml with its .bin) on `inputs`, computed in fp32."""
    return OpenVINORuntime(path, "fp32").predict(inputs)
