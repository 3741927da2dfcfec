"""Bias correction of an ONNX model statically quantized by onnxruntime (QDQ), as NNCF does for OpenVINO.

int8 weights and clipped int8 activations shift the mean of each convolution's output away from fp32's,
and the shifts add up layer after layer. So after quantizing, each convolution's int32 bias is moved by
the mean per-channel difference between its output in the int8 model and in the fp32 model, measured on
the calibration images. One convolution at a time, in graph order, each measured after the ones before it
were corrected: correcting every convolution from one measurement counts an upstream shift twice
(measured on the real ImageNet MobileNet 0.25: top-1 agreement with fp32 0.57 -> 0.02, against 0.83
corrected one at a time).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

MEASURE_BATCH = 32  # calibration images per session.run while measuring
# Images x convolutions measured at most: one pass over the images per convolution, so a deep model
# measures on fewer images (MobileNet v1, 28 convolutions: 200; ResNet50, 53: 113), never under MIN_IMAGES.
IMAGE_PASSES = 6000
MIN_IMAGES = 32


def correct_biases(fp32: Path, int8: Path, calibration: np.ndarray, options: Any) -> int:
    """Rewrite the QDQ model `int8` (quantized from `fp32`) with its convolutions' biases corrected; how
    many convolutions were corrected. `options`: the onnxruntime SessionOptions to measure with."""
    import onnx

    from zoo.engine.int8_search import evenly_spread

    reference, quantized = onnx.load(str(fp32)), onnx.load(str(int8))
    corrected = list(_quantized_biases(quantized, {node.name for node in reference.graph.node}))
    if not corrected:
        return 0
    images = max(MIN_IMAGES, IMAGE_PASSES // len(corrected))
    calibration = calibration[evenly_spread(len(calibration), images)]
    outputs = {node.name: node.output[0] for node in reference.graph.node}
    wanted = [outputs[node.name] for node, _, _ in corrected]
    expected = dict(zip(wanted, channel_means(reference, wanted, calibration, options), strict=True))
    for node, bias, scale in corrected:
        (measured,) = channel_means(quantized, [node.output[0]], calibration, options)
        shift = measured - expected[outputs[node.name]]
        values = onnx.numpy_helper.to_array(bias).astype(np.int64)
        moved = np.clip(values - np.round(shift / scale), np.iinfo(np.int32).min, np.iinfo(np.int32).max)
        bias.CopyFrom(onnx.numpy_helper.from_array(moved.astype(np.int32), bias.name))
    onnx.save(quantized, str(int8))
    return len(corrected)


def _quantized_biases(model: Any, known: set[str]) -> Iterator[tuple[Any, Any, np.ndarray]]:
    """(Conv node, its int32 bias initializer, that bias' scale) for each Conv, in graph order, whose bias
    is dequantized from an int32 initializer and whose node the fp32 model has too."""
    import onnx

    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 3 or node.name not in known:
            continue
        dequantize = producers.get(node.input[2])
        if dequantize is None or dequantize.op_type != "DequantizeLinear":
            continue
        bias, scale = (initializers.get(name) for name in dequantize.input[:2])
        if bias is None or scale is None or bias.data_type != onnx.TensorProto.INT32:
            continue
        yield node, bias, onnx.numpy_helper.to_array(scale).astype(np.float64)


def channel_means(model: Any, names: list[str], images: np.ndarray, options: Any) -> list[np.ndarray]:
    """The mean of each tensor `names` (N, C, ...) per channel over `images`, the tensors made outputs of a
    copy of `model`."""
    import onnx
    import onnxruntime

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {output.name for output in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=name) for name in names if name not in present)
    session = onnxruntime.InferenceSession(
        probe.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name
    sums: list[np.ndarray] = [np.zeros(1)] * len(names)
    counts = [0] * len(names)
    for start in range(0, len(images), MEASURE_BATCH):
        values = session.run(names, {input_name: images[start : start + MEASURE_BATCH]})
        for index, value in enumerate(values):
            channels_last = np.moveaxis(value, 1, -1).reshape(-1, value.shape[1])
            sums[index] = sums[index] + channels_last.sum(axis=0, dtype=np.float64)
            counts[index] += len(channels_last)
    return [total / count for total, count in zip(sums, counts, strict=True)]
