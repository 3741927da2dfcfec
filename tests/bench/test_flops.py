"""MACs counted from the graph equal hand counts for small models with every counted layer type."""

from __future__ import annotations

import keras
import pytest

from zoo.bench.flops import count_macs
from zoo.errors import ModelConfigError


def test_dense_and_conv_match_a_hand_count() -> None:
    inputs = keras.Input((10, 12, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)  # -> 5x6x8
    x = keras.layers.Conv2D(4, (3, 1), padding="valid")(x)  # -> 3x6x4
    x = keras.layers.Flatten()(x)  # 72
    outputs = keras.layers.Dense(7)(x)
    model = keras.Model(inputs, outputs)
    hand = 5 * 6 * 8 * (3 * 3 * 3) + 3 * 6 * 4 * (3 * 1 * 8) + 72 * 7
    assert count_macs(model) == hand == 8712


def test_depthwise_separable_grouped_and_nested_models() -> None:
    inner_in = keras.Input((8, 8, 4))
    inner_out = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inner_in)  # 8x8x8
    inner = keras.Model(inner_in, inner_out, name="inner")
    inputs = keras.Input((8, 8, 4))
    x = inner(inputs)
    x = keras.layers.SeparableConv2D(6, 3, padding="valid")(x)  # -> 6x6x6
    x = keras.layers.Conv2D(6, 1, groups=3)(x)  # 6x6x6, each group 2 in -> 2 out
    x = keras.layers.BatchNormalization()(x)  # not counted
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    depthwise = 8 * 8 * 8 * 9
    separable = 6 * 6 * (3 * 3 * 8) + 6 * 6 * (8 * 6)
    grouped = 6 * 6 * 6 * 2
    assert count_macs(model) == depthwise + separable + grouped + 6 * 2


def test_dense_on_a_feature_map_counts_every_position() -> None:
    inputs = keras.Input((4, 5, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert count_macs(model) == 4 * 5 * 3 * 2


def test_unknown_spatial_size_is_refused() -> None:
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ModelConfigError, match="fixed input size"):
        count_macs(model)
