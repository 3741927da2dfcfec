"""This machine's peaks in fp32, bf16 and int8, from matmul and convolution micro-benchmarks.

The densest kernels a runtime has set the practical ceiling a model's achieved rate is compared with, in
the precision the model really ran: a bf16 or int8 row compared with the fp32 peak would pass 100% (AMX
runs bf16 several times faster than fp32). Each precision is measured with every engine that can run it
here and the fastest counts:

    fp32   the Keras back-end's matmul (keras.ops: oneDNN on TensorFlow); OpenVINO's FullyConnected and
           a stack of 3x3 convolutions
    bf16   the same on bfloat16 and OpenVINO with INFERENCE_PRECISION_HINT=bf16 (AVX512_BF16 / AMX)
    int8   OpenVINO: the matmul and the convolutions between FakeQuantize'd tensors, which its CPU plugin
           runs in u8 x i8 (VNNI / AMX); not measured without the openvino package

The convolutions are there because oneDNN's direct convolution kernels beat its matmul on some CPUs: on
this project's 2-core AMD EPYC, OpenVINO ran ResNet50 at 203 fp32 GFLOP/s while the best matmul reached
187, so a matmul-only peak let a real row read 109%. The 3x3 stacks reached 216-237 (bf16 439-475,
int8 839-944).

`Peak.how` names the engine and kernel that reached it, or why the precision was not measured (or that
it was only emulated). Measured once per process and kept per machine in ZOO_HOME/auto/peaks.json; a row
faster than the kept peak has it measured again (it was measured while other work held the cores).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from zoo import config
from zoo.atomic import atomic_write_text
from zoo.bench.gate import auto_dir
from zoo.bench.machine import library_versions, machine_info
from zoo.bench.timing import time_calls
from zoo.engine.installed import BACKEND_DISTRIBUTIONS

PEAK_PRECISIONS = ("fp32", "bf16", "int8")
SIZE = 1024  # square matmuls: 2 GFLOP each, large enough to keep every core's units busy
ITERS = 10
_PEAKS_FILE = "peaks.json"
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Peak:
    """GFLOP/s (int8: GOP/s) of the fastest matmul in `precision`, or None with the reason in `how`."""

    precision: str
    gflops: float | None
    how: str


def peak_precision(precision_ran: str | None) -> str:
    """Which peak a row that ran in `precision_ran` is compared with (litert's fp16 computes in fp32)."""
    ran = (precision_ran or "fp32").lower()
    if ran.startswith("int8"):
        return "int8"
    return "bf16" if ran == "bf16" else "fp32"


def peak_for(precision_ran: str | None, achieved: float | None = None) -> Peak:
    """The peak of the precision that ran (measured on first use in this process).

    A row that `achieved` more than the kept peak shows that peak was measured while other work held the
    cores: it is measured again, and the faster of the two kept (here and in ZOO_HOME)."""
    peaks = measure_peaks()
    precision = peak_precision(precision_ran)
    kept = peaks[precision]
    if achieved and kept.gflops and achieved > kept.gflops:
        fresh = _fastest(precision)
        if (fresh.gflops or 0.0) > kept.gflops:
            peaks[precision] = kept = fresh
            _store(peaks)
    return kept


@lru_cache(maxsize=1)
def measure_peaks() -> dict[str, Peak]:
    """Every precision's peak: read from ZOO_HOME/auto/peaks.json when it was measured on this machine
    with these libraries, else measured now (a few seconds) and written there."""
    try:
        stored = json.loads((auto_dir() / _PEAKS_FILE).read_text(encoding="utf-8"))
        if stored.get("key") == _machine_key():
            return {p: Peak(**stored["peaks"][p]) for p in PEAK_PRECISIONS}
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent, from another machine or unreadable: measure
    peaks = {precision: _fastest(precision) for precision in PEAK_PRECISIONS}
    _store(peaks)
    return peaks


def _store(peaks: dict[str, Peak]) -> None:
    measured = {p: asdict(v) for p, v in peaks.items()}
    record = {"key": _machine_key(), "machine": machine_info(), "peaks": measured}
    with contextlib.suppress(OSError):  # a read-only ZOO_HOME: measured again next time
        atomic_write_text(auto_dir() / _PEAKS_FILE, json.dumps(record, indent=1) + "\n")


def _machine_key() -> str:
    versions = library_versions()
    backend = config.keras_backend()  # the fp32/bf16 matmuls run on it: its library's version counts
    relevant = {d: versions[d] for d in ("tensorflow", "openvino", "numpy", *BACKEND_DISTRIBUTIONS[backend])}
    text = json.dumps({"machine": machine_info(), "versions": relevant, "backend": backend}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _fastest(precision: str) -> Peak:
    measured: list[Peak] = []
    reasons: list[str] = []
    for measure in _MEASURERS[precision]:
        try:
            measured.append(measure())
        except Exception as exc:  # an engine missing or refusing the precision: the others still count
            reasons.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if not measured:
        return Peak(precision, None, "not measured: " + "; ".join(reasons))
    return max(measured, key=lambda peak: peak.gflops or 0.0)


def _rate(call: Callable[[], Any], flops: float = 2.0 * SIZE**3) -> float:
    """GFLOP/s of the fastest of ITERS calls (slower ones were interrupted); a SIZE x SIZE matmul unless
    `flops` says otherwise."""
    timing = time_calls(lambda _: call(), np.empty((1,)), warmup=2, iters=ITERS)
    return flops / min(timing.latencies_s) / 1e9


def _keras(dtype_name: str) -> Peak:
    """A matmul on the active Keras back-end through keras.ops, so a JAX or torch process never imports
    TensorFlow for it (on TensorFlow this is tf.matmul, oneDNN)."""
    import keras
    from keras import ops

    rng = np.random.default_rng(0)
    a = ops.cast(ops.convert_to_tensor(rng.standard_normal((SIZE, SIZE), dtype=np.float32)), dtype_name)
    b = ops.cast(ops.convert_to_tensor(rng.standard_normal((SIZE, SIZE), dtype=np.float32)), dtype_name)
    # the sum brings one number back to the host (the wait), not a matrix copy that would be timed too
    gflops = _rate(lambda: float(ops.sum(ops.cast(ops.matmul(a, b), "float32"))))
    engine = f"{keras.backend.backend()} matmul"
    if dtype_name == "bfloat16":
        emulated = "" if _cpu_has(_BF16_FLAGS) else " (emulated: no AVX512_BF16/AMX)"
        return Peak("bf16", gflops, f"{engine}{emulated}")
    return Peak("fp32", gflops, engine)


def _openvino(precision: str) -> Peak:
    """A SIZE x SIZE matmul of the input by constant weights (OpenVINO's FullyConnected)."""
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    inputs = ops.parameter([SIZE, SIZE], np.float32)
    weights = ops.constant(rng.uniform(-0.5, 0.5, (SIZE, SIZE)).astype(np.float32))
    product = ops.matmul(*_quantized(inputs, weights, precision), False, False)
    return _openvino_peak(precision, inputs, product, ("FullyConnected", "MatMul"), 2.0 * SIZE**3)


def _openvino_conv(precision: str) -> Peak:
    """The faster of two ResNet-like stages (CONV_SHAPES)."""
    return max((_conv_stack(precision, shape) for shape in CONV_SHAPES), key=lambda peak: peak.gflops or 0.0)


def _conv_stack(precision: str, shape: tuple[int, int, int, int]) -> Peak:
    """CONV_LAYERS 3x3 convolutions on an NCHW input of `shape`, each followed by a ReLU, as in a ResNet
    stage (one call, so the input and output copies are paid once for all of them)."""
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    batch, channels, side, _ = shape
    inputs = ops.parameter(list(shape), np.float32)
    scale = 1.0 / np.sqrt(9 * channels)  # keeps the activations near 1 through the stack
    x: Any = inputs
    for _ in range(CONV_LAYERS):
        kernel = ops.constant((rng.uniform(-1, 1, (channels, channels, 3, 3)) * scale).astype(np.float32))
        x = ops.relu(ops.convolution(*_quantized(x, kernel, precision), [1, 1], [1, 1], [1, 1], [1, 1]))
    flops = 2.0 * batch * side * side * channels * channels * 9 * CONV_LAYERS
    return _openvino_peak(precision, inputs, x, ("Convolution",), flops)


CONV_SHAPES = ((4, 256, 28, 28), (4, 512, 14, 14))  # NCHW, 3.7 GFLOP per layer each
CONV_LAYERS = 4


def _quantized(data: Any, weights: Any, precision: str) -> tuple[Any, Any]:
    """int8: both sides FakeQuantize'd, so the plugin multiplies u8 activations by i8 weights."""
    if precision != "int8":
        return data, weights
    import openvino.opset13 as ops

    lo, hi = np.float32(0), np.float32(1)
    return (
        ops.fake_quantize(data, lo, hi, lo, hi, 256),
        ops.fake_quantize(weights, -hi / 2, hi / 2, -hi / 2, hi / 2, 255),
    )


def _openvino_peak(
    precision: str, inputs: Any, output: Any, layer_types: tuple[str, ...], flops: float
) -> Peak:
    import openvino as ov

    core = ov.Core()
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise RuntimeError("OpenVINO has no native bf16 on this CPU")
    model = ov.Model([output], [inputs])
    hint = "bf16" if precision == "bf16" else "f32"
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
    kernel = _kernel(compiled, layer_types)
    if precision == "int8" and "i8" not in kernel.lower() and "u8" not in kernel.lower():
        raise RuntimeError(f"OpenVINO did not run {layer_types[0]} in int8 ({kernel})")
    request = compiled.create_infer_request()
    data = np.random.default_rng(1).uniform(0, 1, tuple(inputs.get_output_partial_shape(0).to_shape()))
    data = data.astype(np.float32)
    # shared buffers: the call times the kernels, not a copy of the input and output
    rate = _rate(lambda: request.infer({0: data}, share_inputs=True, share_outputs=True), flops)
    return Peak(precision, rate, f"openvino {kernel}")


def _kernel(compiled: Any, layer_types: tuple[str, ...]) -> str:
    """The runtime precision and oneDNN kernel of the first such layer, e.g. 'u8 brgemm_avx512_amx_I8'."""
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) in layer_types:
            return f"{info['runtimePrecision'].astype(str)} {info['primitiveType'].astype(str)}"
    return "unknown kernel"


def _cpu_has(flags: tuple[str, ...]) -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            words = set(f.read().split())
    except OSError:
        return False
    return any(flag in words for flag in flags)


_MEASURERS: dict[str, tuple[Callable[[], Peak], ...]] = {
    "fp32": (lambda: _keras("float32"), lambda: _openvino("fp32"), lambda: _openvino_conv("fp32")),
    "bf16": (lambda: _keras("bfloat16"), lambda: _openvino("bf16"), lambda: _openvino_conv("bf16")),
    "int8": (lambda: _openvino("int8"), lambda: _openvino_conv("int8")),
}
