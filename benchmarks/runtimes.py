"""Inference runtimes side by side: images/s and the achieved share of this machine's matmul peak in the
precision each path really ran.

For MobileNetV2 and ResNet50 (weights=None, 224x224) at batch 1 and 32, in one run:
    keras predict   model.predict(x) per call (what most Keras code does)
    tf.function     a hand-written tf.function(lambda x: model(x, training=False))
    zoo <runtime> <precision>  every pair zoo.choices.RUNTIME_PRECISIONS lists, through
                    zoo.engine.runtimes.make_runtime (keras, litert, openvino, onnxruntime; onnxruntime
                    also with spinning workers, "(spinning)", and openvino with a batch split over its
                    streams, "(streams)", at batch 32: the variants auto times beside them)
    zoo auto        zoo.bench.auto's choice for this model and batch (no accuracy gate here: fp32 only),
                    measured by auto itself first; its figure is the picked path's in this run
    zoo auto bf16 / zoo auto int8   its choice among the bf16 / int8 paths (the precision named, as
                    `--runtime auto --precision ...` does; accuracy is not judged here)
    peer <library> <precision> with --peers: OpenVINO, ONNX Runtime and LiteRT used directly, the way their
                    own docs show (benchmarks/_peers.py); the precision that really ran is printed

The paths are timed interleaved (zoo.bench.timing.time_interleaved: one call of each in turn, for
several rounds, each round starting one path later, so none always runs right after TensorFlow's
spinning threads) so that load from other processes hits them alike; each figure is the median call.
Every call's output is forced to the host before the clock stops. FLOPs per image are 2 x the
multiply-accumulates zoo.bench.flops counts from the Keras graph; "% peak" is against zoo.bench.peak's
peak (fastest matmul or convolution) in the precision the path really ran, so it stays under 100%.
With --peers, the closing table gives for each (model, batch, precision) zoo auto / the best peer, in the
crowd and alone: auto's path and that precision's peers, each timed in blocks of back-to-back calls
(head_to_head), since in the crowd every path runs right after others whose threads still spin, which
costs a two-thread path more than a one-thread peer (LiteRT's default).

    .venv/bin/python benchmarks/runtimes.py --peers            # 7 rounds
    .venv/bin/python benchmarks/runtimes.py --quick            # 3 rounds
    .venv/bin/python benchmarks/runtimes.py --models MobileNetV2 --batches 1 --quick --peers
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

MODELS = ("MobileNetV2", "ResNet50")
BATCHES = (1, 32)


def predictors(
    model: object, calibration: np.ndarray, peers: bool
) -> tuple[dict[str, Callable[[np.ndarray], np.ndarray]], dict[str, str]]:
    """Every path's call, and the precision each really ran (or why it could not be built)."""
    import tensorflow as tf

    from zoo.bench.auto import build_candidate, candidates
    from zoo.choices import RUNTIME_PRECISIONS

    handwritten = tf.function(lambda x: model(x, training=False))
    calls = {
        "keras predict": lambda x: model.predict(x, batch_size=len(x), verbose=0),
        "tf.function": lambda x: handwritten(x).numpy(),
    }
    ran = {"keras predict": "fp32", "tf.function": "fp32"}
    pairs = [(runtime, precision) for runtime, ps in RUNTIME_PRECISIONS.items() for precision in ps]
    for candidate in candidates(pairs):
        name = f"zoo {candidate.name}"
        try:
            built = build_candidate(model, candidate, calibration, cache_key(model))
        except Exception as exc:  # a runtime this machine or model cannot run: say why, go on
            ran[name] = f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:80]}"
            continue
        calls[name] = built.predict
        ran[name] = getattr(built, "effective_precision", candidate.precision)
    if peers:
        from _peers import build_peers

        peer_calls, peer_ran = build_peers(model, calibration)
        calls.update(peer_calls)
        ran.update(peer_ran)
    return calls, ran


AUTO_PRECISIONS = {
    "zoo auto": None,
    "zoo auto bf16": ("bf16",),
    "zoo auto int8": ("int8", "int8-full", "int8-plain", "int8+bf16", "int8-plain+bf16"),
}


