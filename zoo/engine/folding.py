"""Fold inference-mode BatchNormalization into the convolution before it, for reduced-precision runtimes.

At inference a BatchNormalization after a convolution is an affine map per output channel, so it can be
folded into the convolution's kernel and bias: conv(x) * s + t with s = gamma / sqrt(var + eps) and
t = beta - mean * s. Under Keras' mixed bfloat16 policy this matters for speed: BatchNormalization
upcasts to float32 (keras' own guard against overflow), so every unfolded convolution pays two casts and
an extra float32 pass over its output. Measured on ResNet50 (bf16, batch 8, frozen graph, three runs on
a shared 2-core machine): 1.0x, 1.14x and 1.38x the unfolded speed.
(The fp32 keras runtime gets the same fold from TensorFlow's graph optimiser once its weights are frozen.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np


class Passthrough(keras.layers.Layer):
    """Stands where a folded BatchNormalization was: returns its input (mask and training ignored)."""

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def fold_batch_norms(model: keras.Model) -> keras.Model:
    """A copy of `model` with every foldable Conv2D/DepthwiseConv2D -> BatchNormalization pair folded.

    A pair folds when the convolution has no activation, is called once, feeds only that
    BatchNormalization, and both work on the last (channel) axis. Everything else is copied as is; a
    model with nothing to fold is returned unchanged. The copy is for inference only.
    """
    pairs = dict(_foldable_pairs(model))  # batch-norm layer -> the convolution it follows
    if not pairs:
        return model
    norm_after = {id(conv): norm for norm, conv in pairs.items()}
    cloned_from: dict[int, keras.layers.Layer] = {}

    def rebuild(layer: keras.layers.Layer) -> keras.layers.Layer:
        if layer in pairs:
            clone: keras.layers.Layer = Passthrough(name=layer.name, dtype=layer.dtype_policy.name)
        else:
            layer_config = layer.get_config()
            if id(layer) in norm_after:
                layer_config["use_bias"] = True
            clone = layer.__class__.from_config(layer_config)
        cloned_from[id(clone)] = layer
        return clone

    folded = keras.models.clone_model(model, clone_function=rebuild, recursive=True)
    for clone in _layers(folded):
        original = cloned_from.get(id(clone))
        if original is None or isinstance(clone, Passthrough) or not original.weights:
            continue
        if id(original) in norm_after:
            clone.set_weights(_folded_weights(original, norm_after[id(original)]))
        else:
            clone.set_weights(original.get_weights())
    return folded


def _foldable_pairs(model: keras.Model) -> Iterator[tuple[keras.layers.Layer, keras.layers.Layer]]:
    """(batch-norm layer, convolution layer) for every pair that can be folded, nested models included."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _foldable_pairs(layer)
            continue
        if not isinstance(layer, keras.layers.BatchNormalization) or len(layer._inbound_nodes) != 1:
            continue
        (tensor,) = layer._inbound_nodes[0].input_tensors
        if layer.axis not in (-1, len(tensor.shape) - 1):
            continue
        producer = tensor._keras_history.operation
        if _foldable_conv(producer):
            yield layer, producer


def _foldable_conv(layer: Any) -> bool:
    return (
        isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D)
        and not isinstance(layer, keras.layers.Conv2DTranspose)
        and layer.data_format == "channels_last"
        and layer.activation is keras.activations.linear
        and len(layer._inbound_nodes) == 1
        and len(layer._outbound_nodes) == 1
    )


def _folded_weights(conv: keras.layers.Layer, norm: keras.layers.Layer) -> list[np.ndarray]:
    """Kernel and bias of `conv` followed by `norm` (inference mode), as one convolution."""
    kernel = np.asarray(conv.kernel.numpy(), dtype=np.float64)
    # output channels are the kernel's last axis, or C * multiplier for a depthwise kernel (kh, kw, C, m)
    depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
    channels = kernel.shape[-2] * kernel.shape[-1] if depthwise else kernel.shape[-1]
    bias = np.asarray(conv.bias.numpy(), dtype=np.float64) if conv.use_bias else np.zeros(channels)
    mean = np.asarray(norm.moving_mean.numpy(), dtype=np.float64)
    variance = np.asarray(norm.moving_variance.numpy(), dtype=np.float64)
    gamma = np.asarray(norm.gamma.numpy(), dtype=np.float64) if norm.scale else np.ones(channels)
    beta = np.asarray(norm.beta.numpy(), dtype=np.float64) if norm.center else np.zeros(channels)
    scale = gamma / np.sqrt(variance + norm.epsilon)
    flat = kernel.reshape(*kernel.shape[:-2], channels) if depthwise else kernel
    folded_kernel = (flat * scale).reshape(kernel.shape)
    folded_bias = (bias - mean) * scale + beta
    return [folded_kernel.astype(np.float32), folded_bias.astype(np.float32)]


def _layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer, nested models' layers included (the nested models themselves too)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
