"""`zoo finetune --spark` and `zoo.finetune_on_spark`: the two-stage recipe with a Spark cluster doing the
heavy parts. It sits above zoo.transfer and zoo.spark (which do not know each other) and joins them:

  1. stage-1 features: the run's images are embedded on the executors by the run's own extractor
     (zoo.spark.embed_with; a task per shard of files, each Python worker builds the network once),
     gathered on the driver and stored in zoo's feature cache under its usual key
     (zoo.transfer.features), so the driver's stage 1 (and any later run) finds them there;
  2. the head trains on the driver on those features (zoo.transfer.train, last_stage=1);
  3. stage 2 is a barrier stage (zoo.spark.barrier): each task starts `zoo finetune --resume --strategy
     multi-worker` with a TF_CONFIG built from the barrier tasks' addresses; the chief writes the run
     directory, which must be on storage every executor sees. A failed task fails the stage; Spark
     retries it, and every new worker resumes from the run's last checkpoint.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError
from zoo.spark.barrier import run_barrier, task_slots
from zoo.spark.worker import Scorer
from zoo.transfer import features as feature_cache
from zoo.transfer import rundir
from zoo.transfer._finetune import run_dir_of, train
from zoo.transfer.datasets import load_data
from zoo.transfer.distribute import DEFAULT_PEER_TIMEOUT, tf_config_for
from zoo.transfer.settings import FinetuneSettings, run_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class SparkFinetuneResult:
    """What a run on Spark produced (the model and every file are in `run_dir`), and where time went."""

    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    feature_cache_hit: bool | None  # None: stage 1 used no cached features (augmentation, or resumed)
    workers: int  # stage 2's barrier tasks (0: no stage 2)
    seconds: dict[str, float] = field(default_factory=dict)  # features, stage1, stage2


def finetune_on_spark(
    spark: SparkSession,
    model: str | None = None,
    data: str | Path | None = None,
    *,
    config: str | Path | None = None,
    resume: bool = False,
    verbose: bool = True,
    workers: int | None = None,
    peer_timeout: float = DEFAULT_PEER_TIMEOUT,
    **settings: Any,
) -> SparkFinetuneResult:
    """zoo.finetune's run (the same `settings`), with stage-1 features computed on the cluster and stage 2
    on `workers` barrier tasks (default: every task slot). `out` (the run directory) must be a path
    every executor can read and write at the same name (shared storage; on a local master, any path)."""
    cfg = run_settings(model, data, config=config, resume=resume, settings=settings)
    return train_on_spark(
        spark, cfg, resume=resume, verbose=verbose, workers=workers, peer_timeout=peer_timeout
    )


def train_on_spark(
    spark: SparkSession,
    cfg: FinetuneSettings,
    *,
    resume: bool = False,
    verbose: bool = True,
    workers: int | None = None,
    peer_timeout: float = DEFAULT_PEER_TIMEOUT,
) -> SparkFinetuneResult:
    """finetune_on_spark with settings already put together (`zoo finetune --spark` ends here)."""
    if cfg.strategy == "multi-worker":
        raise ZooError(
            "on Spark, stage 2 forms its multi-worker cluster itself: leave strategy at its default"
        )
    workers = task_slots(spark) if workers is None else workers
    run_dir = run_dir_of(cfg)
    cfg = replace(cfg.check(), out=str(run_dir), strategy="default")
    if not resume:
        rundir.start_state(run_dir, resume=False)  # an existing run is refused before the cluster works
    state = rundir.read_state(run_dir) if resume and run_dir.is_dir() else None
    seconds: dict[str, float] = {}
    hit = None
    if state is None or not state.finished(1):
        if not resume and cfg.epochs and not cfg.stage_augment(1):
            started = time.perf_counter()
            hit = features_on_cluster(spark, cfg, _log if verbose else _quiet)
            seconds["features"] = time.perf_counter() - started
        started = time.perf_counter()
        first = train(cfg, resume=resume, verbose=verbose, last_stage=1)
        seconds["stage1"] = time.perf_counter() - started
        cfg = first.config
        if not cfg.fine_tune_epochs:
            return SparkFinetuneResult(run_dir, first.metrics, first.history, hit, 0, seconds)
    started = time.perf_counter()
    chief = stage2_on_cluster(spark, run_dir, workers, peer_timeout, verbose)
    seconds["stage2"] = time.perf_counter() - started
    return SparkFinetuneResult(run_dir, chief["metrics"], chief["history"], hit, workers, seconds)


# ------------------------------------------------------------------------------------- stage-1 features
def features_on_cluster(spark: SparkSession, cfg: FinetuneSettings, log: Any) -> bool:
    """Put the stage-1 features of the run's images into the driver's feature cache, computed on the
    executors unless the cache already holds them; True on a cache hit."""
    import zoo.spark as zs
    from zoo.engine.fingerprint import weights_sha256

    train_set, val_set = load_data(cfg)
    paths = [*train_set.paths, *val_set.paths]
    image_size, policy, net = _extractor(cfg, len(train_set.classes))
    digests = feature_cache.image_digests(paths)
    sha = weights_sha256(net.backbone)
    cache = feature_cache.FeatureCache(feature_cache.extractor_key(cfg.model, sha, image_size, policy))
    if cache.load(digests) is not None:
        log(f"stage-1 features: cache hit ({len(paths)} images), nothing to compute on the cluster")
        return True
    started = time.perf_counter()
    loader = _ExtractorLoader(json.dumps(cfg.to_dict()), image_size, len(train_set.classes))
    files = spark.createDataFrame([(str(p),) for p in paths], "path string")
    frame = zs.embed_with(spark, files, f"extractor:{cache.extractor}", loader, batch_size=cfg.batch_size)
    rows = {
        os.path.realpath(row["path"].removeprefix("file:")): row
        for row in frame.select("path", "embedding", "weights_sha256", "error").collect()
    }
    good, features, bad = [], [], {}
    for path, digest in zip(paths, digests, strict=True):
        row = rows.get(os.path.realpath(path))
        if row is None:  # Spark's file scans skip zero-byte files: the decoder's own reason
            bad[digest] = "empty file (0 bytes)"
        elif row["error"] is not None:
            bad[digest] = row["error"]
        elif row["weights_sha256"] != sha:
            raise ZooError(
                f"the executors' {cfg.model} backbone differs from the driver's ({row['weights_sha256']})",
                hint="give the executors the same weights (ZOO_HOME, ZOO_MIRROR, a --weights file they read)",
            )
        else:
            good.append(digest)
            features.append(row["embedding"])
    cache.store(good, feature_cache_array(features), bad)
    log(
        f"stage-1 features of {len(paths)} images computed on the cluster"
        f" in {time.perf_counter() - started:.1f}s (cached)"
    )
    return False


def feature_cache_array(rows: list[Any]) -> Any:
    import numpy as np

    return np.asarray(rows, np.float32).reshape(len(rows), -1)


def _extractor(cfg: FinetuneSettings, classes: int) -> tuple[int, Any, Any]:
    """(image size, resize policy, network) exactly as stage 1 builds them (zoo.transfer.stages.prepare)."""
    from zoo.data.decode import ResizePolicy
    from zoo.engine.reference import spec_of
    from zoo.transfer.network import build_network, dtype_policy

    spec = spec_of(cfg.model)
    image_size = cfg.image_size or spec.input_size
    with dtype_policy(cfg.precision):
        net = build_network(cfg, spec, image_size, classes)
    return image_size, ResizePolicy.from_spec(spec, image_size), net


@dataclass(frozen=True)
class _ExtractorLoader:
    """Builds the run's extractor in an executor's Python worker (pickled: the settings as JSON)."""

    settings: str
    image_size: int
    classes: int

    def __call__(self) -> Scorer:
        from zoo.engine.fingerprint import weights_sha256

        cfg = FinetuneSettings.from_dict(json.loads(self.settings))
        image_size, policy, net = _extractor(cfg, self.classes)
        batch = cfg.batch_size

        def run(images: Any) -> Any:
            return feature_cache.extract(net.extractor, images, batch)

        return Scorer(run, policy, cfg.model, weights_sha256(net.backbone))


# ----------------------------------------------------------------------------------- stage 2 (barrier)
def stage2_on_cluster(
    spark: SparkSession, run_dir: Path, workers: int, peer_timeout: float, verbose: bool
) -> dict[str, Any]:
    """Stage 2 as a barrier stage of `workers` zoo multi-worker processes; the chief's --json output."""
    import functools

    work = functools.partial(stage2_worker, str(run_dir), peer_timeout)
    results = run_barrier(spark, workers, work)
    chief = results[0]
    if verbose:
        sys.stderr.write(chief["log"])
    return json.loads(chief["stdout"])


def stage2_worker(run_dir: str, peer_timeout: float, addresses: list[str], index: int) -> dict[str, Any]:
    """One barrier task: `zoo finetune --resume` as worker `index` of `addresses` (TF_CONFIG), in a process
    of its own (MultiWorkerMirroredStrategy must start before any other TensorFlow op in its process)
    that dies with this task's Python worker."""
    env = dict(os.environ, TF_CONFIG=json.dumps(tf_config_for(addresses, index)))
    command = [
        sys.executable, "-m", "zoo", "finetune", "--out", run_dir, "--resume", "--strategy", "multi-worker",
        "--peer-timeout", str(peer_timeout), "--json",
    ]  # fmt: skip
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, preexec_fn=_die_with_parent, check=False
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise ZooError(f"stage-2 worker {index} ({addresses[index]}) failed: {lines[-1]}")
    return {"index": index, "stdout": done.stdout, "log": done.stderr[-20000:]}


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the parent (the task's Python worker) dies, so a killed
    task never leaves a worker training (and writing the run directory) behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")


def _quiet(_line: str) -> None:
    pass