def auto_choices(model: object, calibration: np.ndarray, size: int) -> dict[str, str]:
    """zoo.bench.auto's choice at this batch size, unrestricted and among the bf16 / int8 paths: 'zoo auto
    ...' -> the 'zoo <runtime> <precision>' path it picked (or why it picked none)."""
    from zoo.bench.auto import choose

    chosen = {}
    for name, precisions in AUTO_PRECISIONS.items():
        try:
            _, decision = choose(model, size, precisions=precisions, calibration=calibration,
                                 cache_key=cache_key(model), report=lambda line: None)  # fmt: skip
        except Exception as exc:  # e.g. no installed runtime has that precision
            chosen[name] = f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:80]}"
            continue
        chosen[name] = f"zoo {decision.candidate.name}"
    return chosen


def cache_key(model: object) -> str:
    return f"bench-{model.name}"  # type: ignore[attr-defined]


def family(ran: str) -> str:
    """fp32, bf16 or int8: the precision a path really ran, as zoo.bench.peak compares it."""
    from zoo.bench.peak import peak_precision

    return peak_precision(ran.split()[0].split("+")[0])  # "int8+bf16": OpenVINO's int8 with bf16 between


def head_to_head(
    calls: dict[str, Callable[[np.ndarray], np.ndarray]],
    picked: dict[str, str],
    batch: np.ndarray,
    rounds: int,
    names: list[str],
) -> dict[str, float]:
    """images/s of `names` alone, in blocks: each round runs each path BLOCK times back to back (after two
    untimed calls), the paths' order rotating from round to round, as a user's process runs one runtime.
    ('zoo auto ...' runs the path it picked.) Call by call interleaving would put every path right
    after another whose threads still spin (onnxruntime's spinning workers, TensorFlow's pool), which
    costs a two-thread path more than a one-thread peer such as LiteRT's default interpreter."""
    from zoo.bench.timing import round_orders, time_calls

    chosen = {name: calls[picked.get(name, name)] for name in names}
    latencies: dict[str, list[float]] = {name: [] for name in names}
    orders = round_orders(names)
    for turn in range(max(rounds, len(orders))):
        for name in orders[turn % len(orders)]:
            latencies[name].extend(time_calls(chosen[name], batch, warmup=2, iters=BLOCK).latencies_s)
    return {name: len(batch) / float(np.median(values)) for name, values in latencies.items()}


BLOCK = 5


