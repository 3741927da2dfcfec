"""Accuracy versus speed on one chart: each model's published point and its point measured here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def plot_accuracy_vs_speed(frame: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    """Draw top-1 against images/s from a `zoo.table` frame into `path` (PNG, SVG or PDF by suffix).

    Published points (keras.io's speed, published top-1) are hollow squares; measured points (this
    machine's speed, the measured top-1 or else the published one) are filled circles. A grey line joins
    a model's two points. Models with neither speed nor accuracy are left out.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, safe in worker threads and CI
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    drawn = 0
    for row in frame.itertuples(index=False):
        top1_measured = row.top1_measured if _known(row.top1_measured) else row.top1_published
        published = (row.images_per_s_published, row.top1_published)
        measured = (row.images_per_s_measured, top1_measured)
        have_pub, have_meas = all(map(_known, published)), all(map(_known, measured))
        if have_pub and have_meas:
            ax.plot(*zip(published, measured, strict=True), color="0.75", linewidth=0.8, zorder=1)
        if have_pub:
            ax.scatter(*published, marker="s", facecolors="none", edgecolors="tab:blue", zorder=2,
                       label="published (keras.io)")  # fmt: skip
        if have_meas:
            ax.scatter(*measured, marker="o", color="tab:orange", zorder=3, label="measured here")
            ax.annotate(row.model, measured, textcoords="offset points", xytext=(4, 4), fontsize=8)
        elif have_pub:
            ax.annotate(row.model, published, textcoords="offset points", xytext=(4, 4), fontsize=8)
        drawn += have_pub or have_meas
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="best")
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.12)  # room for the labels and the legend
    ax.set_xlabel("images / s on CPU (log scale)")
    ax.set_ylabel("ImageNet top-1")
    ax.set_title(title or f"Accuracy vs speed ({drawn} models)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _known(value: object) -> bool:
    import pandas as pd

    return value is not None and not pd.isna(value)
