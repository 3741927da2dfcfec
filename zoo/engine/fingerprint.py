"""Content fingerprints of a Keras model's weights: which weights are actually loaded, whatever their
source (the feature cache and the LiteRT conversion cache key on them)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras


@contextmanager
def tensorflow_kept_out() -> Iterator[None]:
    """Keras' serializer imports TensorFlow when it is installed, only to ask whether an object is a
    tf.TensorShape (none of a JAX or torch model's are): while serializing, Keras is told TensorFlow is
    absent, so a JAX or torch process never imports it (after torch, that import crashes)."""
    from keras.src.utils import module_utils

    lazy = module_utils.tensorflow
    if "tensorflow" in sys.modules or lazy._available is not None:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = None


def model_config(model: keras.Model) -> dict[str, Any]:
    """model.get_config(), without importing TensorFlow into a JAX or torch process."""
    with tensorflow_kept_out():
        return model.get_config()


def update_with_weights(digest: Any, model: keras.Model) -> None:
    """Feed every weight variable (path, dtype, shape, values) of `model` into a hashlib object."""
    for variable in model.weights:
        value = np.ascontiguousarray(variable.numpy())
        digest.update(f"{variable.path}:{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())


def weights_sha256(model: keras.Model) -> str:
    digest = hashlib.sha256()
    update_with_weights(digest, model)
    return digest.hexdigest()


def model_fingerprint(model: keras.Model) -> str:
    """sha256 of a model's architecture and weight values that ignores the layer names Keras makes up
    (`conv2d_3` in one process is `conv2d` in another), so the same model loaded twice has one fingerprint.

    zoo.bench.auto keys its decisions and accuracy-gate verdicts on it: `zoo evaluate` and `zoo predict`
    load the model in different processes."""
    import json

    aliases: dict[str, str] = {}

    def collect(layer: Any) -> None:
        aliases.setdefault(layer.name, f"#{len(aliases)}")
        for inner in getattr(layer, "layers", ()):
            collect(inner)

    collect(model)

    def canonical(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [canonical(v) for v in value]
        return aliases.get(value, value) if isinstance(value, str) else value

    digest = hashlib.sha256()
    digest.update(json.dumps(canonical(model_config(model)), sort_keys=True, default=str).encode())
    for variable in model.weights:
        value = np.ascontiguousarray(variable.numpy())
        digest.update(f"{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
