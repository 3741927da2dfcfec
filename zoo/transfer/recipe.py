"""The two-stage transfer-learning recipe, end to end: data -> network -> stage 1 -> stage 2 -> run directory.

Stage 1 trains the head (dropout + dense logits) on a frozen backbone. Without augmentation the backbone's
pooled features are computed once (and cached, zoo.transfer.features) and the head trains on them; with
augmentation the frozen backbone runs in inference mode inside the loop. Stage 2 unfreezes the top N
backbone layers that hold weights (BatchNorm stays frozen, and in inference mode, since the backbone is
called with training=False) and trains with a lower learning rate and flips.

Every completed epoch is checkpointed; `resume=True` continues from the last one (zoo.transfer.rundir).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.data.folders import LabelledImages, class_weights
from zoo.engine.bundle import CONFIG_FILE, save_bundle, write_json
from zoo.engine.fingerprint import weights_sha256
from zoo.errors import BadDataset, RunDirError
from zoo.transfer import features as feature_cache
from zoo.transfer import rundir
from zoo.transfer.datasets import load_data
from zoo.transfer.distribute import (
    DEFAULT_PEER_TIMEOUT,
    Cluster,
    create_strategy,
    describe_strategy,
    resolve_cluster,
)
from zoo.transfer.loop import OptimizerSettings, Trainer, epoch_order, make_optimizer
from zoo.transfer.plots import plot_confusion, plot_history
from zoo.transfer.progress import TrainingProgress
from zoo.transfer.scores import classification_scores
from zoo.transfer.settings import FinetuneConfig

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelSpec


@dataclass
class FinetuneResult:
    """What a run produced; every file is also in `run_dir`."""

    model: keras.Model
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    run_dir: Path
    labels: list[str]
    config: FinetuneConfig
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    feature_cache_hit: bool | None = None  # None: stage 1 did not use the cache

    @property
    def val_accuracy(self) -> float | None:
        return self.metrics.get("val_accuracy")


@dataclass
class Network:
    """The classifier (raw RGB -> logits) and views of it that share its layers."""

    classifier: keras.Model
    backbone: keras.Model  # the pooled keras.applications model, nested in the classifier
    extractor: keras.Model  # raw RGB -> pooled features
    head: keras.Model  # pooled features -> logits
    augmenters: dict[int, keras.Model | None]

    def tracked_variables(self, stage: int) -> list:
        """What a checkpoint of `stage` must hold: the weights that stage changes, and the dropout and
        augmentation RNG states. Stage 1 never changes the frozen backbone (it is rebuilt identically
        from its weights and seed on resume), so its checkpoints hold the head only: small and fast."""
        extra = [v for model in self.augmenters.values() if model is not None for v in model.variables]
        changed = self.head.variables if stage == 1 else self.classifier.variables
        return [*changed, *extra]


@dataclass
class Arrays:
    """Decoded images (uint8) or features (float32), with labels, for training and validation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


# ------------------------------------------------------------------------------------------- the API
def finetune(
    model: str | None = None,
    data: str | Path | None = None,
    *,
    config: str | Path | None = None,
    resume: bool = False,
    verbose: bool = True,
    workers: str | None = None,
    worker_index: int | None = None,
    peer_timeout: float = DEFAULT_PEER_TIMEOUT,
    **settings: Any,
) -> FinetuneResult:
    """Fine-tune a registered model on a folder of class sub-folders (or a `path,label` CSV).

    `settings` are FinetuneConfig fields (val, val_split, weights, epochs, fine_tune_epochs, unfreeze,
    lr, fine_tune_lr, optimizer, momentum, nesterov, weight_decay, batch_size, image_size, augment,
    dropout, label_smoothing, class_weight, precision, on_bad_image, seed, early_stopping, tensorboard,
    out, strategy). `config` starts from a previous run's config.json; `resume=True` continues the run in
    `out` (then model and data may be left out: the run's own config.json has them).

    With strategy="multi-worker", `workers="host:port,..."` and `worker_index` place this process in the
    cluster (or TF_CONFIG does); `peer_timeout` bounds the wait for the other workers (seconds).
    """
    if config is None and resume and (model is None or data is None) and settings.get("out"):
        config = Path(settings["out"]) / CONFIG_FILE  # finetune(out=RUN_DIR, resume=True)
        if not config.is_file():
            raise RunDirError(f"{settings['out']}: nothing to resume (no config.json)")
    if config is not None:
        base = FinetuneConfig.load(config)
        overrides = {k: v for k, v in (("model", model), ("data", data)) if v is not None}
        cfg = replace(base, **overrides, **settings)
    else:
        if model is None or data is None:
            raise TypeError("finetune needs a model name and a data folder (or config=...)")
        cfg = FinetuneConfig(model=model, data=str(data), **settings)
    return run(
        cfg,
        resume=resume,
        verbose=verbose,
        workers=workers,
        worker_index=worker_index,
        peer_timeout=peer_timeout,
    )


