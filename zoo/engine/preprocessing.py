"""The ImageNet input normalisations of keras.applications, as one serializable Keras layer.

Putting the layer at the front of a model makes the model take raw RGB 0-255, so a saved, exported or
served model carries its own preprocessing. It is registered with Keras (package "zoo"), so a
`model.keras` containing it reloads with `safe_mode=True`, no Lambda layer and no code in the file.

Modes (the registry's `preprocess` field), matching `keras.applications.<module>.preprocess_input`:
    caffe   RGB -> BGR, minus the ImageNet mean per channel, no scaling      (VGG, ResNet v1)
    tf      x / 127.5 - 1                                                    (MobileNet v1/v2, Inception,
                                                                              Xception, ResNet v2, NASNet)
    torch   x / 255, minus the ImageNet mean, divided by its std per channel (DenseNet)
    none    unchanged: the model rescales inside                  (EfficientNet, ConvNeXt, MobileNet v3)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from zoo.errors import InvalidSetting
from zoo.registry import PREPROCESS_MODES

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="zoo")
class ImagenetPreprocessing(keras.layers.Layer):
    """Raw RGB 0-255 (any numeric dtype, channels last) -> the input a keras.applications model expects."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise InvalidSetting(f"mode must be one of {', '.join(PREPROCESS_MODES)}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(_TORCH_STD, dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "caffe":
            mean = ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
            return ops.flip(x, axis=-1) - mean
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


def preprocessing_layer(mode: str, name: str = "preprocessing") -> keras.layers.Layer | None:
    """The layer for a registry preprocess mode, or None for "none" (the model rescales inside)."""
    if mode == "none":
        return None
    return ImagenetPreprocessing(mode, name=name)
