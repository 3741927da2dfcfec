"""`zoo predict` and `zoo embed`: thin wrappers over zoo.engine's predict and embed (imported inside the
commands, so `zoo --help` never loads TensorFlow).

Paths are checked before any work (a missing one is a usage error, exit 2). A file that exists but cannot
be decoded gets a one-line `Error:` on stderr while the other files are still answered; `zoo predict` then
exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from zoo.choices import ALL, AUTO, EMBEDDING_SUFFIXES, RUNTIME_CHOICES
from zoo.cli.common import print_json, stderr_console, usage_error
from zoo.cli.options import (
    BatchSize,
    OnBadImage,
    Pooling,
    Precision,
    Runtime,
    Top,
    Unsafe,
    image_size_option,
    in_words,
    json_option,
    on_bad_image_option,
    weights_file_option,
)
from zoo.cli.spark_run import DEFAULT_MASTER, Master, Overwrite, UseSpark

app = typer.Typer()

PREDICT_HELP = """Top-k ImageNet classes for images (or a fine-tuned model's own classes with --model).

Examples:

    zoo predict mobilenet_v2 cat.jpg dog.png --top 3

    zoo predict resnet50 photos/ --runtime litert --precision int8 --json

    zoo predict resnet50 photos/ --runtime auto     (the default: the fastest measured here)

    zoo predict --model runs/flowers photo.jpg
"""

EMBED_HELP = """Pooled backbone features, one row per image, written to .npy (+ .paths.json) or .parquet.

Examples:

    zoo embed mobilenet_v2 photos/ --out features.npy

    zoo embed resnet50 a.jpg b.jpg --out features.parquet --pooling max
"""


def _existing(paths: list[str], what: str) -> list[Path]:
    """Every argument must exist (a usage error otherwise), checked before any work."""
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        usage_error(f"no such file or folder: {', '.join(missing)}", what)
    return [Path(p) for p in paths]


def _expand(paths: list[Path]) -> list[Path]:
    from zoo.data.folders import list_images

    files = [f for p in paths for f in list_images(p)]
    if not files:
        usage_error("no image files found in the given folders", "IMAGE")
    return files


@contextmanager
def _image_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (images done / all); nothing is left behind when stderr is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = stderr_console()
    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _check_runtime(runtime: str | None, precision: str | None) -> str:
    """The runtime to use (None: $ZOO_RUNTIME, else auto), checked against the precision."""
    from zoo import config
    from zoo.engine.runtimes import check_choice
    from zoo.errors import RuntimeUnavailable

    runtime = (runtime or config.default_runtime()).lower()
    if runtime == ALL:
        usage_error(
            "all is for zoo evaluate (scores) and zoo benchmark (times); this command runs one runtime: "
            "auto picks the fastest",
            "--runtime",
        )
    if runtime not in RUNTIME_CHOICES:
        usage_error(f"{runtime!r} is not one of {in_words(RUNTIME_CHOICES)}", "--runtime")
    if runtime == AUTO:
        return runtime  # any precision: auto picks the fastest runtime that has it
    try:
        check_choice(runtime, precision or "fp32")
    except RuntimeUnavailable as exc:
        usage_error(f"{exc.message}; {exc.hint}" if exc.hint else exc.message, "--precision")
    return runtime


CALIBRATE_ON_HELP = (
    "Folder of typical images (any layout) that a calibrated int8 precision calibrates on; never the "
    "images you run the model on. Default for --model RUN: the run's training images."
)


def _check_calibration(
    runtime: str, precision: str | None, calibrate_on: Path | None, run_dir: Path | None
) -> None:
    """A calibrated int8 precision needs calibration images: refused before any work without a source.
    With auto they are optional: given, auto's calibrated int8 candidates use them."""
    from zoo.choices import CALIBRATED

    if runtime == AUTO:
        if calibrate_on is not None and not calibrate_on.is_dir():
            usage_error(f"no such folder: {calibrate_on}", "--calibrate-on")
        return
    precision = precision or "fp32"
    if (runtime, precision) not in CALIBRATED:
        if calibrate_on is not None:
            usage_error(f"--calibrate-on applies to a calibrated int8 precision, not {runtime} {precision}")
        return
    from zoo.engine.bundle import is_bundle

    if calibrate_on is None and (run_dir is None or not is_bundle(run_dir)):  # a .keras file has no data
        usage_error(
            f"{runtime} {precision} needs calibration images: pass --calibrate-on DIR (a folder of typical "
            "images, not the ones you run the model on)",
            "--calibrate-on",
        )
    if calibrate_on is not None and not calibrate_on.is_dir():
        usage_error(f"no such folder: {calibrate_on}", "--calibrate-on")


def _print_predictions(predictions, top: int) -> None:
    out = sys.stdout
    for prediction in predictions:
        if not prediction.ok:
            continue
        out.write(f"{prediction.path}\n")
        for rank in prediction.top[:top]:
            out.write(f"  {rank.probability:7.2%}  {rank.label} ({rank.index})\n")


@app.command("predict", help=PREDICT_HELP)
def predict_cmd(
    args: list[str] = typer.Argument(
        ..., metavar="[NAME] IMAGE", help="A registry name (unless --model), then images or folders."
    ),
    model_dir: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="A run directory from `zoo finetune` (or a .keras file) instead of NAME.",
    ),
    top: Top = 5,
    runtime: Runtime = None,
    precision: Precision = None,
    weights: Annotated[
        Path | None,
        weights_file_option("A .h5 / .weights.h5 file instead of the registry's ImageNet weights."),
    ] = None,
    batch_size: BatchSize = 32,
    as_json: Annotated[bool, json_option("Print the predictions as JSON.")] = False,
    unsafe: Unsafe = False,
    calibrate_on: Annotated[Path | None, typer.Option("--calibrate-on", help=CALIBRATE_ON_HELP)] = None,
    spark: UseSpark = False,
    master: Master = DEFAULT_MASTER,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="With --spark: the Parquet folder.")] = None,
    overwrite: Overwrite = False,
) -> None:
    if unsafe and model_dir is None:
        usage_error("--unsafe applies to --model (a run directory or .keras file)", "--unsafe")
    if model_dir is not None:
        if weights is not None:
            usage_error("--weights applies to a registry NAME, not to --model", "--weights")
        if not model_dir.exists():
            usage_error(f"no such run directory: {model_dir}", "--model")
        name, images = None, args
    else:
        name, images = args[0], args[1:]
        if not images:
            usage_error("give at least one IMAGE after the model NAME", "IMAGE")
    if weights is not None and not weights.is_file():
        usage_error(f"no such weights file: {weights}", "--weights")
    runtime = _check_runtime(runtime, precision)
    _check_calibration(runtime, precision, calibrate_on, model_dir)
    if spark:
        from zoo.cli import spark_run

        if weights is not None:
            usage_error("--spark pulls weights through each executor's hub: not with --weights", "--weights")
        target = str(model_dir.resolve()) if model_dir is not None else name
        files = spark_run.check_paths(images, "IMAGE")
        spark_run.run(
            "predict",
            master,
            files,
            target,
            out,
            top=top,
            runtime=runtime,
            precision=precision,
            batch_size=batch_size,
            overwrite=overwrite,
            as_json=as_json,
        )
        return
    if out is not None or overwrite:
        usage_error("--out and --overwrite apply to --spark", "--out")
    files = _expand(_existing(images, "IMAGE"))

    from zoo import predict

    target = model_dir if model_dir is not None else name
    with _image_progress("predict") as progress:
        predictions = predict(
            target,
            files,
            top=top,
            runtime=runtime,
            precision=precision,
            weights=weights if weights is not None else "imagenet",
            batch_size=batch_size,
            progress=progress,
            unsafe=unsafe,
            calibrate_on=calibrate_on,
        )
    if as_json:
        print_json([p.to_dict() for p in predictions])
    else:
        _print_predictions(predictions, top)
    failed = [p for p in predictions if not p.ok]
    for prediction in failed:
        print(f"Error: {prediction.path}: {prediction.error}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(predictions)} images could not be read.", file=sys.stderr)
        raise typer.Exit(1)


