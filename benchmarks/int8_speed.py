"""What the float layers of a searched int8 model cost in speed: searched int8, plain int8 (every layer
int8, no search) and fp32, per runtime, timed in one interleaved run.

    searched  zoo's int8 as it converts now: the layers zoo.engine.int8_search measured as costing
              agreement stay float (openvino int8, litert int8-full; onnxruntime int8 has no search)
    plain     precision int8-plain: the same calibration, nothing searched, every layer int8
    +bf16     openvino only: int8+bf16 / int8-plain+bf16, the same IRs with their float parts in bf16
              (where the CPU has native bf16; elsewhere the line says why it was refused)
    fp32      the runtime's fp32
    peer      with --peer: OpenVINO's own int8 (benchmarks/_peers.py: nncf.quantize, plugin defaults)

Models: the real ImageNet MobileNet 0.25 @128 with its head (tests/support/realdata.py), MobileNetV2 and
ResNet50 (weights none, 224), all calibrated on real training photos; batch 1 and 32. Every path is timed
interleaved in rotating order (zoo.bench.timing.time_interleaved) and ranked by zoo.bench.timing's
paired_rates (median per-round speed ratio), so load from other processes hits the paths alike.

    .venv/bin/python benchmarks/int8_speed.py                          # both models, batch 1 and 32
    .venv/bin/python benchmarks/int8_speed.py --models mobilenet_0.25 --batches 1 --rounds 5
    .venv/bin/python benchmarks/int8_speed.py --models MobileNetV2 --calibration-per-class 8 \
        --home /tmp/zoo-int8-speed --runtimes litert onnxruntime
                            # fewer calibration photos, conversions kept in (and reused from) --home
    .venv/bin/python benchmarks/int8_speed.py --models ResNet50 --batches 32 --runtimes openvino --peer
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests")]

import numpy as np  # noqa: E402

INT8 = {"openvino": "int8", "litert": "int8-full", "onnxruntime": "int8"}
PLAIN_INT8 = {"openvino": "int8-plain", "litert": "int8-plain", "onnxruntime": "int8"}  # onnx: no search
BF16_INT8 = {"openvino": {"int8 plain+bf16": "int8-plain+bf16", "int8 searched+bf16": "int8+bf16"}}
MODELS = ("mobilenet_0.25", "MobileNetV2", "ResNet50")
CALIBRATION_PER_CLASS = 40


def build(
    model: object, name: str, size: int, runtimes: list[str], per_class: int, peer: bool
) -> tuple[dict[str, Callable[[np.ndarray], np.ndarray]], dict[str, str]]:
    """'<runtime> fp32 / int8 plain / int8 searched / ...+bf16' (and 'peer openvino int8') -> predict, for
    every path that builds, and the precision each really ran."""
    import time

    from support.realdata import photos

    from zoo.engine.runtimes import make_runtime

    calibration = photos(per_class, size, "train", offset=40)
    calls: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    ran: dict[str, str] = {}
    for runtime in runtimes:
        variants = {"fp32": "fp32", "int8 plain": PLAIN_INT8[runtime]}
        if runtime != "onnxruntime":
            variants["int8 searched"] = INT8[runtime]
        variants.update(BF16_INT8.get(runtime, {}))
        for variant, precision in variants.items():
            key = f"speed-{name}"  # the precision tells plain and searched apart in the conversion cache
            start = time.perf_counter()
            try:
                built = make_runtime(model, runtime, precision, calibration=calibration, cache_key=key)
            except Exception as exc:  # a converter failing: say so, time the others
                print(f"  {runtime} {variant}: failed: {type(exc).__name__}: {str(exc)[:80]}", flush=True)
                continue
            calls[f"{runtime} {variant}"] = built.predict
            ran[f"{runtime} {variant}"] = built.effective_precision
            took = time.perf_counter() - start
            print(
                f"  {runtime} {variant}: ready in {took:.0f} s (ran {built.effective_precision})", flush=True
            )
    if peer:
        from _peers import openvino_peer

        try:
            calls["peer openvino int8"], ran["peer openvino int8"] = openvino_peer(model, "int8", calibration)
            print(f"  peer openvino int8: ready (ran {ran['peer openvino int8']})", flush=True)
        except Exception as exc:
            print(f"  peer openvino int8: failed: {type(exc).__name__}: {str(exc)[:80]}", flush=True)
    return calls, ran


def load(name: str) -> tuple[object, int]:
    if name == "mobilenet_0.25":
        from support.realdata import imagenet_classifier

        return imagenet_classifier(), 128
    import keras

    return getattr(keras.applications, name)(weights=None), 224


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (one call of every path each)")
    parser.add_argument("--runtimes", nargs="+", default=list(INT8), choices=list(INT8))
    parser.add_argument(
        "--calibration-per-class", type=int, default=CALIBRATION_PER_CLASS, metavar="N",
        help="calibration photos per class (fewer: a quicker conversion and float-layer search)",
    )  # fmt: skip
    parser.add_argument("--home", help="ZOO_HOME to convert into and reuse conversions from (default: new)")
    parser.add_argument("--peer", action="store_true", help="time OpenVINO's own int8 beside (_peers.py)")
    args = parser.parse_args()
    os.environ["ZOO_HOME"] = args.home or tempfile.mkdtemp(prefix="zoo-bench-int8-speed-")
    from zoo.bench.timing import paired_rates, time_interleaved

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds, rotating")
    for name in args.models:
        model, size = load(name)
        calls, ran = build(model, name, size, args.runtimes, args.calibration_per_class, args.peer)
        for batch_size in args.batches:
            batch = np.random.default_rng(0).uniform(0, 255, (batch_size, size, size, 3)).astype(np.float32)
            rate = paired_rates(time_interleaved(calls, batch, warmup=2, iters=args.rounds, rotate=True))
            print(f"\n{name} batch {batch_size} (load {os.getloadavg()[0]:.1f}): images/s, load-corrected")
            print(f"{'runtime':<12}{'fp32':>9}{'int8 plain':>12}{'searched':>10}"
                  f"{'plain/fp32':>12}{'searched/fp32':>15}{'searched/plain':>16}")  # fmt: skip
            for runtime in args.runtimes:
                fp32, plain = rate.get(f"{runtime} fp32"), rate.get(f"{runtime} int8 plain")
                searched = rate.get(f"{runtime} int8 searched")
                cells = [f"{v:>9.1f}" if v else f"{'-':>9}" for v in (fp32, plain, searched)]
                ratios = [f"{a / b:>13.2f}x" if a and b else f"{'-':>14}"
                          for a, b in ((plain, fp32), (searched, fp32), (searched, plain))]  # fmt: skip
                print(f"{runtime:<12}{cells[0]}{cells[1]:>12}{cells[2]:>10}{''.join(ratios)}")
            peer = rate.get("peer openvino int8")
            print(f"\n{'path':<30}{'images/s':>10}  {'ran':<12}{'/ peer openvino int8' if peer else ''}")
            for path, images_per_s in sorted(rate.items(), key=lambda item: -item[1]):
                versus = f"{images_per_s / peer:.2f}x" if peer else ""
                print(f"{path:<30}{images_per_s:>10.1f}  {ran[path]:<12}{versus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
