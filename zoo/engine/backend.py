"""The keras runtime's forward pass on the JAX and PyTorch back-ends (TensorFlow's frozen graph stays in
zoo.engine.runtimes.KerasRuntime).

    jax    one `jax.jit` of the model's stateless call with a copy of the weights closed over as constants:
           XLA compiles the whole network once per batch shape, and nothing reads a variable at run time
           (like TensorFlow's frozen graph, later changes to the model's weights are not seen).
    torch  eager calls in `torch.inference_mode()` (no autograd bookkeeping, no version counters).

Each returns `forward(batch: float32 ndarray) -> float32 ndarray on the host`, so a timing that stops after
it has waited for the result (np.asarray on a JAX array blocks until it is computed).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import RuntimeUnavailable

if TYPE_CHECKING:
    import keras

Forward = Callable[[np.ndarray], np.ndarray]


def backend_forward(model: keras.Model, backend: str) -> Forward:
    """The forward pass of `model` for `backend` ("jax" or "torch")."""
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
    import keras
    import torch

    def forward(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            outputs = _single(model(keras.ops.convert_to_tensor(batch), training=False))
            return keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32"))

    return forward
