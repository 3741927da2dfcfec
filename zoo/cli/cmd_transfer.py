"""`zoo finetune`, `zoo register`, `zoo export`: thin wrappers over zoo.transfer and zoo.engine.

Every option is checked (exit 2) before data is scanned or TensorFlow is imported.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from zoo.cli.common import print_json, usage_error
from zoo.errors import ZooError


class Optimizer(StrEnum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"
    rmsprop = "rmsprop"
    adagrad = "adagrad"


class Precision(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"


class OnOff(StrEnum):
    auto = "auto"
    none = "none"


class OnBadImage(StrEnum):
    skip = "skip"
    fail = "fail"


class Strategy(StrEnum):
    auto = "auto"
    default = "default"
    mirrored = "mirrored"
    multi_worker = "multi-worker"


class ExportFormat(StrEnum):
    keras = "keras"
    savedmodel = "savedmodel"
    litert = "litert"
    litert_int8 = "litert-int8"
    onnx = "onnx"


# CLI parameter name -> FinetuneConfig field, for the options that map one to one.
_FIELDS = (
    "val", "val_split", "weights", "epochs", "fine_tune_epochs", "unfreeze", "lr", "fine_tune_lr",
    "optimizer", "momentum", "nesterov", "weight_decay", "batch_size", "image_size", "augment", "dropout",
    "label_smoothing", "class_weight", "precision", "on_bad_image", "seed", "early_stopping",
    "tensorboard", "out", "strategy",
)  # fmt: skip


def _settings_from_cli(ctx: typer.Context, values: dict[str, Any], only_given: bool) -> dict[str, Any]:
    """FinetuneConfig fields from the options (with --config: only those typed on the command line)."""
    from zoo.transfer.settings import parse_augment

    out = {}
    for name in _FIELDS:
        source = ctx.get_parameter_source(name)
        if only_given and getattr(source, "name", None) != "COMMANDLINE":  # Typer may vendor its own click
            continue
        value = values[name]
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


def _int_or_usage(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        usage_error(f"expected a number of layers or 'all', got {text!r}", option)


def finetune_command(
    ctx: typer.Context,
    model: str | None = typer.Argument(None, metavar="NAME", help="Registered model to start from."),
    data: Path | None = typer.Argument(
        None, exists=True, metavar="DATA_DIR", help="Class folders (root/<class>/<image>) or a CSV."
    ),
    config: Path | None = typer.Option(
        None, "--config", exists=True, dir_okay=False, help="Repeat a run: its RUN_DIR/config.json."
    ),
    weights: str = typer.Option("imagenet", "--weights", help="imagenet, none, or a .h5 weights file."),
    val: Path | None = typer.Option(None, "--val", exists=True, help="Validation folder or CSV."),
    val_split: float = typer.Option(0.2, "--val-split", help="Share held out when --val is not given."),
    epochs: int = typer.Option(10, "--epochs", help="Stage 1 epochs (head only, frozen backbone)."),
    fine_tune_epochs: int = typer.Option(5, "--fine-tune-epochs", help="Stage 2 epochs (top unfrozen)."),
    unfreeze: str = typer.Option("20", "--unfreeze", help="Stage 2: last N weighted layers, or 'all'."),
    lr: float = typer.Option(1e-3, "--lr", help="Stage 1 learning rate."),
    fine_tune_lr: float = typer.Option(1e-5, "--fine-tune-lr", help="Stage 2 learning rate."),
    optimizer: Optimizer = typer.Option(Optimizer.adam, "--optimizer", help="Optimizer (both stages)."),
    momentum: float = typer.Option(0.9, "--momentum", help="Momentum (sgd, rmsprop)."),
    nesterov: bool = typer.Option(False, "--nesterov", help="Nesterov momentum (sgd)."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Decoupled weight decay."),
    batch_size: int = typer.Option(32, "--batch-size", help="Global batch size (split across replicas)."),
    image_size: int | None = typer.Option(None, "--image-size", help="Input size (default: the model's)."),
    augment: str | None = typer.Option(
        None, "--augment", help="flip,rotate,zoom,contrast or none (default: none, then flip in stage 2)."
    ),
    dropout: float = typer.Option(0.2, "--dropout", help="Dropout before the new head."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="Label smoothing."),
    class_weight: OnOff = typer.Option(OnOff.auto, "--class-weight", help="auto: balance class frequencies."),
    precision: Precision = typer.Option(Precision.fp32, "--precision", help="fp32 or bf16 (mixed)."),
    on_bad_image: OnBadImage = typer.Option(
        OnBadImage.skip, "--on-bad-image", help="skip (listed in skipped.txt) or fail."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the data order and the head."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default: runs/NAME-TIME)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last epoch."),
    early_stopping: int | None = typer.Option(None, "--early-stopping", help="Patience (epochs, val loss)."),
    tensorboard: bool = typer.Option(True, "--tensorboard/--no-tensorboard", help="TensorBoard logs."),
    strategy: Strategy = typer.Option(
        Strategy.auto, "--strategy", help="auto (several GPUs: mirrored), default, mirrored, multi-worker."
    ),
    workers: str | None = typer.Option(
        None, "--workers", help="multi-worker: every worker's host:port, the chief first (else TF_CONFIG)."
    ),
    worker_index: int | None = typer.Option(
        None, "--worker-index", help="multi-worker: this worker's place in --workers (0 = chief)."
    ),
    peer_timeout: float = typer.Option(
        120.0, "--peer-timeout", min=1.0, help="multi-worker: seconds to wait for the other workers."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the final metrics as JSON on stdout."),
) -> None:
    """Fine-tune a pretrained model on your images: stage 1 trains a new head on cached backbone
    features, stage 2 unfreezes the top layers. Writes a run directory (model.keras, labels, config,
    metrics, plots, checkpoints). Prints the run directory on stdout.

    Example: zoo finetune mobilenet_v2 ./flowers --epochs 10 --fine-tune-epochs 5 --out runs/flowers
    (after a crash: zoo finetune --out runs/flowers --resume)

    Two machines: zoo finetune mobilenet_v2 ./flowers --out runs/flowers --strategy multi-worker
    --workers host1:2222,host2:2222 --worker-index 0 (and --worker-index 1 on host2)
    """
    from zoo.transfer.settings import FinetuneConfig

    values = dict(ctx.params)
    if resume and out is None:
        usage_error("--resume needs --out RUN_DIR (the run to continue)", "--resume")
    if resume and config is None and (model is None or data is None):
        config = out / "config.json"  # type: ignore[operator]  (out is set: checked above)
        if not config.is_file():
            usage_error(f"{out}: nothing to resume (no config.json)", "--out")
    if config is None and (model is None or data is None):
        usage_error("give NAME and DATA_DIR (or --config RUN_DIR/config.json)")
    if weights not in ("imagenet", "none") and not Path(weights).expanduser().is_file():
        usage_error(f"{weights!r} is neither imagenet, none, nor an existing weights file", "--weights")
    if config is not None:
        try:
            base = FinetuneConfig.load(config)
        except ZooError as exc:
            usage_error(exc.message, "--config")
        overrides = _settings_from_cli(ctx, values, only_given=True)
        overrides.update({k: str(v) for k, v in (("model", model), ("data", data)) if v is not None})
        cfg = dataclasses.replace(base, **overrides)
    else:
        cfg = FinetuneConfig(model=str(model), data=str(data), **_settings_from_cli(ctx, values, False))
    problems = cfg.problems()
    if problems:
        usage_error("; ".join(problems))
    from zoo.transfer.distribute import resolve_cluster

    try:
        resolve_cluster(cfg.strategy, workers, worker_index)
    except ValueError as exc:
        usage_error(str(exc), "--workers" if workers is not None else "--strategy")

    from zoo.registry import get

    get(cfg.model)  # an unknown name fails now, with a suggestion, before any data is read
    if not resume:
        from zoo.transfer.datasets import load_data

        load_data(cfg)  # data errors (one class, an empty class, ...) before TensorFlow loads
    from zoo.transfer.recipe import run

    result = run(
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
    from zoo.transfer.registering import register

    typer.echo(str(register(run_dir, name, force=force)))


def export_command(
    run_dir: Path = typer.Argument(
        ..., exists=True, file_okay=False, metavar="RUN_DIR", help="A run directory."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.keras, .tflite, .onnx) or folder."),
    export_format: ExportFormat = typer.Option(ExportFormat.keras, "--format", "-f", help="Target format."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (agreement included) as JSON."),
) -> None:
    """Export a fine-tuned run. Each export is reloaded by its own runtime and checked against the
    original on a few inputs before it is reported. Prints the exported path on stdout.

    Example: zoo export runs/flowers --format litert-int8 --out flowers.tflite
    """
    from zoo.engine.bundle import is_bundle

    if not is_bundle(run_dir):
        usage_error(f"{run_dir} is not a run directory (model.keras and labels.json)", "RUN_DIR")
    if out.exists() and not overwrite:
        usage_error(f"{out} already exists (pass --overwrite to replace it)", "--out")
    from zoo.cli.common import stderr_console
    from zoo.engine import export

    result = export(run_dir, out, format=export_format.value, overwrite=overwrite)
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


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command("finetune")(finetune_command)
    app.command("register")(register_command)
    app.command("export")(export_command)
