"""The stages of a run: decode the data, stage 1 (the head), stage 2 (the top of the backbone), evaluate,
and write the run directory.

Stage 1 trains the head (dropout + dense logits) on a frozen backbone. Without augmentation the backbone's
pooled features are computed once (and cached, zoo.transfer.features) and the head trains on them; with
augmentation the frozen backbone runs in inference mode inside the loop. Stage 2 unfreezes the top N
backbone layers that hold weights (normalisation layers of every kind stay frozen, BatchNorm also in
inference mode, since the backbone is called with training=False) and trains with a lower learning rate
and flips.

The arrays come from zoo.transfer.stage_data; the trainer, strategy and checkpoint format from
zoo.transfer.engines (TensorFlow's tf.distribute loop, or Keras' train_on_batch on JAX and PyTorch).
Every completed epoch is checkpointed; a resume continues from the last one (zoo.transfer.rundir). Under a
multi-worker strategy every worker trains (and checkpoints, as collective saves need), but only the chief
writes the run directory; the others write into a temporary directory (rundir.worker_dir).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.data.folders import LabelledImages, class_weights, stratified_split
from zoo.engine.bundle import CONFIG_FILE, save_bundle, write_json
from zoo.transfer import engines, rundir
from zoo.transfer.distribute import DEFAULT_PEER_TIMEOUT, Cluster
from zoo.transfer.loop import OptimizerSettings, epoch_order, make_optimizer
from zoo.transfer.network import Network, build_network, dtype_policy, unfreeze_top
from zoo.transfer.plots import plot_confusion, plot_history
from zoo.transfer.progress import TrainingProgress
from zoo.transfer.scores import classification_scores
from zoo.transfer.settings import FinetuneSettings
from zoo.transfer.stage_data import (
    Arrays,
    image_arrays,
    stage1_arrays,
    stage1_features,
    view_rows,
    with_views,
)

if TYPE_CHECKING:
    import tensorflow as tf

    from zoo.data.decode import ResizePolicy


@dataclass
class Run:
    """One run: its settings, data and network (built by `prepare`), and what the stages learn."""

    cfg: FinetuneSettings
    run_dir: Path
    write_dir: Path  # the run directory, or a worker's temporary stand-in (rundir.worker_dir)
    state: rundir.RunState
    train: LabelledImages
    val: LabelledImages
    cluster: Cluster | None
    strategy: tf.distribute.Strategy
    image_size: int
    policy: ResizePolicy
    config_doc: dict[str, Any]  # config.json
    net: Network
    tensorboard: rundir.TensorBoardLog
    class_weight: np.ndarray | None
    progress: TrainingProgress
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    cache_hit: bool | None = None  # None: stage 1 did not use the feature cache
    images: Arrays | None = None
    features: Arrays | None = None
    trainer: Any = None  # the last stage's (zoo.transfer.engines.make_trainer)
    metrics: dict[str, Any] = field(default_factory=dict)
    inner: LabelledImages | None = None  # training images early stopping watches instead of val
    pixels: np.ndarray | None = None  # the decoded images in the order of `paths` (skipped ones left out)
    views: dict[str, np.ndarray] = field(default_factory=dict)  # extra view -> features of the fit images

    @property
    def is_chief(self) -> bool:
        return self.cluster is None or self.cluster.is_chief

    @property
    def paths(self) -> list[Path]:
        return [*self.train.paths, *self.val.paths]


def execute(
    cfg: FinetuneSettings,
    run_dir: Path,
    state: rundir.RunState,
    train: LabelledImages,
    val: LabelledImages,
    *,
    verbose: bool = True,
    cluster: Cluster | None = None,
    peer_timeout: float = DEFAULT_PEER_TIMEOUT,
    last_stage: int = 2,
) -> Run:
    """Train and evaluate (the chief writes the run directory); the finished run, metrics included.
    `last_stage=1` stops after stage 1, checkpointed, for a later resume to run stage 2 (metrics empty)."""
    # before any other TensorFlow op: MultiWorkerMirroredStrategy configures the process's collectives
    strategy = engines.make_strategy(cfg.strategy, cluster, peer_timeout)
    if cluster is None or cluster.is_chief:
        with engines.run_scope(strategy):  # JAX data parallelism: build and train under it
            run = prepare(cfg, run_dir, run_dir, state, train, val, cluster, strategy, verbose)
            return _train(run, last_stage)
    with rundir.worker_dir(run_dir) as write_dir:
        run = prepare(cfg, run_dir, write_dir, state, train, val, cluster, strategy, verbose)
        return _train(run, last_stage)


def _train(run: Run, last_stage: int = 2) -> Run:
    cfg = run.cfg
    with run.progress:
        run.progress.log(engines.describe(run.strategy, run.cluster))
        if cfg.tune:
            tune_run(run)
            cfg = run.cfg
        if cfg.epochs and not run.state.finished(1):  # a resume past stage 1 needs none of its features
            run_stage(run, 1, cfg.epochs, stage1_arrays(run))
        if cfg.fine_tune_epochs and last_stage < 2:
            return run
        if cfg.fine_tune_epochs:
            run_stage(run, 2, cfg.fine_tune_epochs, image_arrays(run))
        run.metrics = finish(run)
    return run


def prepare(
    cfg: FinetuneSettings,
    run_dir: Path,
    write_dir: Path,
    state: rundir.RunState,
    train: LabelledImages,
    val: LabelledImages,
    cluster: Cluster | None,
    strategy: tf.distribute.Strategy,
    verbose: bool,
) -> Run:
    """Write config.json, seed every RNG, build the network and the run's loggers."""
    import keras

    from zoo.data.decode import ResizePolicy
    from zoo.engine.reference import spec_of

    is_chief = cluster is None or cluster.is_chief
    spec = spec_of(cfg.model)
    image_size = cfg.image_size or spec.input_size
    policy = ResizePolicy.from_spec(spec, image_size)
    write_dir.mkdir(parents=True, exist_ok=True)
    config_doc = {
        "settings": cfg.to_dict(),
        "model": spec.name,
        "arch": spec.arch,
        "image_size": image_size,
        "classes": list(train.classes),
        "backend": keras.config.backend(),
    }
    if is_chief:
        write_json(run_dir / CONFIG_FILE, config_doc)

    keras.utils.set_random_seed(cfg.seed)
    if engines.on_tensorflow():
        _tensorflow_determinism()
    with dtype_policy(cfg.precision), strategy.scope():
        net = build_network(cfg, spec, image_size, len(train.classes))
    tensorboard = rundir.TensorBoardLog(run_dir, cfg.tensorboard and is_chief)
    weights = class_weights(train.labels, len(train.classes)) if cfg.class_weight == "auto" else None
    progress = TrainingProgress(cfg.epochs + cfg.fine_tune_epochs, verbose)
    run = Run(cfg, run_dir, write_dir, state, train, val, cluster, strategy, image_size, policy,
              config_doc, net, tensorboard, weights, progress)  # fmt: skip
    if cfg.inner_split:
        run.inner = stratified_split(train, cfg.inner_split, seed=cfg.seed + 1)[1]
    return run


