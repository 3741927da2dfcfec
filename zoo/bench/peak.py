"""This machine's fp32 arithmetic peak, measured by a matrix-multiply micro-benchmark.

A large square fp32 matmul is the most arithmetic-dense thing the runtime does, so its GFLOP/s is the
practical ceiling a model's achieved GFLOP/s is compared with. Measured once per process.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from zoo.bench.timing import time_calls


@lru_cache(maxsize=4)
def measure_peak_gflops(size: int = 1024, iters: int = 10) -> float:
    """GFLOP/s of `size`x`size` fp32 matmuls in TensorFlow (2*size^3 FLOPs each), best steady rate."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
    b = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
    # the sum brings one number back to the host (the wait), not a matrix copy that would be timed too
    matmul = tf.function(lambda x: tf.reduce_sum(tf.matmul(x, b)))
    timing = time_calls(lambda _: matmul(a), np.empty((1,)), warmup=2, iters=iters)
    flops = 2.0 * size**3
    # the fastest call is the closest to the ceiling: slower ones were interrupted by other work
    return flops / min(timing.latencies_s) / 1e9
