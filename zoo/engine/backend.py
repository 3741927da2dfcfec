"""The keras runtime's forward pass on the JAX and PyTorch back-ends (TensorFlow's frozen graph stays in
zoo.engine.runtimes.KerasRuntime).

    jax    one `jax.jit` of the model's stateless call with a copy of the weights closed over as constants:
           XLA compiles the whole network once per batch shape, and nothing reads a variable at run time
           (like TensorFlow's frozen graph, later changes to the model's weights are not seen).
    torch  the model's call traced by `torch.jit.trace` on the second call with a batch shape (the first is
           eager: a one-off prediction pays no trace) and frozen (`torch.jit.freeze`: weights become
           constants, so the per-call kernel transposes of Keras' channels-last convolutions are folded
           away, and Keras' per-layer Python overhead is gone), run in `torch.inference_mode()`.
           A trace that cannot be made, or that disagrees with the eager call on its batch, is dropped
           for eager calls. (Tracing records the branches the traced batch took: a model whose control flow
           depends on input values is not caught when that batch agrees; keras.applications models
           have none.) torch.jit is deprecated in favour of torch.compile, which is not used: inductor needs
           a C++ compiler at run time (CI's fresh machine may have none), took 23-92 s to compile
           MobileNetV2 on 2 busy cores and ran slower than the frozen trace.

Both run a copy of the model with each BatchNormalization folded into the convolution before it
(zoo.engine.folding), as TensorFlow's graph optimiser does for the frozen graph (on an idle machine
1.00-1.11x the unfolded path on PyTorch, 0.86-1.05x on JAX, within that run's spread: docs/benchmarks.md;
kept because it costs no accuracy and TensorFlow's path does the same). The fold changes the
float32 rounding, not the model: on the real MobileNet fixture and 36 real photos the folded JAX and torch
paths sit 7.5e-6 and 7.3e-6 (of the features' scale) from the float64 answer, TensorFlow's frozen graph
9.3e-6, Keras' own predict 5.4e-6 to 8.3e-6 (benchmarks/backends_float64.py, docs/backends.md).
A fold is checked once against the model as built on a real batch (FOLD_TOLERANCE) and dropped if it
disagrees: JAX on its first call (one extra compilation, of the unfolded call), torch with the trace.

Each returns `forward(batch: float32 ndarray) -> float32 ndarray on the host`, so a timing that stops after
it has waited for the result (np.asarray on a JAX array blocks until it is computed).
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import RuntimeUnavailable

if TYPE_CHECKING:
    import keras

Forward = Callable[[np.ndarray], np.ndarray]


def backend_forward(model: keras.Model, backend: str, fold: bool = True) -> Forward:
    """The forward pass of `model` for `backend` ("jax" or "torch"); it keeps its own copy of the weights.
    With `fold`, it runs a BatchNormalization-folded copy once that agrees with `model` on a batch."""
    folded = _folded_copy(model) if fold else None
    return JaxForward(model, folded) if backend == "jax" else TorchForward(model, folded)


# Relative to the largest output. Measured on the real fixture: folded and unfolded float32 paths each sit
# within 1e-5 of the float64 answer, so they differ by up to ~2e-5 (1.0e-5 on JAX); deeper networks round
# more. A wrong fold (a channel's scale or shift misplaced) moves outputs by 1e-2 and more.
FOLD_TOLERANCE = 1e-4


def _folded_copy(model: keras.Model) -> keras.Model | None:
    from zoo.engine.fingerprint import tensorflow_kept_out
    from zoo.engine.folding import fold_batch_norms

    with tensorflow_kept_out():  # cloning reads layer configs, and Keras' serializer would import TensorFlow
        folded = fold_batch_norms(model)
    return None if folded is model else folded


def agrees(outputs: np.ndarray, reference: np.ndarray, tolerance: float) -> bool:
    """Is max|outputs - reference| within `tolerance` of reference's largest magnitude?"""
    scale = max(float(np.max(np.abs(reference))), float(np.finfo(np.float32).tiny))
    return bool(np.max(np.abs(outputs - reference)) <= tolerance * scale)


def has_accelerator(backend: str) -> bool:
    """Does `backend` see a GPU (where half precision has fast kernels)?"""
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


# Every conversion starts from a TF SavedModel (model.export). Keras' torch back-end exports none; on JAX it
# holds jax2tf's XlaCallModule ops, which tf2onnx and OpenVINO's frontend do not convert, and the LiteRT
# converter rejects the uint32 state of a Dropout's seed generator. So off TensorFlow a conversion is done
# by a TensorFlow child process (zoo.engine.tf_convert), and needs TensorFlow installed.
def reachable(target: str, backend: str) -> bool:
    """Whether a runtime or export format can be reached from a model built on `backend`."""
    return backend == "tensorflow" or target == "keras" or importlib.util.find_spec("tensorflow") is not None


def check_convertible(target: str) -> None:
    """Refuse (RuntimeUnavailable, exit 2) a runtime or export format the active back-end cannot reach."""
    import keras

    backend = keras.config.backend()
    if reachable(target, backend):
        return
    raise RuntimeUnavailable(
        f"{target} from a model built on the {backend} back-end needs TensorFlow (the conversion runs in a "
        "TensorFlow process), which is not installed",
        hint="pip install tensorflow, or use the keras runtime/format",
    )


def converts_in_child(target: str) -> bool:
    """Does a conversion to `target` go through the TensorFlow child (a model built off TensorFlow)?"""
    import keras

    return target != "keras" and keras.config.backend() != "tensorflow"


