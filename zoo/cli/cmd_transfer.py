"""`zoo finetune`, `zoo register`, `zoo export`: thin wrappers over zoo.transfer and zoo.engine.

Every option is checked (exit 2) before data is scanned or TensorFlow is imported. `zoo finetune`'s
defaults are FinetuneSettings's, and its settings are put together by zoo.transfer.settings, as
`zoo.finetune`'s are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from zoo.choices import (
    CALIBRATED_EXPORTS,
    CLASS_WEIGHTS,
    EXPORT_FORMATS,
    ON_BAD_IMAGE,
    OPTIMIZERS,
    SCHEDULES,
    STRATEGIES,
    TRAIN_PRECISIONS,
    WEIGHT_CHOICES,
)
from zoo.cli.common import option_flags, print_json, usage_error
from zoo.cli.spark_run import DEFAULT_MASTER, Master, UseSpark
from zoo.errors import InvalidSetting, RunDirError, ZooError
from zoo.transfer.distribute import DEFAULT_PEER_TIMEOUT, resolve_cluster
from zoo.transfer.settings import FinetuneSettings, merge_settings, parse_augment, resume_settings_file

app = typer.Typer()


def _choices(name: str, values: Iterable[str]) -> type[StrEnum]:
    """A StrEnum of `values` (Typer lists an Enum's values as the option's choices)."""
    return StrEnum(name, {value: value for value in values})  # type: ignore[return-value]


Optimizer = _choices("Optimizer", OPTIMIZERS)
Precision = _choices("Precision", TRAIN_PRECISIONS)
ClassWeight = _choices("ClassWeight", CLASS_WEIGHTS)
OnBadImage = _choices("OnBadImage", ON_BAD_IMAGE)
Strategy = _choices("Strategy", STRATEGIES)
Schedule = _choices("Schedule", SCHEDULES)
ExportFormat = _choices("ExportFormat", EXPORT_FORMATS)

# FinetuneSettings's fields that `zoo finetune` sets with an option of the same name
_SETTINGS = tuple(
    f.name for f in dataclasses.fields(FinetuneSettings) if f.name not in ("model", "data", "user_set")
)


def _given_settings(ctx: typer.Context) -> dict[str, Any]:
    """The FinetuneSettings fields typed on the command line (the others keep their defaults, or the values
    of --config)."""
    out = {}
    for name in _SETTINGS:
        source = ctx.get_parameter_source(name)
        if getattr(source, "name", None) != "COMMANDLINE":  # Typer may vendor its own click
            continue
        value = ctx.params[name]
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, Path):
            value = str(value)
        if name == "augment" and value is not None:
            value = parse_augment(value)
        if name == "unfreeze":
            value = value if value == "all" else _int_or_usage(value, "--unfreeze")
        out[name] = value
    return out


def _option_names(ctx: typer.Context) -> Callable[[str], str]:
    """Spells a setting as this command's option (`batch_size` -> `--batch-size`) in library messages."""
    options = option_flags(ctx.command)
    return lambda name: options.get(name, name)


