"""Faults injected into real processes: SIGKILL during the feature-cache write, during a checkpoint write and
during `zoo export`; Ctrl-C (SIGINT) during training; a full disk (RLIMIT_FSIZE in the child) during
`zoo pull` and `zoo export`; a ZOO_HOME that is a file.

Afterwards no half-written file is taken as complete, the cache still verifies, and the same command run
again (or `--resume`) finishes. (SIGKILL during `zoo pull` is tests/hub/test_pull_processes.py's, and SIGKILL
mid-epoch with an exact resume is tests/transfer/test_resume.py's.)
"""

from __future__ import annotations

import csv
import json
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.badinputs import labelled_folder
from support.cli import start_zoo
from support.registry import FILE, make_spec, payload, sha256, write_registry
from support.servers import FaultServer

from zoo.hub import cache, cached_path, pull
from zoo.transfer.features import FeatureCache

TIMEOUT = 240  # seconds for any child: only a hang reaches it
pytestmark = pytest.mark.timeout(900)  # several children per test, each allowed TIMEOUT


def kill_when(child: subprocess.Popen, started: Callable[[], bool]) -> None:
    """SIGKILL `child` as soon as `started()` (polled every few ms) says the write is under way."""
    deadline = time.monotonic() + TIMEOUT
    while not started():
        if child.poll() is not None:
            _, err = child.communicate()
            pytest.fail(f"the process ended before the fault could be injected:\n{err}")
        assert time.monotonic() < deadline, "the write never started"
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL


