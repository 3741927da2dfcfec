"""Converted files and runtimes seen from a JAX or PyTorch process, as a child process (a back-end is
fixed per process): `KERAS_BACKEND=jax python -m support.convert_probe JOB.json OUT_DIR`.

JOB: {"photos": a .npy of raw RGB photos, "run": a run directory or null, "exports": {name: [runtime, file]},
"runtimes": [runtime names for the real ImageNet classifier]}. OUT_DIR gets run_keras.npy (the run through
zoo's keras runtime on this back-end), export_<name>.npy (each exported file through its runtime),
classifier_keras.npy and classifier_<runtime>.npy (make_runtime on the classifier built here), and
probe.json (the back-end, whether TensorFlow was imported in this process, how many TensorFlow conversion
children it started: seen by a Python audit hook on every subprocess it launches).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def tensorflow_children() -> list[object]:
    """The TensorFlow conversion children (zoo.engine.tf_convert) this process starts from now on."""
    started: list[object] = []

    def on_event(event: str, args: tuple) -> None:
        if event == "subprocess.Popen" and "zoo.engine.tf_convert_child" in map(str, args[1]):
            started.append(args[1])

    sys.addaudithook(on_event)
    return started


def main(argv: list[str]) -> int:
    children = tensorflow_children()
    from zoo import config

    config.prepare_keras_backend()
    import keras

    from zoo.engine.bundle import load_bundle
    from zoo.engine.runtime_onnx import OnnxRuntime
    from zoo.engine.runtimes import KerasRuntime, LiteRTRuntime, make_runtime

    job, out = json.loads(Path(argv[0]).read_text(encoding="utf-8")), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    photos = np.load(job["photos"])
    if job.get("run"):
        np.save(out / "run_keras.npy", KerasRuntime(load_bundle(job["run"]).model).predict(photos))
    runtime_classes = {"onnxruntime": OnnxRuntime, "litert": LiteRTRuntime}
    for name, (runtime, file) in job.get("exports", {}).items():
        np.save(out / f"export_{name}.npy", runtime_classes[runtime](Path(file), "fp32").predict(photos))
    if job.get("runtimes"):
        from support.realdata import imagenet_classifier

        classifier = imagenet_classifier()
        np.save(out / "classifier_keras.npy", KerasRuntime(classifier).predict(photos))
        for runtime in job["runtimes"]:
            np.save(out / f"classifier_{runtime}.npy", make_runtime(classifier, runtime).predict(photos))
    probe = {
        "backend": keras.config.backend(),
        "tensorflow_imported": "tensorflow" in sys.modules,
        "tensorflow_children": len(children),
    }
    (out / "probe.json").write_text(json.dumps(probe), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
