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

BatchNormalization is not folded into the convolutions here (TensorFlow's graph optimiser does that for the
frozen graph): on the real MobileNet fixture folding moved features by 1.1e-5 of their scale, past the 1e-5
parity bound, although it made JAX 1.3-1.6x faster (benchmarks/backends.py --folded shows it).

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


def backend_forward(model: keras.Model, backend: str) -> Forward:
    """The forward pass of `model` for `backend` ("jax" or "torch"); it keeps its own copy of the weights."""
    return _jax_forward(model) if backend == "jax" else _torch_forward(model)


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


def _jax_forward(model: keras.Model) -> Forward:
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


def _torch_forward(model: keras.Model) -> Forward:
    return TorchForward(model)


class TorchForward:
    """The model's inference call, traced and frozen for a batch shape on its second call (a shape seen
    once, as in a one-off prediction, never pays for a trace), eager where a trace fails or disagrees with
    it; one trace at a time (a lock), calls otherwise concurrent."""

    def __init__(self, model: keras.Model) -> None:
        self.call = _torch_module(model)
        self.tolerance = trace_tolerance(model)
        self.graphs: dict[tuple[int, ...], Any] = {}  # batch shape -> frozen TorchScript, or self.call
        self._seen: set[tuple[int, ...]] = set()
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        inputs = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        shape = tuple(inputs.shape)
        with self._lock:
            if shape in self._seen and shape not in self.graphs:
                self.graphs[shape], outputs = _checked_trace(self.call, inputs, self.tolerance)
                return outputs
            self._seen.add(shape)
        with torch.inference_mode():
            return self.graphs.get(shape, self.call)(inputs).float().numpy()


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


def _checked_trace(call: Any, inputs: Any, tolerance: float) -> tuple[Any, np.ndarray]:
    """(`call` traced and frozen for the shape of `inputs`, or `call` itself where the trace disagrees
    with it on `inputs` beyond `tolerance` (relative to the largest output) or cannot be made; the
    outputs for `inputs`)."""
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation, TracerWarnings on Keras' shape checks
        eager = call(inputs).float().numpy()
        try:
            frozen = torch.jit.freeze(torch.jit.trace(call, inputs, check_trace=False))
            traced = frozen(inputs).float().numpy()
        except Exception:  # an op or value-dependent branch tracing refuses: eager calls still work
            return call, eager
    scale = max(float(np.max(np.abs(eager))), float(np.finfo(np.float32).tiny))
    agrees = float(np.max(np.abs(traced - eager))) <= tolerance * scale
    return (frozen if agrees else call), eager


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
