"""`zoo demo`: the main job end to end, offline (see zoo/_demo.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from zoo.cli.common import print_json

app = typer.Typer()


@app.command("demo")
def demo(
    out: Path = typer.Option(
        Path("zoo-demo"), "--out", "-o", file_okay=False, help="Folder for the dataset and the run directory."
    ),
    model: str = typer.Option(
        "mobilenet_v1_025_224",
        "--model",
        help="Registry model. The default's weights ship with zoo; others are pulled (network needed).",
    ),
    image_size: int = typer.Option(128, "--image-size", min=32, max=512, help="Training image size."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Stage-1 (frozen backbone) epochs."),
    fine_tune_epochs: int = typer.Option(5, "--fine-tune-epochs", min=0, help="Stage-2 epochs."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Render a dataset, pull verified weights through a loopback mirror, fine-tune, evaluate, benchmark.

    Runs offline in a few minutes on 2 CPU cores and leaves a run directory with its plots.

    Example: zoo demo --out /tmp/zoo-demo
    """
    from zoo._demo import print_summary, run_demo

    result = run_demo(
        out=out, model=model, image_size=image_size, epochs=epochs, fine_tune_epochs=fine_tune_epochs
    )
    if as_json:
        print_json(
            {
                "run_dir": result.run_dir,
                "weights": result.weights,
                "val_accuracy": result.val_accuracy,
                "rows": result.rows,
                "seconds": round(result.seconds, 1),
            }
        )
    else:
        print_summary(result)
