"""The training and validation sets of a run, checked before anything heavy is imported or built."""

from __future__ import annotations

from zoo.data.folders import LabelledImages, train_and_validation
from zoo.errors import BadDataset
from zoo.transfer.settings import FinetuneSettings


def load_data(cfg: FinetuneSettings) -> tuple[LabelledImages, LabelledImages]:
    """Train and validation sets; data errors surface here, before any model is built."""
    train, val = train_and_validation(cfg.data, cfg.val, val_split=cfg.val_split, seed=cfg.seed)
    if len(val) == 0:
        raise BadDataset(
            f"{cfg.data}: too few images to hold any out for validation",
            hint="add images (two or more per class) or pass `val=DIR`",
        )
    return train, val
