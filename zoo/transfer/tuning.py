"""Fine-tuning that tunes itself (the default; --no-tune turns it off), on the training images only.

The search runs on the cached backbone features (stage 1's input), so each trial costs only a small
head's epochs: every (learning rate, weight decay) of a small grid trains a fresh head on the training
images minus the inner split, watching the inner split's loss each epoch (stopping a trial after
SEARCH_PATIENCE epochs without improvement). The trial with the lowest inner loss wins, and its best
epoch becomes stage 1's epoch count. With views "auto" the grid runs once per count of AUTO_VIEWS (each
fitted training image as 1, 2 or 3 feature rows, zoo.transfer.views), and more rows win only by scoring a
strictly lower inner loss. The user's validation set (--val, or the val split) is never
looked at, so its score stays an honest estimate.

Stage 2 then runs the tuned recipe (TUNED_RECIPE: the whole backbone unfrozen at a higher learning rate,
with warm-up and cosine decay), with early stopping on the same inner split (zoo.transfer.stages). Every
setting the user gave is kept as given (FinetuneSettings.user_set, or a value other than the default).
The run writes the chosen settings (tune=False) and the trials into config.json, so
`zoo finetune --config RUN_DIR/config.json` repeats it exactly, without searching again.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.data.folders import LabelledImages
from zoo.transfer.engines import make_trainer
from zoo.transfer.head_search import HeadTraining, search_heads
from zoo.transfer.loop import OptimizerSettings, epoch_order, make_optimizer
from zoo.transfer.settings import FinetuneSettings
from zoo.transfer.views import views_used

# (training features, their labels, inner-split features, their labels)
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

# 6 trials: a trial costs a head's epochs, a few seconds, and the search must stay a fraction of the run
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
WEIGHT_DECAYS = (0.0, 0.1)  # decoupled (Keras' weight_decay): shrinks weights by lr * wd a step
SEARCH_EPOCHS = 30
SEARCH_PATIENCE = 4
# the rows per fitted image views "auto" scores (zoo.transfer.views): the image, then its flip, then a crop
AUTO_VIEWS = (1, 2, 3)
# what tuning sets where the user gave nothing. Stage 2: on TrashNet (benchmarks/selection.py --part 2) the
# whole backbone at 3e-4 gained where the top 20 layers at 1e-5 barely moved; early stopping on the inner
# split guards the rest
TUNED_RECIPE: dict[str, Any] = {
    "inner_split": 0.2,
    "early_stopping": 3,
    "warmup_epochs": 1,
    "fine_tune_schedule": "cosine",
    "fine_tune_lr": 3e-4,
    "unfreeze": "all",
    "fine_tune_epochs": 4,
}
# an inner split needs a few training images of every class to score anything
MIN_IMAGES_PER_CLASS = 5
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(FinetuneSettings)}


def user_kept(cfg: FinetuneSettings, name: str) -> bool:
    """Whether the user set `name` (given, or a value other than the default): tuning leaves it."""
    return name in cfg.user_set or getattr(cfg, name) != _DEFAULTS[name]


def with_tune_defaults(cfg: FinetuneSettings, train: LabelledImages) -> tuple[FinetuneSettings, str]:
    """The settings a tuned run starts from (the tuned recipe where the user gave nothing), and "";
    or, when these training images cannot be tuned on, the fixed recipe (tune=False) and why."""
    if not cfg.tune:  # an untuned run's views "auto" is the image alone: config.json says so
        return dataclasses.replace(cfg, views=views_used(cfg)), ""
    why_not = _why_not_tuned(cfg, train)
    if why_not:
        fixed = dataclasses.replace(cfg, tune=False, views=views_used(cfg))
        return fixed, f"no tuning: {why_not}; the fixed recipe runs"
    unset = {k: v for k, v in TUNED_RECIPE.items() if not user_kept(cfg, k)}
    return dataclasses.replace(cfg, **unset), ""


def _why_not_tuned(cfg: FinetuneSettings, train: LabelledImages) -> str:
    if cfg.stage_augment(1):
        return "stage 1 augments, and the search runs on cached (unaugmented) features"
    counts = np.bincount(np.asarray(train.labels, np.int64), minlength=len(train.classes))
    if counts.min() < MIN_IMAGES_PER_CLASS:
        smallest = train.classes[int(counts.argmin())]
        needs = MIN_IMAGES_PER_CLASS
        return f"class {smallest!r} has {counts.min()} training images (an inner split needs {needs})"
    return ""


@dataclass(frozen=True)
class Found:
    settings: FinetuneSettings  # the run's settings with the chosen values, tune=False
    record: dict[str, Any]  # the search, for config.json
    summary: str


def view_counts(cfg: FinetuneSettings) -> tuple[int, ...]:
    """The rows per fitted image the search scores: the count the user gave, or each of AUTO_VIEWS (just 1
    when stage 1 runs no epochs: no view passes for a head that never trains)."""
    if cfg.views != "auto":
        return (int(cfg.views),)
    return AUTO_VIEWS if cfg.epochs else (1,)


def search_stage1(
    cfg: FinetuneSettings, splits: dict[int, Split], num_classes: int, class_weight: np.ndarray | None
) -> Found:
    """Try each (lr, weight decay) on the features of each view count (`splits`: rows per fitted image ->
    its split); keep the lowest inner-split loss (values the user set stay fixed). More views win only
    with a strictly better score than fewer."""
    if user_kept(cfg, "epochs") and cfg.epochs == 0:
        record = {"chosen": {}, "scored_on": "nothing: stage 1 runs no epochs", "trials": []}
        settings = dataclasses.replace(cfg, tune=False, views=min(splits))
        return Found(settings, record, "no stage 1 to tune (0 epochs)")
    rates = (cfg.lr,) if user_kept(cfg, "lr") else LEARNING_RATES
    decays = (cfg.weight_decay,) if user_kept(cfg, "weight_decay") else WEIGHT_DECAYS
    grid = [(lr, decay) for lr in rates for decay in decays]
    trials = []
    for views, split in splits.items():
        trials += [
            {**trial, "views": views} for trial in _grid_trials(cfg, split, grid, num_classes, class_weight)
        ]
    best = min(trials, key=lambda t: (t["inner_loss"], -t["inner_accuracy"]))  # the first of equals
    picked = ("lr", "weight_decay", "epochs", "views")
    chosen = dataclasses.replace(cfg, tune=False, **{k: best[k] for k in picked})
    split = splits[best["views"]]
    record = {
        "chosen": {k: best[k] for k in picked},
        "scored_on": "inner split of the training images",
        "fit_images": int(len(split[1]) // best["views"]),
        "inner_images": int(len(split[3])),
        "trials": trials,
    }
    views = f", {best['views']} views of each image" if best["views"] > 1 else ""
    summary = (
        f"tuned stage 1 on {len(split[3])} inner-split images ({len(trials)} trials): "
        f"lr {best['lr']:g}, weight decay {best['weight_decay']:g}, {best['epochs']} epochs{views} (inner "
        f"accuracy {best['inner_accuracy']:.3f})"
    )
    return Found(chosen, record, summary)


def _grid_trials(
    cfg: FinetuneSettings,
    split: Split,
    grid: list[tuple[float, float]],
    num_classes: int,
    class_weight: np.ndarray | None,
) -> list[dict[str, Any]]:
    """Each (lr, weight decay) of `grid` on one split: its best inner loss, accuracy and epoch."""
    if cfg.optimizer == "adam":  # every trial at once, in numpy (zoo.transfer.head_search)
        fixed_epochs = user_kept(cfg, "epochs")
        how = HeadTraining(
            num_classes, cfg.batch_size, cfg.seed, cfg.dropout, cfg.label_smoothing, class_weight,
            max_epochs=cfg.epochs if fixed_epochs else SEARCH_EPOCHS,
            patience=None if fixed_epochs else SEARCH_PATIENCE,
        )  # fmt: skip
        return search_heads(split, grid, how)
    return [_trial(cfg, split, num_classes, class_weight, lr, decay) for lr, decay in grid]


def _trial(
    cfg: FinetuneSettings,
    split: Split,
    num_classes: int,
    class_weight: np.ndarray | None,
    lr: float,
    decay: float,
) -> dict[str, Any]:
    """One (lr, weight decay) with an optimizer other than Adam: a fresh head in the Trainer, trained until
    the inner loss stops improving."""
    import keras

    x_fit, y_fit, x_inner, y_inner = split
    keras.utils.set_random_seed(cfg.seed)
    layers = [keras.Input(x_fit.shape[1:])]
    layers += [keras.layers.Dropout(cfg.dropout)] if cfg.dropout else []
    head = keras.Sequential([*layers, keras.layers.Dense(num_classes)])
    settings = OptimizerSettings(cfg.optimizer, lr, cfg.momentum, cfg.nesterov, decay)
    trainer = make_trainer(
        head,
        make_optimizer(settings),
        num_classes=num_classes,
        label_smoothing=cfg.label_smoothing,
        class_weight=class_weight,
    )
    fixed_epochs = user_kept(cfg, "epochs")  # then the trial scores the end of exactly cfg.epochs
    best = {"inner_loss": math.inf, "inner_accuracy": 0.0, "epochs": 0}
    for epoch in range(1, (cfg.epochs if fixed_epochs else SEARCH_EPOCHS) + 1):
        order = epoch_order(len(y_fit), cfg.seed, 1, epoch)
        trainer.train_epoch(x_fit, y_fit, cfg.batch_size, order)
        stats, _ = trainer.evaluate(x_inner, y_inner, cfg.batch_size)
        if fixed_epochs or stats.loss < best["inner_loss"]:
            best = {"inner_loss": stats.loss, "inner_accuracy": stats.accuracy, "epochs": epoch}
        elif epoch - best["epochs"] >= SEARCH_PATIENCE:
            break
    return {"lr": lr, "weight_decay": decay, **best}
