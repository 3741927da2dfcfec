"""A keras.applications model and a timm tag through keras-hub, side by side, in one interleaved run.

For ResNet50 (keras.applications) and resnet50.a1_in1k (timm's weights, converted by keras-hub) this
prints, per model: the build time (`zoo.load(weights=None)`, the architecture with random weights: real
weights cannot be downloaded here, and the speed of a network does not depend on its weight values), and
images/s at batch 1 and 32 through `zoo benchmark` on each of zoo's runtimes, beside the model's own
library's `predict` on the same architecture — keras-hub's `ImageClassifier.predict` for the timm tag
(preprocessing included) and Keras' `Model.predict` for keras.applications' ResNet50: what a user of
that library calls.
Rounds alternate zoo and keras-hub so drifting machine load hits both alike; the best round of each is
kept. Target: zoo's fastest path >= 2x keras-hub's predict at batch 1 and 32 (the ratio column).

    .venv/bin/python benchmarks/catalogue.py                 # both models, batches 1 and 32, 3 rounds
    .venv/bin/python benchmarks/catalogue.py --quick         # resnet18.a1_in1k only, 1 round, short
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RUNTIMES = ("keras", "litert")


def build_seconds(name: str) -> float:
    import zoo

    start = time.perf_counter()
    zoo.load(name, weights=None)
    return time.perf_counter() - start


def library_model(name: str):  # type: ignore[no-untyped-def]
    """The model as its own library builds it: keras-hub's classifier from the entry's config.json, or the
    keras.applications constructor."""
    from zoo.registry import get

    spec = get(name)
    if not spec.is_keras_hub:
        import keras

        return getattr(keras.applications, spec.arch)(weights=None, **dict(spec.args))
    import keras_hub

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.json").write_text(json.dumps(dict(spec.hub_config)))
        # num_classes given: keras-hub then builds the head without reading task weights from the folder
        return keras_hub.models.ImageClassifier.from_preset(
            folder, load_weights=False, num_classes=spec.num_classes
        )


def library_images_per_s(classifier, batch_size: int, size: int, iters: int) -> float:  # type: ignore[no-untyped-def]
    """Images/s of the library's `predict` on 0-255 RGB batches (keras-hub's preprocessor runs inside)."""
    import numpy as np

    images = np.random.default_rng(0).integers(0, 256, (batch_size * iters, size, size, 3)).astype("float32")
    classifier.predict(images[:batch_size], batch_size=batch_size, verbose=0)  # build and trace once
    start = time.perf_counter()
    classifier.predict(images, batch_size=batch_size, verbose=0)
    return len(images) / (time.perf_counter() - start)


def zoo_images_per_s(
    name: str, batch_size: int, warmup: int, iters: int, precisions: list[str]
) -> dict[str, float]:
    """runtime/precision -> images/s; combinations a runtime cannot run are left out."""
    import zoo

    frame = zoo.benchmark(name, batch_sizes=[batch_size], runtimes=list(RUNTIMES), precisions=precisions,
                          warmup=warmup, iters=iters, record=False)  # fmt: skip
    ok = frame[frame["status"] == "ok"]
    return {f"{row.runtime}/{row.precision}": float(row.images_per_s) for row in ok.itertuples()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one small timm model, one round, short runs")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--models", default=None, help="comma-separated registry names")
    parser.add_argument(
        "--precisions", default="fp32", help="zoo's precisions, comma-separated: fp32, bf16, fp16, int8..."
    )
    args = parser.parse_args()
    models = ["resnet18.a1_in1k"] if args.quick else ["resnet50", "resnet50.a1_in1k"]
    models = args.models.split(",") if args.models else models
    precisions = args.precisions.split(",")
    rounds = args.rounds or (1 if args.quick else 3)
    warmup, iters = (2, 5) if args.quick else (3, 15)

    from zoo.registry import get

    print(f"{rounds} alternating rounds, {iters} timed batches each, on this machine's CPU; the library runs"
          f" fp32, zoo {', '.join(precisions)} (the zoo path column names what ran)")  # fmt: skip
    print(f"{'model':<18} {'build s':>8} {'batch':>5} {'library img/s':>16} {'zoo best img/s':>15} "
          f"{'zoo path':<14} {'ratio':>6}")  # fmt: skip
    for name in models:
        spec = get(name)
        built = build_seconds(name)
        lib_model = library_model(name)
        for batch_size in (1, 32):
            lib_best, zoo_best = 0.0, {}
            for _ in range(rounds):
                lib_speed = library_images_per_s(lib_model, batch_size, spec.input_size, iters)
                lib_best = max(lib_best, lib_speed)
                for path, speed in zoo_images_per_s(name, batch_size, warmup, iters, precisions).items():
                    zoo_best[path] = max(zoo_best.get(path, 0.0), speed)
            path, speed = max(zoo_best.items(), key=lambda item: item[1])
            library = "keras-hub" if spec.is_keras_hub else "keras"
            print(f"{name:<18} {built:8.1f} {batch_size:>5} {lib_best:9.1f} {library:<6} {speed:15.1f} "
                  f"{path:<14} {speed / lib_best:6.2f}")  # fmt: skip
            for other, other_speed in sorted(zoo_best.items()):
                if other != path:
                    print(f"{'':<18} {'':>8} {'':>5} {'':>16} {other_speed:15.1f} {other:<14}")


if __name__ == "__main__":
    main()
