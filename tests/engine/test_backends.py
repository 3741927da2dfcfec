"""Parity across Keras back-ends, measured: the pretrained MobileNet 0.25 (224, no top, the shared fixture)
built by zoo.load on TensorFlow, JAX and PyTorch gives the same features on real photos through Keras' own
forward pass (model.predict, within 1e-5 of their scale); zoo's keras runtime on each back-end (TensorFlow's
frozen graph, BatchNormalization folded on JAX and torch) is within 1e-5 of the exact (float64) answer and
within the fold's tolerance of the back-end's own model.predict (on torch through a frozen trace per batch
shape, eager for a model a trace would get wrong; a wrong fold is dropped); and registered architectures
build with the registry's exact parameter count on each back-end.

Each back-end runs in its own child process (support/backend_probe.py, scripts/backend_params.py): Keras
fixes its back-end once per process. The figures are printed (pytest -s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import REPO, child_env
from support.realdata import photos

from zoo.choices import BACKENDS
from zoo.engine.backend import FOLD_TOLERANCE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BOUND = 1e-5  # relative to the largest feature: float32 round-off of a different op order, not a bug
# every float32 path against the float64 answer; measured on 36 photos: TensorFlow's frozen graph 9.3e-6,
# Keras' predict 5.4e-6 to 8.3e-6, zoo's folded JAX and torch paths 7.5e-6 and 7.3e-6
EXACT_BOUND = 1e-5
# one with squeeze-excite and hard-swish, and NASNet: Keras itself refuses it on torch (keras#18451, it
# computes wrong outputs there)
PARAM_MODELS = ("mobilenet_v3_small", "nasnet_mobile")
KERAS_REFUSES = {("nasnet_mobile", "torch"): "NASNetMobile is not available with the torch backend"}


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> dict[str, Path]:
    """Each back-end's outputs, computed in parallel child processes; {backend: its output folder}."""
    root = tmp_path_factory.mktemp("backends")
    np.save(root / "photos.npy", photos(per_class=2, size=224))  # 12 real photos, 6 classes
    job = root / "job.json"
    job.write_text(json.dumps({"photos": str(root / "photos.npy"), "weights": str(fixture_weights)}))
    children = {
        backend: subprocess.Popen(
            [sys.executable, "-m", "support.backend_probe", str(job), str(root / backend)],
            env=child_env(KERAS_BACKEND=backend),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for backend in BACKENDS
    }
    for backend, child in children.items():
        output, _ = child.communicate(timeout=800)
        assert child.returncode == 0, f"{backend}: {output[-2000:]}"
    return {backend: root / backend for backend in BACKENDS}


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_features_agree_across_back_ends_on_real_photos(probes: dict[str, Path]) -> None:
    # the back-ends computing the same model: Keras' own forward on each (zoo's fast paths are checked
    # against it below; TensorFlow's frozen graph folds BatchNorm by itself, which moves it ~1e-5)
    features = {backend: np.load(folder / "plain.npy") for backend, folder in probes.items()}
    reference = features["tensorflow"]
    assert reference.shape == (12, 256) and np.std(reference, axis=0).mean() > 0.05  # photos differ
    for backend in ("jax", "torch"):
        error = relative(features[backend], reference)
        print(f"\n{backend} vs tensorflow: max relative difference {error:.2e}")
        assert error < BOUND, backend


def test_zoo_runtime_is_as_close_to_the_exact_features_as_tensorflows_frozen_graph(
    probes: dict[str, Path],
) -> None:
    exact = np.load(probes["tensorflow"] / "float64.npy")
    assert exact.dtype == np.float64
    for backend, folder in probes.items():
        if backend != "tensorflow":  # the fast path is the folded one, not a fallback
            assert json.loads((folder / "probe.json").read_text())["folded"] is True, backend
        # torch: features is the first (eager) call with its shape, after_plain the folded frozen trace
        for name in ("features", "after_plain", "plain", "one"):
            error = relative(np.load(folder / f"{name}.npy"), exact[: 1 if name == "one" else None])
            print(f"\n{backend} {name} vs float64: max relative difference {error:.2e}")
            assert error < EXACT_BOUND, (backend, name)


def test_the_runtime_is_the_back_ends_own_model_on_any_batch(probes: dict[str, Path]) -> None:
    for backend, folder in probes.items():
        features = np.load(folder / "features.npy")
        # TensorFlow: the frozen graph; JAX, torch: the folded copy, checked against the model as built
        tolerance = BOUND if backend == "tensorflow" else FOLD_TOLERANCE
        assert relative(np.load(folder / "plain.npy"), features) < tolerance, backend
        # still right after Keras' own predict ran (on JAX it donates the variables' buffers); on torch
        # the first call with a shape is eager on the model as built, the second the folded trace
        after_plain = np.load(folder / "after_plain.npy")
        if backend == "torch":
            assert relative(after_plain, features) < FOLD_TOLERANCE
        else:
            np.testing.assert_array_equal(after_plain, features, err_msg=backend)
        assert relative(np.load(folder / "one.npy"), features[:1]) < tolerance, backend
        probe = json.loads((folder / "probe.json").read_text())
        assert probe["backend"] == backend
        assert probe["tensorflow_imported"] is (backend == "tensorflow")  # JAX/torch: no TensorFlow


def test_a_fold_that_changes_the_model_is_dropped(probes: dict[str, Path]) -> None:
    for backend in ("jax", "torch"):
        probe = json.loads((probes[backend] / "probe.json").read_text())
        assert probe["wrong_fold"]["folded"] is False, backend
        plain = np.load(probes[backend] / "plain.npy")
        assert relative(np.load(probes[backend] / "wrong_fold.npy"), plain) < BOUND, backend


def test_torch_runs_a_frozen_trace_for_a_repeated_batch_shape_and_eager_where_a_trace_is_wrong(
    probes: dict[str, Path],
) -> None:
    probe = json.loads((probes["torch"] / "probe.json").read_text())
    # 12 photos, called twice: traced and frozen on the second call; 1 photo, called once: eager, no trace
    assert probe["traced_shapes"] == [[12, 224, 224, 3]]
    # a model whose output changes from call to call: the trace (which froze one count) was dropped
    untraceable = probe["untraceable"]
    assert untraceable["traced_shapes"] == []
    outputs = untraceable["outputs"]
    assert all(later > earlier for earlier, later in zip(outputs, outputs[1:], strict=False)), outputs


def test_architectures_build_with_the_registry_parameter_count_on_every_back_end() -> None:
    script = REPO / "scripts" / "backend_params.py"
    command = [sys.executable, str(script), "--models", ",".join(PARAM_MODELS), "--json"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=800, env=child_env(KERAS_BACKEND="")
    )
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    print("\n" + json.dumps(rows, indent=1))
    for name, row in rows.items():
        for backend in BACKENDS:
            refusal = KERAS_REFUSES.get((name, backend))
            if refusal is None:
                assert row[backend] == row["registry"], (name, backend, row)
            else:
                assert refusal in str(row[backend]), (name, backend, row)
