"""Inference runtimes: one `predict(batch) -> numpy` interface over a Keras graph and LiteRT.

    make_runtime(model, "keras", "fp32")        a traced tf.function graph (the reference)
    make_runtime(model, "keras", "bf16")        the same graph with bfloat16 compute, float32 out
    make_runtime(model, "litert", "fp32")       LiteRT + XNNPACK, float32
    make_runtime(model, "litert", "fp16")       LiteRT, float16 weights
    make_runtime(model, "litert", "int8")       LiteRT, dynamic-range int8 (weights int8, activations
                                                quantized on the fly)
    make_runtime(model, "litert", "int8-full")  LiteRT, every tensor int8, calibrated on `calibration`
                                                (float in/out wrappers, so the API stays float)

Every runtime takes and returns float32 NumPy arrays with the batch first; `runtime.agreement(reference,
inputs)` measures how far its outputs are from another runtime's (normally keras fp32) on given inputs.
LiteRT conversions are cached under zoo.config.converted_dir() (see `converted_path`).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo._native import quiet_native_stderr
from zoo.atomic import atomic_write_bytes
from zoo.choices import (
    PLAIN_INT8,
    PRECISIONS,
    RUNTIME_PRECISIONS,
    RUNTIMES,
    SPINNING_RUNTIMES,
    STREAMS_RUNTIMES,
)
from zoo.engine.conversion_cache import converted_path  # re-exported: the LiteRT cache's path
from zoo.engine.runtime_base import (  # re-exported: zoo.engine.runtimes stays the runtimes' one import
    MAX_CALIBRATION_SAMPLES,  # noqa: F401
    PREDICT_CHUNK,  # noqa: F401
    Runtime,
    checked_calibration,
    load_cached,
    sample_shape,
    write_cached,
)
from zoo.errors import RuntimeUnavailable

if TYPE_CHECKING:
    import keras


def make_runtime(
    model: keras.Model,
    runtime: str = "keras",
    precision: str = "fp32",
    *,
    calibration: np.ndarray | None = None,
    cache_key: str | None = None,
    num_threads: int | None = None,
    spinning: bool = False,
    streams: bool = False,
) -> Runtime:
    """A Runtime for `model` (a single-input, single-output keras.Model).

    calibration: sample inputs (N, *input_shape) for precision "int8-full" (litert), "int8" (openvino,
        onnxruntime), "int8-plain" (litert, openvino: every layer int8, no float-layer search) and
        "int8+bf16" / "int8-plain+bf16" (openvino: those int8 IRs with bf16 float parts), required there;
        never the inputs you then score.
    cache_key: identifies the model for the LiteRT conversion cache, e.g. "<name>-<weights sha256>";
        precision, input shape, calibration and TensorFlow version are added to it here. Without it
        the key is a hash of the model's config and weights.
    num_threads: LiteRT interpreter / OpenVINO inference threads (default: every CPU this process may run on).
    spinning: onnxruntime only: its worker threads spin between pieces of work (ORT's own default; zoo's
        is off, zoo.engine.runtime_onnx.session_options says why); `--runtime auto` times both.
    streams: openvino only: a batch is split over OpenVINO's throughput streams, run at once, each on its
        share of the cores (zoo.engine.runtime_openvino says when that pays); `--runtime auto` times both.
    """
    check_choice(runtime, precision)
    if spinning and runtime not in SPINNING_RUNTIMES:
        raise RuntimeUnavailable(
            f"spinning is an onnxruntime session setting; the {runtime} runtime has none",
            hint="leave spinning off, or use runtime='onnxruntime'",
        )
    if streams and runtime not in STREAMS_RUNTIMES:
        raise RuntimeUnavailable(
            f"streams are an openvino setting; the {runtime} runtime has none",
            hint="leave streams off, or use runtime='openvino'",
        )
    variant = {"spinning": True} if spinning else {"streams": True} if streams else {}
    check_single_io(model)
    if runtime == "keras":
        return KerasRuntime(model, precision)
    from zoo.engine.backend import check_convertible, converts_in_child

    check_convertible(runtime)
    if converts_in_child(runtime):
        from zoo.engine.tf_convert import runtime_via_tensorflow

        def load(path: Path) -> Runtime:
            return _runtime_class(runtime)(path, precision, num_threads=num_threads, **variant)

        return runtime_via_tensorflow(
            model, runtime, precision, load, calibration=calibration, cache_key=cache_key
        )
    if runtime == "onnxruntime":
        from zoo.engine.runtime_onnx import OnnxRuntime

        return OnnxRuntime.from_model(
            model, precision, calibration=calibration, cache_key=cache_key, num_threads=num_threads,
            spinning=spinning,
        )  # fmt: skip
    if runtime == "openvino":
        from zoo.engine.runtime_openvino import OpenVINORuntime

        return OpenVINORuntime.from_model(
            model, precision, calibration=calibration, cache_key=cache_key, num_threads=num_threads,
            streams=streams,
        )  # fmt: skip
    path = converted_path(model, precision, calibration=calibration, cache_key=cache_key)
    return LiteRTRuntime.from_model(model, precision, path, calibration=calibration, num_threads=num_threads)


def _runtime_class(runtime: str) -> Any:
    """The Runtime class that runs `runtime`'s converted file."""
    if runtime == "onnxruntime":
        from zoo.engine.runtime_onnx import OnnxRuntime

        return OnnxRuntime
    if runtime == "openvino":
        from zoo.engine.runtime_openvino import OpenVINORuntime

        return OpenVINORuntime
    return LiteRTRuntime