def _int_or_usage(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        usage_error(f"expected a number of layers or 'all', got {text!r}", option)


def _checked_settings(ctx: typer.Context) -> FinetuneSettings:
    """The run's settings, from --config (or the run to resume) and the options; exit 2 on any problem."""
    model, data, config, out, resume = (ctx.params[k] for k in ("model", "data", "config", "out", "resume"))
    weights, workers, worker_index = (ctx.params[k] for k in ("weights", "workers", "worker_index"))
    if resume and out is None:
        usage_error("--resume needs --out RUN_DIR (the run to continue)", "--resume")
    if config is None:
        try:
            config = resume_settings_file(out, resume=resume, model=model, data=data)
        except RunDirError as exc:
            usage_error(exc.message, "--out")
    if config is None and (model is None or data is None):
        usage_error("give NAME and DATA_DIR (or --config RUN_DIR/config.json)")
    if weights not in WEIGHT_CHOICES and not Path(weights).expanduser().is_file():
        usage_error(f"{weights!r} is neither imagenet, none, nor an existing weights file", "--weights")
    try:
        cfg = merge_settings(model, data, config=config, settings=_given_settings(ctx))
    except ZooError as exc:
        usage_error(exc.message, "--config")
    option_name = _option_names(ctx)
    problems = cfg.problems(option_name)
    if problems:
        usage_error("; ".join(problems))
    try:
        resolve_cluster(cfg.strategy, workers, worker_index, name=option_name)
    except InvalidSetting as exc:
        usage_error(str(exc), "--workers" if workers is not None else "--strategy")
    return cfg


@app.command("finetune")
def finetune_command(
    ctx: typer.Context,
    model: str | None = typer.Argument(None, metavar="NAME", help="Registered model to start from."),
    data: Path | None = typer.Argument(
        None, exists=True, metavar="DATA_DIR", help="Class folders (root/<class>/<image>) or a CSV."
    ),
    config: Path | None = typer.Option(
        None, "--config", exists=True, dir_okay=False, help="Repeat a run: its RUN_DIR/config.json."
    ),
    weights: str = typer.Option(
        FinetuneSettings.weights, "--weights", help="imagenet, none, or a .h5 weights file."
    ),
    val: Path | None = typer.Option(
        FinetuneSettings.val, "--val", exists=True, help="Validation folder or CSV."
    ),
    val_split: float = typer.Option(
        FinetuneSettings.val_split, "--val-split", help="Share held out when --val is not given."
    ),
    epochs: int = typer.Option(
        FinetuneSettings.epochs, "--epochs", help="Stage 1 epochs (head only, frozen backbone)."
    ),
    fine_tune_epochs: int = typer.Option(
        FinetuneSettings.fine_tune_epochs, "--fine-tune-epochs", help="Stage 2 epochs (top unfrozen)."
    ),
    unfreeze: str = typer.Option(
        str(FinetuneSettings.unfreeze), "--unfreeze", help="Stage 2: last N weighted layers, or 'all'."
    ),
    lr: float = typer.Option(FinetuneSettings.lr, "--lr", help="Stage 1 learning rate."),
    fine_tune_lr: float = typer.Option(
        FinetuneSettings.fine_tune_lr, "--fine-tune-lr", help="Stage 2 learning rate."
    ),
    optimizer: Optimizer = typer.Option(
        Optimizer(FinetuneSettings.optimizer), "--optimizer", help="Optimizer (both stages)."
    ),
    momentum: float = typer.Option(FinetuneSettings.momentum, "--momentum", help="Momentum (sgd, rmsprop)."),
    nesterov: bool = typer.Option(FinetuneSettings.nesterov, "--nesterov", help="Nesterov momentum (sgd)."),
    weight_decay: float = typer.Option(
        FinetuneSettings.weight_decay, "--weight-decay", help="Decoupled weight decay."
    ),
    batch_size: int = typer.Option(
        FinetuneSettings.batch_size, "--batch-size", help="Global batch size (split across replicas)."
    ),
    image_size: int | None = typer.Option(
        FinetuneSettings.image_size, "--image-size", help="Input size (default: the model's)."
    ),
    augment: str | None = typer.Option(
        FinetuneSettings.augment,
        "--augment",
        help="flip,rotate,zoom,contrast or none (default: none, then flip in stage 2).",
    ),
    dropout: float = typer.Option(FinetuneSettings.dropout, "--dropout", help="Dropout before the new head."),
    label_smoothing: float = typer.Option(
        FinetuneSettings.label_smoothing, "--label-smoothing", help="Label smoothing."
    ),
    class_weight: ClassWeight = typer.Option(
        ClassWeight(FinetuneSettings.class_weight), "--class-weight", help="auto: balance class frequencies."
    ),
    precision: Precision = typer.Option(
        Precision(FinetuneSettings.precision), "--precision", help="fp32 or bf16 (mixed)."
    ),
    on_bad_image: OnBadImage = typer.Option(
        OnBadImage(FinetuneSettings.on_bad_image),
        "--on-bad-image",
        help="skip (listed in skipped.txt) or fail.",
    ),
    seed: int = typer.Option(
        FinetuneSettings.seed, "--seed", help="Seed of the split, the data order and the head."
    ),
    out: Path | None = typer.Option(
        FinetuneSettings.out, "--out", "-o", help="Run directory (default: runs/NAME-TIME)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last epoch."),
    early_stopping: int | None = typer.Option(
        FinetuneSettings.early_stopping, "--early-stopping", help="Patience (epochs, val loss)."
    ),
    tensorboard: bool = typer.Option(
        FinetuneSettings.tensorboard, "--tensorboard/--no-tensorboard", help="TensorBoard logs."
    ),
    strategy: Strategy = typer.Option(
        Strategy(FinetuneSettings.strategy),
        "--strategy",
        help="auto (several GPUs: mirrored; on JAX several devices: data parallel), default, mirrored, "
        "multi-worker (TensorFlow only).",
    ),
    tune: bool = typer.Option(
        FinetuneSettings.tune,
        "--tune/--no-tune",
        help="On by default: pick stage 1's lr, weight decay and epochs on an inner split of the training "
        "images, then stage 2 with the whole backbone unfrozen, warm-up, cosine decay and early stopping on "
        "that split (options you give are kept). --no-tune: the fixed recipe.",
    ),
    inner_split: float | None = typer.Option(
        FinetuneSettings.inner_split,
        "--inner-split",
        help="Share of the training images early stopping watches instead of val (tuned runs: 0.2).",
    ),
    fine_tune_schedule: Schedule = typer.Option(
        Schedule(FinetuneSettings.fine_tune_schedule), "--fine-tune-schedule", help="Stage 2's learning rate."
    ),
    warmup_epochs: int = typer.Option(
        FinetuneSettings.warmup_epochs, "--warmup-epochs", help="Stage 2: warm-up epochs (cosine schedule)."
    ),
    views: str = typer.Option(
        str(FinetuneSettings.views),
        "--views",
        help="Stage 1's rows per training image: 1, 2 (+ its flip) or 3 (+ a centre crop); auto: tuning "
        "keeps the count that scores best on the inner split (--no-tune: 1).",
    ),
    workers: str | None = typer.Option(
        None, "--workers", help="multi-worker: every worker's host:port, the chief first (else TF_CONFIG)."
    ),
    worker_index: int | None = typer.Option(
        None, "--worker-index", help="multi-worker: this worker's place in --workers (0 = chief)."
    ),
    peer_timeout: float = typer.Option(
        DEFAULT_PEER_TIMEOUT,
        "--peer-timeout",
        min=1.0,
        help="multi-worker: seconds to wait for the other workers.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the final metrics as JSON on stdout."),
    spark: UseSpark = False,
    master: Master = DEFAULT_MASTER,
) -> None:
    """Fine-tune a pretrained model on your images: stage 1 trains a new head on cached backbone
    features, stage 2 unfreezes the top layers. Writes a run directory (model.keras, labels, config,
    metrics, plots, checkpoints). Prints the run directory on stdout.

    Example: zoo finetune mobilenet_v2 ./flowers --epochs 10 --fine-tune-epochs 5 --out runs/flowers
    (after a crash: zoo finetune --out runs/flowers --resume)

    Two machines: zoo finetune mobilenet_v2 ./flowers --out runs/flowers --strategy multi-worker
    --workers host1:2222,host2:2222 --worker-index 0 (and --worker-index 1 on host2)

    On Spark: zoo finetune mobilenet_v2 /shared/flowers --out /shared/runs/flowers --spark --master
    spark://head:7077 (stage-1 features on the executors, stage 2 one worker per task slot)
    """
    cfg = _checked_settings(ctx)
    from zoo.registry import get

    get(cfg.model)  # an unknown name fails now, with a suggestion, before any data is read
    if not resume:
        from zoo.transfer.datasets import load_data

        load_data(cfg)  # data errors (one class, an empty class, ...) before TensorFlow loads
    if spark:
        from zoo.cli.spark_run import finetune_on_spark

        given = ctx.get_parameter_source("strategy").name == "COMMANDLINE"  # type: ignore[union-attr]
        if workers is not None or worker_index is not None or given:
            usage_error("--spark forms stage 2's multi-worker cluster from its barrier tasks", "--strategy")
        finetune_on_spark(cfg, master, resume=resume, peer_timeout=peer_timeout, as_json=as_json)
        return
    from zoo.transfer import train

    result = train(
        cfg,
        resume=resume,
        verbose=True,
        workers=workers,
        worker_index=worker_index,
        peer_timeout=peer_timeout,
    )
    if as_json:
        print_json({"run_dir": str(result.run_dir), "metrics": result.metrics, "history": result.history})
    else:
        typer.echo(str(result.run_dir))


@app.command("register")
def register_command(
    run_dir: Path = typer.Argument(
        ..., exists=True, file_okay=False, metavar="RUN_DIR", help="A finished run directory."
    ),
    name: str = typer.Option(..., "--name", "-n", help="The model name to register (lowercase)."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier registration of NAME."),
) -> None:
    """Add a fine-tuned run to your registry: `zoo list` shows it, `zoo.load(NAME)` loads it.

    Prints the registry file written.

    Example: zoo register runs/flowers --name flowers-v1
    """
    from zoo import transfer

    typer.echo(str(transfer.register(run_dir, name, force=force)))


@app.command("export")
def export_command(
    run_dir: Path = typer.Argument(
        ..., exists=True, file_okay=False, metavar="RUN_DIR", help="A run directory."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output file (.keras, .tflite, .onnx, .xml) or folder."
    ),
    export_format: ExportFormat = typer.Option(
        ExportFormat("keras"),
        "--format",
        "-f",
        help="Target format. litert-int8 / openvino-int8: int8 with the layers that cost agreement kept "
        "float (litert-int8 without --check-on: dynamic-range int8); litert-int8-plain / "
        "openvino-int8-plain: every layer int8, calibrated. No bf16 format: bf16 (and openvino int8+bf16) "
        "is chosen when the file is compiled (zoo predict --runtime openvino --precision int8+bf16).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (agreement included) as JSON."),
    check_on: str | None = typer.Option(
        None,
        "--check-on",
        metavar="DIR|val",
        help="Score the reloaded export against fp32 keras on this labelled folder (val: the run's "
        "validation images) and refuse it, writing nothing, when top-1 or top-5 drops by more than "
        "--max-drop points.",
    ),
    max_drop: float = typer.Option(1.0, "--max-drop", help="Points of top-1/top-5 --check-on may lose."),
    calibrate_on: Path | None = typer.Option(
        None,
        "--calibrate-on",
        exists=True,
        file_okay=False,
        help="Folder of typical images int8 calibrates on (litert-int8 with --check-on, openvino-int8 and "
        "the -int8-plain formats always; default: the run's training images).",
    ),
) -> None:
    """Export a fine-tuned run. Each export is reloaded by its own runtime and checked against the
    original on a few inputs before it is reported. Prints the exported path on stdout.

    Example: zoo export runs/flowers --format litert-int8 --out flowers.tflite --check-on val

    Example: zoo export runs/flowers --format openvino-int8 --out flowers.xml --check-on val
    """
    from zoo.engine.bundle import is_bundle

    if not is_bundle(run_dir):
        usage_error(f"{run_dir} is not a run directory (model.keras and labels.json)", "RUN_DIR")
    if out.exists() and not overwrite:
        usage_error(f"{out} already exists (pass --overwrite to replace it)", "--out")
    from zoo.cli.common import stderr_console
    from zoo.engine import export

    if check_on is not None and check_on != "val" and not Path(check_on).is_dir():
        usage_error(f"no such folder: {check_on}", "--check-on")
    if calibrate_on is not None and check_on is None and export_format.value not in CALIBRATED_EXPORTS:
        usage_error(
            f"--calibrate-on applies with --check-on, or to --format {' / '.join(CALIBRATED_EXPORTS)}",
            "--calibrate-on",
        )
    result = export(
        run_dir, out, format=export_format.value, overwrite=overwrite, check_on=check_on,
        calibrate_on=calibrate_on, max_drop=max_drop,
    )  # fmt: skip
    if result.accuracy is not None:
        a = result.accuracy
        stderr_console().print(
            f"accuracy gate on {result.gated_on}: top-1 {a.top1:.3f} ({a.delta_top1 * 100:+.1f}),"
            f" top-5 {a.top5:.3f} ({a.delta_top5 * 100:+.1f}), top-1 agreement with fp32 {a.agreement:.0%}",
            highlight=False,
        )
    if as_json:
        print_json(result.to_dict())
        return
    agreement = result.agreement
    stderr_console().print(
        f"checked on {agreement.samples} inputs: top-1 agreement {agreement.top1_agreement:.0%},"
        f" max abs difference {agreement.max_abs:.2g}",
        highlight=False,
    )
    typer.echo(str(result.path))
