"""The training and validation sets of a run, checked before anything heavy is imported or built."""

from __future__ import annotations

from zoo.data.folders import LabelledImages, align_classes, load_labelled, stratified_split
from zoo.errors import BadDataset
from zoo.transfer.settings import FinetuneSettings


def load_data(cfg: FinetuneSettings) -> tuple[LabelledImages, LabelledImages]:
    """Train and validation sets; data errors surface here, before any model is built."""
    train = load_labelled(cfg.data)
    if cfg.val:
        val = align_classes(train, load_labelled(cfg.val))
    else:
        train, val = stratified_split(train, cfg.val_split, seed=cfg.seed)
    if len(val) == 0:
        raise BadDataset(
            f"{cfg.data}: too few images to hold any out for validation",
            hint="add images (two or more per class) or pass `val=DIR`",
        )
    return train, val