def best_peer_ratios(
    model_name: str,
    size: int,
    rate: dict[str, float],
    ran: dict[str, str],
    time_alone: Callable[[list[str]], dict[str, float]],
) -> list[str]:
    """For each precision: zoo auto's images/s over the fastest peer's that ran in that precision, in the
    crowd (every path interleaved) and alone (auto's path and those peers, `time_alone`: head_to_head)."""
    lines = []
    for precision, auto in (("fp32", "zoo auto"), ("bf16", "zoo auto bf16"), ("int8", "zoo auto int8")):
        peers = {n: r for n, r in rate.items() if n.startswith("peer") and family(ran[n]) == precision}
        mine = rate.get(auto) if auto in rate and family(ran[auto]) == precision else None
        if not peers or mine is None:
            why = "no peer ran it" if not peers else f"{auto} did not run {precision}"
            lines.append(f"{model_name:<12}{size:>6}  {precision:<5} {'n/a':>7} {'n/a':>7}   ({why})")
            continue
        best = max(peers, key=peers.__getitem__)
        alone = time_alone([auto, *peers])
        best_alone = max(peers, key=alone.__getitem__)
        crowd_ratio, alone_ratio = mine / peers[best], alone[auto] / alone[best_alone]
        lines.append(
            f"{model_name:<12}{size:>6}  {precision:<5} {crowd_ratio:>6.2f}x {alone_ratio:>6.2f}x"
            f"   ({auto} {mine:.1f} img/s [{ran[auto]}] vs {best} {peers[best]:.1f} img/s [{ran[best]}];"
            f" head to head {alone[auto]:.1f} vs {best_alone} {alone[best_alone]:.1f})"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per configuration")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="keras.applications names")
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES), help="batch sizes")
    parser.add_argument("--peers", action="store_true", help="also OpenVINO, ONNX Runtime, LiteRT directly")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)

    import keras

    from zoo.bench.flops import count_macs
    from zoo.bench.peak import measure_peaks, peak_for
    from zoo.bench.timing import time_interleaved

    # conversions, decisions and peaks go to a scratch ZOO_HOME: the benchmark never fills the user's cache
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-bench-runtimes-")
    peaks = measure_peaks()
    shown = ", ".join(
        f"{p} {v.gflops:.0f} ({v.how})" if v.gflops else f"{p} {v.how}" for p, v in peaks.items()
    )
    print(f"peaks, GFLOP/s: {shown}; {os.cpu_count()} CPUs, {rounds} rounds, median call")
    rng = np.random.default_rng(0)
    summary: list[str] = []
    ratios: list[str] = []
    for model_name in args.models:
        model = getattr(keras.applications, model_name)(weights=None)
        gflop_per_image = 2 * count_macs(model) / 1e9
        started = time.perf_counter()
        calibration = rng.uniform(0, 255, (16, 224, 224, 3)).astype(np.float32)
        calls, ran = predictors(model, calibration, args.peers)
        setup_s = time.perf_counter() - started
        print(f"\n{model_name}: {gflop_per_image:.2f} GFLOP/image; runtimes built in {setup_s:.0f} s")
        print(f"{'path':<32}{'ran':>24}{'batch':>6}{'images/s':>10}{'GFLOP/s':>9}{'% peak':>8}{'of':>6}"
              f"{'vs zoo fp32':>12}")  # fmt: skip
        for size in args.batches:
            picked = auto_choices(model, calibration, size)
            for name, why in {**ran, **picked}.items():
                if why.startswith("failed"):
                    print(f"  {name}: {why}")
            batch = rng.uniform(0, 255, (size, 224, 224, 3)).astype(np.float32)
            # a batch of one cannot be split over openvino's streams: those paths would run on one stream
            here = {n: call for n, call in calls.items() if size > 1 or not n.endswith("(streams)")}
            timings = time_interleaved(here, batch, warmup=2, iters=rounds, rotate=True)
            rate = {name: timing.images_per_s for name, timing in timings.items()}
            # auto builds exactly the path it picked: its row is that path's timing in this run
            picked = {name: path for name, path in picked.items() if path in rate}
            rate.update({name: rate[path] for name, path in picked.items()})
            ran_here = {**ran, **{name: f"{ran[path]} ({path[4:]})" for name, path in picked.items()}}
            for name in rate:
                achieved = rate[name] * gflop_per_image
                peak = peak_for(family(ran_here[name]), achieved)
                share = f"{100 * achieved / peak.gflops:>7.0f}%" if peak.gflops else f"{'n/a':>8}"
                print(
                    f"{name:<32}{ran_here[name][:24]:>24}{size:>6}{rate[name]:>10.1f}{achieved:>9.1f}"
                    f"{share}{peak.precision:>6}{rate[name] / rate['zoo keras fp32']:>11.2f}x"
                )
            fastest = max((n for n in timings if n.startswith("zoo")), key=rate.__getitem__)
            summary.append(
                f"{model_name} batch {size}: zoo keras fp32 / tf.function = "
                f"{rate['zoo keras fp32'] / rate['tf.function']:.3f}; fastest zoo path {fastest} = "
                f"{rate[fastest] / rate['zoo keras fp32']:.2f}x zoo keras fp32"
            )
            if args.peers:
                alone = partial(head_to_head, calls, picked, batch, rounds)
                ratios.extend(best_peer_ratios(model_name, size, rate, ran_here, alone))
    print("\nratios (targets: fp32 / tf.function >= 0.95; fastest >= 2.5x on ResNet50)")
    print("\n".join(summary))
    if ratios:
        print("\nzoo auto / best peer, per precision that ran (target >= 1.0x): in the crowd, and alone")
        print(f"{'model':<12}{'batch':>6}  {'prec':<5} {'crowd':>7} {'alone':>7}")
        print("\n".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
