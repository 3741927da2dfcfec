"""The ImageNet input normalisations of keras.applications, as one serializable Keras layer.

Putting the layer at the front of a model makes the model take raw RGB 0-255, so a saved, exported or
served model carries its own preprocessing. It is registered with Keras (package "zoo"), so a
`model.keras` containing it reloads with `safe_mode=True`, no Lambda layer and no code in the file.

Modes (the registry's `preprocess` field), matching `keras.applications.<module>.preprocess_input`:
    caffe   RGB -> BGR, minus the ImageNet mean per channel, no scaling      (VGG, ResNet v1)
    tf      x / 127.5 - 1                                                    (MobileNet v1/v2, Inception,
                                                                              Xception, ResNet v2, NASNet)
    torch   x / 255, minus the ImageNet mean, divided by its std per channel (DenseNet)
    normalize  x / 255, minus the entry's own mean, divided by its own std     (keras-hub entries: timm's
                                                                              pretrained_cfg mean/std)
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

    def __init__(
        self,
        mode: str,
        mean: tuple[float, ...] | list[float] | None = None,
        std: tuple[float, ...] | list[float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise InvalidSetting(f"mode must be one of {', '.join(PREPROCESS_MODES)}, got {mode!r}")
        if mode == "torch":
            mean, std = mean or _TORCH_MEAN, std or _TORCH_STD
        if mode in ("torch", "normalize") and not (mean and std and len(mean) == len(std) == 3):
            raise InvalidSetting(f"mode {mode!r} needs a mean and a std of 3 channels each")
        self.mode = mode
        self.mean = None if mean is None else [float(v) for v in mean]
        self.std = None if std is None else [float(v) for v in std]

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode in ("torch", "normalize"):
            mean = ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(self.std, dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "caffe":
            mean = ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
            return ops.flip(x, axis=-1) - mean
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "mode": self.mode}
        if self.mode == "normalize":
            config.update(mean=self.mean, std=self.std)
        return config


def preprocessing_layer(
    mode: str,
    name: str = "preprocessing",
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> keras.layers.Layer | None:
    """The layer for a registry preprocess mode, or None for "none" (the model rescales inside)."""
    if mode == "none":
        return None
    return ImagenetPreprocessing(mode, mean=mean, std=std, name=name)
