"""LiteRT/ONNX conversions of models built on JAX and PyTorch: done by a TensorFlow child process
(zoo.engine.tf_convert), then run in the JAX/torch process by the runtime's own library, which never imports
TensorFlow there. On real photos, with the real pretrained MobileNet 0.25: a run directory fine-tuned on
JAX exports (`zoo --backend jax export`) to files whose outputs match the run on JAX's keras runtime, and
`make_runtime` on torch gives the keras runtime's outputs through onnxruntime, LiteRT and OpenVINO, and a
second torch process finds those conversions in the cache without starting TensorFlow; a refusal in the
child reaches the caller as the same error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import child_env
from support.cli import run_zoo
from support.realdata import copy_photos, photos

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MAX_REL = 1e-4  # float conversions compute the same function; only the order of operations differs
EXPORTS = {"onnx": ("onnxruntime", "run.onnx"), "litert": ("litert", "run.tflite")}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zoo_home")


def env_for(home: Path, backend: str) -> dict[str, str]:
    return {"ZOO_HOME": str(home), "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def jax_run(home: Path, fixture_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run fine-tuned on JAX from the real pretrained backbone on 3 TrashNet photos per class."""
    data = copy_photos(tmp_path_factory.mktemp("trashnet"), per_class=3, split="train")
    run = tmp_path_factory.mktemp("runs") / "jax"
    done = run_zoo(
        "finetune", "mobilenet_v1_025_224", str(data), "--weights", str(fixture_weights),
        "--image-size", "96",
        "--epochs", "1", "--fine-tune-epochs", "1", "--batch-size", "6", "--unfreeze", "2",
        "--val-split", "0.34", "--no-tensorboard", "--out", str(run),
        env=env_for(home, "jax"), timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run / "config.json").read_text())["backend"] == "jax"
    return run


def probe(backend: str, home: Path, job: dict, out: Path) -> dict:
    """support.convert_probe in a `backend` child: its outputs are in `out`, its probe.json returned."""
    job_file = out.parent / f"{out.name}.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    env = child_env(**env_for(home, backend))
    command = [sys.executable, "-m", "support.convert_probe", str(job_file), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "probe.json").read_text())


def relative_error(got: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(got - reference))) / float(np.max(np.abs(reference)))


def test_a_run_fine_tuned_on_jax_exports_files_that_match_jax(
    jax_run: Path, home: Path, tmp_path: Path
) -> None:
    exports = {}
    for export_format, (runtime, name) in EXPORTS.items():
        out = tmp_path / name
        args = [
            "--backend",
            "jax",
            "export",
            str(jax_run),
            "--format",
            export_format,
            "--out",
            str(out),
            "--json",
        ]
        done = run_zoo(*args, env=env_for(home, "jax"), timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
        assert Path(result["path"]) == out and out.is_file()
        assert result["agreement"]["max_rel"] < MAX_REL  # the export's own check, on TensorFlow
        exports[export_format] = (runtime, str(out))
    np.save(tmp_path / "photos.npy", photos(per_class=2, size=96))  # 12 val photos, not trained on
    job = {"photos": str(tmp_path / "photos.npy"), "run": str(jax_run), "exports": exports}
    assert probe("jax", home, job, tmp_path / "probe")["backend"] == "jax"
    reference = np.load(tmp_path / "probe" / "run_keras.npy")
    assert reference.shape == (12, 6) and np.std(reference, axis=0).mean() > 1e-3  # the photos differ
    for export_format in EXPORTS:
        got = np.load(tmp_path / "probe" / f"export_{export_format}.npy")
        error = relative_error(got, reference)
        print(f"\n{export_format} export of the JAX run vs JAX keras: max relative difference {error:.1e}")
        assert error < MAX_REL, export_format
        assert (got.argmax(axis=1) == reference.argmax(axis=1)).all()


def test_runtimes_on_torch_convert_in_a_tensorflow_child_and_match_keras(home: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "photos.npy", photos(per_class=2, size=128))
    runtimes = ["onnxruntime", "litert", "openvino"]
    job = {"photos": str(tmp_path / "photos.npy"), "runtimes": runtimes}
    seen = probe("torch", home, job, tmp_path / "probe")
    # TensorFlow after torch crashes: each conversion is one TensorFlow child
    assert seen == {"backend": "torch", "tensorflow_imported": False, "tensorflow_children": 3}
    reference = np.load(tmp_path / "probe" / "classifier_keras.npy")
    assert reference.shape == (12, 1000) and np.std(reference, axis=0).max() > 0.05
    for runtime in runtimes:
        got = np.load(tmp_path / "probe" / f"classifier_{runtime}.npy")
        error = relative_error(got, reference)
        print(f"\n{runtime} on torch vs torch keras: max relative difference {error:.1e}")
        assert error < MAX_REL, runtime
        assert (got.argmax(axis=1) == reference.argmax(axis=1)).all()
    # a second process finds every conversion in the cache itself: no TensorFlow child, the same outputs
    again = probe("torch", home, job, tmp_path / "again")
    assert again == {"backend": "torch", "tensorflow_imported": False, "tensorflow_children": 0}
    for runtime in runtimes:
        first = np.load(tmp_path / "probe" / f"classifier_{runtime}.npy")
        np.testing.assert_array_equal(np.load(tmp_path / "again" / f"classifier_{runtime}.npy"), first)
    # a cached file its runtime cannot read (a crash mid-copy) is converted again by the child
    (cached,) = (home / "converted").glob("*.tflite")
    cached.write_bytes(cached.read_bytes()[:1000])
    repaired = probe("torch", home, {**job, "runtimes": ["litert"]}, tmp_path / "repaired")
    assert repaired["tensorflow_children"] == 1
    first = np.load(tmp_path / "probe" / "classifier_litert.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "repaired" / "classifier_litert.npy"), first)


def test_a_refusal_in_the_tensorflow_child_reaches_the_caller_as_the_same_error(home: Path) -> None:
    # litert int8-full without calibration images is refused by the converter, so in the child
    code = (
        "from support.models import tiny_cnn\nfrom zoo.engine.runtimes import make_runtime\n"
        "from zoo.errors import RuntimeUnavailable\ntry:\n    make_runtime(tiny_cnn(16, seed=0), 'litert', "
        "'int8-full')\nexcept RuntimeUnavailable as error:\n"
        "    print(error.exit_code, error, '|', error.hint)"
    )
    env = child_env(**env_for(home, "jax"))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("2 precision 'int8-full' needs calibration images |"), done.stdout
    assert "pass `calibration=" in done.stdout
