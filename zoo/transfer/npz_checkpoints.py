"""Checkpoints of a run trained off TensorFlow: the variables' values as numpy arrays in .npz files, in the
order of the variable lists (the network is rebuilt identically on resume, so the order is the same), which
any back-end reads. The layout mirrors zoo.transfer.rundir's TensorFlow checkpoints:

    checkpoints/stage<N>/ckpt-<E>.npz   weights and optimizer state after epoch E (the last two are kept)
    checkpoints/stage<N>/best.npz       the best weights so far (early stopping restores them)
    checkpoints/stage<N>/final.npz      the weights stage N ended with (stage N+1 starts from them)

Each file is written atomically, before state.json points at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.atomic import atomic_path
from zoo.errors import RunDirError
from zoo.transfer.rundir import checkpoints_dir

KEEP_EPOCHS = 2


def is_npz_run(run_dir: Path) -> bool:
    """Were this run's checkpoints written by this module (a JAX or PyTorch run)?"""
    return any(checkpoints_dir(run_dir).glob("stage*/*.npz"))


def write_values(path: Path, variables: list) -> None:
    import keras

    arrays = {f"v{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(variables)}
    with atomic_path(path, prefix=".ckpt.", suffix=".npz") as tmp, tmp.open("wb") as handle:
        np.savez(handle, **arrays)


def read_values(path: Path, variables: list) -> None:
    """Assign the values saved in `path` to `variables`; RunDirError when they do not fit."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = [data[f"v{i}"] for i in range(len(data.files))]
    except (OSError, KeyError, ValueError) as exc:
        raise RunDirError(f"cannot read the checkpoint {path}: {exc}") from None
    shapes = [tuple(v.shape) for v in variables]
    if [a.shape for a in arrays] != shapes:
        raise RunDirError(
            f"{path} does not fit this network ({len(arrays)} arrays for {len(variables)} variables)",
            hint="resume with the settings the run started with (its config.json)",
        )
    for variable, array in zip(variables, arrays, strict=True):
        variable.assign(array.astype(variable.dtype))


def restore_final(run_dir: Path, stage: int, variables: list) -> None:
    read_values(checkpoints_dir(run_dir) / f"stage{stage}" / "final.npz", variables)


class NpzStageCheckpoints:
    """rundir.StageCheckpoints' interface, on .npz files."""

    def __init__(self, run_dir: Path, stage: int, variables: list, optimizer: Any) -> None:
        self.folder = checkpoints_dir(run_dir) / f"stage{stage}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.variables = variables
        self.optimizer = optimizer

    def _with_optimizer(self) -> list:
        return [*self.variables, *self.optimizer.variables]

    def save_epoch(self, epoch: int) -> None:
        write_values(self.folder / f"ckpt-{epoch}.npz", self._with_optimizer())
        for old in self.folder.glob("ckpt-*.npz"):
            if int(old.stem.split("-")[1]) <= epoch - KEEP_EPOCHS:
                old.unlink()

    def restore_epoch(self, epoch: int) -> None:
        read_values(self.folder / f"ckpt-{epoch}.npz", self._with_optimizer())

    def write_weights(self, name: str) -> None:
        write_values(self.folder / f"{name}.npz", self.variables)

    def restore_weights(self, name: str) -> None:
        read_values(self.folder / f"{name}.npz", self.variables)
