"""Every setting of a fine-tuning run, validated, and saved as RUN_DIR/config.json to repeat the run.

`resume_settings_file` and `merge_settings` are the one place where a run's settings are put together from
a previous run's config.json and the settings given now: `zoo finetune` calls them, and `run_settings`
joins them for `zoo.finetune` and `zoo.finetune_on_spark`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.choices import (
    AUGMENTATIONS,
    CLASS_WEIGHTS,
    EXTRA_VIEWS,
    ON_BAD_IMAGE,
    OPTIMIZERS,
    SCHEDULES,
    STRATEGIES,
    TRAIN_PRECISIONS,
    image_size_problem,
)
from zoo.engine.bundle import CONFIG_FILE
from zoo.errors import InvalidSetting, RunDirError

DEFAULT_FINE_TUNE_AUGMENT = ("flip",)
# the settings tuning chooses (zoo.transfer.tuning), unless the user set them
TUNABLE = (
    "lr", "weight_decay", "epochs", "fine_tune_lr", "unfreeze", "fine_tune_epochs", "fine_tune_schedule",
    "warmup_epochs", "inner_split", "early_stopping", "views",
)  # fmt: skip


def setting_name(field: str) -> str:
    """How messages name a setting: its field name (the CLI passes its own, e.g. `--batch-size`)."""
    return field


@dataclass(frozen=True)
class FinetuneSettings:
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
    # tuning (the default; --no-tune turns it off): search stage 1's lr, weight decay and epochs on cached
    # features and run stage 2 with the tuned recipe (zoo.transfer.tuning); the run then writes the chosen
    # values here with tune=False, so its config.json repeats it without a search
    tune: bool = True
    user_set: tuple[str, ...] = ()  # TUNABLE settings the user gave: tuning leaves them as they are
    inner_split: float | None = None  # share of the TRAINING images early stopping watches (never val)
    fine_tune_schedule: str = "constant"  # stage 2's learning rate: constant, or cosine decay
    warmup_epochs: int = 0  # stage 2: epochs of linear warm-up before the cosine decay
    # stage 1's rows per training image: 1 (the image), or more (its EXTRA_VIEWS too, zoo.transfer.views);
    # "auto": tuning scores each count on the inner split and keeps the best (an untuned run: 1)
    views: int | str = "auto"

    def __post_init__(self) -> None:
        if self.augment is not None:
            object.__setattr__(self, "augment", tuple(self.augment))
        object.__setattr__(self, "user_set", tuple(self.user_set))
        for name in ("unfreeze", "views"):
            value = getattr(self, name)
            if isinstance(value, str) and value.isdigit():
                object.__setattr__(self, name, int(value))

    def problems(self, name: Callable[[str], str] = setting_name) -> list[str]:
        """Every invalid value, as `setting: what is wrong` lines (empty when all is well).

        `name` spells a field's name in the message (the CLI spells it as its option)."""
        checks = [
            ("val_split", 0.0 < self.val_split < 1.0, f"must be between 0 and 1, got {self.val_split}"),
            ("epochs", self.epochs >= 0, f"must be 0 or more, got {self.epochs}"),
            ("fine_tune_epochs", self.fine_tune_epochs >= 0, f">= 0, got {self.fine_tune_epochs}"),
            ("lr", self.lr > 0, f"must be positive, got {self.lr}"),
            ("fine_tune_lr", self.fine_tune_lr > 0, f"must be positive, got {self.fine_tune_lr}"),
            ("momentum", 0.0 <= self.momentum < 1.0, f"must be in [0, 1), got {self.momentum}"),
            ("weight_decay", self.weight_decay >= 0, f"must be 0 or more, got {self.weight_decay}"),
            ("batch_size", self.batch_size >= 1, f"must be at least 1, got {self.batch_size}"),
            ("dropout", 0.0 <= self.dropout < 1.0, f"must be in [0, 1), got {self.dropout}"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, f"in [0, 1), got {self.label_smoothing}"),
            ("optimizer", self.optimizer in OPTIMIZERS, f"must be one of {', '.join(OPTIMIZERS)}"),
            ("class_weight", self.class_weight in CLASS_WEIGHTS, f"must be {' or '.join(CLASS_WEIGHTS)}"),
            ("precision", self.precision in TRAIN_PRECISIONS, f"must be {' or '.join(TRAIN_PRECISIONS)}"),
            ("on_bad_image", self.on_bad_image in ON_BAD_IMAGE, f"must be {' or '.join(ON_BAD_IMAGE)}"),
            ("strategy", self.strategy in STRATEGIES, f"must be one of {', '.join(STRATEGIES)}"),
            ("fine_tune_schedule", self.fine_tune_schedule in SCHEDULES, f"must be {' or '.join(SCHEDULES)}"),
            ("warmup_epochs", self.warmup_epochs >= 0, f"must be 0 or more, got {self.warmup_epochs}"),
            ("inner_split", 0 < (self.inner_split or 0.5) < 1, f"must be in (0, 1), got {self.inner_split}"),
        ]  # fmt: skip
        out = [f"{name(field)}: {message}" for field, ok, message in checks if not ok]
        if self.epochs + self.fine_tune_epochs < 1:
            out.append(f"{name('epochs')}/{name('fine_tune_epochs')}: at least one epoch must run")
        size_problem = None if self.image_size is None else image_size_problem(self.image_size)
        if size_problem:
            out.append(f"{name('image_size')}: {size_problem}")
        if not (self.unfreeze == "all" or isinstance(self.unfreeze, int) and self.unfreeze >= 0):
            out.append(f"{name('unfreeze')}: must be a number of layers or 'all', got {self.unfreeze!r}")
        unknown = sorted(set(self.augment or ()) - set(AUGMENTATIONS))
        if unknown:
            choices = ", ".join(AUGMENTATIONS)
            out.append(f"{name('augment')}: unknown {', '.join(unknown)} (choose from {choices}, or none)")
        out += self._views_problems(name)
        if self.early_stopping is not None and self.early_stopping < 1:
            out.append(f"{name('early_stopping')}: patience must be at least 1, got {self.early_stopping}")
        return out

    def _views_problems(self, name: Callable[[str], str]) -> list[str]:
        most = 1 + len(EXTRA_VIEWS)
        if self.views != "auto" and not (isinstance(self.views, int) and 1 <= self.views <= most):
            return [f"{name('views')}: must be auto or a number from 1 to {most}, got {self.views!r}"]
        if self.views not in ("auto", 1) and self.stage_augment(1):
            return [f"{name('views')}: extra views need stage 1 on cached features (no {name('augment')})"]
        return []

    def check(self) -> FinetuneSettings:
        """This config, or InvalidSetting naming every invalid value."""
        problems = self.problems()
        if problems:
            raise InvalidSetting("; ".join(problems))
        return self

    def stage_augment(self, stage: int) -> tuple[str, ...]:
        if self.augment is not None:
            return tuple(self.augment)
        return () if stage == 1 else DEFAULT_FINE_TUNE_AUGMENT

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["augment"] = None if self.augment is None else list(self.augment)
        data["user_set"] = list(self.user_set)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RunDirError(f"unknown settings in config: {', '.join(unknown)}")
        # a config.json written before tuning existed holds a fixed recipe: it repeats without a search
        return cls(**{"tune": False, **data})

    @classmethod
    def load(cls, path: str | Path) -> FinetuneSettings:
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


