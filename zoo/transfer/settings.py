"""Every setting of a fine-tuning run, validated, and saved as RUN_DIR/config.json to repeat the run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import RunDirError
from zoo.transfer.distribute import STRATEGIES

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
AUGMENTATIONS = ("flip", "rotate", "zoom", "contrast")
DEFAULT_FINE_TUNE_AUGMENT = ("flip",)
PRECISIONS = ("fp32", "bf16")
CLASS_WEIGHTS = ("auto", "none")
ON_BAD_IMAGE = ("skip", "fail")


@dataclass(frozen=True)
class FinetuneConfig:
    """The settings of one run. `augment=None` is the default recipe: stage 1 without augmentation (so
    backbone features are cached), stage 2 with flips; a list applies to both stages; [] turns it off."""

    model: str
    data: str
    val: str | None = None
    val_split: float = 0.2
    weights: str = "imagenet"  # "imagenet", "none" or a weights file
    epochs: int = 10
    fine_tune_epochs: int = 5
    unfreeze: int | str = 20  # the last N backbone layers that hold weights, or "all"
    lr: float = 1e-3
    fine_tune_lr: float = 1e-5
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    batch_size: int = 32  # the global batch, split across replicas
    image_size: int | None = None  # None: the registry's input size
    augment: tuple[str, ...] | None = None
    dropout: float = 0.2
    label_smoothing: float = 0.0
    class_weight: str = "auto"
    precision: str = "fp32"
    on_bad_image: str = "skip"
    seed: int = 0
    early_stopping: int | None = None  # patience in epochs (val loss), None: off
    tensorboard: bool = True
    out: str | None = None
    strategy: str = "auto"  # tf.distribute strategy (zoo.transfer.distribute); checkpoints work under any

    def __post_init__(self) -> None:
        if self.augment is not None:
            object.__setattr__(self, "augment", tuple(self.augment))
        if isinstance(self.unfreeze, str) and self.unfreeze.isdigit():
            object.__setattr__(self, "unfreeze", int(self.unfreeze))

    def problems(self) -> list[str]:
        """Every invalid value, as `--option: what is wrong` lines (empty when all is well)."""
        out = []
        checks = [
            ("--val-split", 0.0 < self.val_split < 1.0, f"must be between 0 and 1, got {self.val_split}"),
            ("--epochs", self.epochs >= 0, f"must be 0 or more, got {self.epochs}"),
            ("--fine-tune-epochs", self.fine_tune_epochs >= 0, f">= 0, got {self.fine_tune_epochs}"),
            ("--lr", self.lr > 0, f"must be positive, got {self.lr}"),
            ("--fine-tune-lr", self.fine_tune_lr > 0, f"must be positive, got {self.fine_tune_lr}"),
            ("--momentum", 0.0 <= self.momentum < 1.0, f"must be in [0, 1), got {self.momentum}"),
            ("--weight-decay", self.weight_decay >= 0, f"must be 0 or more, got {self.weight_decay}"),
            ("--batch-size", self.batch_size >= 1, f"must be at least 1, got {self.batch_size}"),
            ("--dropout", 0.0 <= self.dropout < 1.0, f"must be in [0, 1), got {self.dropout}"),
            ("--label-smoothing", 0 <= self.label_smoothing < 1, f"in [0, 1), got {self.label_smoothing}"),
            ("--optimizer", self.optimizer in OPTIMIZERS, f"must be one of {', '.join(OPTIMIZERS)}"),
            ("--class-weight", self.class_weight in CLASS_WEIGHTS, "must be auto or none"),
            ("--precision", self.precision in PRECISIONS, "must be fp32 or bf16"),
            ("--on-bad-image", self.on_bad_image in ON_BAD_IMAGE, "must be skip or fail"),
            ("--strategy", self.strategy in STRATEGIES, f"must be one of {', '.join(STRATEGIES)}"),
        ]  # fmt: skip
        out += [f"{name}: {message}" for name, ok, message in checks if not ok]
        if self.epochs + self.fine_tune_epochs < 1:
            out.append("--epochs/--fine-tune-epochs: at least one epoch must run")
        # the same range as `zoo embed --size` / `zoo benchmark --image-size`: 100000 would try to decode
        # every image to 30 GB before failing
        if self.image_size is not None and not 32 <= self.image_size <= 1024:
            out.append(f"--image-size: must be between 32 and 1024, got {self.image_size}")
        if not (self.unfreeze == "all" or isinstance(self.unfreeze, int) and self.unfreeze >= 0):
            out.append(f"--unfreeze: must be a number of layers or 'all', got {self.unfreeze!r}")
        unknown = sorted(set(self.augment or ()) - set(AUGMENTATIONS))
        if unknown:
            out.append(
                f"--augment: unknown {', '.join(unknown)} (choose from {', '.join(AUGMENTATIONS)}, or none)"
            )
        if self.early_stopping is not None and self.early_stopping < 1:
            out.append(f"--early-stopping: patience must be at least 1, got {self.early_stopping}")
        return out

    def stage_augment(self, stage: int) -> tuple[str, ...]:
        if self.augment is not None:
            return tuple(self.augment)
        return () if stage == 1 else DEFAULT_FINE_TUNE_AUGMENT

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["augment"] = None if self.augment is None else list(self.augment)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RunDirError(f"unknown settings in config: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> FinetuneConfig:
        """Read a config.json written by a previous run."""
        path = Path(path)
        try:  # plain json here: zoo.engine (and so Keras) must not load while the CLI validates options
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunDirError(f"cannot read settings from {path}: {exc}") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{path}: expected a JSON object of settings")
        settings = data.get("settings", data)
        return cls.from_dict(settings)


def parse_augment(text: str) -> tuple[str, ...]:
    """'flip,rotate' -> ('flip', 'rotate'); 'none' or '' -> ()."""
    items = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    return () if items in ((), ("none",)) else items
