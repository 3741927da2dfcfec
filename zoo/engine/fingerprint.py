"""Content fingerprints of a Keras model's weights: which weights are actually loaded, whatever their
source (the feature cache and the LiteRT conversion cache key on them)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras


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
