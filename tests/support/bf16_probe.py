"""zoo's keras runtime at bf16 on one Keras back-end, as a child process (a back-end is fixed per process):
`KERAS_BACKEND=torch python -m support.bf16_probe JOB.json OUT_DIR`.

JOB: {"photos": a .npy of raw RGB photos, "weights": the pretrained MobileNet 0.25 224 no-top file}.
OUT_DIR gets fp32.npy (the pooled pretrained features at fp32), bf16_first.npy and bf16_third.npy (the bf16
runtime's first call, eager, and third, on torch through the trace made on the second) and probe.json:
the back-end, the runtime's effective precision and its layers' compute dtypes, whether TensorFlow was
imported, and on torch the batch shapes run by a frozen trace, whether that graph computes in bfloat16,
the trace tolerance, and the outputs of a bf16 model a trace gets wrong (a call counter).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from support.backend_probe import counted_calls, run, traced_shapes


def probe(job: dict, out: Path) -> dict:
    from zoo import config

    config.prepare_keras_backend()
    import keras
    from support.realdata import pretrained_features

    from zoo.engine.runtimes import make_runtime

    photos = np.load(job["photos"])
    model = pretrained_features(Path(job["weights"]), photos.shape[1])
    np.save(out / "fp32.npy", make_runtime(model, "keras", "fp32").predict(photos))
    runtime = make_runtime(model, "keras", "bf16")
    outputs = [runtime.predict(photos) for _ in range(3)]  # on torch the second call traces
    np.save(out / "bf16_first.npy", outputs[0])
    np.save(out / "bf16_third.npy", outputs[2])
    facts = {
        "backend": keras.config.backend(),
        "effective_precision": runtime.effective_precision,
        "compute_dtypes": sorted({str(layer.compute_dtype) for layer in runtime.model._flatten_layers()}),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    if facts["backend"] == "torch":
        forward = runtime._forward  # zoo.engine.backend.TorchForward
        facts["traced_shapes"] = traced_shapes(runtime)
        facts["tolerance"] = forward.tolerance
        graph = forward.graphs.get(tuple(photos.shape))
        facts["graph_computes_bfloat16"] = "BFloat16" in str(getattr(graph, "graph", ""))
        facts["untraceable"] = untraceable_bf16_outputs()
    return facts


def untraceable_bf16_outputs() -> dict:
    """Four calls of the bf16 keras runtime on a model whose output counts its calls: a frozen trace
    would repeat one count, far beyond bf16 round-off, so the runtime must keep eager calls."""
    from zoo.engine.runtimes import make_runtime

    return counted_calls(lambda model: make_runtime(model, "keras", "bf16"), dense=True)


if __name__ == "__main__":
    sys.exit(run(probe, sys.argv[1:]))
