"""`--precision bf16` on the JAX and PyTorch back-ends, measured on the real pretrained MobileNet 0.25 and
real photos: the keras runtime computes in bfloat16 there (not silently fp32), returns float32 close to
fp32, and on torch runs its frozen trace (the trace check's tolerance is bf16's round-off, and still drops a
trace that is wrong). Each back-end in its own child process (support/bf16_probe.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import child_env
from support.realdata import photos

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FP32_NOISE = 1e-5  # test_backends.BOUND: two fp32 computations differ by less
# as TensorFlow's bf16 in test_runtimes: 8-bit mantissas through 28 layers of this small network move the
# features by up to ~47% of the largest (measured 0.469 on JAX, 0.462 on torch, 0.974 min cosine on both)
MIN_COSINE = 0.97
BACKENDS = ("jax", "torch")


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bf16")
    np.save(root / "photos.npy", photos(per_class=2, size=96))  # 12 real photos, 6 classes
    job = root / "job.json"
    job.write_text(json.dumps({"photos": str(root / "photos.npy"), "weights": str(fixture_weights)}))
    for backend in BACKENDS:  # one after the other: two cold builds at once starve a 2-core machine
        env = child_env(KERAS_BACKEND=backend)
        command = [sys.executable, "-m", "support.bf16_probe", str(job), str(root / backend)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{backend}: {done.stderr[-3000:]}"
    return {backend: root / backend for backend in BACKENDS}


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bf16_computes_in_bfloat16_close_to_fp32(probes: dict[str, Path], backend: str) -> None:
    folder = probes[backend]
    probe = json.loads((folder / "probe.json").read_text())
    assert probe["backend"] == backend and probe["effective_precision"] == "bf16"
    assert "bfloat16" in probe["compute_dtypes"]
    assert probe["tensorflow_imported"] is False  # cloning to bf16 reads configs: TensorFlow kept out
    fp32 = np.load(folder / "fp32.npy")
    assert fp32.shape == (12, 256) and np.std(fp32, axis=0).mean() > 0.05  # the photos differ
    bf16 = np.load(folder / "bf16_third.npy")
    assert bf16.dtype == np.float32
    error = relative(bf16, fp32)
    cosine = np.sum(bf16 * fp32, axis=1) / (np.linalg.norm(bf16, axis=1) * np.linalg.norm(fp32, axis=1))
    print(f"\n{backend} bf16 vs fp32: max relative difference {error:.2e}, min cosine {cosine.min():.4f}")
    assert error > FP32_NOISE * 10  # really bf16, not fp32
    assert cosine.min() >= MIN_COSINE  # and still these photos' features


def test_torch_bf16_runs_its_frozen_trace_and_still_drops_a_wrong_one(probes: dict[str, Path]) -> None:
    folder = probes["torch"]
    probe = json.loads((folder / "probe.json").read_text())
    assert probe["traced_shapes"] == [[12, 96, 96, 3]] and probe["graph_computes_bfloat16"]
    traced, eager = np.load(folder / "bf16_third.npy"), np.load(folder / "bf16_first.npy")
    assert relative(traced, eager) <= probe["tolerance"]
    untraceable = probe["untraceable"]  # a counter: each call adds one more
    assert untraceable["traced_shapes"] == []
    outputs = untraceable["outputs"]
    assert all(later > earlier for earlier, later in zip(outputs, outputs[1:], strict=False)), outputs
    assert probe["tolerance"] == 1e-2  # bf16's round-off, not float32's
