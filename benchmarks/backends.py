"""zoo's keras runtime against the same back-end's plain `model.predict()`, on TensorFlow, JAX and PyTorch,
beside LiteRT and OpenVINO.

For ResNet50, MobileNetV2 and EfficientNetB0 (weights=None, 224x224) at batch 1 and 32, one child process
per back-end and model (Keras fixes its back-end once per process) times, interleaved call by call
(zoo.bench.timing.time_interleaved, each round starting one path later):
    predict  model.predict(x, batch_size=len(x)) (what most Keras code does)
    zoo      zoo.engine.runtimes.make_runtime(model, "keras", "fp32"): TensorFlow's frozen graph, a jitted
             stateless call on JAX, a traced and frozen call in torch.inference_mode() on PyTorch; on JAX
             and PyTorch of a copy with BatchNormalization folded into the convolutions (zoo.engine.folding),
             as TensorFlow's graph optimiser does for the frozen graph
    unfolded with --unfolded, on JAX and PyTorch: zoo's forward pass on the model as built, no fold
             (zoo.engine.backend.backend_forward(model, backend, fold=False), called directly)
    litert / openvino  in the TensorFlow child (the conversions run there): make_runtime(model, "litert" or
             "openvino", "fp32"); --no-converted leaves them out
Throughput is batch / median call; every output is on the host before the clock stops. Warm-up calls stay
out of it, but each path's start-up is reported: "start s" is building the path (runtime, conversion) plus
its first two calls at that batch (JAX compiles on the first, PyTorch traces on the second, once per batch
shape). The table gives zoo's
speed-up over predict per back-end (paired: both timed in the same rounds) and, per model and batch, the
fastest back-end's zoo path and its margin (back-ends run one after another, so that margin is not paired).

    .venv/bin/python benchmarks/backends.py                       # 5 rounds, every model, ~20 min on 2 cores
    .venv/bin/python benchmarks/backends.py --models MobileNetV2 --rounds 3 --unfolded
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

MODELS = ("ResNet50", "MobileNetV2", "EfficientNetB0")
BATCHES = (1, 32)
BACKENDS = ("tensorflow", "jax", "torch")
CONVERTED = ("litert", "openvino")


def build_paths(model: Any, unfolded: bool, converted: bool) -> tuple[dict[str, Callable], dict[str, float]]:
    """Each path's call on this back-end, and the seconds it took to build."""
    import keras

    from zoo.engine.backend import backend_forward
    from zoo.engine.runtimes import make_runtime

    backend = keras.config.backend()
    makers: dict[str, Callable[[], Callable]] = {
        "predict": lambda: lambda x: model.predict(x, batch_size=len(x), verbose=0),
        "zoo": lambda: make_runtime(model, "keras", "fp32").predict,
    }
    if unfolded and backend != "tensorflow":
        makers["unfolded"] = lambda: backend_forward(model, backend, fold=False)
    if converted and backend == "tensorflow":
        for runtime in CONVERTED:
            makers[runtime] = lambda runtime=runtime: make_runtime(model, runtime, "fp32").predict
    calls, build_s = {}, {}
    for path, make in makers.items():
        start = time.perf_counter()
        calls[path] = make()
        build_s[path] = time.perf_counter() - start
    return calls, build_s


def measure_here(model_name: str, batches: list[int], rounds: int, unfolded: bool, converted: bool) -> dict:
    """In this process (its back-end): {batch: {path: {"images_per_s", "start_s"}}}."""
    import keras

    from zoo import config
    from zoo.bench.timing import on_host, time_interleaved

    config.prepare_keras_backend()
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(
        prefix="zoo-bench-backends-"
    )  # conversions: not the user's cache
    model = getattr(keras.applications, model_name)(weights=None)
    calls, build_s = build_paths(model, unfolded, converted)
    rng = np.random.default_rng(0)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for index, batch in enumerate(batches):
        x = rng.uniform(0, 255, (batch, 224, 224, 3)).astype(np.float32)
        start_s = {}
        for path, call in calls.items():
            start = time.perf_counter()
            on_host(call(x)), on_host(call(x))
            start_s[path] = time.perf_counter() - start + (build_s[path] if index == 0 else 0.0)
        timings = time_interleaved(calls, x, warmup=0, iters=rounds, rotate=True)  # warm: the two calls above
        figures[str(batch)] = {
            path: {"images_per_s": timing.images_per_s, "start_s": start_s[path]}
            for path, timing in timings.items()
        }
    return {"figures": figures, "load": os.getloadavg()[0]}


def measure_in_child(backend: str, model_name: str, args: argparse.Namespace) -> dict | str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, "--child", "--models", model_name, "--rounds", str(args.rounds)]
    command += (
        ["--batches", args.batches] + ["--unfolded"] * args.unfolded + ["--no-converted"] * args.no_converted
    )
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict[str, dict[str, dict | str]], batches: list[int]) -> None:
    print(
        f"{'model':15} {'batch':>5} {'back-end':10} {'path':9} {'images/s':>9} {'/predict':>9} {'start s':>8}"
    )
    for model_name, per_backend in results.items():
        for batch in map(str, batches):
            zoo_speed: dict[str, float] = {}
            for backend, result in per_backend.items():
                if isinstance(result, str):
                    print(f"{model_name:15} {batch:>5} {backend:10} {result}")
                    continue
                paths = result["figures"][batch]
                predict = paths["predict"]["images_per_s"]
                for path, figure in paths.items():
                    speed = figure["images_per_s"]
                    print(
                        f"{model_name:15} {batch:>5} {backend:10} {path:9} {speed:9.2f} "
                        f"{speed / predict:8.2f}x {figure['start_s']:8.2f}   (load {result['load']:.1f})"
                    )
                zoo_speed[backend] = paths["zoo"]["images_per_s"]
            if len(zoo_speed) > 1:
                ranked = sorted(zoo_speed, key=zoo_speed.__getitem__, reverse=True)
                margin = zoo_speed[ranked[0]] / zoo_speed[ranked[1]]
                print(
                    f"  {model_name} batch {batch}: fastest zoo path on {ranked[0]}, "
                    f"{margin:.2f}x {ranked[1]}"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--unfolded", action="store_true", help="also time zoo's JAX/torch path without BatchNorm folding"
    )
    parser.add_argument("--no-converted", action="store_true", help="leave out LiteRT and OpenVINO")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models, batches = args.models.split(","), [int(b) for b in args.batches.split(",")]
    if args.child:
        print(json.dumps(measure_here(models[0], batches, args.rounds, args.unfolded, not args.no_converted)))
        return 0
    results = {
        model_name: {
            backend: measure_in_child(backend, model_name, args) for backend in args.backends.split(",")
        }
        for model_name in models
    }
    report(results, batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
