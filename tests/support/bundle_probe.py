"""Run directories' logits on one Keras back-end, as a child process (a back-end is fixed per process):
`KERAS_BACKEND=torch python -m support.bundle_probe JOB.json OUT_DIR`.

JOB: {"photos": a .npy of raw RGB photos, "runs": {name: run directory}}. OUT_DIR gets <name>.npy, each run's
logits through zoo's keras runtime, and probe.json (the back-end that really ran).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    from zoo import config

    config.prepare_keras_backend()  # JAX's compilation cache, as zoo's commands turn it on
    import keras

    from zoo.engine.bundle import load_bundle
    from zoo.engine.runtimes import KerasRuntime

    job, out = json.loads(Path(argv[0]).read_text(encoding="utf-8")), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    photos = np.load(job["photos"])
    for name, run_dir in job["runs"].items():
        np.save(out / f"{name}.npy", KerasRuntime(load_bundle(run_dir).model).predict(photos))
    (out / "probe.json").write_text(json.dumps({"backend": keras.config.backend()}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