def _tensorflow_determinism() -> None:
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        # reproducible CPU runs; on GPUs some kernels have no deterministic version and would raise
        tf.config.experimental.enable_op_determinism()


def tune_run(run: Run) -> None:
    """Search stage 1's settings on the cached features; config.json then holds the chosen ones."""
    from zoo.transfer.tuning import search_stage1, view_counts

    features = stage1_features(run)
    splits = {}
    for count in view_counts(run.cfg):
        fit = with_views(features, view_rows(run, count))
        splits[count] = (fit.x_train, fit.y_train, features.x_inner, features.y_inner)
    found = search_stage1(run.cfg, splits, len(run.train.classes), run.class_weight)  # type: ignore[arg-type]
    run.progress.log(found.summary)
    run.cfg = found.settings
    run.progress.total_epochs = run.cfg.epochs + run.cfg.fine_tune_epochs
    run.config_doc.update(settings=run.cfg.to_dict(), tuning=found.record)
    if run.is_chief:
        write_json(run.run_dir / CONFIG_FILE, run.config_doc)


# -------------------------------------------------------------------------------------------- stages
def run_stage(run: Run, stage: int, epochs: int, arrays: Arrays) -> None:
    """Train `stage` for its remaining epochs (all of them, unless a resume finds some done)."""
    cfg, state = run.cfg, run.state
    if state.finished(stage):
        return  # finished before a resume
    if stage == 2:
        unfrozen = unfreeze_top(run.net.backbone, cfg.unfreeze)
        run.progress.log(f"stage 2: {unfrozen} backbone layers unfrozen (normalisation layers stay frozen)")
    lr = cfg.lr if stage == 1 else cfg.fine_tune_lr
    run.trainer = _stage_trainer(run, stage, lr, len(arrays.y_train))
    variables = run.net.tracked_variables(stage)
    checkpoints = engines.stage_checkpoints(run.write_dir, stage, variables, run.trainer.optimizer)
    if state.stage == stage and state.epochs_done:
        checkpoints.restore_epoch(state.epochs_done)
    else:
        if stage == 2 and cfg.epochs:
            engines.restore_final(run.write_dir, 1, run.net.tracked_variables(1))
        state.stage, state.epochs_done, state.stage_done = stage, 0, False
        state.best_value, state.best_epoch, state.wait = None, None, 0
    _run_epochs(run, stage, epochs, arrays, lr, checkpoints)
    if cfg.early_stopping and state.best_epoch is not None:
        checkpoints.restore_weights("best")
    checkpoints.write_weights("final")
    state.stage_done = True
    rundir.write_state(run.write_dir, state)


