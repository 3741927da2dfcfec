"""What a selection concludes from its rows: the accuracy/speed Pareto front, the recommendation (or why
there is none), and the accuracy vs ms/image plot. Rows are plain dicts (see zoo.selection.run)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.selection.candidates import Constraints

Row = dict[str, Any]


def scored(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.get("cv_accuracy") is not None and r.get("ms_per_image") is not None]


def mark_pareto(rows: Sequence[Row]) -> None:
    """Set row["pareto"]: no other scored row is at least as accurate and as fast, and better in one."""
    points = scored(rows)
    for row in rows:
        row["pareto"] = row in points and not any(
            other["cv_accuracy"] >= row["cv_accuracy"]
            and other["ms_per_image"] <= row["ms_per_image"]
            and (other["cv_accuracy"] > row["cv_accuracy"] or other["ms_per_image"] < row["ms_per_image"])
            for other in points
        )


def describe(row: Row, folds: int) -> str:
    timed = f"{row['timed']}; " if row.get("timed") else ""  # what ran: "backbone + pooling, fp32"
    return (
        f"{row['model']} at {row['image_size']} px: {row['cv_accuracy']:.1%} ± {row['cv_std']:.1%} "
        f"({folds}-fold CV), {row['ms_per_image']:.2f} ms/image ({timed}{row['runtime']}, "
        f"batch {row['batch_size']})"
    )


def recommend(rows: Sequence[Row], constraints: Constraints, folds: int) -> tuple[Row | None, str]:
    """(the most accurate row that meets the constraints, faster first on a tie; the one-line verdict)."""
    eligible = [r for r in scored(rows) if constraints.meets(r["ms_per_image"])]
    for row in rows:
        row["recommended"] = False
    if eligible:
        best = max(eligible, key=lambda r: (r["cv_accuracy"], -r["ms_per_image"]))
        best["recommended"] = True
        limit = constraints.max_ms_per_image
        within = f"; meets --max-ms-per-image {limit:g}" if limit is not None else ""
        return best, f"recommended: {describe(best, folds)}{within}"
    timed = [r for r in rows if r.get("ms_per_image") is not None]
    if constraints.max_ms_per_image is not None and timed:
        fastest = min(timed, key=lambda r: r["ms_per_image"])
        return None, (
            f"nothing meets --max-ms-per-image {constraints.max_ms_per_image:g}; fastest was "
            f"{fastest['model']} at {fastest['image_size']} px at {fastest['ms_per_image']:.1f} ms"
        )
    return None, "no candidate could be scored (the status column says why for each)"


def plot_selection(rows: Sequence[Row], path: str | Path, constraints: Constraints, folds: int) -> Path:
    """CV accuracy (with its spread) against ms/image; the Pareto front joined, the winner starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    points = scored(rows)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for row in points:
        style = {"color": "tab:orange" if row["pareto"] else "tab:blue", "zorder": 3}
        ax.errorbar(row["ms_per_image"], row["cv_accuracy"], yerr=row["cv_std"], fmt="o", capsize=3, **style)
        label = f"{row['model']}@{row['image_size']}"
        ax.annotate(label, (row["ms_per_image"], row["cv_accuracy"]), textcoords="offset points",
                    xytext=(5, 5), fontsize=8)  # fmt: skip
    front = sorted((r for r in points if r["pareto"]), key=lambda r: r["ms_per_image"])
    if front:
        ax.plot([r["ms_per_image"] for r in front], [r["cv_accuracy"] for r in front],
                color="tab:orange", linewidth=1, label="Pareto front")  # fmt: skip
    for row in points:
        if row.get("recommended"):
            ax.scatter(row["ms_per_image"], row["cv_accuracy"], marker="*", s=250, color="gold",
                       edgecolors="black", zorder=4, label="recommended")  # fmt: skip
    if constraints.max_ms_per_image is not None:
        ax.axvline(constraints.max_ms_per_image, color="tab:red", linestyle="--", label="--max-ms-per-image")
    ax.set_xlabel(
        "ms / image on this machine (backbone + pooling; "
        f"{constraints.runtime}, batch {constraints.batch_size})"
    )
    ax.set_ylabel(f"linear-head accuracy ({folds}-fold CV on your images)")
    ax.set_title(f"Backbones on your images ({len(points)} scored)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    ax.margins(x=0.2, y=0.15)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
