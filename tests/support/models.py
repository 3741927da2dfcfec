"""Tiny real Keras models, built in well under a second.

- `tiny_cnn`: a random-weight CNN (conv, optional batch norm, global pooling, dense): for round trips,
  conversions and timings, where only shapes and agreement matter.
- `colour_classifier`: mean colour -> a fixed linear map, so the right answer is known by construction
  (red-ish images score the first class, and so on).

Keras is imported on first use, so a test module that imports this stays cheap to collect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras


def tiny_cnn(
    size: int = 16,
    classes: int = 3,
    *,
    filters: int = 8,
    kernel: int = 3,
    activation: str | None = "relu",
    padding: str = "valid",
    rescale: bool = False,
    batch_norm: bool = False,
    seed: int | None = None,
) -> keras.Model:
    """(size, size, 3) -> [Rescaling 1/255] -> Conv2D -> [BatchNorm] -> global average -> Dense(classes).

    With `seed`, the weights are the same on every call (Keras' global seed is set first)."""
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs) if rescale else inputs
    x = keras.layers.Conv2D(filters, kernel, padding=padding, activation=activation)(x)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


def colour_classifier(kernel: Sequence[Sequence[float]] | np.ndarray, size: int = 16) -> keras.Model:
    """Raw RGB (size, size, 3) -> mean colour / 255 -> logits = colour @ kernel (3 x classes), no bias."""
    import keras

    weights = np.asarray(kernel, dtype="float32")
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    outputs = keras.layers.Dense(weights.shape[1], name="logits")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("logits").set_weights([weights, np.zeros(weights.shape[1], "float32")])
    return model