def file_size_limit(limit: int) -> Callable[[], None]:
    """A preexec_fn: writes past `limit` bytes fail with EFBIG (as on a full disk) instead of SIGXFSZ."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def tiny_run(folder: Path, width: int = 16) -> Path:
    """A run directory whose model is tiny (or, with a large `width`, a few hundred kB)."""
    import keras

    from zoo.engine.bundle import save_bundle

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    x = keras.layers.Dense(width, activation="relu")(x)
    x = keras.layers.Dense(width, activation="relu")(x)
    outputs = keras.layers.Dense(2)(x)
    return save_bundle(folder, keras.Model(inputs, outputs), ["a", "b"], {"image_size": 16})


# ---------------------------------------------------------------------------------------- SIGKILL
FEATURE_ROWS, FEATURE_DIMS = 1000, 25_000  # 100 MB: the write lasts long enough to be interrupted
STORE_FEATURES = """
import sys
import numpy as np
from pathlib import Path
from zoo.transfer.features import FeatureCache
rows, dims = int(sys.argv[3]), int(sys.argv[4])
features = np.ones((rows, dims), np.float32)
FeatureCache(sys.argv[1], Path(sys.argv[2])).store([f"img{i}" for i in range(rows)], features, {})
"""


@pytest.mark.slow
def test_sigkill_during_the_feature_cache_write_leaves_no_entry(tmp_path: Path) -> None:
    extractor, root = "ab" * 32, tmp_path / "features"
    digests = [f"img{i}" for i in range(FEATURE_ROWS)]
    child = subprocess.Popen(
        [sys.executable, "-c", STORE_FEATURES, extractor, str(root), str(FEATURE_ROWS), str(FEATURE_DIMS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = FeatureCache(extractor, root)
    kill_when(child, lambda: any(p.stat().st_size > 1_000_000 for p in store.folder.glob(".entry.*")))
    assert not store.path(digests).exists()  # only the hidden temporary file was written
    assert store.load(digests) is None  # a miss: the features are computed again
    features = np.arange(FEATURE_ROWS * 2, dtype=np.float32).reshape(FEATURE_ROWS, 2)
    store.store(digests, features, {"bad": "empty file (0 bytes)"})
    assert store.load(digests) is None  # the key covers the bad images too
    entry = store.load([*digests, "bad"])
    assert entry is not None and entry.bad == {"bad": "empty file (0 bytes)"}
    np.testing.assert_array_equal(entry.by_digest["img7"], features[7])


FINETUNE = ("--weights", "none", "--image-size", "32", "--epochs", "3", "--fine-tune-epochs", "0",
            "--batch-size", "4", "--no-tensorboard")  # fmt: skip


@pytest.mark.slow
def test_sigkill_during_checkpoint_writes_then_resume_finishes_the_run(tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", {"a": 6, "b": 6})
    run = tmp_path / "run"
    start = ("finetune", "mobilenet_v1_025_224", str(data), *FINETUNE, "--out", str(run))
    stage1 = run / "checkpoints" / "stage1"

    # Killed while the first epoch's checkpoint is written: no epoch is complete, nothing to resume.
    kill_when(start_zoo(*start), lambda: any(stage1.glob("ckpt-1*")))
    assert not (run / "model.keras").exists()  # the run is not taken as finished
    refused = start_zoo("finetune", "--out", str(run), "--resume")
    _, err = refused.communicate(timeout=TIMEOUT)
    assert refused.returncode == 1 and err.startswith("Error: ") and "nothing to resume" in err
    assert "Hint: start the run without --resume" in err and "Traceback" not in err

    # Started again in the same folder, killed while the second epoch's checkpoint is written.
    kill_when(start_zoo(*start), lambda: any(stage1.glob("ckpt-2*")))
    assert not (run / "model.keras").exists()
    resumed = start_zoo("finetune", "--out", str(run), "--resume")
    out, err = resumed.communicate(timeout=TIMEOUT)
    assert resumed.returncode == 0, err
    assert out.strip() == str(run) and "Traceback" not in err
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [(r["stage"], r["epoch"]) for r in rows] == [("1", "1"), ("1", "2"), ("1", "3")]
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["stage_done"] and state["epochs_done"] == 3
    from zoo.engine.bundle import load_bundle

    assert load_bundle(run).labels == ["a", "b"]


@pytest.mark.slow
def test_ctrl_c_during_training_says_interrupted_and_the_run_resumes(tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", {"a": 6, "b": 6})
    run = tmp_path / "run"
    # Stage-1 epochs on cached features take milliseconds: with 3 epochs the run could finish between the
    # second checkpoint and the signal. Many untuned epochs leave the signal seconds of training to land in.
    epochs = 400
    settings = [*FINETUNE, "--no-tune", "--epochs", str(epochs)]  # the later --epochs wins
    child = start_zoo("finetune", "mobilenet_v1_025_224", str(data), *settings, "--out", str(run))
    stage1 = run / "checkpoints" / "stage1"
    deadline = time.monotonic() + TIMEOUT
    while not any(stage1.glob("ckpt-2*")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=TIMEOUT)
    assert child.returncode == 130 and err.rstrip().endswith("Interrupted.") and "Traceback" not in err, err
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert not state["stage_done"] and 1 <= state["epochs_done"] < epochs

    resumed = start_zoo("finetune", "--out", str(run), "--resume")
    _, err = resumed.communicate(timeout=TIMEOUT)
    assert resumed.returncode == 0, err
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == [str(epoch) for epoch in range(1, epochs + 1)]


@pytest.mark.slow
def test_two_runs_into_one_run_directory_are_not_both_accepted(tmp_path: Path) -> None:
    data = labelled_folder(tmp_path / "data", {"a": 6, "b": 6})
    run = tmp_path / "run"
    children = [
        start_zoo("finetune", "mobilenet_v1_025_224", str(data), *FINETUNE, "--seed", seed, "--out", str(run))
        for seed in ("1", "2")
    ]
    errors = [child.communicate(timeout=TIMEOUT)[1] for child in children]
    assert sorted(child.returncode for child in children) == [0, 1]
    refused = errors[[child.returncode for child in children].index(1)]
    # normally refused while the other runs; on a very slow start, refused as a finished run instead
    assert "in use by another zoo finetune run" in refused or "already holds a run" in refused
    assert "Traceback" not in refused
    assert json.loads((run / "config.json").read_text())["settings"]["seed"] in (1, 2)


@pytest.mark.slow
def test_sigkill_during_zoo_export_leaves_no_output_and_a_rerun_exports(tmp_path: Path) -> None:
    run = tiny_run(tmp_path / "run")
    out = tmp_path / "exported"
    command = ("export", str(run), "--format", "savedmodel", "--out", str(out))
    kill_when(start_zoo(*command), lambda: any(tmp_path.glob(".exported.*.partial*")))
    assert not out.exists()  # the staging copy is never renamed into place

    again = start_zoo(*command, "--json")  # no --overwrite needed: nothing was taken as the output
    stdout, err = again.communicate(timeout=TIMEOUT)
    assert again.returncode == 0, err
    result = json.loads(stdout)
    assert result["path"] == str(out) and result["agreement"]["top1_agreement"] == 1.0
    assert (out / "saved_model.pb").is_file()


# --------------------------------------------------------------------------------------- disk full
DATA = payload(300_000)


def test_disk_full_during_zoo_pull_is_a_clear_error_and_nothing_is_trusted(tmp_path, monkeypatch) -> None:
    with FaultServer({FILE: DATA}) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "reg.yaml", spec)))
        child = start_zoo("pull", "tiny", preexec_fn=file_size_limit(100_000))
        _, err = child.communicate(timeout=TIMEOUT)
        assert child.returncode == 1
        lines = err.strip().splitlines()
        assert lines[0].startswith("Error: no space left") and "File too large" in lines[0], err
        assert lines[1].startswith("Hint: free some disk space") and "Traceback" not in err
        assert cached_path(spec, "top") is None  # nothing half-written is a cache hit
        assert not list(cache.blobs_dir().glob("*/*"))
        assert pull(spec, progress=False).read_bytes() == DATA  # with room again: pulled and verified
    assert sha256(cached_path(spec, "top").read_bytes()) == sha256(DATA)
    verify = start_zoo("cache", "verify", "--json")
    out, err = verify.communicate(timeout=TIMEOUT)
    assert verify.returncode == 0, err
    assert [row["ok"] for row in json.loads(out)] == [True]


@pytest.mark.slow
def test_disk_full_during_zoo_export_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    run = tiny_run(tmp_path / "run", width=400)  # about 1 MB of weights
    out = tmp_path / "model.keras"
    child = start_zoo("export", str(run), "--out", str(out), preexec_fn=file_size_limit(200_000))
    _, err = child.communicate(timeout=TIMEOUT)
    assert child.returncode == 1
    # the tiny run records no data folder, so export says it checks on random inputs, then fails
    assert err.startswith("Warning: checked on random inputs: no real images given"), err
    assert "\nError: no space left" in err and "Hint: free some disk space" in err, err
    assert "Traceback" not in err and "internal error" not in err
    assert not out.exists() and not list(tmp_path.glob(".model.keras.*"))  # no staging file left either


def test_zoo_home_that_is_a_file_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where ZOO_HOME should be")
    monkeypatch.setenv("ZOO_HOME", str(blocker))
    with FaultServer({FILE: DATA}) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "reg.yaml", spec)))
        child = start_zoo("pull", "tiny")
        _, err = child.communicate(timeout=TIMEOUT)
    assert child.returncode == 1
    assert err.startswith(f"Error: cannot use {blocker}/") and "Not a directory" in err, err
    assert "Hint: ZOO_HOME and --out must name folders you can write to" in err
    assert blocker.read_text() == "a file where ZOO_HOME should be"
