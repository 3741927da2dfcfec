"""`zoo benchmark`, `zoo evaluate`, `zoo table`, `zoo select`: thin wrappers over zoo.bench and
zoo.selection (imported inside commands, so `zoo --help` never loads TensorFlow or pandas)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoo.choices import ALL, AUTO, BACKENDS, PRECISIONS, RUNTIMES, TABLE_SOURCES
from zoo.cli.common import print_json, stderr_console, stdout_console, usage_error
from zoo.cli.options import (
    PATTERN_HELP,
    BatchSize,
    EvalPrecision,
    EvalRuntime,
    Family,
    JsonOut,
    MaxParams,
    OnBadImage,
    PrecisionList,
    Runtime,
    RuntimeList,
    TableFormat,
    TableSource,
    Tag,
    Unsafe,
    WeightChoice,
    image_size_option,
    in_words,
    json_option,
    on_bad_image_option,
)
from zoo.cli.spark_run import DEFAULT_MASTER, Master, Overwrite, UseSpark
from zoo.errors import InvalidSetting, ZooError

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer()

# Columns the terminal shows for a benchmark (--json and --out carry every column).
BENCH_VIEW = {
    "model": "model", "backend": "back-end", "runtime": "runtime", "precision": "prec", "variant": "variant",
    "precision_ran": "ran", "auto_choice": "auto chose", "batch_size": "batch", "status": "status",
    "images_per_s": "img/s", "latency_p50_ms": "p50 ms", "latency_p90_ms": "p90 ms",
    "latency_p99_ms": "p99 ms", "peak_rss_mb": "RSS MB", "params": "params", "gmacs": "GMACs",
    "achieved_gflops": "GFLOP/s", "peak_share": "of peak", "peak_precision": "vs",
}  # fmt: skip
EVAL_ALL_VIEW = {
    "runtime": "runtime", "precision": "prec", "top1": "top-1", "top5": "top-5", "agreement": "agree",
    "delta_top1": "Δtop-1", "delta_top5": "Δtop-5", "images": "images", "status": "status",
}  # fmt: skip
TABLE_VIEW = {
    "model": "model", "top1_published": "top-1 pub", "top1_measured": "top-1 here",
    "top5_published": "top-5 pub", "top5_measured": "top-5 here", "ms_per_step_published": "ms/step pub",
    "ms_per_step_measured": "ms/step here", "images_per_s_measured": "img/s here",
    "published_source": "pub source",
}  # fmt: skip


def _choices(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    values = [v.strip().lower() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        usage_error(f"{', '.join(bad) or 'nothing'} is not one of {', '.join(allowed)}", option)
    return values


def _positive_ints(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        usage_error(f"expected comma-separated positive integers, got {text!r}", option)
    if not values or min(values) < 1:
        usage_error(f"expected comma-separated positive integers, got {text!r}", option)
    return values


def _show(frame: pd.DataFrame, view: dict[str, str], title: str) -> None:
    """A rich table of the `view` columns on stdout (not wrapped to 80 columns when piped)."""
    from zoo.render import TextTable, rich_table

    shown = [c for c in view if c in frame.columns]
    table = TextTable(
        [view[c] for c in shown],
        [
            [_view_cell(c, v) for c, v in zip(shown, row, strict=True)]
            for row in frame[shown].itertuples(index=False)
        ],
        [frame[c].dtype.kind in "iuf" for c in shown],
        title=title,
    )
    stdout_console().print(rich_table(table, "grid"))


def _view_cell(column: str, value: object) -> str:
    from zoo.bench.tables import cell

    if isinstance(value, float) and value == value:  # not NaN
        if column == "peak_share":
            return f"{value:.0%}"
        if column.startswith("delta_"):
            return f"{value * 100:+.1f}"
        if column == "agreement":
            return f"{value:.0%}"
        if column.startswith(("images_per_s", "latency", "peak_rss", "ms_per_step", "achieved")):
            return f"{value:,.1f}"
    if column == "params" and isinstance(value, int | float) and value == value:
        return f"{value / 1e6:.2f}M"
    return cell(value)


@app.command("benchmark")
def benchmark_cmd(
    models: list[str] = typer.Argument(..., help="Registry names, .keras files or run directories."),
    batch_size: str = typer.Option("1,8,32", "--batch-size", "-b", help="Comma-separated batch sizes."),
    image_size: Annotated[int | None, image_size_option("--image-size")] = None,
    runtime: RuntimeList = "keras",
    precision: PrecisionList = None,
    warmup: int = typer.Option(3, "--warmup", min=0, help="Untimed calls before timing."),
    iters: int = typer.Option(20, "--iters", min=1, help="Timed calls per row."),
    weights: Annotated[
        WeightChoice,
        typer.Option("--weights", help="Random weights are as fast as real ones and need no download."),
    ] = "none",
    out: Path | None = typer.Option(None, "--out", help="Also write the rows to FILE.csv or FILE.json."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=1, help="Kill a model's worker after this many seconds (reported)."
    ),
    as_json: Annotated[bool, json_option("Print every column as JSON.")] = False,
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="Comma-separated Keras back-ends (tensorflow, jax, torch), one process each, in one table "
        "(default: the active one).",
    ),
) -> None:
    """Measure images/s, latency p50/p90/p99, peak RSS, GMACs and the share of this machine's peak.

    Each model runs in its own process (one per back-end); every timing waits for the result on the host.
    The share of peak is against this machine's peak (the fastest matmul or convolution measured) in the
    precision that really ran (column `vs`).

    Example: zoo benchmark mobilenet_v2 resnet50 --batch-size 1,32 --runtime keras,litert

    Example: zoo benchmark resnet50 --batch-size 32 --runtime all,auto

    Example: zoo benchmark mobilenet_v2 --backend tensorflow,jax,torch
    """
    batches = _positive_ints(batch_size, "--batch-size")
    runtimes = _choices(runtime, (*RUNTIMES, ALL, AUTO), "--runtime")
    precisions = None if precision is None else _choices(precision, PRECISIONS, "--precision")
    backends = _choices(backend, BACKENDS, "--backend") if backend is not None else None
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        usage_error(f"must end in .csv or .json, got {out}", "--out")
    from zoo.bench import benchmark

    console = stderr_console()
    frame = benchmark(
        models, batch_sizes=batches, image_size=image_size, runtimes=runtimes, precisions=precisions,
        warmup=warmup, iters=iters, weights=weights, out=out, timeout_s=timeout, backends=backends,
        on_model=lambda name: console.print(f"benchmarking {name} ..."),
    )  # fmt: skip
    if as_json:
        print_json(_json_rows(frame))
    else:
        _show(frame, BENCH_VIEW, "benchmark")
    if out is not None:
        console.print(f"wrote {out}")
    if len(frame) and (frame["status"] != "ok").all():  # some unsupported rows are normal; none ok is not
        raise ZooError(
            f"none of the {len(frame)} benchmark rows ran",
            hint="the status column says why for each row (e.g. a model file that cannot be loaded)",
        )


@app.command("evaluate")
def evaluate_cmd(
    model: str = typer.Argument(..., help="A registry name, a .keras file or a run directory."),
    data_dir: Path = typer.Argument(
        ..., exists=True, help="Class folders (root/<class>/*.jpg; ImageNet val: root/<wnid>/*) or a CSV."
    ),
    runtime: EvalRuntime = None,
    precision: EvalPrecision = None,
    batch_size: BatchSize = 32,
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate N images, spread over classes."),
    on_bad_image: Annotated[
        OnBadImage, on_bad_image_option("skip: count and report undecodable images; fail: stop.")
    ] = "skip",
    as_json: Annotated[bool, json_option("Print the result as JSON.")] = False,
    unsafe: Unsafe = False,
    calibrate_on: Path | None = typer.Option(
        None,
        "--calibrate-on",
        exists=True,
        file_okay=False,
        help="Labelled folder int8 calibrates on (default: a run directory's training images; never the "
        "images scored).",
    ),  # fmt: skip
    spark: UseSpark = False,
    master: Master = DEFAULT_MASTER,
    out: Path | None = typer.Option(None, "--out", "-o", help="With --spark: the Parquet folder of rows."),
    overwrite: Overwrite = False,
) -> None:
    """Top-1 and top-5 accuracy on a labelled folder; the result goes to the results store.

    With --runtime all: one row per runtime x precision, with the share of images whose top-1 equals
    fp32 keras' (agreement) and the top-1/top-5 deltas against fp32 keras.

    Example: zoo evaluate runs/flowers data/flowers-val --runtime all

    On Spark (one row per image in --out, nothing in the results store):
    zoo evaluate runs/flowers data/flowers-val --out eval.parquet --spark
    """
    runtime = _default_runtime(runtime)
    if spark:
        from zoo.cli import spark_run

        if runtime == ALL:
            usage_error("--runtime all compares runtimes on one machine: not with --spark", "--runtime")
        target = str(Path(model).resolve()) if Path(model).exists() else model
        spark_run.run(
            "evaluate",
            master,
            [str(data_dir.resolve())],
            target,
            out,
            runtime=runtime,
            precision=precision,
            batch_size=batch_size,
            overwrite=overwrite,
            as_json=as_json,
        )
        return
    from rich.progress import Progress

    from zoo.bench import evaluate

    with Progress(console=stderr_console(), transient=True) as bar:
        task = bar.add_task("evaluating", total=None)
        frame = evaluate(
            model, data_dir, runtime=runtime, precision=precision, batch_size=batch_size, limit=limit,
            on_bad_image=on_bad_image, unsafe=unsafe, calibrate_on=calibrate_on,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    if as_json:
        rows = _json_rows(frame)
        print_json(rows if runtime == "all" else rows[0])
        return
    if runtime == "all":
        _show(frame, EVAL_ALL_VIEW, f"evaluation on {data_dir} against fp32 keras")
        stderr_console().print(f"calibration: {frame['calibration'].iloc[0]}", highlight=False)
        return
    columns = ("model", "runtime", "precision", "precision_ran", "auto_choice", "top1", "top5", "images")
    view = {c: c for c in (*columns, "skipped")}
    _show(frame, view, f"evaluation on {data_dir}")


@app.command("table")
def table_cmd(
    patterns: list[str] | None = typer.Argument(None, help="Glob patterns on names (default: all)."),
    source: Annotated[
        TableSource | None,
        typer.Option(
            "--source",
            help=f"Whose published figures: {in_words(TABLE_SOURCES)}. Default: each model's own (keras.io "
            "for keras.applications, timm's results for the timm catalogue).",
        ),
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", "-f")] = "table",
    as_json: Annotated[bool, json_option("Same as --format json.")] = False,
    plot: Path | None = typer.Option(None, "--plot", help="Also draw accuracy vs images/s into FILE.png."),
) -> None:
    """Published figures and the ones measured on this machine, side by side.

    Example: zoo table 'resnet*' mobilenet_v2 --format md --plot speed.png
    """
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        usage_error(f"must end in .png, .svg or .pdf, got {plot}", "--plot")
    from zoo.bench import table
    from zoo.bench.tables import render

    frame = table(patterns or None, source=source)
    if as_json:
        fmt = "json"
    if fmt == "table":
        whose = source or "each model's own source"
        _show(frame, TABLE_VIEW, f"published ({whose}) vs measured here")
    else:
        typer.echo(render(frame, fmt), nl=False)
    if plot is not None:
        from zoo.bench.plots import plot_accuracy_vs_speed

        plot_accuracy_vs_speed(frame, plot)
        stderr_console().print(f"wrote {plot}")


def _default_runtime(runtime: str | None) -> str:
    from zoo import config

    chosen = runtime or config.default_runtime()
    if chosen not in (*RUNTIMES, ALL, AUTO):
        usage_error(f"ZOO_RUNTIME={chosen!r} is not one of {', '.join((*RUNTIMES, ALL, AUTO))}", "--runtime")
    return chosen


def _json_rows(frame: pd.DataFrame) -> list[dict]:
    from zoo.bench.tables import json_records

    return json_records(frame)


SELECT_VIEW = {
    "model": "model", "image_size": "px", "accuracy": "CV accuracy", "ms": "ms/image",
    "front": "front", "timing": "timing", "status": "status", "reason": "why",
}  # fmt: skip


@app.command("select")
def select_cmd(
    data: Path = typer.Argument(
        ..., exists=True, metavar="DATA", help="Training images: class folders (root/<class>/*) or a CSV."
    ),
    patterns: list[str] | None = typer.Argument(None, metavar="PATTERN", help=PATTERN_HELP),
    family: Family = None,
    tag: Tag = None,
    max_params: MaxParams = None,
    source: str | None = typer.Option(
        None, "--source", metavar="SOURCE", help="Only models with published figures from SOURCE."
    ),
    image_size: str | None = typer.Option(
        None, "--image-size", help="Comma-separated input sizes to try each model at (default: its own)."
    ),
    max_ms_per_image: float | None = typer.Option(
        None, "--max-ms-per-image", help="Latency budget per image on this machine."
    ),
    batch_size: BatchSize = 1,
    runtime: Runtime = "keras",
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds on DATA."),
    weights: Annotated[
        WeightChoice, typer.Option("--weights", help="imagenet, or none (random init: a baseline).")
    ] = "imagenet",
    time_budget: str | None = typer.Option(
        None, "--time-budget", help="Stop starting candidates after this long, e.g. 90s, 10m, 1h."
    ),
    fresh: bool = typer.Option(False, "--fresh", help="Score every candidate again (ignore stored scores)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the cross-validation folds."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw accuracy vs ms/image into FILE.png."),
    then_finetune: bool = typer.Option(
        False, "--then-finetune", help="Run `zoo finetune` (default recipe) on the recommended backbone."
    ),
    as_json: JsonOut = False,
) -> None:
    """Which backbone for these photos and this latency budget, measured on this machine.

    Each candidate (the `zoo list` filters, at each --image-size) is timed here, then scored by the
    k-fold cross-validated accuracy of a linear head on its cached features. The table is sorted by
    score; "front" marks the accuracy/speed Pareto front. Scores are stored: a re-run (after Ctrl-C or
    --time-budget) skips the candidates already scored.

    Example: zoo select photos/train 'mobilenet*' --image-size 128,224 --max-ms-per-image 5 --plot sel.png
    """
    sizes = _positive_ints(image_size, "--image-size") if image_size else None
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        usage_error(f"must end in .png, .svg or .pdf, got {plot}", "--plot")
    if max_ms_per_image is not None and max_ms_per_image <= 0:
        usage_error(f"must be positive, got {max_ms_per_image:g}", "--max-ms-per-image")
    from zoo.selection.candidates import parse_duration

    try:
        parse_duration(time_budget)
    except InvalidSetting as exc:
        usage_error(exc.message, "--time-budget")
    frame = _run_selection(
        data, patterns or (), family=family, tag=tag, max_params=max_params, source=source,
        image_sizes=sizes, weights=weights, folds=folds, seed=seed, max_ms_per_image=max_ms_per_image,
        batch_size=batch_size, runtime=runtime, time_budget=time_budget, fresh=fresh, plot=plot,
    )  # fmt: skip
    _report_selection(frame, as_json, plot)
    winner = frame.attrs["recommended"]
    if winner is None:
        raise ZooError(frame.attrs["verdict"], hint="the status column says why for each candidate")
    if then_finetune:
        from zoo.transfer import finetune

        stderr_console().print(f"fine-tuning {winner['model']} at {winner['image_size']} px ...")
        done = finetune(winner["model"], data, image_size=int(winner["image_size"]), weights=weights)
        stderr_console().print(f"fine-tuned: val accuracy {done.val_accuracy:.4f} -> {done.run_dir}")


def _run_selection(data: Path, patterns: Sequence[str], **options: Any) -> pd.DataFrame:
    """zoo.select with a progress bar on stderr; data and option problems are usage errors (exit 2)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from zoo.selection import select

    console = stderr_console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("selecting", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label or "done")

        try:
            return select(data, patterns, progress=progress, log=bar.console.print, **options)
        except InvalidSetting as exc:
            usage_error(f"{exc.message}{f' ({exc.hint})' if exc.hint else ''}")


def _report_selection(frame: pd.DataFrame, as_json: bool, plot: Path | None) -> None:
    if as_json:
        winner = frame.attrs["recommended"]
        recommended = None if winner is None else {k: winner[k] for k in ("model", "image_size")}
        print_json({"verdict": frame.attrs["verdict"], "recommended": recommended, "rows": _json_rows(frame)})
    else:
        pairs = zip(frame["cv_accuracy"], frame["cv_std"], strict=True)
        shown = frame.assign(
            accuracy=[f"{mean:.1%} ± {spread:.1%}" if mean == mean else "" for mean, spread in pairs],
            front=["◆" if on_front is True else "" for on_front in frame["pareto"]],
            ms=[f"{ms:.2f}" if ms == ms else "" for ms in frame["ms_per_image"]],
        )
        _show(shown, SELECT_VIEW, f"backbones on {frame.attrs['data']} ({frame.attrs['folds']}-fold CV)")
    console = stderr_console()
    console.print(frame.attrs["verdict"], highlight=False, soft_wrap=True)
    if plot is not None:
        console.print(f"wrote {plot}")
