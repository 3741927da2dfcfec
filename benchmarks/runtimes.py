"""Inference runtimes side by side: images/s and the achieved share of this machine's fp32 matmul peak.

For MobileNetV2 and ResNet50 (weights=None, 224x224) at batch 1 and 32, in one run:
    keras predict   model.predict(x) per call (what most Keras code does)
    tf.function     a hand-written tf.function(lambda x: model(x, training=False))
    zoo keras fp32  zoo.engine.runtimes.make_runtime(model, "keras", "fp32")
    zoo keras bf16  ... "keras", "bf16"
    zoo litert fp32 ... "litert", "fp32"  (LiteRT + XNNPACK)
    zoo litert int8 ... "litert", "int8"  (dynamic-range int8)
    zoo litert int8-full ... "litert", "int8-full" (every tensor int8, calibrated on 16 random images)
    zoo <runtime> <precision>  every other pair zoo.choices.RUNTIME_PRECISIONS lists (openvino, onnxruntime)
    peer <library> <precision> with --peers: OpenVINO, ONNX Runtime and LiteRT used directly, the way their
                    own docs show (benchmarks/_peers.py); the precision that really ran is printed

The paths are timed interleaved (one call of each in turn, for several rounds) so that load from other
processes hits them alike; each figure is the median call. Every call's output is forced to the host
before the clock stops. FLOPs per image are 2 x the multiply-accumulates zoo.bench.flops counts from the
Keras graph (convolutions and dense layers); the peak is zoo.bench.peak's fp32 tf.matmul benchmark.

    .venv/bin/python benchmarks/runtimes.py            # 7 rounds
    .venv/bin/python benchmarks/runtimes.py --quick    # 3 rounds
    .venv/bin/python benchmarks/runtimes.py --models MobileNetV2 --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

MODELS = ("MobileNetV2", "ResNet50")
BATCHES = (1, 32)
def predictors(
    model: object, calibration: np.ndarray, peers: bool
) -> tuple[dict[str, Callable[[np.ndarray], np.ndarray]], dict[str, str]]:
    """Every path's call, and the precision each really ran (or why it could not be built)."""
    import tensorflow as tf

    from zoo.choices import RUNTIME_PRECISIONS
    from zoo.engine.runtimes import make_runtime

    handwritten = tf.function(lambda x: model(x, training=False))
    calls = {
        "keras predict": lambda x: model.predict(x, batch_size=len(x), verbose=0),
        "tf.function": lambda x: handwritten(x).numpy(),
    }
    ran = {"keras predict": "fp32", "tf.function": "fp32"}
    for runtime, precisions in RUNTIME_PRECISIONS.items():
        for precision in precisions:
            name = f"zoo {runtime} {precision}"
            try:
                built = make_runtime(model, runtime, precision, calibration=calibration,
                                     cache_key=f"bench-{model.name}")  # fmt: skip
            except Exception as exc:  # a runtime this machine or model cannot run: say why, go on
                ran[name] = f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:80]}"
                continue
            calls[name] = built.predict
            ran[name] = getattr(built, "effective_precision", precision)
    if peers:
        from _peers import build_peers

        peer_calls, peer_ran = build_peers(model, calibration)
        calls.update(peer_calls)
        ran.update(peer_ran)
    return calls, ran


def interleaved_medians(
    calls: dict[str, Callable[[np.ndarray], np.ndarray]], batch: np.ndarray, rounds: int
) -> dict[str, float]:
    """Median seconds per call of each path, timed one call of each path per round."""
    from zoo.bench.timing import on_host

    for call in calls.values():  # warm-up: tracing, interpreter allocation, first-touch of memory
        on_host(call(batch))
        on_host(call(batch))
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            on_host(call(batch))
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per configuration")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="keras.applications names")
    parser.add_argument("--peers", action="store_true", help="also OpenVINO, ONNX Runtime, LiteRT directly")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)

    import keras

    from zoo.bench.flops import count_macs
    from zoo.bench.peak import measure_peak_gflops

    # conversions go to a scratch ZOO_HOME: the benchmark never fills the user's cache
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-bench-runtimes-")
    peak = measure_peak_gflops()
    print(f"fp32 matmul peak: {peak:.0f} GFLOP/s  ({os.cpu_count()} CPUs, {rounds} rounds, median call)")
    rng = np.random.default_rng(0)
    summary: list[str] = []
    for model_name in args.models:
        model = getattr(keras.applications, model_name)(weights=None)
        gflop_per_image = 2 * count_macs(model) / 1e9
        started = time.perf_counter()
        calibration = rng.uniform(0, 255, (16, 224, 224, 3)).astype(np.float32)
        calls, ran = predictors(model, calibration, args.peers)
        setup_s = time.perf_counter() - started
        print(f"\n{model_name}: {gflop_per_image:.2f} GFLOP/image; runtimes built in {setup_s:.0f} s")
        for name, why in ran.items():
            if why.startswith("failed"):
                print(f"  {name}: {why}")
        print(f"{'path':<26}{'ran':>10}{'batch':>6}{'images/s':>10}{'GFLOP/s':>9}{'% fp32 peak':>12}"
              f"{'vs zoo fp32':>12}")  # fmt: skip
        for size in BATCHES:
            batch = rng.uniform(0, 255, (size, 224, 224, 3)).astype(np.float32)
            medians = interleaved_medians(calls, batch, rounds)
            rate = {name: size / s for name, s in medians.items()}
            for name in calls:
                achieved = rate[name] * gflop_per_image
                print(
                    f"{name:<26}{ran[name][:10]:>10}{size:>6}{rate[name]:>10.1f}{achieved:>9.1f}"
                    f"{100 * achieved / peak:>11.0f}%{rate[name] / rate['zoo keras fp32']:>11.2f}x"
                )
            fastest = max((n for n in calls if n.startswith("zoo")), key=rate.__getitem__)
            summary.append(
                f"{model_name} batch {size}: zoo keras fp32 / tf.function = "
                f"{rate['zoo keras fp32'] / rate['tf.function']:.3f}; fastest zoo path {fastest} = "
                f"{rate[fastest] / rate['zoo keras fp32']:.2f}x zoo keras fp32"
            )
    print("\nratios (targets: fp32 / tf.function >= 0.95; fastest >= 2.5x on ResNet50)")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
