"""The run directory's pictures: history.png (both stages) and confusion.png. Matplotlib, Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Accuracy and loss per epoch, train vs val; a dashed line marks where stage 2 starts."""
    plt = _pyplot()
    epochs = list(range(1, len(history) + 1))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
        axis.plot(epochs, [row[metric] for row in history], marker="o", label=f"train {metric}")
        axis.plot(epochs, [row[f"val_{metric}"] for row in history], marker="o", label=f"val {metric}")
        stage2 = next((i for i, row in enumerate(history, start=1) if row["stage"] == 2), None)
        if stage2 is not None:
            axis.axvline(stage2 - 0.5, color="grey", linestyle="--", label="fine-tuning starts")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: Path) -> Path:
    """The validation confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    plt = _pyplot()
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(classes) <= 30:
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                axis.text(j, i, str(count), ha="center", va="center")
    fig.colorbar(image, ax=axis)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