@app.command("embed", help=EMBED_HELP)
def embed_cmd(
    name: str = typer.Argument(..., metavar="NAME", help="A registry name or alias."),
    images: list[str] = typer.Argument(..., metavar="IMAGE_OR_DIR", help="Images or folders."),
    out: Path = typer.Option(..., "--out", "-o", help="FILE.npy (+ FILE.paths.json) or FILE.parquet."),
    pooling: Annotated[
        Pooling, typer.Option("--pooling", help="Global pooling of the last feature map.")
    ] = "avg",
    size: Annotated[int | None, image_size_option("--size")] = None,
    weights: Annotated[
        Path | None, weights_file_option("A no-top .h5 / .weights.h5 file instead of the registry's weights.")
    ] = None,
    runtime: Runtime = None,
    precision: Precision = None,
    batch_size: BatchSize = 32,
    on_bad_image: Annotated[
        OnBadImage, on_bad_image_option("skip: report unreadable files and go on; fail: stop at the first.")
    ] = "skip",
    as_json: Annotated[bool, json_option("Print a summary as JSON on stdout.")] = False,
    calibrate_on: Annotated[Path | None, typer.Option("--calibrate-on", help=CALIBRATE_ON_HELP)] = None,
    spark: UseSpark = False,
    master: Master = DEFAULT_MASTER,
    overwrite: Overwrite = False,
) -> None:
    if spark:
        from zoo.cli import spark_run

        if weights is not None:
            usage_error("--spark pulls weights through each executor's hub: not with --weights", "--weights")
        runtime = _check_runtime(runtime, precision)
        files = spark_run.check_paths(images, "IMAGE_OR_DIR")
        spark_run.run(
            "embed",
            master,
            files,
            name,
            out,
            pooling=pooling,
            input_size=size,
            runtime=runtime,
            precision=precision,
            batch_size=batch_size,
            overwrite=overwrite,
            as_json=as_json,
        )
        return
    if out.suffix not in EMBEDDING_SUFFIXES:
        usage_error(f"--out must end in {in_words(EMBEDDING_SUFFIXES)}, got {out.name!r}", "--out")
    if weights is not None and not weights.is_file():
        usage_error(f"no such weights file: {weights}", "--weights")
    runtime = _check_runtime(runtime, precision)
    _check_calibration(runtime, precision, calibrate_on, None)
    files = _expand(_existing(images, "IMAGE_OR_DIR"))

    from zoo import embed
    from zoo.engine import check_embedding_output

    check_embedding_output(out)  # e.g. .parquet without pyarrow: refused before the model loads
    with _image_progress("embed") as progress:
        embeddings = embed(
            name,
            files,
            weights=weights if weights is not None else "imagenet",
            pooling=pooling,
            input_size=size,
            batch_size=batch_size,
            on_bad_image=on_bad_image,
            runtime=runtime,
            precision=precision,
            progress=progress,
            calibrate_on=calibrate_on,
        )
    for path, reason in embeddings.skipped:
        print(f"Skipped: {path}: {reason}", file=sys.stderr)
    rows, dims = embeddings.features.shape
    if rows == 0:  # an empty features file would pass for a result
        from zoo.errors import BadDataset

        raise BadDataset(f"none of the {len(files)} images could be decoded; nothing was written")
    written = embeddings.save(out)
    summary = {
        "model": embeddings.model,
        "images": rows,
        "dimensions": dims,
        "skipped": len(embeddings.skipped),
        "files": [str(p) for p in written],
    }
    if as_json:
        print_json(summary)
    else:
        stderr_console().print(
            f"Wrote {rows} x {dims} features to {', '.join(map(str, written))}"
            + (f" ({len(embeddings.skipped)} files skipped)" if embeddings.skipped else "")
        )
