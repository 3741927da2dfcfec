"""`--tune`: fine-tuning that picks its own stage-1 settings, on the training images only.

The search runs on the cached backbone features (stage 1's input), so each trial costs only a small
head's epochs: every (learning rate, weight decay) of a small grid trains a fresh head on the training
images minus the inner split, watching the inner split's loss each epoch (stopping a trial after
SEARCH_PATIENCE epochs without improvement). The trial with the lowest inner loss wins, and its best
epoch becomes stage 1's epoch count. The user's validation set (--val, or the val split) is never
looked at, so its score stays an honest estimate.

Stage 2 then runs with warm-up and cosine decay, with early stopping on the same inner split
(zoo.transfer.stages). The run writes the chosen settings (tune=False) and the trials into config.json,
so `zoo finetune --config RUN_DIR/config.json` repeats it exactly, without searching again.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.transfer.engines import make_trainer
from zoo.transfer.loop import OptimizerSettings, epoch_order, make_optimizer
from zoo.transfer.settings import FinetuneSettings

# (training features, their labels, inner-split features, their labels)
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

# 6 trials: a trial costs a head's epochs, a few seconds, and the search must stay a fraction of the run
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
WEIGHT_DECAYS = (0.0, 0.1)  # decoupled (Keras' weight_decay): shrinks weights by lr * wd a step
SEARCH_EPOCHS = 30
SEARCH_PATIENCE = 4
# what --tune sets where the user gave nothing
TUNED_DEFAULTS = {"inner_split": 0.2, "early_stopping": 3, "warmup_epochs": 1}


def with_tune_defaults(cfg: FinetuneSettings) -> FinetuneSettings:
    """The settings a --tune run starts from: an inner split, early stopping on it, and stage 2 with one
    warm-up epoch and cosine decay (values the user gave are kept)."""
    if not cfg.tune:
        return cfg
    unset = {k: v for k, v in TUNED_DEFAULTS.items() if not getattr(cfg, k)}
    return dataclasses.replace(cfg, fine_tune_schedule="cosine", **unset)


@dataclass(frozen=True)
class Found:
    settings: FinetuneSettings  # the run's settings with the chosen values, tune=False
    record: dict[str, Any]  # the search, for config.json
    summary: str


def search_stage1(
    cfg: FinetuneSettings, split: Split, num_classes: int, class_weight: np.ndarray | None
) -> Found:
    """Try each (lr, weight decay) on the features; keep the lowest inner-split loss."""
    trials = [
        _trial(cfg, split, num_classes, class_weight, lr, decay)
        for lr in LEARNING_RATES
        for decay in WEIGHT_DECAYS
    ]
    best = min(trials, key=lambda t: (t["inner_loss"], -t["inner_accuracy"]))
    chosen = dataclasses.replace(
        cfg, tune=False, lr=best["lr"], weight_decay=best["weight_decay"], epochs=best["epochs"]
    )
    record = {
        "chosen": {k: best[k] for k in ("lr", "weight_decay", "epochs")},
        "scored_on": "inner split of the training images",
        "fit_images": int(len(split[1])),
        "inner_images": int(len(split[3])),
        "trials": trials,
    }
    summary = (
        f"tuned stage 1 on {len(split[3])} inner-split images ({len(trials)} trials): "
        f"lr {best['lr']:g}, weight decay {best['weight_decay']:g}, {best['epochs']} epochs (inner accuracy "
        f"{best['inner_accuracy']:.3f})"
    )
    return Found(chosen, record, summary)


def _trial(
    cfg: FinetuneSettings,
    split: Split,
    num_classes: int,
    class_weight: np.ndarray | None,
    lr: float,
    decay: float,
) -> dict[str, Any]:
    """One (lr, weight decay): a fresh head, trained until the inner loss stops improving."""
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
    best = {"inner_loss": math.inf, "inner_accuracy": 0.0, "epochs": 0}
    for epoch in range(1, SEARCH_EPOCHS + 1):
        order = epoch_order(len(y_fit), cfg.seed, 1, epoch)
        trainer.train_epoch(x_fit, y_fit, cfg.batch_size, order)
        stats, _ = trainer.evaluate(x_inner, y_inner, cfg.batch_size)
        if stats.loss < best["inner_loss"]:
            best = {"inner_loss": stats.loss, "inner_accuracy": stats.accuracy, "epochs": epoch}
        elif epoch - best["epochs"] >= SEARCH_PATIENCE:
            break
    return {"lr": lr, "weight_decay": decay, **best}
