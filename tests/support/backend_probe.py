"""One Keras back-end's view of the same model and photos, run as a child process (a back-end is fixed per
process): `KERAS_BACKEND=jax python -m support.backend_probe JOB.json OUT_DIR`.

JOB: {"photos": a .npy of raw RGB photos, "weights": the pretrained MobileNet 0.25 224 no-top file}.
OUT_DIR gets features.npy (zoo's keras runtime: BatchNormalization folded on JAX and torch), plain.npy
(Keras' own model.predict), after_plain.npy (the runtime again after model.predict), one.npy (the first
photo alone), on TensorFlow float64.npy (the same model computed in float64: the exact answer; on JAX and
torch Keras' BatchNormalization under a float64 policy is 1e-7 off numpy's float64, float32 round-off, so
only TensorFlow gives it) and probe.json (back-end, whether zoo's path imported TensorFlow; on JAX and
torch, whether the runtime runs the folded copy and what it does with a wrong fold; on torch, the batch
shapes the runtime runs as frozen TorchScript, and what it does with a model a trace cannot capture).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def probe(job: dict, out: Path) -> dict:
    import keras

    import zoo
    from zoo.engine.runtimes import KerasRuntime

    photos = np.load(job["photos"])
    model = zoo.load("mobilenet_v1_025_224", weights=job["weights"], include_top=False)
    runtime = KerasRuntime(model)
    np.save(out / "features.npy", runtime.predict(photos))
    zoo_imported_tensorflow = "tensorflow" in sys.modules  # zoo's own path, before Keras' predict
    np.save(out / "plain.npy", model.predict(photos, verbose=0))
    np.save(out / "after_plain.npy", runtime.predict(photos))  # Keras' JAX predict donates its buffers
    np.save(out / "one.npy", runtime.predict(photos[:1]))
    facts = {"backend": keras.config.backend(), "tensorflow_imported": zoo_imported_tensorflow}
    if keras.config.backend() == "tensorflow":
        from zoo.engine.runtimes import clone_with_policy

        np.save(
            out / "float64.npy",
            clone_with_policy(model, "float64").predict(photos.astype(np.float64), verbose=0),
        )
    else:
        facts["folded"] = runtime._forward.folded  # zoo.engine.backend.JaxForward / TorchForward
        facts["wrong_fold"] = wrong_fold(model, photos, out)
    if keras.config.backend() == "torch":
        facts["traced_shapes"] = traced_shapes(runtime)
        facts["untraceable"] = untraceable_model_outputs()
    return facts


def traced_shapes(runtime: object) -> list[list[int]]:
    """The batch shapes the torch runtime runs as a frozen TorchScript graph (not eager calls)."""
    import torch

    graphs = runtime._forward.graphs  # zoo.engine.backend.TorchForward
    return sorted(list(shape) for shape, graph in graphs.items() if isinstance(graph, torch.jit.ScriptModule))


def untraceable_model_outputs() -> dict:
    """Four calls of the keras runtime on a model whose output depends on Python state (a call counter):
    a trace would freeze the count, so the runtime must keep eager calls for it."""
    from zoo.engine.runtimes import KerasRuntime

    return counted_calls(lambda model: KerasRuntime(model), dense=False)


def counted_calls(make: Callable[[Any], Any], dense: bool) -> dict:
    """The first output of four calls of `make(model)` on a model that adds its call count to its input
    (after a Dense layer when `dense`), and the batch shapes a frozen trace ran."""
    import keras

    class CallCounter(keras.layers.Layer):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.calls = 0

        def call(self, inputs: object) -> object:
            self.calls += 1
            return inputs + float(self.calls)

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4)(inputs) if dense else inputs
    runtime = make(keras.Model(inputs, CallCounter()(hidden)))
    batch = np.zeros((2, 4), np.float32)
    outputs = [float(runtime.predict(batch)[0, 0]) for _ in range(4)]  # the second call traces
    return {"outputs": outputs, "traced_shapes": traced_shapes(runtime)}


def wrong_fold(model: object, photos: np.ndarray, out: Path) -> dict:
    """The forward pass given a folded copy whose last depthwise convolution has a wrong bias (as a fold
    that misplaced a channel's shift would): it must keep the model as built. Saves wrong_fold.npy."""
    import keras

    from zoo.engine.backend import JaxForward, TorchForward
    from zoo.engine.folding import fold_batch_norms

    folded = fold_batch_norms(model)
    conv = [layer for layer in folded._flatten_layers() if isinstance(layer, keras.layers.DepthwiseConv2D)][
        -1
    ]
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel, bias + 0.1])
    make = JaxForward if keras.config.backend() == "jax" else TorchForward
    forward = make(model, folded)
    forward(photos), np.save(out / "wrong_fold.npy", forward(photos))  # torch: checked with the trace
    return {"folded": forward.folded}


def run(probe: Callable[[dict, Path], dict], argv: list[str]) -> int:
    """A probe's command line: JOB_JSON OUT_DIR; the probe's facts go to OUT_DIR/probe.json."""
    job, out = json.loads(Path(argv[0]).read_text(encoding="utf-8")), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(probe(job, out)), encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    return run(probe, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