def resume_settings_file(
    out: str | Path | None, *, resume: bool, model: str | None, data: str | Path | None
) -> Path | None:
    """RUN_DIR/config.json when a resume of the run in `out` names no model or no data (the run's own
    settings then supply them); None otherwise. RunDirError when that run has no config.json."""
    if not resume or out is None or (model is not None and data is not None):
        return None
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise RunDirError(f"{out}: nothing to resume (no config.json)")
    return path


def merge_settings(
    model: str | None,
    data: str | Path | None,
    *,
    config: str | Path | None = None,
    settings: Mapping[str, Any],
) -> FinetuneSettings:
    """A run's settings: a previous run's config.json (`config`) with `model`, `data` and `settings`
    (FinetuneSettings fields) given now over it; without `config`, `settings` over the defaults."""
    given = {k: str(v) if k == "data" else v for k, v in (("model", model), ("data", data)) if v is not None}
    user_set = {name for name in settings if name in TUNABLE}
    if config is not None:
        previous = FinetuneSettings.load(config)
        user_set |= set(previous.user_set)
        return dataclasses.replace(previous, **given, **settings, user_set=tuple(sorted(user_set)))
    if model is None or data is None:
        raise InvalidSetting("finetune needs a model name and a data folder (or config=...)")
    return FinetuneSettings(**given, **settings, user_set=tuple(sorted(user_set)))


def run_settings(
    model: str | None,
    data: str | Path | None,
    *,
    config: str | Path | None,
    resume: bool,
    settings: Mapping[str, Any],
) -> FinetuneSettings:
    """The settings of a run started or resumed from Python: `config`, else the resumed run's own
    config.json when model or data is left out, with `model`, `data` and `settings` over it."""
    if config is None:
        config = resume_settings_file(settings.get("out"), resume=resume, model=model, data=data)
    return merge_settings(model, data, config=config, settings=settings)


def parse_augment(text: str) -> tuple[str, ...]:
    """'flip,rotate' -> ('flip', 'rotate'); 'none' or '' -> ()."""
    items = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    return () if items in ((), ("none",)) else items