def run(
    cfg: FinetuneConfig,
    *,
    resume: bool = False,
    verbose: bool = True,
    workers: str | None = None,
    worker_index: int | None = None,
    peer_timeout: float = DEFAULT_PEER_TIMEOUT,
) -> FinetuneResult:
    problems = cfg.problems()
    if problems:
        raise ValueError("; ".join(problems))
    cluster = resolve_cluster(cfg.strategy, workers, worker_index)
    run_dir = (Path(cfg.out) if cfg.out else default_run_dir(cfg.model)).expanduser().absolute()
    writes_run_dir = cluster is None or cluster.is_chief  # other workers only read it
    guard = rundir.exclusive_run_dir(run_dir) if writes_run_dir else contextlib.nullcontext()
    with guard:
        state = _start_state(run_dir, resume)
        if resume:  # the run's settings, under the strategy asked for now (checkpoints fit any strategy)
            cfg = replace(FinetuneConfig.load(run_dir / CONFIG_FILE), out=str(run_dir), strategy=cfg.strategy)
        else:
            cfg = with_absolute_paths(replace(cfg, out=str(run_dir)))
        train, val = load_data(cfg)  # data errors surface before TensorFlow is even imported
        return _Run(cfg, run_dir, state, verbose, cluster, peer_timeout).execute(train, val)


def with_absolute_paths(cfg: FinetuneConfig) -> FinetuneConfig:
    """Data, validation, weights file and run directory as absolute paths, so that config.json repeats
    the run from any working directory."""

    def absolute(path: str | None) -> str | None:
        return None if path is None else str(Path(path).expanduser().absolute())

    weights = cfg.weights if cfg.weights in ("imagenet", "none") else absolute(cfg.weights)
    return replace(
        cfg, data=absolute(cfg.data), val=absolute(cfg.val), weights=weights, out=absolute(cfg.out)
    )


def default_run_dir(model: str) -> Path:
    return Path("runs") / f"{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _start_state(run_dir: Path, resume: bool) -> rundir.RunState:
    existing = rundir.read_state(run_dir) if run_dir.is_dir() else None
    if resume:
        if existing is None or not (run_dir / CONFIG_FILE).is_file():
            raise RunDirError(
                f"{run_dir}: nothing to resume (no checkpoint state)",
                hint="start the run without --resume",
            )
        return existing
    if existing is not None:
        raise RunDirError(
            f"{run_dir} already holds a run",
            hint="pass --resume to continue it, or choose another --out",
        )
    return rundir.RunState()


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    import keras

    previous = keras.config.dtype_policy()
    if precision == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_network(cfg: FinetuneConfig, spec: ModelSpec, image_size: int, num_classes: int) -> Network:
    import keras

    from zoo.engine import backbone_and_head

    weights = None if cfg.weights == "none" else cfg.weights
    classifier, backbone = backbone_and_head(
        spec, num_classes, weights=weights, input_shape=image_size, dropout=cfg.dropout
    )
    backbone.trainable = False
    # the backbone's output inside the classifier graph (backbone.output is its own inner graph's)
    features_out = classifier.get_layer("dropout" if cfg.dropout else "logits").input
    extractor = keras.Model(classifier.input, features_out, name="extractor")
    features_in = keras.Input(shape=features_out.shape[1:], name="features")
    x = classifier.get_layer("dropout")(features_in) if cfg.dropout else features_in
    head = keras.Model(features_in, classifier.get_layer("logits")(x), name="head")
    augmenters = {stage: make_augmenter(cfg.stage_augment(stage), cfg.seed + stage) for stage in (1, 2)}
    return Network(classifier, backbone, extractor, head, augmenters)


