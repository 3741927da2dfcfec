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
    """GFLOP/s of `size`x`size` fp32 matmuls on the active Keras back-end (2*size^3 FLOPs each), best
    steady rate. Through keras.ops, so a JAX or torch process never imports TensorFlow for it."""
    from keras import ops

    rng = np.random.default_rng(0)
    a = ops.convert_to_tensor(rng.standard_normal((size, size), dtype=np.float32))
    b = ops.convert_to_tensor(rng.standard_normal((size, size), dtype=np.float32))
    # the sum brings one number back to the host (the wait), not a matrix copy that would be timed too
    timing = time_calls(lambda _: float(ops.sum(ops.matmul(a, b))), np.empty((1,)), warmup=2, iters=iters)
    flops = 2.0 * size**3
    # the fastest call is the closest to the ceiling: slower ones were interrupted by other work
    return flops / min(timing.latencies_s) / 1e9
