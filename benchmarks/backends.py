"""zoo's keras runtime against the same back-end's plain `model.predict()`, on TensorFlow, JAX and PyTorch.

For ResNet50, MobileNetV2 and EfficientNetB0 (weights=None, 224x224) at batch 1 and 32, one child process
per back-end (Keras fixes its back-end once per process) times, interleaved call by call:
    predict  model.predict(x, batch_size=len(x)) (what most Keras code does)
    zoo      zoo.engine.runtimes.make_runtime(model, "keras", "fp32"): TensorFlow's frozen graph, a jitted
             stateless call on JAX, eager calls in torch.inference_mode() on PyTorch
Each figure is the median call; every output is on the host before the clock stops. The table gives the
speed-up of zoo over predict per back-end and, per model and batch, the fastest back-end and its margin.

    .venv/bin/python benchmarks/backends.py                       # 7 rounds, every model
    .venv/bin/python benchmarks/backends.py --models MobileNetV2 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

MODELS = ("ResNet50", "MobileNetV2", "EfficientNetB0")
BATCHES = (1, 32)
BACKENDS = ("tensorflow", "jax", "torch")
PATHS = ("predict", "zoo")


def measure_here(model_name: str, batches: list[int], rounds: int) -> dict[str, dict[str, float]]:
    """In this process (its back-end): {batch: {path: median seconds per call}}."""
    import keras

    from zoo import config
    from zoo.engine.runtimes import make_runtime

    config.prepare_keras_backend()
    model = getattr(keras.applications, model_name)(weights=None)
    runtime = make_runtime(model, "keras", "fp32")
    calls = {"predict": lambda x: model.predict(x, batch_size=len(x), verbose=0), "zoo": runtime.predict}
    rng = np.random.default_rng(0)
    medians: dict[str, dict[str, float]] = {}
    for batch in batches:
        x = rng.uniform(0, 255, (batch, 224, 224, 3)).astype(np.float32)
        for call in calls.values():  # warm-up: compilation and first-call costs stay out of the figures
            call(x), call(x)
        seconds: dict[str, list[float]] = {path: [] for path in calls}
        for _ in range(rounds):
            for path, call in calls.items():
                start = time.perf_counter()
                np.asarray(call(x))
                seconds[path].append(time.perf_counter() - start)
        medians[str(batch)] = {path: statistics.median(s) for path, s in seconds.items()}
    return medians


def measure_in_child(backend: str, model_name: str, batches: list[int], rounds: int) -> dict | str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, "--child", "--models", model_name, "--rounds", str(rounds)]
    command += ["--batches", ",".join(map(str, batches))]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict[str, dict[str, dict | str]], batches: list[int]) -> None:
    print(f"{'model':16} {'batch':>5} {'back-end':10} {'predict ms':>11} {'zoo ms':>9} {'zoo/predict':>11}")
    for model_name, per_backend in results.items():
        for batch in map(str, batches):
            zoo_ms: dict[str, float] = {}
            for backend, figures in per_backend.items():
                if isinstance(figures, str):
                    print(f"{model_name:16} {batch:>5} {backend:10} {figures}")
                    continue
                predict_s, zoo_s = figures[batch]["predict"], figures[batch]["zoo"]
                zoo_ms[backend] = zoo_s * 1e3
                print(
                    f"{model_name:16} {batch:>5} {backend:10} {predict_s * 1e3:11.1f} {zoo_s * 1e3:9.1f} "
                    f"{predict_s / zoo_s:10.2f}x"
                )
            if len(zoo_ms) > 1:
                ranked = sorted(zoo_ms, key=zoo_ms.get)
                margin = zoo_ms[ranked[1]] / zoo_ms[ranked[0]]
                print(
                    f"  fastest at batch {batch}: {ranked[0]}, {margin:.2f}x ahead of {ranked[1]} (zoo path)"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models, batches = args.models.split(","), [int(b) for b in args.batches.split(",")]
    if args.child:
        print(json.dumps(measure_here(models[0], batches, args.rounds)))
        return 0
    results = {
        model_name: {
            backend: measure_in_child(backend, model_name, batches, args.rounds)
            for backend in args.backends.split(",")
        }
        for model_name in models
    }
    report(results, batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
