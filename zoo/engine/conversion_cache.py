"""Where zoo's conversion cache (zoo.config.converted_dir()) keeps a runtime's converted file, found without
importing TensorFlow: a JAX or torch process looks there before it starts a TensorFlow child to convert.

    converted_path(model, precision, ...)                        a LiteRT conversion (.tflite)
    cached_conversion(model, runtime, precision, ..., cache_key) the file make_runtime(model, runtime,
                                                                 precision) on TensorFlow would run, when
                                                                 it is already in the cache (else None)

Every key holds the versions of the converting libraries as their installed metadata says (no import), so
the TensorFlow child and its JAX or torch parent compute the same key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo import config
from zoo.choices import CALIBRATED
from zoo.engine.int8_search import SEARCH_VERSION
from zoo.engine.runtime_base import (
    array_digest,
    checked_calibration,
    conversion_name,
    distribution_version,
    model_digest,
    sample_shape,
)  # fmt: skip

if TYPE_CHECKING:
    import keras


def converted_path(
    model: keras.Model,
    precision: str,
    *,
    calibration: np.ndarray | None = None,
    cache_key: str | None = None,
) -> Path:
    """Where the LiteRT conversion of `model` at these settings is cached (converted_dir()/<key>.tflite).

    The file name is the readable cache_key, the precision and a digest of everything the conversion
    depends on: the model identity (cache_key, or its config and weights), the input shape, the
    calibration data (int8-full, int8-plain) and the TensorFlow version that converts.
    """
    settings = {
        "model": cache_key or model_digest(model),
        "precision": precision,
        "input_shape": list(sample_shape(model)),
        "calibration": array_digest(calibration)
        if ("litert", precision) in CALIBRATED and calibration is not None
        else None,
        "tensorflow": distribution_version("tensorflow"),
        "search": SEARCH_VERSION if precision == "int8-full" else None,
    }
    return config.converted_dir() / f"{conversion_name(cache_key, precision, settings)}.tflite"


def cached_conversion(
    model: keras.Model,
    runtime: str,
    precision: str,
    *,
    calibration: np.ndarray | None,
    cache_key: str | None,
) -> Path | None:
    """The cached file that make_runtime(model, runtime, precision, calibration=..., cache_key=...) runs
    for "litert", "onnxruntime" or "openvino" (keyed exactly as there), or None when it is not there yet
    (or the settings need calibration images and there are none: the converter's refusal says so)."""
    if (runtime, precision) in CALIBRATED:
        if calibration is None or len(calibration) == 0:
            return None
        if runtime != "litert":  # onnxruntime and openvino key on the images they calibrate on
            calibration = checked_calibration(model, calibration, f"the {runtime} runtime's int8")
    if runtime == "litert":
        path = converted_path(model, precision, calibration=calibration, cache_key=cache_key)
    elif runtime == "onnxruntime":
        from zoo.engine.runtime_onnx import onnx_path

        path = onnx_path(model, precision, calibration=calibration, cache_key=cache_key)
    else:
        from zoo.engine.runtime_openvino import IR_NAME, ir_folder

        path = ir_folder(model, precision, calibration=calibration, cache_key=cache_key) / IR_NAME
        if not path.with_suffix(".bin").is_file():
            return None
    return path if path.is_file() else None