def _stage_trainer(run: Run, stage: int, lr: float, examples: int) -> Any:
    """The trainer of `stage`: the head on cached features, or the whole classifier on images."""
    cfg, net = run.cfg, run.net
    on_features = stage == 1 and not cfg.stage_augment(1)
    steps = -(-examples // cfg.batch_size)
    cosine = stage == 2 and cfg.fine_tune_schedule == "cosine"
    warmup = min(cfg.warmup_epochs, cfg.fine_tune_epochs - 1) * steps if cosine else 0
    decay = cfg.fine_tune_epochs * steps - warmup if cosine else 0
    settings = OptimizerSettings(
        cfg.optimizer, lr, cfg.momentum, cfg.nesterov, cfg.weight_decay, decay_steps=decay,
        warmup_steps=warmup,
    )  # fmt: skip
    model = net.head if on_features else net.classifier
    with run.strategy.scope():
        optimizer = make_optimizer(settings)
        optimizer.build(model.trainable_variables)
    return engines.make_trainer(
        model,
        optimizer,
        num_classes=len(run.train.classes),
        label_smoothing=cfg.label_smoothing,
        class_weight=run.class_weight,
        augment=None if on_features else net.augmenters[stage],
        strategy=run.strategy,
    )


def _run_epochs(
    run: Run, stage: int, epochs: int, arrays: Arrays, lr: float, checkpoints: rundir.StageCheckpoints
) -> None:
    """Each epoch: train, validate, checkpoint, record; early stopping ends the loop."""
    cfg, state = run.cfg, run.state
    for epoch in range(state.epochs_done + 1, epochs + 1):
        row = _epoch(run, arrays, stage, epoch, lr)
        watched = row.get("inner_loss", row["val_loss"])
        if state.best_value is None or watched < state.best_value:
            state.best_value, state.best_epoch, state.wait = watched, row["epoch"], 0
            if cfg.early_stopping:
                checkpoints.write_weights("best")
        else:
            state.wait += 1
        checkpoints.save_epoch(epoch)
        state.history.append(row)
        state.epochs_done = epoch
        rundir.write_state(run.write_dir, state)
        run.tensorboard.epoch(row)
        run.progress.end_epoch(row, len(state.history))
        if cfg.early_stopping and state.wait >= cfg.early_stopping:
            watched = "inner_loss" if arrays.y_inner is not None else "val_loss"
            run.progress.log(f"early stopping: no {watched} improvement for {state.wait} epochs")
            break


def _epoch(run: Run, arrays: Arrays, stage: int, epoch: int, lr: float) -> dict[str, Any]:
    started = time.perf_counter()
    batch = run.cfg.batch_size
    steps = -(-len(arrays.y_train) // batch)
    run.progress.start_epoch(stage, epoch, steps)
    order = epoch_order(len(arrays.y_train), run.cfg.seed, stage, epoch)
    stats = run.trainer.train_epoch(arrays.x_train, arrays.y_train, batch, order, run.progress.step)
    val_stats, _ = run.trainer.evaluate(arrays.x_val, arrays.y_val, batch)
    inner = {}
    if arrays.y_inner is not None:
        inner_stats, _ = run.trainer.evaluate(arrays.x_inner, arrays.y_inner, batch)
        inner = {"inner_loss": inner_stats.loss, "inner_accuracy": inner_stats.accuracy}
    return {
        "epoch": len(run.state.history) + 1,
        "stage": stage,
        "loss": stats.loss,
        "accuracy": stats.accuracy,
        "val_loss": val_stats.loss,
        "val_accuracy": val_stats.accuracy,
        **inner,
        "learning_rate": _learning_rate(run, stage, lr),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _learning_rate(run: Run, stage: int, lr: float) -> float:
    """The rate the epoch ended at: `lr`, or where stage 2's schedule has got to."""
    if stage == 2 and run.cfg.fine_tune_schedule == "cosine":
        import keras

        return float(keras.ops.convert_to_numpy(run.trainer.optimizer.learning_rate))
    return lr


# ------------------------------------------------------------------------------------------- outputs
def finish(run: Run) -> dict[str, Any]:
    """Evaluate the final weights on the validation set; the chief writes the run directory's files."""
    net, cfg = run.net, run.cfg
    last_stage = 2 if cfg.fine_tune_epochs else 1
    engines.restore_final(run.write_dir, last_stage, net.tracked_variables(last_stage))
    if last_stage == 1 and not cfg.stage_augment(1):
        arrays, model = stage1_features(run), net.head  # one row a training image (train_count)
    else:
        arrays, model = image_arrays(run), net.classifier
    evaluator = run.trainer  # reuse its traced functions, unless a resume finds the stages all done
    if evaluator is None or evaluator.model is not model:
        evaluator = engines.make_trainer(
            model, None, num_classes=len(run.train.classes), strategy=run.strategy
        )
    _, logits = evaluator.evaluate(arrays.x_val, arrays.y_val, cfg.batch_size)
    classes = list(run.train.classes)
    metrics = classification_scores(arrays.y_val, logits, classes)
    metrics.update(
        train_count=int(len(arrays.y_train)),
        skipped=len(run.skipped),
        epochs_run=len(run.state.history),
        best_epoch=run.state.best_epoch,
    )
    history = run.state.history
    if run.is_chief:
        save_bundle(run.run_dir, net.classifier, classes, run.config_doc, metrics)
        rundir.write_history_csv(history, run.run_dir / "history.csv")
        rundir.write_skipped(run.skipped, run.run_dir / "skipped.txt")
        plot_history(history, run.run_dir / "history.png")
        plot_confusion(metrics["confusion"], classes, run.run_dir / "confusion.png")
    where = run.run_dir if run.is_chief else f"{run.run_dir} (written by the chief)"
    run.progress.log(
        f"done: val accuracy {metrics['val_accuracy']:.4f}, val loss {metrics['val_loss']:.4f} -> {where}"
    )
    return metrics
