"""Measure one model in this process: every (runtime, precision, batch size) row of a benchmark.

Called inside a worker process (zoo.bench.worker), so the model is loaded once per process and the
process's peak RSS is the model's own. Every runtime is built first; then, for each batch size, all of
them are timed interleaved (zoo.bench.timing.time_interleaved), so load from other processes hits them
alike. The runtime "auto" is zoo.bench.auto's choice for each batch size, timed beside the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zoo.bench.flops import count_macs
from zoo.bench.peak import peak_for, peak_precision
from zoo.bench.timing import time_interleaved
from zoo.choices import AUTO
from zoo.engine.reference import input_size, load
from zoo.errors import ModelConfigError, ZooError

CALIBRATION_IMAGES = 8  # int8 conversion needs sample inputs; speed does not depend on what they show


def measure_model(
    model: str,
    *,
    pairs: Sequence[Sequence[str | None]] = (("keras", "fp32"),),
    weights: str = "none",
    image_size: int | None = None,
    batch_sizes: Sequence[int] = (1,),
    warmup: int = 3,
    iters: int = 20,
) -> list[dict[str, Any]]:
    """Rows of measured figures for `model` (a registry name, .keras file or run directory).

    `pairs`: (runtime, precision) to time, or (runtime, precision, "spinning") for an onnxruntime session
    whose workers spin; ("auto", None or a precision) is zoo.bench.auto's choice.
    """
    loaded = load(model, weights=weights, image_size=image_size)
    keras_model = loaded.model
    height, width = input_size(keras_model, default=image_size or 224)
    macs = _macs_or_none(keras_model)
    common = {
        "model": loaded.name,
        "weights": loaded.weights,
        "weights_sha256": loaded.weights_sha256,
        "image_size": height if height == width else f"{height}x{width}",
        "params": int(keras_model.count_params()),
        "gmacs": None if macs is None else macs / 1e9,
        "gflops": None if macs is None else 2 * macs / 1e9,
    }
    return measure_network(
        keras_model, common, pairs=pairs, batch_sizes=batch_sizes, warmup=warmup, iters=iters
    )


def measure_network(
    keras_model: Any,
    common: dict[str, Any],
    *,
    pairs: Sequence[Sequence[str | None]] = (("keras", "fp32"),),
    batch_sizes: Sequence[int] = (1,),
    warmup: int = 3,
    iters: int = 20,
    share_of_peak: bool = True,
) -> list[dict[str, Any]]:
    """Rows for an already built `keras_model` (`common`: the figures every row carries; its "gflops",
    when present, gives the achieved GFLOP/s and, with `share_of_peak`, the share of this machine's peak)."""
    height, width = input_size(keras_model, default=224)
    rng = np.random.default_rng(0)
    calibration = rng.integers(0, 256, (CALIBRATION_IMAGES, height, width, 3)).astype(np.float32)
    built: dict[tuple[str | None, ...], Any] = {}
    failed: dict[tuple[str | None, ...], str] = {}
    keys = [tuple(pair) for pair in pairs]  # (runtime, precision[, variant])
    for key in keys:
        if key[0] == AUTO:
            continue  # chosen per batch size below
        try:
            built[key] = _make_runtime(keras_model, key, calibration)
        except (ZooError, ValueError, NotImplementedError) as exc:
            failed[key] = f"unsupported: {exc}"
        except Exception as exc:  # a converter's own error: this row says why, the others go on
            failed[key] = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
    rows = []
    for batch_size in batch_sizes:
        batch = rng.integers(0, 256, (batch_size, height, width, 3)).astype(np.float32)
        runners = dict(built)
        chosen: dict[tuple[str | None, ...], str] = {}
        for runtime_name, precision, *_ in keys:
            if runtime_name == AUTO:
                runner, choice = _auto(keras_model, batch_size, precision, calibration)
                if runner is None:
                    failed[(AUTO, precision)] = choice
                else:
                    runners[(AUTO, precision)], chosen[(AUTO, precision)] = runner, choice
        timings = _timed(runners, batch, warmup, iters, failed)
        for key in keys:
            runtime_name, precision, variant = key[0], key[1], {"variant": key[2]} if len(key) > 2 else {}
            if key not in timings:
                rows.append(_row(common, runtime_name, precision, batch_size, status=failed[key], **variant))
                continue
            runner = runners[key]
            figures = _figures(common.get("gflops"), timings[key], runner.effective_precision, share_of_peak)
            if key in chosen:
                figures["auto_choice"] = chosen[key]
            shown = runner.precision if runtime_name == AUTO else precision
            rows.append(_row(common, runtime_name, shown, batch_size, **figures, **variant))
    return rows


def _timed(
    runners: dict[Any, Any], batch: np.ndarray, warmup: int, iters: int, failed: dict[Any, str]
) -> dict[Any, Any]:
    """Interleaved timings of every runner; one that fails is set aside (its reason in `failed`) and the
    rest are timed again without it."""
    runners = dict(runners)
    while runners:
        try:
            return time_interleaved(
                {key: _guarded(key, r.predict) for key, r in runners.items()},
                batch, warmup=warmup, iters=iters,
            )  # fmt: skip
        except _RunnerFailed as exc:
            failed[exc.key] = f"failed: {exc.reason}"
            del runners[exc.key]
    return {}


class _RunnerFailed(Exception):
    def __init__(self, key: Any, reason: str) -> None:
        super().__init__(reason)
        self.key, self.reason = key, reason


def _guarded(key: Any, predict: Any) -> Any:
    def call(batch: np.ndarray) -> Any:
        try:
            return predict(batch)
        except Exception as exc:  # one failing runtime must not lose the others' rows
            raise _RunnerFailed(key, f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc

    return call


def _figures(
    gflops: float | None, timing: Any, precision_ran: str, share_of_peak: bool = True
) -> dict[str, Any]:
    """A timed row's figures; its share of peak is against the peak of the precision that really ran."""
    achieved = None if gflops is None else gflops * timing.images_per_s
    figures = {
        "status": "ok",
        "precision_ran": precision_ran,  # what really computes: OpenVINO may run another than asked
        "images_per_s": timing.images_per_s,
        "latency_p50_ms": timing.p50_ms,
        "latency_p90_ms": timing.p90_ms,
        "latency_p99_ms": timing.p99_ms,
        "achieved_gflops": achieved,
        "iters": len(timing.latencies_s),
    }
    if not share_of_peak:  # measuring the peak costs seconds on a machine's first use
        return figures
    peak = peak_for(precision_ran, achieved)
    share = None if achieved is None or not peak.gflops else achieved / peak.gflops
    return {
        **figures,
        "peak_precision": peak_precision(precision_ran),
        "peak_gflops": peak.gflops,
        "peak_by": peak.how,
        "peak_share": share,
    }


def _auto(model: Any, batch_size: int, precision: str | None, calibration: np.ndarray) -> tuple[Any, str]:
    """zoo.bench.auto's runtime for this batch size and "runtime precision", or (None, why not)."""
    from zoo.bench.auto import AutoChooser

    chooser = AutoChooser(precisions=None if precision is None else (precision,), calibration=calibration)
    try:
        runner = chooser(model, batch_size)
    except ZooError as exc:
        return None, f"unsupported: {exc}"
    return runner, runner.label


def _make_runtime(model: Any, key: tuple[str | None, ...], calibration: np.ndarray) -> Any:
    """The runtime of a row's (runtime, precision[, "spinning"])."""
    from zoo.engine.runtimes import make_runtime

    runtime, precision = str(key[0]), key[1] or "fp32"
    spinning = key[2:] == ("spinning",)
    return make_runtime(
        model, runtime=runtime, precision=precision, calibration=calibration, spinning=spinning
    )


def _macs_or_none(model: Any) -> int | None:
    try:
        return count_macs(model)
    except ModelConfigError:  # a model without a fixed input size: the graph holds no shapes to count
        return None


def _row(
    common: dict[str, Any], runtime: str, precision: str | None, batch_size: int, **figures: Any
) -> dict:
    return {**common, "runtime": runtime, "precision": precision, "batch_size": batch_size, **figures}
