"""Multiply-accumulates (MACs) per image, counted from a Keras model's graph.

We walk the layers and count the multiply-accumulates of the layers that carry almost all of a CNN's
arithmetic: convolutions (plain, grouped, depthwise, separable, transposed) and dense layers. Batch
normalisation, activations, pooling and element-wise ops are left out, as in the GMAC figures papers
publish (BatchNorm folds into the preceding convolution at inference). GFLOPs = 2 x GMACs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from zoo.errors import ModelConfigError


def count_macs(model: Any) -> int:
    """MACs for one image through `model` (a built keras.Model with concrete spatial input sizes)."""
    return sum(_layer_macs(layer, inputs, outputs) for layer, inputs, outputs in _calls(model))


def _calls(model: Any) -> Iterator[tuple[Any, list[tuple], list[tuple]]]:
    """(layer, input shapes, output shapes) for every call of every layer, nested models flattened."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _calls(layer)
            continue
        nodes = getattr(layer, "_inbound_nodes", [])
        for node in nodes:
            if node.is_input:
                continue
            inputs = [tuple(t.shape) for t in node.input_tensors]
            outputs = [tuple(t.shape) for t in node.output_tensors]
            yield layer, inputs, outputs


def _spatial(shape: tuple, data_format: str | None) -> tuple:
    """The spatial dimensions of a batched shape; they must be known to count."""
    dims = shape[2:] if data_format == "channels_first" else shape[1:-1]
    if any(d is None for d in dims):
        raise ModelConfigError(f"unknown spatial size {shape}: build the model with a fixed input size")
    return dims


def _layer_macs(layer: Any, inputs: list[tuple], outputs: list[tuple]) -> int:
    from keras import layers

    fmt = getattr(layer, "data_format", None)
    if isinstance(layer, layers.Dense):
        # a Dense layer on an N-d input applies its kernel at every position of the leading dimensions
        positions = math.prod(d for d in inputs[0][1:-1] if d is not None)
        return positions * _size(layer.kernel)
    if isinstance(layer, layers.SeparableConv2D | layers.SeparableConv1D):
        out = math.prod(_spatial(outputs[0], fmt))
        return out * (_size(layer.depthwise_kernel) + _size(layer.pointwise_kernel))
    if isinstance(layer, layers.Conv2DTranspose | layers.Conv1DTranspose | layers.Conv3DTranspose):
        # every input position scatters the whole kernel
        return math.prod(_spatial(inputs[0], fmt)) * _size(layer.kernel)
    if isinstance(layer, layers.DepthwiseConv2D | layers.DepthwiseConv1D):
        # kernel (*k, C, multiplier): each of the C*multiplier outputs costs prod(k) MACs per position
        return math.prod(_spatial(outputs[0], fmt)) * _size(layer.kernel)
    if isinstance(layer, layers.Conv1D | layers.Conv2D | layers.Conv3D):
        # kernel (*k, C_in/groups, C_out): each output position costs the whole kernel once
        return math.prod(_spatial(outputs[0], fmt)) * _size(layer.kernel)
    return 0


def _size(variable: Any) -> int:
    return math.prod(int(d) for d in variable.shape)
