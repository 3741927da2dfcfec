"""The ONNX Runtime runtime: a Keras model converted by tf2onnx, run by onnxruntime on the CPU.

    make_runtime(model, "onnxruntime", "fp32")   tf2onnx's conversion, run by the CPUExecutionProvider
    make_runtime(model, "onnxruntime", "int8", calibration=images)
                                                 onnxruntime's static quantization of that conversion
                                                 (QDQ, per-channel int8 weights, int8 activations
                                                 calibrated on `calibration`, biases corrected);
                                                 float in and out

Both files go to zoo's conversion cache (`onnx_path`), written atomically under a file lock, so a second
runtime for the same model and settings loads them instead of converting again. tf2onnx and onnxruntime
are zoo dependencies; when either is missing the runtime is refused (RuntimeUnavailable) naming them.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import config
from zoo.engine.agreement import compare
from zoo.engine.onnx_bias import correct_biases
from zoo.engine.runtime_base import (
    Runtime,
    array_digest,
    checked_calibration,
    conversion_name,
    distribution_version,
    load_cached,
    model_digest,
    sample_shape,
    write_cached,
)  # fmt: skip
from zoo.errors import RuntimeUnavailable, ZooError

if TYPE_CHECKING:
    import keras

ONNX_OPSET = 17
INSTALL_HINT = "pip install tf2onnx onnx onnxruntime (zoo-hub's own dependencies: reinstall zoo-hub)"
CALIBRATION_BATCH = 1  # ORT's histogram calibrators refuse batches of different sizes
# The one-off check of a new conversion against Keras: inputs, their size where the model takes any, bound.
CHECK_SAMPLES = 4
CHECK_SIZE = 224
FLOAT_MAX_REL = 1e-4
# The output head int8 leaves in float (float_outputs): ops between the logits and the output, and the
# layer that computes the logits.
FLOAT_OUTPUT_OPS = ("Softmax", "Reshape", "Squeeze", "Flatten", "Transpose", "Identity", "Add")
LOGIT_OPS = ("Conv", "MatMul", "Gemm")
# How zoo quantizes to int8 (quantize_int8): part of the int8 cache key, so a changed recipe converts again.
INT8_RECIPE = "qdq-per-channel-minmax-head-float-bias-corrected"
ALLOW_SPINNING = "session.intra_op.allow_spinning"  # ORT's session config entry, "1" (its default) or "0"
SPINNING = "spinning"  # the runtime's variant name (Runtime.variant) when its workers spin


class OnnxRuntime(Runtime):
    """An .onnx file run by an onnxruntime InferenceSession on the CPU (every CPU this process may use),
    its worker threads spinning between pieces of work only when `spinning` (session_options says why
    that is off unless asked).

    onnxruntime's session.run may be called from several threads at once, so no lock is needed.
    """

    name = "onnxruntime"

    def __init__(
        self, path: Path, precision: str, *, num_threads: int | None = None, spinning: bool = False
    ) -> None:
        onnxruntime = import_onnxruntime()
        self.path = Path(path)
        self.precision = precision
        self.variant = SPINNING if spinning else ""
        options = session_options(num_threads, spinning=spinning)
        try:
            self._session = onnxruntime.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's InvalidGraph, Fail, NotImplemented...
            raise RuntimeUnavailable(
                f"onnxruntime cannot run {self.path.name}: {_load_failure(exc)}",
                hint="use another runtime (keras or litert)",
            ) from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise RuntimeUnavailable(f"{self.path}: expected one input and one output tensor")
        self._input_name = inputs[0].name
        self.input_shape = tuple(d if isinstance(d, int) else None for d in inputs[0].shape[1:])

    @classmethod
    def from_model(
        cls,
        model: keras.Model,
        precision: str,
        *,
        calibration: np.ndarray | None = None,
        cache_key: str | None = None,
        num_threads: int | None = None,
        spinning: bool = False,
    ) -> OnnxRuntime:
        """Load the cached conversion of `model` at `precision`, converting (and caching) first when it is
        missing or unreadable."""
        import_onnxruntime()
        if precision == "int8":
            calibration = checked_calibration(model, calibration, "the onnxruntime runtime's int8")
        fp32_path = onnx_path(model, "fp32", cache_key=cache_key)

        def fp32(again: bool = False) -> Path:
            return cached(fp32_path, lambda out: convert_and_check(model, out, calibration), again)

        def load(path: Path, make: Any) -> OnnxRuntime:
            make()
            return load_cached(
                path,
                lambda: cls(path, precision, num_threads=num_threads, spinning=spinning),
                partial(make, True),
            )

        if precision == "fp32":
            return load(fp32_path, fp32)
        assert calibration is not None
        int8_path = onnx_path(model, "int8", calibration=calibration, cache_key=cache_key)

        def int8(again: bool = False) -> Path:
            def quantize(out: Path) -> None:
                fp32()  # made first, then read: a damaged cached source is made again before quantizing
                load_cached(fp32_path, lambda: cls(fp32_path, "fp32"), partial(fp32, True))
                quantize_int8(fp32_path, out, calibration)

            return cached(int8_path, quantize, again)

        return load(int8_path, int8)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run(None, {self._input_name: batch})[0], dtype=np.float32)


def session_options(num_threads: int | None = None, *, spinning: bool = False) -> Any:
    """onnxruntime's SessionOptions as zoo runs a session: ORT's own thread pool unless told otherwise, and
    worker threads that sleep rather than spin between pieces of work unless `spinning`.

    Threads: ORT's default (intra_op_num_threads 0) starts one thread per physical core and pins them
    (measured: 2 unpinned threads, what zoo set before, ran MobileNetV2 batch 1 at 0.83-0.91x of a
    default session on a lightly loaded 2-core machine). ORT's default ignores a restricted CPU affinity
    (taskset, a cpuset), so then, or when `num_threads` is given, the count is set explicitly. Spinning
    off: on a machine shared with other work a spinning worker takes the core another thread needs
    (ResNet50 batch 1 under load: 1.4-1.7x the images/s of ORT's spinning default).

    Spinning (ORT's own default) wins on a quiet machine when calls are short: MobileNetV2 batch 1 ran
    1.38x faster spinning, batch 32 within 4%. Off is the default for a session asked for by name because
    its worst case is the milder one (at most that 1.38x on small quiet batches, against 1.4-1.7x lost
    under load when spinning), and because a spinning pool keeps burning the cores after every call,
    which a server idle between requests or a job sharing the machine pays for. `--runtime auto` times
    both sessions on the machine at hand and keeps the faster (zoo.bench.auto).
    """
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    usable = len(os.sched_getaffinity(0))
    if num_threads or usable < (os.cpu_count() or usable):
        options.intra_op_num_threads = num_threads or usable
    options.add_session_config_entry(ALLOW_SPINNING, "1" if spinning else "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers etc. would go to stderr
    return options


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeUnavailable("the onnxruntime runtime needs onnxruntime", hint=INSTALL_HINT) from None
    return onnxruntime


def import_tf2onnx() -> Any:
    try:
        import tf2onnx
    except ImportError as exc:
        raise RuntimeUnavailable(
            f"ONNX conversion needs tf2onnx and onnx ({exc.name} is not installed)", hint=INSTALL_HINT
        ) from None
    return tf2onnx


# ---------------------------------------------------------------------------------------- conversion


def convert_to_onnx(model: keras.Model, path: Path) -> None:
    """Write `model` as ONNX (opset ONNX_OPSET, a dynamic batch axis, input named "input") to `path`."""
    tf2onnx = import_tf2onnx()
    import tensorflow as tf

    signature = (tf.TensorSpec([None, *sample_shape(model)], tf.float32, name="input"),)
    forward = tf.function(lambda batch: model(batch, training=False), input_signature=signature)
    try:
        tf2onnx.convert.from_function(
            forward, input_signature=signature, opset=ONNX_OPSET, output_path=str(path)
        )
    except Exception as exc:  # tf2onnx raises plain exceptions for ops it cannot map
        raise ZooError(
            f"ONNX conversion failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            hint="use another runtime (keras or litert), or export to litert or savedmodel",
        ) from exc


def convert_and_check(model: keras.Model, path: Path, samples: np.ndarray | None) -> None:
    """convert_to_onnx, refused unless onnxruntime loads the file and it computes what `model` computes.

    tf2onnx writes ops it cannot map into the file as they are (ScaleAndTranslate, Bucketize...), which
    only fails when onnxruntime loads it, and it maps some ops wrongly (measured: Resizing with
    interpolation="area" differs by more than the outputs' own size). So the conversion is run on
    `samples[:CHECK_SAMPLES]` (else seeded random pixels) and compared with the Keras model once, before
    it is cached.
    """
    convert_to_onnx(model, path)
    inputs = _check_inputs(model, samples)
    expected = np.asarray(model(inputs, training=False), dtype=np.float32)
    agreement = compare(expected, OnnxRuntime(path, "fp32").predict(inputs))
    if not agreement.max_rel <= FLOAT_MAX_REL:
        raise RuntimeUnavailable(
            f"tf2onnx's conversion of this model computes something else (max relative difference "
            f"{agreement.max_rel:.3g} against Keras, more than {FLOAT_MAX_REL:g})",
            hint="use another runtime (keras or litert)",
        )


def _check_inputs(model: Any, samples: np.ndarray | None) -> np.ndarray:
    if samples is not None and len(samples):
        return np.ascontiguousarray(samples[:CHECK_SAMPLES], dtype=np.float32)
    shape = tuple(CHECK_SIZE if d is None else d for d in sample_shape(model))
    return np.random.default_rng(0).uniform(0, 255, (CHECK_SAMPLES, *shape)).astype(np.float32)


def _load_failure(exc: Exception) -> str:
    """The gist of onnxruntime's refusal: the op it has no kernel for, else the message's last part."""
    message = str(exc)
    if match := re.search(r'In Node, \("[^"]*", (\w+),', message):
        return f"it has no {match.group(1)} op (tf2onnx left it unconverted)"
    return message.split(":")[-1].strip() or type(exc).__name__


def quantize_int8(fp32: Path, path: Path, calibration: np.ndarray) -> None:
    """Statically quantize the ONNX file `fp32` to `path`: QDQ, per-channel int8 weights, int8 activations
    whose ranges are the min/max seen on `calibration`, the output head (the logits layer and the softmax)
    left in float, and each convolution's bias corrected for the mean shift int8 brings
    (zoo.engine.onnx_bias, as NNCF does for OpenVINO).

    Measured on the real ImageNet MobileNet 0.25 @128 with its head (benchmarks/int8_accuracy.py, 234
    held-out photos; one photo is 0.43 points), over four calibration subsets of 200 training photos,
    worst drop of top-1 / top-5 against fp32 and mean top-1 agreement: Percentile 99.999 (the recipe
    before) 0.0 / 2.1, 0.59; every calibration tried here (MinMax, Entropy, Percentile 99.99-99.9999,
    symmetric ranges, uint8 activations) lost 1.3-4.3 points of top-5 without bias correction; with it
    Percentile 1.3 / 1.3, 0.82; MinMax with the head in float 0.0 / 1.7, 0.84 (within a point on three
    subsets of four). An int8 output head has a fixed step that turns near-ties among the top five into
    ties. The model is first run through onnxruntime's quantization pre-processing (shape inference and
    graph optimisation, e.g. BatchNormalization folded into the convolutions), as its docs ask, so the
    quantized graph is the one that runs.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="zoo-onnx-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=False)
        # the histogram calibrators print their progress: keep stdout for the command's output (--json)
        with contextlib.redirect_stdout(sys.stderr):
            quantize_static(
                str(prepared),
                str(path),
                _CalibrationReader(prepared, calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=float_outputs(onnx.load(str(prepared), load_external_data=False).graph),
            )
        correct_biases(prepared, path, calibration, session_options())


def float_outputs(graph: Any) -> list[str]:
    """The nodes int8 quantization leaves in float: from each graph output back through the ops that only
    reshape, add a bias or take the softmax (FLOAT_OUTPUT_OPS), up to and including the layer that
    computes the logits (a Conv, MatMul or Gemm)."""
    producers = {output: node for node in graph.node for output in node.output}
    constants = {tensor.name for tensor in graph.initializer}
    constants |= {name for node in graph.node if node.op_type == "Constant" for name in node.output}
    kept: list[str] = []
    for output in graph.output:
        node = producers.get(output.name)
        while node is not None and node.name not in kept:
            if node.op_type in LOGIT_OPS:
                kept.append(node.name)
                break
            data = [name for name in node.input if name not in constants and name in producers]
            if node.op_type not in FLOAT_OUTPUT_OPS or len(data) != 1:
                break
            kept.append(node.name)
            node = producers[data[0]]
    return kept


class _CalibrationReader:
    """onnxruntime's CalibrationDataReader protocol: get_next() -> {input name: batch} or None at the end."""

    def __init__(self, model: Path, calibration: np.ndarray) -> None:
        import onnx

        self._name = onnx.load(str(model), load_external_data=False).graph.input[0].name
        self._calibration = calibration
        self._batches: Iterator[np.ndarray] = self._iterate()

    def _iterate(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self._calibration), CALIBRATION_BATCH):
            yield self._calibration[start : start + CALIBRATION_BATCH]

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._name: batch}

    def rewind(self) -> None:
        self._batches = self._iterate()


# --------------------------------------------------------------------------------------------- cache


def onnx_path(
    model: keras.Model,
    precision: str,
    *,
    calibration: np.ndarray | None = None,
    cache_key: str | None = None,
) -> Path:
    """Where the ONNX conversion of `model` at these settings is cached (converted_dir()/<key>.onnx).

    Keyed like runtimes.converted_path: the model identity (cache_key, or its config and weights), the
    precision, the input shape, the calibration data (int8) and the versions of the tools that convert.
    """
    settings = {
        "model": cache_key or model_digest(model),
        "precision": precision,
        "input_shape": list(sample_shape(model)),
        "calibration": array_digest(calibration) if precision == "int8" and calibration is not None else None,
        "opset": ONNX_OPSET,
        "int8_recipe": INT8_RECIPE if precision == "int8" else None,
        "tensorflow": distribution_version("tensorflow"),
        "tf2onnx": distribution_version("tf2onnx"),
        "onnxruntime": distribution_version("onnxruntime"),
    }
    return config.converted_dir() / f"{conversion_name(cache_key, f'onnx-{precision}', settings)}.onnx"


def cached(path: Path, write: Any, again: bool = False) -> Path:
    """`path`, after `write(staging_path)` made it when it is missing (or `again`: it cannot be read);
    atomic, one writer at a time (runtime_base.write_cached)."""

    def written() -> bytes:
        with tempfile.TemporaryDirectory(prefix=".zoo-onnx-", dir=path.parent) as tmp:
            staging = Path(tmp) / path.name
            write(staging)
            return staging.read_bytes()

    write_cached(path, written, again)
    return path