def _single(outputs: Any) -> Any:
    return outputs[0] if isinstance(outputs, list | tuple) else outputs


class JaxForward:
    """The jitted call of the folded copy once it agreed with the model as built on the first batch (or of
    the model as built, where there is no fold or it disagreed); one check at a time (a lock)."""

    def __init__(self, model: keras.Model, folded: keras.Model | None) -> None:
        self.call = _jax_jitted(model)
        self._folded = None if folded is None else _jax_jitted(folded)
        self.folded: bool | None = None if folded is None else False  # None: nothing to fold
        self.tolerance = max(FOLD_TOLERANCE, trace_tolerance(model))
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self._folded is not None:
            with self._lock:
                if self._folded is not None:
                    candidate, self._folded = self._folded, None
                    unfolded, outputs = self.call(batch), candidate(batch)
                    self.folded = agrees(outputs, unfolded, self.tolerance)
                    if self.folded:
                        self.call = candidate
                    return outputs if self.folded else unfolded
        return self.call(batch)


def _jax_jitted(model: keras.Model) -> Forward:
    import jax
    import jax.numpy as jnp

    # copies: Keras' own jitted predict/fit donate the variables' buffers, which would delete ours
    trainable = [jnp.array(variable.value, copy=True) for variable in model.trainable_variables]
    non_trainable = [jnp.array(variable.value, copy=True) for variable in model.non_trainable_variables]

    def forward(batch: Any) -> Any:
        outputs, _ = model.stateless_call(trainable, non_trainable, batch, training=False)
        return jnp.asarray(_single(outputs), jnp.float32)

    compiled = jax.jit(forward)
    return lambda batch: np.asarray(compiled(batch))


class TorchForward:
    """The model's inference call, traced and frozen for a batch shape on its second call (a shape seen
    once, as in a one-off prediction, never pays for a trace), eager where a trace fails or disagrees with
    it; one trace at a time (a lock), calls otherwise concurrent. The trace is of the folded copy where
    there is one and it agrees with the eager call of the model as built (a fold that disagrees once is
    never tried again)."""

    def __init__(self, model: keras.Model, folded: keras.Model | None = None) -> None:
        self.call = _torch_module(model)
        self.tolerance = trace_tolerance(model)
        self._folded = None if folded is None else _torch_module(folded)
        self.folded: bool | None = None if folded is None else False  # True once a folded trace agreed
        self.graphs: dict[tuple[int, ...], Any] = {}  # batch shape -> frozen TorchScript, or self.call
        self._seen: set[tuple[int, ...]] = set()
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        inputs = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        shape = tuple(inputs.shape)
        with self._lock:
            if shape in self._seen and shape not in self.graphs:
                self.graphs[shape], outputs = self._trace(inputs)
                return outputs
            self._seen.add(shape)
        with torch.inference_mode():
            return self.graphs.get(shape, self.call)(inputs).float().numpy()

    def _trace(self, inputs: Any) -> tuple[Any, np.ndarray]:
        """(the graph to run for the shape of `inputs`, its outputs for `inputs`)."""
        import torch

        with torch.no_grad():
            eager = self.call(inputs).float().numpy()
        if self._folded is not None:
            frozen, outputs = _checked_trace(self._folded, inputs, eager, max(FOLD_TOLERANCE, self.tolerance))
            if frozen is not None:
                self.folded = True
                return frozen, outputs
            if not self.folded:
                self._folded = None
        frozen, outputs = _checked_trace(self.call, inputs, eager, self.tolerance)
        return (self.call, eager) if frozen is None else (frozen, outputs)


# How far a frozen trace may differ from the eager call, relative to the largest output: the round-off of
# a different op order in the model's compute dtype, not a different model. bfloat16 keeps 8 bits of
# mantissa (steps of 2**-8 = 3.9e-3): a few of its steps. (Measured with torch 2.x: the frozen trace of
# MobileNetV3Small, EfficientNetB0 and ResNet50 under mixed_bfloat16 equals the eager call exactly.)
TRACE_TOLERANCE = {"float32": 1e-5, "bfloat16": 1e-2, "float16": 2e-3}


def trace_tolerance(model: keras.Model) -> float:
    """TRACE_TOLERANCE of the least precise dtype any of `model`'s layers computes in."""

    def dtypes(layer: Any) -> Iterator[str]:
        yield str(getattr(layer, "compute_dtype", "float32"))
        for inner in getattr(layer, "layers", ()):
            yield from dtypes(inner)

    return max(TRACE_TOLERANCE.get(dtype, TRACE_TOLERANCE["float32"]) for dtype in dtypes(model))


def _checked_trace(
    call: Any, inputs: Any, reference: np.ndarray, tolerance: float
) -> tuple[Any | None, np.ndarray]:
    """(`call` traced and frozen for the shape of `inputs`, or None where it cannot be made or its outputs
    for `inputs` are not within `tolerance` of `reference`; those outputs, or `reference`)."""
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation, TracerWarnings on Keras' shape checks
        try:
            frozen = torch.jit.freeze(torch.jit.trace(call, inputs, check_trace=False))
            traced = frozen(inputs).float().numpy()
        except Exception:  # an op or value-dependent branch tracing refuses: eager calls still work
            return None, reference
    return (frozen, traced) if agrees(traced, reference, tolerance) else (None, reference)


def _torch_module(model: keras.Model) -> Any:
    """The Keras model's inference call as a torch.nn.Module holding the model as a submodule (so tracing
    sees its weights as parameters and freezing turns them into constants)."""
    import torch

    class KerasInference(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs: Any) -> Any:
            return _single(self.model(inputs, training=False))

    return KerasInference().eval()
