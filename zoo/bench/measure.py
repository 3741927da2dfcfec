"""Measure one model in this process: every (runtime, precision, batch size) row of a benchmark.

Called inside a worker process (zoo.bench.worker), so the model is loaded once per process and the
process's peak RSS is the model's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zoo.bench.flops import count_macs
from zoo.bench.peak import measure_peak_gflops
from zoo.bench.timing import time_calls
from zoo.engine.reference import input_size, load
from zoo.errors import ModelConfigError, ZooError

CALIBRATION_IMAGES = 8  # int8 conversion needs sample inputs; speed does not depend on what they show


def measure_model(
    model: str,
    *,
    weights: str = "none",
    image_size: int | None = None,
    batch_sizes: Sequence[int] = (1,),
    runtimes: Sequence[str] = ("keras",),
    precisions: Sequence[str] = ("fp32",),
    warmup: int = 3,
    iters: int = 20,
) -> list[dict[str, Any]]:
    """Rows of measured figures for `model` (a registry name, .keras file or run directory)."""
    loaded = load(model, weights=weights, image_size=image_size)
    keras_model = loaded.model
    height, width = input_size(keras_model, default=image_size or 224)
    macs = _macs_or_none(keras_model)
    peak = measure_peak_gflops()
    rng = np.random.default_rng(0)
    calibration = rng.integers(0, 256, (CALIBRATION_IMAGES, height, width, 3)).astype(np.float32)
    common = {
        "model": loaded.name,
        "weights": loaded.weights,
        "weights_sha256": loaded.weights_sha256,
        "image_size": height if height == width else f"{height}x{width}",
        "params": int(keras_model.count_params()),
        "gmacs": None if macs is None else macs / 1e9,
        "gflops": None if macs is None else 2 * macs / 1e9,
        "peak_gflops": peak,
    }
    rows = []
    for runtime_name in runtimes:
        for precision in precisions:
            try:
                runtime = _make_runtime(keras_model, runtime_name, precision, calibration)
            except (ZooError, ValueError, NotImplementedError) as exc:
                reason = f"unsupported: {exc}"
                rows.extend(_row(common, runtime_name, precision, b, status=reason) for b in batch_sizes)
                continue
            for batch_size in batch_sizes:
                batch = rng.integers(0, 256, (batch_size, height, width, 3)).astype(np.float32)
                # what really computes: OpenVINO may run another precision than the one asked for
                ran = {"precision_ran": runtime.effective_precision}
                try:
                    timing = time_calls(runtime.predict, batch, warmup=warmup, iters=iters)
                except Exception as exc:  # one failing row must not lose the others
                    rows.append(
                        _row(common, runtime_name, precision, batch_size, **ran, status=f"failed: {exc}")
                    )
                    continue
                gflops = common["gflops"]
                achieved = None if gflops is None else gflops * timing.images_per_s
                rows.append(
                    _row(
                        common,
                        runtime_name,
                        precision,
                        batch_size,
                        **ran,
                        status="ok",
                        images_per_s=timing.images_per_s,
                        latency_p50_ms=timing.p50_ms,
                        latency_p90_ms=timing.p90_ms,
                        latency_p99_ms=timing.p99_ms,
                        achieved_gflops=achieved,
                        peak_share=None if achieved is None else achieved / peak,
                        iters=len(timing.latencies_s),
                    )
                )
    return rows


def _make_runtime(model: Any, runtime: str, precision: str, calibration: np.ndarray) -> Any:
    from zoo.engine.runtimes import make_runtime

    return make_runtime(model, runtime=runtime, precision=precision, calibration=calibration)


def _macs_or_none(model: Any) -> int | None:
    try:
        return count_macs(model)
    except ModelConfigError:  # a model without a fixed input size: the graph holds no shapes to count
        return None


def _row(common: dict[str, Any], runtime: str, precision: str, batch_size: int, **figures: Any) -> dict:
    return {**common, "runtime": runtime, "precision": precision, "batch_size": batch_size, **figures}
