"""LiteRT full int8 that keeps accuracy: calibrated int8, with the layers that measurably cost agreement kept
in float (zoo.engine.int8_search), ranked by LiteRT's own quantization debugger.

The debugger runs the int8 model layer by layer beside the float one on the held-back calibration images
and reports each layer's error; the ranking is its mean squared error over the quantization noise of the
layer's own scale (scale**2 / 12), the figure TensorFlow's debugger guide ranks by. A softmax or logistic
output stays float always: LiteRT's int8 kernels give them a fixed 1/256 output scale, which left about 12
distinct probabilities per image on the ImageNet MobileNet 0.25 (a tenth of its top-1s exact ties, and its
top-5 mostly ties broken by class index).
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from zoo._native import quiet_native_stderr
from zoo.engine.int8_search import FloatSearch, keep_sensitive_in_float, split_calibration

# Output ops whose int8 kernels have a fixed 1/256 output scale.
FIXED_SCALE_OUTPUT_OPS = ("SOFTMAX", "LOGISTIC")


def samples(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """A representative dataset for TFLiteConverter: one image at a time, batch axis added."""

    def each() -> Iterator[list[np.ndarray]]:
        for sample in images:
            yield [sample[None]]

    return each


def full_int8(
    saved_model: str,
    calibration: np.ndarray,
    reference: Callable[[np.ndarray], np.ndarray],
    run: Callable[[bytes, np.ndarray], np.ndarray],
    *,
    search: bool = True,
) -> tuple[bytes, FloatSearch | None]:
    """The int8 flatbuffer of `saved_model` (float in and out) and the search that chose its float layers.

    `reference` computes fp32 outputs (the Keras model), `run(flatbuffer, images)` a candidate's. Without
    `search`, or with too few calibration images to hold some back, every layer is int8, calibrated on
    every image, and there is no search (None).
    """
    import tensorflow as tf

    calibrate, holdout = split_calibration(calibration) if search else (calibration, calibration[:0])

    def converter() -> Any:
        made = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        made.optimizations = [tf.lite.Optimize.DEFAULT]
        made.representative_dataset = samples(calibrate)
        return made

    if not len(holdout):
        strict = converter()
        strict.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return strict.convert(), None
    debug = tf.lite.experimental
    with warnings.catch_warnings(), quiet_native_stderr():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice, once per debugger
        debugger = debug.QuantizationDebugger(converter=converter(), debug_dataset=samples(holdout))
        debugger.run()
        ranked, output_ops = _ranked_layers(debugger)

        def build(kept: tuple[str, ...]) -> bytes:
            # the options setter re-quantizes the calibrated model: no second calibration
            debugger.options = debug.QuantizationDebugOptions(
                denylisted_nodes=list(kept) or None, denylisted_ops=output_ops or None
            )
            return debugger.get_nondebug_quantized_model()

        return keep_sensitive_in_float(ranked, build, run, holdout, reference(holdout))


def _ranked_layers(debugger: Any) -> tuple[list[str], list[str]]:
    """The debugger's layers, worst error (relative to their quantization step) first; the output ops to
    keep in float."""
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    rows = list(csv.DictReader(io.StringIO(dump.getvalue())))

    def relative_error(row: dict[str, str]) -> float:
        step = float(row["scale"] or 0)
        return float(row["mean_squared_error"] or 0) / (step * step / 12) if step > 0 else 0.0

    # by type: the debugger does not take the output tensor's name (measured: no effect); a model ending
    # in softmax whose body also has one (a squeeze-excite sigmoid) keeps both in float
    last = rows[-1]["op_name"] if rows else ""
    output_ops = [last] if last in FIXED_SCALE_OUTPUT_OPS else []
    keep = [r for r in rows if r["op_name"] not in output_ops]
    ranked = [r["tensor_name"] for r in sorted(keep, key=relative_error, reverse=True)]
    return ranked, output_ops