def check_choice(runtime: str, precision: str) -> None:
    """Refuse runtime/precision pairs zoo cannot run (before any work), saying what to use instead."""
    if runtime not in RUNTIMES:
        raise RuntimeUnavailable(f"unknown runtime {runtime!r}", hint=f"choose one of {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise RuntimeUnavailable(
            f"unknown precision {precision!r}", hint=f"choose one of {', '.join(PRECISIONS)}"
        )
    if precision not in RUNTIME_PRECISIONS[runtime]:
        other = next(r for r in RUNTIMES if precision in RUNTIME_PRECISIONS[r])
        raise RuntimeUnavailable(
            f"the {runtime} runtime has no {precision} precision",
            hint=f"use runtime={other!r} for {precision}, or one of {', '.join(RUNTIME_PRECISIONS[runtime])}",
        )


def check_single_io(model: Any) -> None:
    """Refuse models a runtime cannot drive: unbuilt, or with several inputs or outputs."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        raise RuntimeUnavailable(
            "the model is not built", hint="call the model once or give it an Input"
        ) from None
    if len(inputs) != 1 or len(outputs) != 1:
        raise RuntimeUnavailable(
            f"runtimes take models with one input and one output (this one has {len(inputs)} and "
            f"{len(outputs)})"
        )


# --------------------------------------------------------------------------------------------- keras


class KerasRuntime(Runtime):
    """A Keras model traced once into a graph with a None batch axis (no retracing), weights frozen in.

    That is the TensorFlow back-end; on JAX and PyTorch the forward pass is zoo.engine.backend's
    (a jitted function with the weights as constants; the call traced and frozen by torch.jit once per
    batch shape, run in torch.inference_mode()).

    Freezing the variables into constants lets TensorFlow's graph optimiser fold each BatchNormalization
    into the convolution before it and fuse convolution + bias + activation into one oneDNN kernel:
    measured on ResNet50 (batch 8, 224x224) about 15% faster than the same graph reading variables in
    fp32 (17% in bf16). The price: the runtime keeps its own copy of the weights, and
    later changes to the model's weights are not seen (make a new runtime). Models that cannot be frozen
    run on the variable graph.

    XLA (jit_compile=True) is off on purpose: measured on this CPU with batch 16 at 224x224, XLA made
    MobileNetV2 about 10x slower (depthwise convolutions) and left ResNet50 unchanged.
    """

    name = "keras"

    def __init__(self, model: keras.Model, precision: str = "fp32") -> None:
        import keras

        from zoo.engine.backend import backend_forward, has_accelerator

        self.precision = precision
        self.input_shape = sample_shape(model)
        self.backend = keras.config.backend()
        if precision == "fp16" and not has_accelerator(self.backend):
            raise RuntimeUnavailable(
                f"fp16 on CPU is refused: {self.backend} has no fast half-precision CPU kernels (it would be "
                "slower than fp32)",
                hint="use precision='bf16' (keras), or runtime='litert' with precision='fp16' or 'int8'",
            )
        if precision == "fp32":
            self.model = model
        else:
            from zoo.engine.fingerprint import tensorflow_kept_out
            from zoo.engine.folding import fold_batch_norms

            with tensorflow_kept_out():  # cloning reads layer configs: on torch, importing TF would crash
                self.model = clone_with_policy(fold_batch_norms(model), _POLICIES[precision])
        self._forward = None if self.backend == "tensorflow" else backend_forward(self.model, self.backend)
        self.frozen = self.backend != "tensorflow"  # JAX, torch: weights are constants of the compiled call
        if self._forward is None:
            self._trace_frozen_graph()

    def _trace_frozen_graph(self) -> None:
        import tensorflow as tf

        spec = tf.TensorSpec([None, *self.input_shape], tf.float32)
        compute = self.model

        # a closure per runtime (not a bound method): TF's retracing warning counts traces per function
        def forward(batch: Any) -> Any:
            return tf.cast(compute(batch, training=False), tf.float32)

        traced = tf.function(forward, input_signature=[spec], jit_compile=False).get_concrete_function()
        self.frozen = True
        try:
            self._graph = _freeze(traced)
        except Exception:  # e.g. a graph over protobuf's 2 GB limit: the variable graph runs it as well
            self.frozen = False
            self._graph = traced

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._forward is not None:
            return self._forward(batch)
        import tensorflow as tf

        outputs = self._graph(tf.constant(batch))
        return (outputs[0] if isinstance(outputs, list | tuple) else outputs).numpy()


def _freeze(traced: Any) -> Any:
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(traced)


_POLICIES = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def clone_with_policy(model: keras.Model, policy: str) -> keras.Model:
    """A copy of `model` whose layers compute under the Keras dtype `policy` (same weights).

    Keras stores each layer's dtype policy in its config, so setting the global policy is not enough: the
    clone rebuilds every layer (nested models included) from its config with the policy swapped in.
    Variables stay float32 under the mixed policies; BatchNormalization upcasts to float32 by itself
    (so KerasRuntime folds it into the convolutions first: zoo.engine.folding).
    """
    import keras

    def rebuild(layer: keras.layers.Layer) -> keras.layers.Layer:
        # an op in the graph (MobileNetV3's `x + 3.0` is a keras.ops Add, no Layer) has no policy: it
        # computes in its inputs' dtype
        if isinstance(layer, keras.layers.InputLayer) or not isinstance(layer, keras.layers.Layer):
            return layer.__class__.from_config(layer.get_config())
        layer_config = layer.get_config()
        layer_config["dtype"] = keras.DTypePolicy(policy)
        return layer.__class__.from_config(layer_config)

    clone = keras.models.clone_model(model, clone_function=rebuild, recursive=True)
    clone.set_weights(model.get_weights())
    return clone


# -------------------------------------------------------------------------------------------- litert


class LiteRTRuntime(Runtime):
    """A LiteRT (TFLite) flatbuffer run by ai_edge_litert's interpreter with the XNNPACK delegate.

    The interpreter is resized when the batch size changes (the converted model has a dynamic batch
    axis); one interpreter serves one call at a time, so calls are serialised by a lock.
    """

    name = "litert"

    def __init__(self, path: Path, precision: str, *, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.precision = precision
        self._interpreter = Interpreter(
            model_path=str(self.path), num_threads=num_threads or len(os.sched_getaffinity(0))
        )
        input_details = self._interpreter.get_input_details()
        output_details = self._interpreter.get_output_details()
        if len(input_details) != 1 or len(output_details) != 1:
            raise RuntimeUnavailable(f"{self.path}: expected one input and one output tensor")
        self._input_index = input_details[0]["index"]
        self._output_index = output_details[0]["index"]
        signature = input_details[0].get("shape_signature", input_details[0]["shape"])
        self.input_shape = tuple(None if d < 0 else int(d) for d in signature[1:])
        self._allocated_shape: tuple[int, ...] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_model(
        cls,
        model: keras.Model,
        precision: str,
        path: Path,
        *,
        calibration: np.ndarray | None = None,
        num_threads: int | None = None,
    ) -> LiteRTRuntime:
        """Load the cached conversion at `path`, converting (and caching) first when it is missing or
        unreadable."""

        def convert() -> bytes:
            report = search_report_path(path)
            return convert_to_litert(model, precision, calibration=calibration, search_report=report)

        write_cached(path, convert)
        return load_cached(
            path,
            lambda: cls(path, precision, num_threads=num_threads),
            partial(write_cached, path, convert, True),
        )

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            if batch.shape != self._allocated_shape:
                self._interpreter.resize_tensor_input(self._input_index, list(batch.shape), strict=False)
                # the first allocation applies XNNPACK, which announces itself on fd 2 for every model
                with quiet_native_stderr():
                    self._interpreter.allocate_tensors()
                self._allocated_shape = batch.shape
            self._interpreter.set_tensor(self._input_index, batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output_index)  # a copy, safe after the lock


def convert_to_litert(
    model: keras.Model,
    precision: str,
    *,
    calibration: np.ndarray | None = None,
    search_report: Path | None = None,
) -> bytes:
    """A LiteRT flatbuffer of `model` at `precision` ("fp32", "fp16", "int8", "int8-full", "int8-plain").

    "int8-full" keeps the layers that measurably cost agreement in float (zoo.engine.litert_int8), and
    "int8-plain" is the same calibration with every layer int8 (no search); the
    search's report goes to `search_report` (JSON) when given. Keras 3 models go through a TF SavedModel
    (model.export): TFLiteConverter.from_concrete_functions on a traced call loses the variables in TF
    2.21 and returns a model that outputs NaN.
    """
    import tensorflow as tf

    if precision in ("int8-full", PLAIN_INT8):
        calibration = checked_calibration(model, calibration, f"precision {precision!r}", instead="int8")
    with tempfile.TemporaryDirectory(prefix="zoo-export-") as tmp:
        export_saved_model(model, tmp)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if precision in ("fp16", "int8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            if precision not in ("int8-full", PLAIN_INT8):
                return converter.convert()
            from zoo.engine.litert_int8 import full_int8

            assert calibration is not None
            flatbuffer, search = full_int8(
                tmp, calibration, KerasRuntime(model).predict, run_flatbuffer, search=precision == "int8-full"
            )
            if search_report is not None and search is not None:
                atomic_write_bytes(search_report, json.dumps(search.to_dict(), indent=1).encode())
            return flatbuffer
        except Exception as exc:  # the converter raises ConverterError, RuntimeError, ValueError...
            raise RuntimeUnavailable(
                f"LiteRT conversion ({precision}) failed: {str(exc).splitlines()[0] if str(exc) else exc}",
                hint="try precision='fp32' or 'int8' (dynamic range), or the keras runtime",
            ) from exc


def run_flatbuffer(flatbuffer: bytes, images: np.ndarray) -> np.ndarray:
    """Outputs of a LiteRT flatbuffer held in memory (an int8 candidate) on `images`."""
    with tempfile.TemporaryDirectory(prefix="zoo-litert-") as tmp:
        path = Path(tmp) / "candidate.tflite"
        path.write_bytes(flatbuffer)
        return LiteRTRuntime(path, "candidate").predict(images)


def export_saved_model(model: keras.Model, directory: str | Path) -> None:
    """model.export as a TF SavedModel with a `serve` signature (silently: stdout carries data only)."""
    model.export(str(directory), format="tf_saved_model", verbose=False)


# --------------------------------------------------------------------------------------------- cache


def search_report_path(path: Path) -> Path:
    """Beside a cached int8 conversion: which layers its search kept in float, and what it measured."""
    return path.with_name(path.name + ".search.json")
