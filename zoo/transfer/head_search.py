"""The stage-1 search's trials, all at once in numpy: one linear head per (learning rate, weight decay),
trained in lockstep on the same batches, so the search costs no graph tracing and almost no time.

Each head is stage 1's head (dropout, then a dense layer to logits) trained the way zoo.transfer.loop's
Trainer trains it with Adam: the same batches in the same order (epoch_order), the same per-example loss
(softmax cross-entropy with label smoothing, weighted by class, averaged over the batch), and Keras'
Adam update with decoupled weight decay applied before it. Only the initial weights and the dropout
masks come from another generator, so a trial estimates how well and how long stage 1 trains; stage 1
itself then runs in the Trainer with the winner's settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.transfer.loop import epoch_order
from zoo.transfer.scores import log_softmax, smoothed_targets

# Keras' Adam defaults
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


@dataclass(frozen=True)
class HeadTraining:
    num_classes: int
    batch_size: int
    seed: int
    dropout: float
    label_smoothing: float
    class_weight: np.ndarray | None
    max_epochs: int
    patience: int | None  # None: train exactly max_epochs and score the last


def search_heads(
    split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    settings: Sequence[tuple[float, float]],
    how: HeadTraining,
) -> list[dict[str, Any]]:
    """For each (lr, weight decay): the best inner-split loss, its accuracy and the epoch it came at."""
    x_fit, y_fit, x_inner, y_inner = (np.asarray(a) for a in split)
    x_fit, x_inner = x_fit.astype(np.float32), x_inner.astype(np.float32)
    rates = np.asarray([lr for lr, _ in settings], np.float32)
    decays = np.asarray([wd for _, wd in settings], np.float32)
    rng = np.random.default_rng(how.seed)
    heads = _Heads(len(settings), x_fit.shape[1], how.num_classes, rng)
    example_weight = _class_weights(how, y_fit)
    best = [{"inner_loss": math.inf, "inner_accuracy": 0.0, "epochs": 0} for _ in settings]
    active = np.ones(len(settings), bool)
    for epoch in range(1, how.max_epochs + 1):
        order = epoch_order(len(y_fit), how.seed, 1, epoch)
        for start in range(0, len(order), how.batch_size):
            rows = order[start : start + how.batch_size]
            x = _dropped(x_fit[rows], how.dropout, rng)
            heads.step(x, y_fit[rows], example_weight[rows], how, rates, decays)
        losses, accuracies = heads.evaluate(x_inner, y_inner, how)
        for k in np.flatnonzero(active):
            if how.patience is None or losses[k] < best[k]["inner_loss"]:
                best[k] = {
                    "inner_loss": float(losses[k]),
                    "inner_accuracy": float(accuracies[k]),
                    "epochs": epoch,
                }
            elif epoch - best[k]["epochs"] >= how.patience:
                active[k] = False
        if not active.any():
            break
    return [
        {"lr": float(lr), "weight_decay": float(wd), **b} for (lr, wd), b in zip(settings, best, strict=True)
    ]


class _Heads:
    """K dense heads (kernel K x D x C, bias K x C) with their Adam moments."""

    def __init__(self, k: int, d: int, c: int, rng: np.random.Generator) -> None:
        limit = math.sqrt(6.0 / (d + c))  # glorot uniform, as keras.layers.Dense starts
        self.params = [rng.uniform(-limit, limit, (k, d, c)).astype(np.float32), np.zeros((k, c), np.float32)]
        self.moments = [(np.zeros_like(p), np.zeros_like(p)) for p in self.params]
        self.steps = 0

    def logits(self, x: np.ndarray) -> np.ndarray:
        kernel, bias = self.params
        return np.matmul(x, kernel) + bias[:, None, :]  # (N x D) @ (K x D x C): BLAS, where einsum is not

    def step(
        self, x: np.ndarray, y: np.ndarray, weight: np.ndarray, how: HeadTraining, rates: np.ndarray,
        decays: np.ndarray,
    ) -> None:  # fmt: skip
        probs = _softmax(self.logits(x))
        grad_logits = (probs - _targets(y, how)[None]) * (weight / len(y))[None, :, None]
        grads = [np.matmul(x.T, grad_logits), grad_logits.sum(axis=1)]
        self.steps += 1
        scale = rates * math.sqrt(1 - BETA_2**self.steps) / (1 - BETA_1**self.steps)
        for param, grad, (m, v) in zip(self.params, grads, self.moments, strict=True):
            shape = (-1,) + (1,) * (param.ndim - 1)
            param -= param * (decays * rates).reshape(shape)  # decoupled decay, before the update (Keras)
            m += (1 - BETA_1) * (grad - m)
            v += (1 - BETA_2) * (grad * grad - v)
            param -= scale.reshape(shape) * m / (np.sqrt(v) + EPSILON)

    def evaluate(self, x: np.ndarray, y: np.ndarray, how: HeadTraining) -> tuple[np.ndarray, np.ndarray]:
        """Each head's mean loss (label smoothing, no class weights: as Trainer.evaluate) and accuracy."""
        logits = self.logits(x)
        losses = -(log_softmax(logits) * _targets(y, how)[None]).sum(axis=-1).mean(axis=1)
        accuracies = (logits.argmax(axis=-1) == y[None]).mean(axis=1)
        return losses, accuracies


def _targets(y: np.ndarray, how: HeadTraining) -> np.ndarray:
    return smoothed_targets(y, how.num_classes, how.label_smoothing)


def _class_weights(how: HeadTraining, y: np.ndarray) -> np.ndarray:
    weights = np.ones(how.num_classes, np.float32) if how.class_weight is None else how.class_weight
    return np.asarray(weights, np.float32)[y]


def _dropped(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    if not rate:
        return x
    keep = rng.random(x.shape) >= rate
    return np.where(keep, x / (1.0 - rate), 0.0).astype(np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))