def make_augmenter(names: tuple[str, ...], seed: int) -> keras.Model | None:
    """Keras preprocessing layers on raw RGB 0-255, applied inside the train step."""
    if not names:
        return None
    import keras

    factories = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "rotate": lambda: keras.layers.RandomRotation(0.1, seed=seed + 1),
        "zoom": lambda: keras.layers.RandomZoom(0.1, seed=seed + 2),
        "contrast": lambda: keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 3),
    }
    return keras.Sequential([factories[name]() for name in names], name="augment")


def weighted_layers(model: keras.Model) -> list:
    """The leaf layers that hold weights, in order (nested models flattened)."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            out.extend(weighted_layers(layer))
        elif layer.weights:
            out.append(layer)
    return out


def unfreeze_top(backbone: keras.Model, count: int | str) -> int:
    """Make the last `count` weighted layers trainable (all with "all"); BatchNorm stays frozen.

    Returns how many layers became trainable."""
    import keras

    backbone.trainable = True
    layers = weighted_layers(backbone)
    chosen = layers if count == "all" else layers[len(layers) - int(count) :] if int(count) else []
    for layer in layers:
        layer.trainable = False
    trainable = 0
    for layer in chosen:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
        trainable += layer.trainable
    return trainable


def restore_weights(checkpoint: Any, path: Path) -> None:
    """Restore a weights-only checkpoint written with `checkpoint.write` (it has no save counter)."""
    checkpoint.restore(str(path)).expect_partial().assert_nontrivial_match()


# --------------------------------------------------------------------------------------------- the run
class _Run:
    """One run. Under a multi-worker strategy every worker trains (and checkpoints, as collective saves
    need), but only the chief writes the run directory; the others write into a temporary directory
    (`write_dir`) that starts as a copy of the run's checkpoints (for a resume) and is removed at the end."""

    def __init__(
        self,
        cfg: FinetuneConfig,
        run_dir: Path,
        state: rundir.RunState,
        verbose: bool,
        cluster: Cluster | None = None,
        peer_timeout: float = DEFAULT_PEER_TIMEOUT,
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.cluster = cluster
        self.peer_timeout = peer_timeout
        self.is_chief = cluster is None or cluster.is_chief
        self.write_dir = run_dir
        self.state = state
        self.verbose = verbose
        self.skipped: list[tuple[Path, str]] = []
        self.cache_hit: bool | None = None
        self.images: Arrays | None = None
        self.features: Arrays | None = None
        self.trainer: Trainer | None = None  # the last stage's

    def execute(self, train: LabelledImages, val: LabelledImages) -> FinetuneResult:
        # before any other TensorFlow op: MultiWorkerMirroredStrategy configures the process's collectives
        self.strategy = create_strategy(self.cfg.strategy, self.cluster, self.peer_timeout)
        if self.is_chief:
            return self._execute(train, val)
        self.write_dir = Path(tempfile.mkdtemp(prefix="zoo-worker-"))
        try:
            source = rundir.checkpoints_dir(self.run_dir)
            if source.is_dir():  # a resume: every worker restores the chief's last checkpoint
                shutil.copytree(source, rundir.checkpoints_dir(self.write_dir))
            return self._execute(train, val)
        finally:
            shutil.rmtree(self.write_dir, ignore_errors=True)

    def _execute(self, train: LabelledImages, val: LabelledImages) -> FinetuneResult:
        import keras
        import tensorflow as tf

        from zoo.data.decode import ResizePolicy
        from zoo.engine.build import resolve

        cfg = self.cfg
        spec = resolve(cfg.model)
        self.image_size = cfg.image_size or spec.input_size
        self.policy = ResizePolicy.from_spec(spec, self.image_size)
        self.train, self.val = train, val
        self.write_dir.mkdir(parents=True, exist_ok=True)
        self.config_doc = {
            "settings": cfg.to_dict(),
            "model": spec.name,
            "arch": spec.arch,
            "image_size": self.image_size,
            "classes": list(train.classes),
        }
        if self.is_chief:
            write_json(self.run_dir / CONFIG_FILE, self.config_doc)

        keras.utils.set_random_seed(cfg.seed)
        if not tf.config.list_physical_devices("GPU"):
            # reproducible CPU runs; on GPUs some kernels have no deterministic version and would raise
            tf.config.experimental.enable_op_determinism()
        with dtype_policy(cfg.precision), self.strategy.scope():
            self.net = build_network(cfg, spec, self.image_size, len(train.classes))
        self.tensorboard = rundir.TensorBoardLog(self.run_dir, cfg.tensorboard and self.is_chief)
        weights = class_weights(train.labels, len(train.classes)) if cfg.class_weight == "auto" else None
        self.class_weight = weights

        total = cfg.epochs + cfg.fine_tune_epochs
        with TrainingProgress(total, self.verbose) as self.progress:
            self.progress.log(describe_strategy(self.strategy, self.cluster))
            if cfg.epochs:
                self._run_stage(1, cfg.epochs, self._stage1_arrays())
            if cfg.fine_tune_epochs:
                self._run_stage(2, cfg.fine_tune_epochs, self._image_arrays())
            return self._finish()

    # ----------------------------------------------------------------------------------------- data
    def _image_arrays(self) -> Arrays:
        """Decode every train and val image once (skipped images are recorded for skipped.txt)."""
        if self.images is not None:
            return self.images
        from zoo.data.decode import decode_batch

        started = time.perf_counter()
        paths = [*self.train.paths, *self.val.paths]
        decoded = decode_batch(paths, self.policy, on_bad_image=self.cfg.on_bad_image)  # type: ignore[arg-type]
        self.skipped = list(decoded.skipped)
        row = {p: i for i, p in enumerate(decoded.paths)}
        self.images = Arrays(*self._split(decoded.images, row))
        self.progress.log(
            f"decoded {len(decoded)} images in {time.perf_counter() - started:.1f}s"
            + (f", skipped {len(self.skipped)} (see skipped.txt)" if self.skipped else "")
        )
        return self.images

    def _split(self, rows: np.ndarray, index: dict[Path, int]) -> tuple[np.ndarray, ...]:
        out = []
        for subset in (self.train, self.val):
            keep = [i for i, p in enumerate(subset.paths) if p in index]
            out.append(rows[[index[subset.paths[i]] for i in keep]])
            out.append(np.asarray([subset.labels[i] for i in keep], np.int32))
        x_train, y_train, x_val, y_val = out
        if len(y_val) == 0 or len(np.unique(y_train)) < 2:
            rundir.write_skipped(self.skipped, self.write_dir / "skipped.txt")
            raise BadDataset(
                f"too few decodable images left to train and validate ({len(self.skipped)} skipped)",
                hint=f"see {self.write_dir / 'skipped.txt'} for each file and why",
            )
        return x_train, y_train, x_val, y_val

    def _stage1_arrays(self) -> Arrays:
        """Cached features (no augmentation) or the decoded images (augmentation in the loop)."""
        if self.cfg.stage_augment(1):
            return self._image_arrays()
        if self.features is not None:
            return self.features
        paths = [*self.train.paths, *self.val.paths]
        digests = feature_cache.image_digests(paths)
        key = feature_cache.extractor_key(
            self.cfg.model,
            weights_sha256(self.net.backbone),
            self.image_size,
            self.policy,
        )
        cache = feature_cache.FeatureCache(key)
        cached = cache.load(digests)
        self.cache_hit = cached is not None
        if cached is None:
            started = time.perf_counter()
            images = self._image_arrays()
            decoded_paths = [p for p in paths if p not in {s for s, _ in self.skipped}]
            feats = self._extract(np.concatenate([images.x_train, images.x_val]))
            digest_of = dict(zip(paths, digests, strict=True))
            bad = {digest_of[p]: reason for p, reason in self.skipped}
            cache.store([digest_of[p] for p in decoded_paths], feats, bad)
            cached = cache.load(digests)
            assert cached is not None
            self.progress.log(f"computed backbone features in {time.perf_counter() - started:.1f}s (cached)")
        else:
            self.progress.log(f"backbone features: cache hit ({len(cached.by_digest)} images)")
        by_path = {}
        self.skipped = []
        for path, digest in zip(paths, digests, strict=True):
            if digest in cached.bad:
                self.skipped.append((path, cached.bad[digest]))
            else:
                by_path[path] = cached.by_digest[digest]
        if self.cfg.on_bad_image == "fail" and self.skipped:
            from zoo.errors import BadImage

            raise BadImage(*self.skipped[0])
        stacked = np.stack(list(by_path.values()))
        self.features = Arrays(*self._split(stacked, {p: i for i, p in enumerate(by_path)}))
        return self.features

    def _extract(self, images: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        extractor = self.net.extractor
        forward = tf.function(lambda x: extractor(x, training=False), reduce_retracing=True)
        batch = max(self.cfg.batch_size, 32)
        chunks = [
            forward(tf.constant(images[i : i + batch], tf.float32)) for i in range(0, len(images), batch)
        ]
        return np.concatenate([np.asarray(c, np.float32) for c in chunks])

    # --------------------------------------------------------------------------------------- stages
    def _run_stage(self, stage: int, epochs: int, arrays: Arrays) -> None:
        import tensorflow as tf

        cfg, state, net = self.cfg, self.state, self.net
        if state.stage > stage or (state.stage == stage and state.stage_done):
            return  # finished before a resume
        on_features = stage == 1 and not cfg.stage_augment(1)
        if stage == 2:
            unfrozen = unfreeze_top(net.backbone, cfg.unfreeze)
            self.progress.log(f"stage 2: {unfrozen} backbone layers unfrozen (BatchNorm stays frozen)")
        lr = cfg.lr if stage == 1 else cfg.fine_tune_lr
        settings = OptimizerSettings(cfg.optimizer, lr, cfg.momentum, cfg.nesterov, cfg.weight_decay)
        model = net.head if on_features else net.classifier
        with self.strategy.scope():
            optimizer = make_optimizer(settings)
            optimizer.build(model.trainable_variables)
        trainer = Trainer(
            model,
            optimizer,
            num_classes=len(self.train.classes),
            label_smoothing=cfg.label_smoothing,
            class_weight=self.class_weight,
            augment=None if on_features else net.augmenters[stage],
            strategy=self.strategy,
        )
        self.trainer = trainer
        folder = rundir.checkpoints_dir(self.write_dir) / f"stage{stage}"
        checkpoint = tf.train.Checkpoint(weights=net.tracked_variables(stage), optimizer=optimizer)
        weights_only = tf.train.Checkpoint(weights=net.tracked_variables(stage))
        manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=2, checkpoint_name="ckpt")
        if state.stage == stage and state.epochs_done:
            checkpoint.restore(str(folder / f"ckpt-{state.epochs_done}")).assert_existing_objects_matched()
        else:
            if stage == 2 and cfg.epochs:
                previous = rundir.checkpoints_dir(self.write_dir) / "stage1" / "final"
                restore_weights(tf.train.Checkpoint(weights=net.tracked_variables(1)), previous)
            state.stage, state.epochs_done, state.stage_done = stage, 0, False
            state.best_value, state.best_epoch, state.wait = None, None, 0

        for epoch in range(state.epochs_done + 1, epochs + 1):
            row = self._epoch(trainer, arrays, stage, epoch, lr)
            improved = state.best_value is None or row["val_loss"] < state.best_value
            if improved:
                state.best_value, state.best_epoch, state.wait = row["val_loss"], row["epoch"], 0
                if cfg.early_stopping:
                    weights_only.write(str(folder / "best"))
            else:
                state.wait += 1
            manager.save(checkpoint_number=epoch)
            state.history.append(row)
            state.epochs_done = epoch
            rundir.write_state(self.write_dir, state)
            self.tensorboard.epoch(row)
            self.progress.end_epoch(row, len(state.history))
            if cfg.early_stopping and state.wait >= cfg.early_stopping:
                self.progress.log(f"early stopping: no val_loss improvement for {state.wait} epochs")
                break
        if cfg.early_stopping and state.best_epoch is not None:
            restore_weights(weights_only, folder / "best")
        weights_only.write(str(folder / "final"))
        state.stage_done = True
        rundir.write_state(self.write_dir, state)

    def _epoch(self, trainer: Trainer, arrays: Arrays, stage: int, epoch: int, lr: float) -> dict[str, Any]:
        started = time.perf_counter()
        batch = self.cfg.batch_size
        steps = -(-len(arrays.y_train) // batch)
        self.progress.start_epoch(stage, epoch, steps)
        order = epoch_order(len(arrays.y_train), self.cfg.seed, stage, epoch)
        stats = trainer.train_epoch(arrays.x_train, arrays.y_train, batch, order, self.progress.step)
        val_stats, _ = trainer.evaluate(arrays.x_val, arrays.y_val, batch)
        return {
            "epoch": len(self.state.history) + 1,
            "stage": stage,
            "loss": stats.loss,
            "accuracy": stats.accuracy,
            "val_loss": val_stats.loss,
            "val_accuracy": val_stats.accuracy,
            "learning_rate": lr,
            "seconds": round(time.perf_counter() - started, 3),
        }

    # --------------------------------------------------------------------------------------- outputs
    def _finish(self) -> FinetuneResult:
        import tensorflow as tf

        net, cfg = self.net, self.cfg
        last_stage = 2 if cfg.fine_tune_epochs else 1
        final = rundir.checkpoints_dir(self.write_dir) / f"stage{last_stage}" / "final"
        restore_weights(tf.train.Checkpoint(weights=net.tracked_variables(last_stage)), final)
        if last_stage == 1 and not cfg.stage_augment(1):
            arrays, model = self._stage1_arrays(), net.head
        else:
            arrays, model = self._image_arrays(), net.classifier
        evaluator = self.trainer  # reuse its traced functions, unless a resume finds the stages all done
        if evaluator is None or evaluator.model is not model:
            evaluator = Trainer(model, None, num_classes=len(self.train.classes), strategy=self.strategy)  # type: ignore[arg-type]
        _, logits = evaluator.evaluate(arrays.x_val, arrays.y_val, cfg.batch_size)
        classes = list(self.train.classes)
        metrics = classification_scores(arrays.y_val, logits, classes)
        metrics.update(
            train_count=int(len(arrays.y_train)),
            skipped=len(self.skipped),
            epochs_run=len(self.state.history),
            best_epoch=self.state.best_epoch,
        )
        history = self.state.history
        if self.is_chief:
            save_bundle(self.run_dir, net.classifier, classes, self.config_doc, metrics)
            rundir.write_history_csv(history, self.run_dir / "history.csv")
            rundir.write_skipped(self.skipped, self.run_dir / "skipped.txt")
            plot_history(history, self.run_dir / "history.png")
            plot_confusion(metrics["confusion"], classes, self.run_dir / "confusion.png")
        where = self.run_dir if self.is_chief else f"{self.run_dir} (written by the chief)"
        self.progress.log(
            f"done: val accuracy {metrics['val_accuracy']:.4f}, val loss {metrics['val_loss']:.4f} -> {where}"
        )
        return FinetuneResult(
            model=net.classifier,
            history=history,
            metrics=metrics,
            run_dir=self.run_dir,
            labels=classes,
            config=cfg,
            skipped=self.skipped,
            feature_cache_hit=self.cache_hit,
        )
