"""Which inference runtimes this Python can run, found without importing any of them, and their pairs.

`--runtime auto` measures only installed runtimes and `--runtime all` times or scores only those: a
runtime whose package is missing is left out of both (naming it explicitly still fails with the extra to
install, zoo.engine.runtimes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.util import find_spec
from typing import TYPE_CHECKING

from zoo import config
from zoo.choices import RUNTIME_PRECISIONS, RUNTIMES
from zoo.engine.backend import reachable

if TYPE_CHECKING:
    import keras
    import numpy as np

    from zoo.engine.runtime_base import Runtime

# The packages each runtime imports (all of them must be importable); the keras runtime also imports the
# active back-end's own library (tensorflow, jax or torch: is_installed).
RUNTIME_PACKAGES: dict[str, tuple[str, ...]] = {
    "keras": ("keras",),
    "litert": ("tensorflow", "ai_edge_litert"),
    "openvino": ("tensorflow", "openvino"),
    "onnxruntime": ("tensorflow", "tf2onnx", "onnxruntime"),
}
# The distributions (pip names) whose versions decide a runtime's speed: part of zoo.bench.auto's cache key
# (the keras runtime's also holds the active back-end's own: runtime_distributions).
RUNTIME_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "keras": ("keras",),
    "litert": ("tensorflow", "ai-edge-litert"),
    "openvino": ("tensorflow", "openvino", "nncf"),
    "onnxruntime": ("tensorflow", "tf2onnx", "onnxruntime"),
}

# Each Keras back-end's own library, as distributions: the keras runtime's speed is theirs.
BACKEND_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow",),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
}

# Builds the runtime to run `model` at `batch_size` (e.g. zoo.bench.auto's measured choice), calibrated int8
# candidates calibrating on the images given (None: those candidates are left out): what the engine's
# predict and embed take in place of a runtime name, so the engine never imports the bench.
RuntimeChooser = Callable[["keras.Model", int, "np.ndarray | None"], "Runtime"]


def runtime_distributions(runtime: str, backend: str | None = None) -> tuple[str, ...]:
    """The distributions whose versions decide `runtime`'s speed on Keras back-end `backend` (default: the
    active one): for the keras runtime, the back-end's library too (a JAX upgrade changes its speed)."""
    own = BACKEND_DISTRIBUTIONS[backend or config.keras_backend()] if runtime == "keras" else ()
    return (*RUNTIME_DISTRIBUTIONS[runtime], *own)


def is_installed(runtime: str) -> bool:
    """Are `runtime`'s packages importable (for keras: with the active back-end's library, whose package
    is named as the back-end is)?"""
    backend = (config.keras_backend(),) if runtime == "keras" else ()
    return all(find_spec(package) is not None for package in (*RUNTIME_PACKAGES[runtime], *backend))


def installed_runtimes() -> tuple[str, ...]:
    """The runtimes (in zoo.choices.RUNTIMES order) whose packages are importable here and that the active
    Keras back-end reaches (off TensorFlow: a conversion needs TensorFlow installed, zoo.engine.backend)."""
    backend = config.keras_backend()
    return tuple(r for r in RUNTIMES if is_installed(r) and reachable(r, backend))


def runtime_pairs(
    runtimes: Sequence[str] | None = None, precisions: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Every (runtime, precision) zoo has for the installed `runtimes` (default: all installed),
    restricted to `precisions` when given."""
    available = installed_runtimes()
    chosen = available if runtimes is None else [r for r in runtimes if r in available]
    return [
        (runtime, precision)
        for runtime in chosen
        for precision in RUNTIME_PRECISIONS[runtime]
        if precisions is None or precision in precisions
    ]
