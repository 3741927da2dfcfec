"""zoo benchmark's images/s versus a hand-written tf.function loop on the same model, in one run.

The hand loop is the floor any harness can reach: a compiled call on a fixed tensor, read back to the
host each step. zoo's figure goes through everything a user gets (a worker process, the runtime wrapper,
NumPy in, NumPy out). Rounds alternate the two so drifting machine load hits both alike; the best round
of each is compared. Target: zoo within 5% of the hand loop.

    .venv/bin/python benchmarks/bench_overhead.py            # mobilenet_v2, batches 1 and 32
    .venv/bin/python benchmarks/bench_overhead.py --quick    # a small MobileNet, batch 8, short rounds
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def hand_loop_images_per_s(model, batch_size: int, size: int, warmup: int, iters: int) -> float:
    """batch / median step time of a plain tf.function loop, each step read back with .numpy()."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 256, (batch_size, size, size, 3)).astype(np.float32))
    step = tf.function(lambda t: model(t, training=False))
    for _ in range(warmup):
        step(x).numpy()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step(x).numpy()
        times.append(time.perf_counter() - start)
    return batch_size / float(np.median(times))  # the statistic zoo reports


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="registry name (default: mobilenet_v2)")
    parser.add_argument("--quick", action="store_true", help="a small model, one batch size, short rounds")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    model_name = args.model or ("mobilenet_v1_025_128" if args.quick else "mobilenet_v2")
    batch_sizes = [8] if args.quick else [1, 32]
    rounds = args.rounds or (2 if args.quick else 4)
    warmup, iters = (3, 20) if args.quick else (3, 15)

    import zoo
    from zoo.registry import get

    size = get(model_name).input_size
    model = zoo.load(model_name, weights=None)
    print(f"model {model_name} at {size}px, {rounds} alternating rounds, {iters} timed steps each")
    print(f"{'batch':>5} {'hand img/s':>11} {'zoo img/s':>10} {'zoo/hand':>9}")
    for batch_size in batch_sizes:
        hand, ours = [], []
        for _ in range(rounds):
            hand.append(hand_loop_images_per_s(model, batch_size, size, warmup, iters))
            frame = zoo.benchmark(
                model_name, batch_sizes=[batch_size], warmup=warmup, iters=iters, record=False
            )
            ours.append(float(frame["images_per_s"].iloc[0]))
        ratio = max(ours) / max(hand)
        print(f"{batch_size:>5} {max(hand):>11.1f} {max(ours):>10.1f} {ratio:>9.3f}")


if __name__ == "__main__":
    main()
