"""`zoo finetune` on JAX and PyTorch (Keras' train_on_batch, .npz checkpoints), through real `python -m zoo`
processes on real photos (TrashNet) and the real pretrained MobileNet 0.25 backbone: run directories
written on any back-end predict the same on every back-end and hold the history as TensorBoard scalars;
a run registered on JAX predicts the same on PyTorch; a killed JAX run resumes to the numbers of an
uninterrupted one; two JAX devices (keras.distribution.DataParallel) train like one.

Each back-end runs in its own process (Keras fixes its back-end once per process; torch is never imported
after TensorFlow). One ZOO_HOME for the module: the feature cache and JAX's compilation cache are shared.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import child_env
from support.cli import ZOO, run_zoo
from support.realdata import copy_photos, photo_paths, photos
from support.runs import kill_in_stage_2
from support.tensorboard_events import scalars as tensorboard_scalars

from zoo.choices import BACKENDS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MODEL = "mobilenet_v1_025_224"
FINE_TUNE_EPOCHS = 3


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zoo_home")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 real training photos of each of the 6 TrashNet classes."""
    return copy_photos(tmp_path_factory.mktemp("trashnet"), per_class=4, split="train")


def env_for(home: Path, backend: str, **extra: str) -> dict[str, str]:
    return {"ZOO_HOME": str(home), "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def finetune_args(data: Path, weights: Path, out: Path) -> list[str]:
    # batch 5 of 18 training images: odd batches, so two devices pad every one of them
    return [
        "finetune", MODEL, str(data), "--weights", str(weights), "--image-size", "96", "--epochs", "2",
        "--fine-tune-epochs", str(FINE_TUNE_EPOCHS), "--batch-size", "5", "--unfreeze", "4",
        "--val-split", "0.25", "--out", str(out),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def runs(home: Path, data: Path, fixture_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same run trained on each back-end: {backend: run directory}."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for backend in BACKENDS:
        done = run_zoo(*finetune_args(data, fixture_weights, root / backend), env=env_for(home, backend))
        assert done.returncode == 0, f"{backend}: {done.stderr[-3000:]}"
        out[backend] = root / backend
    return out


def history(run: Path) -> list[tuple[str, str]]:
    return [(row["epoch"], row["stage"]) for row in csv.DictReader((run / "history.csv").open())]


def test_every_back_end_writes_its_history_as_tensorboard_scalars(runs: dict[str, Path]) -> None:
    # written without TensorFlow (zoo.transfer.event_file), read here by TensorFlow's own reader
    for backend, run in runs.items():
        rows = list(csv.DictReader((run / "history.csv").open()))
        for split, prefix in (("train", ""), ("validation", "val_")):
            expected = {
                tag: [(int(row["epoch"]), float(np.float32(row[f"{prefix}{tag}"]))) for row in rows]
                for tag in ("loss", "accuracy", *(("learning_rate",) if split == "train" else ()))
            }
            assert tensorboard_scalars(run / "tensorboard" / split) == expected, (backend, split)
        assert len({value for _, value in expected["loss"]}) > 1  # the figures really differ epoch to epoch


def test_a_run_trained_on_any_back_end_predicts_the_same_on_every_back_end(
    runs: dict[str, Path], home: Path, tmp_path: Path
) -> None:
    np.save(tmp_path / "photos.npy", photos(per_class=2, size=96))  # 12 val photos, not trained on
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps({"photos": str(tmp_path / "photos.npy"), "runs": {b: str(r) for b, r in runs.items()}})
    )
    probe_env = child_env(**env_for(home, ""))
    for backend in BACKENDS:
        done = subprocess.run(
            [sys.executable, "-m", "support.bundle_probe", str(job), str(tmp_path / backend)],
            env={**probe_env, "KERAS_BACKEND": backend},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{backend}: {done.stderr[-3000:]}"
        assert json.loads((tmp_path / backend / "probe.json").read_text())["backend"] == backend
    for trained in BACKENDS:
        assert (runs[trained] / "model.keras").is_file()
        assert json.loads((runs[trained] / "config.json").read_text())["backend"] == trained
        assert history(runs[trained]) == [(str(e), str(s)) for e, s in enumerate([1, 1, 2, 2, 2], 1)]
        own = np.load(tmp_path / trained / f"{trained}.npy")
        assert own.shape == (12, 6) and np.std(own, axis=0).mean() > 1e-3  # the photos get different outputs
        for predicting in BACKENDS:
            got = np.load(tmp_path / predicting / f"{trained}.npy")
            scale = float(np.max(np.abs(own)))
            error = float(np.max(np.abs(got - own))) / scale
            print(f"\ntrained on {trained}, predicted on {predicting}: max relative difference {error:.1e}")
            assert error < 1e-4, (trained, predicting)


def test_a_run_registered_on_jax_predicts_on_torch_as_on_jax(runs: dict[str, Path], home: Path) -> None:
    registered = run_zoo("--backend", "jax", "register", str(runs["jax"]), "--name", "trash-jax",
                         env=env_for(home, "jax"))  # fmt: skip
    assert registered.returncode == 0, registered.stderr[-3000:]
    files = [str(path) for path in photo_paths(per_class=1)]  # 6 val photos, not trained on
    answers = {}
    for backend in ("jax", "torch"):
        done = run_zoo("--backend", backend, "predict", "trash-jax", *files, "--top", "3", "--json",
                       env=env_for(home, backend))  # fmt: skip
        assert done.returncode == 0, f"{backend}: {done.stderr[-3000:]}"
        answers[backend] = json.loads(done.stdout)
    assert [answer["path"] for answer in answers["torch"]] == files
    for on_jax, on_torch in zip(answers["jax"], answers["torch"], strict=True):
        assert [t["label"] for t in on_torch["top"]] == [t["label"] for t in on_jax["top"]]
        np.testing.assert_allclose(
            [t["probability"] for t in on_torch["top"]], [t["probability"] for t in on_jax["top"]], atol=1e-5
        )
    assert len({answer["top"][0]["probability"] for answer in answers["jax"]}) > 1  # the photos differ


def test_a_killed_jax_run_resumes_to_the_uninterrupted_runs_numbers(
    runs: dict[str, Path], home: Path, data: Path, fixture_weights: Path, tmp_path: Path
) -> None:
    killed = tmp_path / "killed"
    command = [*ZOO, *finetune_args(data, fixture_weights, killed)]
    state = kill_in_stage_2(command, {**os.environ, **env_for(home, "jax")}, killed)
    assert 1 <= state["epochs_done"] < FINE_TUNE_EPOCHS
    assert sorted(p.name for p in (killed / "checkpoints" / "stage1").iterdir()) == [
        "ckpt-1.npz", "ckpt-2.npz", "final.npz",
    ]  # fmt: skip
    assert not (killed / "model.keras").exists()

    resumed = run_zoo("finetune", "--out", str(killed), "--resume", env=env_for(home, "jax"))
    assert resumed.returncode == 0, resumed.stderr
    assert history(killed) == history(runs["jax"])  # the same 5 epochs, none repeated or lost
    got = json.loads((killed / "metrics.json").read_text())
    want = json.loads((runs["jax"] / "metrics.json").read_text())
    assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-5)
    assert got["epochs_run"] == want["epochs_run"] == 5


def test_two_jax_devices_train_like_one(
    runs: dict[str, Path], home: Path, data: Path, fixture_weights: Path, tmp_path: Path
) -> None:
    two = tmp_path / "two"
    done = run_zoo(
        *finetune_args(data, fixture_weights, two),
        env=env_for(home, "jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"),
    )
    assert done.returncode == 0, done.stderr
    assert "strategy: keras.distribution.DataParallel, 2 devices (jax)" in done.stderr
    one = list(csv.DictReader((runs["jax"] / "history.csv").open()))
    got = list(csv.DictReader((two / "history.csv").open()))
    for field in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [float(r[field]) for r in got] == pytest.approx([float(r[field]) for r in one], abs=1e-4), (
            field
        )
