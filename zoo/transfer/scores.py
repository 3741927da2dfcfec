"""Validation scores from logits: accuracy, loss, per-class precision/recall/F1, the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Over the last axis (classes), for one set of logits or a stack of them."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def smoothed_targets(labels: np.ndarray, num_classes: int, label_smoothing: float) -> np.ndarray:
    """One-hot targets with Keras' label smoothing (1 - s on the class, s / num_classes spread over all)."""
    targets = np.eye(num_classes, dtype=np.float32)[labels]
    return targets * (1.0 - label_smoothing) + label_smoothing / num_classes


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def classification_scores(
    labels: Sequence[int], logits: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Everything metrics.json holds about a validation set (plain JSON types)."""
    labels = np.asarray(labels, dtype=np.int64)
    logits = np.asarray(logits, dtype=np.float64)
    if len(labels) == 0:
        return {"val_count": 0, "val_accuracy": None, "val_loss": None, "per_class": {}, "confusion": []}
    predicted = logits.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, len(classes))
    true_positive = np.diag(matrix).astype(np.float64)
    predicted_count = matrix.sum(axis=0)
    actual_count = matrix.sum(axis=1)
    precision = np.divide(
        true_positive, predicted_count, out=np.zeros_like(true_positive), where=predicted_count > 0
    )
    recall = np.divide(true_positive, actual_count, out=np.zeros_like(true_positive), where=actual_count > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    loss = float(-log_softmax(logits)[np.arange(len(labels)), labels].mean())
    return {
        "val_count": int(len(labels)),
        "val_accuracy": float((predicted == labels).mean()),
        "val_loss": loss,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(actual_count[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion": matrix.tolist(),
    }
