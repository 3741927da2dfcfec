"""zoo finetune on the real two-executor cluster: stage-1 features computed on the executors land in zoo's
feature cache under the single-process key (a later run, Spark or not, hits it), the head trains on the
driver, and stage 2 runs as a barrier stage of two MultiWorkerMirroredStrategy workers; killing the chief's
task mid-stage-2 makes Spark retry the stage, which resumes from the run's last checkpoint.

Small on purpose (two TensorFlow workers share two cores): the real MobileNet 0.25 backbone at 96 px,
three TrashNet photos per class, no dropout or augmentation."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from spark.conftest import EMBED_MODEL
from support.realdata import copy_photos

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SETTINGS = dict(
    image_size=96, epochs=1, batch_size=6, unfreeze=4, dropout=0.0, augment=(), tensorboard=False, lr=0.01
)


@pytest.fixture
def driver_home(spark_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The driver uses the cluster's ZOO_HOME (where the fixture backbone was imported), offline."""
    for var in ("ZOO_HOME", "KERAS_HOME"):
        monkeypatch.setenv(var, str(spark_home / var))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    return spark_home


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_photos(tmp_path_factory.mktemp("trash"), 4, "val")


def stage2_processes(run_dir: Path) -> dict[int, int]:
    """{worker index: pid} of the `zoo finetune --resume` processes of this run's barrier tasks."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--resume" not in cmdline or str(run_dir).encode() not in cmdline:
            continue
        config = next((e for e in environ if e.startswith(b"TF_CONFIG=")), None)
        if config is not None:
            found[json.loads(config.removeprefix(b"TF_CONFIG="))["task"]["index"]] = int(proc.name)
    return found


def parent_of(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def process_state(pid: int) -> str | None:
    """The process's state letter (R, S, Z, ...), or None once it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def kill_chief_task_after_epoch(run_dir: Path, stage2_epoch: int, killed: dict[str, object]) -> None:
    """Once stage 2 has checkpointed `stage2_epoch`, SIGKILL the Python worker running the chief's task
    (its `zoo finetune` child dies with it); record what the run had done by then."""
    from zoo.transfer import rundir

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            state = json.loads(rundir.state_path(run_dir).read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("stage") == 2 and state.get("epochs_done", 0) >= stage2_epoch:
            chief = stage2_processes(run_dir).get(0)
            if chief is not None:
                killed.update(state=state, chief=chief, python_worker=parent_of(chief))
                os.kill(int(killed["python_worker"]), signal.SIGKILL)  # type: ignore[call-overload]
                time.sleep(1)
                killed["orphan_alive"] = process_state(chief) not in (None, "Z")
                return
        time.sleep(0.05)


def test_finetune_on_spark_resumes_after_a_killed_task(spark, driver_home, photos_dir, tmp_path):
    import zoo

    run_dir = tmp_path / "run"
    killed: dict[str, object] = {}
    watcher = threading.Thread(target=kill_chief_task_after_epoch, args=(run_dir, 1, killed), daemon=True)
    watcher.start()
    result = zoo.finetune_on_spark(
        spark, EMBED_MODEL, photos_dir, out=str(run_dir), fine_tune_epochs=3, verbose=False, **SETTINGS
    )
    watcher.join(timeout=5)

    assert killed, "the chief's task was never killed"
    assert killed["orphan_alive"] is False  # the killed task's zoo worker died with its Python worker
    assert result.feature_cache_hit is False and result.workers == 2
    # one row per epoch (numbered across both stages): none repeated after the retry, none missing
    assert [(row["stage"], row["epoch"]) for row in result.history] == [(1, 1), (2, 2), (2, 3), (2, 4)]
    before = killed["state"]["history"]  # type: ignore[index]
    assert result.history[: len(before)] == before  # resumed: the epochs done before the kill were kept
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["val_accuracy"] == result.metrics["val_accuracy"] and metrics["epochs_run"] == 4
    assert (run_dir / "model.keras").is_file()
    assert stage2_processes(run_dir) == {}  # no zoo worker left behind


def test_features_on_the_cluster_equal_single_process_and_the_cache_is_shared(spark, driver_home, tmp_path):
    import zoo
    from zoo import config
    from zoo._spark_finetune import _extractor
    from zoo.data.decode import decode_batch
    from zoo.engine.fingerprint import weights_sha256
    from zoo.transfer import features as feature_cache
    from zoo.transfer.datasets import load_data
    from zoo.transfer.settings import merge_settings

    settings = {**SETTINGS, "fine_tune_epochs": 0, "seed": 7}
    photos_dir = copy_photos(tmp_path / "photos", 3, "val")  # images no other test put in the cache
    entries_before = set(config.features_dir().rglob("*.npz"))
    first = zoo.finetune_on_spark(
        spark, EMBED_MODEL, photos_dir, out=str(tmp_path / "a"), verbose=False, **settings
    )
    assert first.feature_cache_hit is False and "features" in first.seconds and first.workers == 0

    cfg = merge_settings(EMBED_MODEL, str(photos_dir), settings=settings)
    train_set, val_set = load_data(cfg)
    paths = [*train_set.paths, *val_set.paths]
    image_size, policy, net = _extractor(cfg, len(train_set.classes))
    key = feature_cache.extractor_key(EMBED_MODEL, weights_sha256(net.backbone), image_size, policy)
    entry = feature_cache.FeatureCache(key).path(feature_cache.image_digests(paths))
    # the cluster's features were stored under stage 1's own key: the driver computed none itself
    assert set(config.features_dir().rglob("*.npz")) - entries_before == {entry}
    cached = feature_cache.FeatureCache(key).load(feature_cache.image_digests(paths))
    assert cached is not None and cached.bad == {}
    decoded = decode_batch(paths, policy)
    single = feature_cache.extract(net.extractor, decoded.images, cfg.batch_size)
    digests = feature_cache.image_digests(decoded.paths)
    on_cluster = np.stack([cached.by_digest[d] for d in digests])
    np.testing.assert_allclose(on_cluster, single, rtol=0, atol=1e-5)
    assert np.linalg.matrix_rank(single) == len(paths)  # real photos, really different features

    again = zoo.finetune_on_spark(
        spark, EMBED_MODEL, photos_dir, out=str(tmp_path / "b"), verbose=False, **settings
    )
    assert again.feature_cache_hit is True and again.metrics["val_accuracy"] == first.metrics["val_accuracy"]
    local = zoo.finetune(EMBED_MODEL, photos_dir, out=str(tmp_path / "c"), verbose=False, **settings)
    assert local.feature_cache_hit is True  # the single-process run finds the cluster's features
    assert local.metrics["val_accuracy"] == first.metrics["val_accuracy"]
