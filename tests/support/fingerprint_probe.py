"""What identifies a model on this Keras back-end, as a child process (a back-end is fixed per process):
`KERAS_BACKEND=torch python -m support.fingerprint_probe JOB.json`, answering one JSON line on stdout.

JOB: {"file": a .keras file (created from the real ImageNet classifier when "save" is true), "weights":
the real classifier's .h5 weight file, "runtime": a runtime to build for the file's model without a
cache_key, or null}. The answer: the back-end, model_fingerprint and model_digest of the file loaded with
zoo.engine.reference.load and of keras.applications.MobileNet built from the .h5 weights, the runtime's
converted file, whether TensorFlow was imported here, and how many TensorFlow conversion children started.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from support.convert_probe import tensorflow_children


def main(argv: list[str]) -> int:
    children = tensorflow_children()
    from zoo import config

    config.prepare_keras_backend()
    import keras

    from zoo.engine.fingerprint import model_fingerprint
    from zoo.engine.reference import load
    from zoo.engine.runtime_base import model_digest
    from zoo.engine.runtimes import make_runtime

    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    from_weights = keras.applications.MobileNet(
        alpha=0.25, input_shape=(128, 128, 3), include_top=True, weights=job["weights"]
    )
    if job.get("save"):
        from support.realdata import imagenet_classifier

        imagenet_classifier().save(job["file"])
    from_file = load(job["file"]).model
    answer = {
        "backend": keras.config.backend(),
        "file": [model_fingerprint(from_file), model_digest(from_file)],
        "weights": [model_fingerprint(from_weights), model_digest(from_weights)],
    }
    if job.get("runtime"):
        answer["converted"] = str(make_runtime(from_file, job["runtime"]).path)  # type: ignore[attr-defined]
    answer["tensorflow_imported"] = "tensorflow" in sys.modules
    answer["tensorflow_children"] = len(children)
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
