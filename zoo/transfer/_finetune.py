"""`zoo.finetune`: the two-stage transfer-learning recipe, end to end, and what a run returns.

data -> network (zoo.transfer.network) -> stage 1 -> stage 2 (zoo.transfer.stages) -> run directory
(zoo.transfer.rundir). The settings are put together once, in zoo.transfer.settings, for this function
and for `zoo finetune` alike.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import config
from zoo.choices import WEIGHT_CHOICES
from zoo.engine.bundle import CONFIG_FILE
from zoo.transfer import engines, rundir, stages
from zoo.transfer.datasets import load_data
from zoo.transfer.distribute import DEFAULT_PEER_TIMEOUT, resolve_cluster
from zoo.transfer.settings import FinetuneSettings, run_settings
from zoo.transfer.tuning import with_tune_defaults

if TYPE_CHECKING:
    import keras


@dataclass
class FinetuneResult:
    """What a run produced; every file is also in `run_dir`."""

    model: keras.Model
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    run_dir: Path
    labels: list[str]
    config: FinetuneSettings
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    feature_cache_hit: bool | None = None  # None: stage 1 did not use the cache

    @property
    def val_accuracy(self) -> float | None:
        return self.metrics.get("val_accuracy")


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

    `settings` are FinetuneSettings fields (val, val_split, weights, epochs, fine_tune_epochs, unfreeze,
    lr, fine_tune_lr, optimizer, momentum, nesterov, weight_decay, batch_size, image_size, augment,
    dropout, label_smoothing, class_weight, precision, on_bad_image, seed, early_stopping, tensorboard,
    out, strategy, tune, inner_split, fine_tune_schedule, warmup_epochs, views). By default the run tunes
    itself on an inner split of the training images, keeping every setting given here (zoo.transfer.tuning);
    tune=False runs the fixed recipe. `config` starts from a previous run's config.json; `resume=True`
    continues the run in `out` (then model and data may be left out: the run's own config.json has them).

    With strategy="multi-worker", `workers="host:port,..."` and `worker_index` place this process in the
    cluster (or TF_CONFIG does); `peer_timeout` bounds the wait for the other workers (seconds).
    """
    cfg = run_settings(model, data, config=config, resume=resume, settings=settings)
    return train(
        cfg,
        resume=resume,
        verbose=verbose,
        workers=workers,
        worker_index=worker_index,
        peer_timeout=peer_timeout,
    )


def train(
    cfg: FinetuneSettings,
    *,
    resume: bool = False,
    verbose: bool = True,
    workers: str | None = None,
    worker_index: int | None = None,
    peer_timeout: float = DEFAULT_PEER_TIMEOUT,
    last_stage: int = 2,
) -> FinetuneResult:
    """Train with settings already put together (`finetune` and `zoo finetune` end here). `last_stage=1`
    stops after stage 1 (checkpointed; a `resume` runs stage 2), with empty metrics."""
    cfg = cfg.check()
    config.prepare_keras_backend()  # before Keras is imported: an unusable back-end is one clear line
    engines.check_strategy(cfg.strategy)  # multi-worker is tf.distribute's
    cluster = resolve_cluster(cfg.strategy, workers, worker_index)
    run_dir = run_dir_of(cfg)
    writes_run_dir = cluster is None or cluster.is_chief  # other workers only read it
    guard = rundir.exclusive_run_dir(run_dir) if writes_run_dir else contextlib.nullcontext()
    with guard:
        state = rundir.start_state(run_dir, resume)
        if resume:  # the run's settings, under the strategy asked for now (checkpoints fit any strategy)
            engines.check_resume_backend(run_dir)
            cfg = replace(
                FinetuneSettings.load(run_dir / CONFIG_FILE), out=str(run_dir), strategy=cfg.strategy
            )
        else:
            cfg = with_absolute_paths(replace(cfg, out=str(run_dir)))
        train_set, val_set = load_data(cfg)  # data errors surface before TensorFlow is even imported
        cfg, why_not_tuned = with_tune_defaults(cfg, train_set)  # a resumed run's are set already
        if why_not_tuned and verbose:
            print(why_not_tuned, file=sys.stderr)
        done = stages.execute(
            cfg,
            run_dir,
            state,
            train_set,
            val_set,
            verbose=verbose,
            cluster=cluster,
            peer_timeout=peer_timeout,
            last_stage=last_stage,
        )
    return FinetuneResult(
        model=done.net.classifier,
        history=done.state.history,
        metrics=done.metrics,
        run_dir=run_dir,
        labels=list(train_set.classes),
        config=done.cfg,  # with --tune: the settings chosen
        skipped=done.skipped,
        feature_cache_hit=done.cache_hit,
    )


def with_absolute_paths(cfg: FinetuneSettings) -> FinetuneSettings:
    """Data, validation, weights file and run directory as absolute paths, so that config.json repeats
    the run from any working directory."""

    def absolute(path: str | None) -> str | None:
        return None if path is None else str(Path(path).expanduser().absolute())

    weights = cfg.weights if cfg.weights in WEIGHT_CHOICES else absolute(cfg.weights)
    return replace(
        cfg, data=absolute(cfg.data), val=absolute(cfg.val), weights=weights, out=absolute(cfg.out)
    )


def run_dir_of(cfg: FinetuneSettings) -> Path:
    """The run directory, absolute: `out`, else a new timestamped one under ./runs."""
    return (Path(cfg.out) if cfg.out else default_run_dir(cfg.model)).expanduser().absolute()


def default_run_dir(model: str) -> Path:
    return Path("runs") / f"{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
