"""The run directory's training files (besides the bundle): history.csv, skipped.txt, TensorBoard logs,
and the resume state next to the checkpoints.

    checkpoints/state.json           what is done: {"stage", "epochs_done", "stage_done", "history", ...}
    checkpoints/stage<N>/ckpt-<E>    tf.train.CheckpointManager, one per completed epoch E of stage N
    checkpoints/stage<N>/best        the best weights so far (early stopping restores them)
    checkpoints/stage<N>/final       the weights stage N ended with (stage N+1 starts from them)

state.json is written (atomically) only after the epoch's checkpoint, so it never points at a checkpoint
that is not on disk; a kill between the two only repeats that epoch.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write_bytes, atomic_write_text
from zoo.engine.bundle import read_json, write_json
from zoo.errors import RunDirError

HISTORY_FIELDS = (
    "epoch",
    "stage",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "seconds",
)


@dataclass
class RunState:
    """Training progress, enough to resume: the stage in progress and the epochs it has completed."""

    stage: int = 1
    epochs_done: int = 0  # completed epochs of `stage`
    stage_done: bool = False  # `stage` has finished (its final checkpoint is written)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    wait: int = 0  # epochs without improvement (early stopping)


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def state_path(run_dir: Path) -> Path:
    return checkpoints_dir(run_dir) / "state.json"


def read_state(run_dir: Path) -> RunState | None:
    path = state_path(run_dir)
    return RunState(**read_json(path)) if path.is_file() else None


def write_state(run_dir: Path, state: RunState) -> None:
    write_json(state_path(run_dir), asdict(state))


def write_history_csv(history: Sequence[dict[str, Any]], path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, buffer.getvalue())
    return path


def write_skipped(skipped: Sequence[tuple[Path, str]], path: Path) -> Path:
    """One `path<TAB>reason` line per image the decoder refused (an empty file when none).

    Paths keep their bytes: a file name that is not UTF-8 is written as the file system has it (read the
    file back with errors="surrogateescape" to get the same str)."""

    text = "".join(f"{p}\t{reason}\n" for p, reason in skipped)
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))
    return path


class TensorBoardLog:
    """Epoch scalars under RUN_DIR/tensorboard/{train,validation}, or nothing when off.

    Written with the core `tf.summary.write` op and the scalars plugin's metadata, so the logs need no
    `tensorboard` package at training time (only to view them)."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self._writers = {}
        if enabled:
            import tensorflow as tf
            from tensorflow.core.framework import summary_pb2

            self._metadata = summary_pb2.SummaryMetadata()
            self._metadata.plugin_data.plugin_name = "scalars"
            for split in ("train", "validation"):
                self._writers[split] = tf.summary.create_file_writer(str(run_dir / "tensorboard" / split))

    def epoch(self, row: dict[str, Any]) -> None:
        if not self._writers:
            return
        import tensorflow as tf

        step = int(row["epoch"])
        for split, prefix in (("train", ""), ("validation", "val_")):
            values = {"loss": row[f"{prefix}loss"], "accuracy": row[f"{prefix}accuracy"]}
            if split == "train":
                values["learning_rate"] = row["learning_rate"]
            with self._writers[split].as_default():
                for tag, value in values.items():
                    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=self._metadata)
            self._writers[split].flush()


LOCK_FILE = ".zoo-run.lock"


@contextlib.contextmanager
def exclusive_run_dir(run_dir: Path) -> Iterator[None]:
    """Hold the run directory for one writer: a second `zoo finetune --out SAME` is refused at once.

    An OS file lock (flock through filelock): it is released when the process ends, SIGKILL included,
    so a killed run never leaves a stale lock in the way of `--resume`."""
    from filelock import FileLock, Timeout

    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunDirError(
            f"{run_dir} is in use by another zoo finetune run",
            hint="wait for it to finish (then --resume if needed), or choose another --out",
        ) from None
    try:
        yield
    finally:
        lock.release()
        # a run refused before it wrote anything (bad data, nothing to resume) leaves no folder behind
        if created and [p.name for p in run_dir.iterdir()] == [LOCK_FILE]:
            (run_dir / LOCK_FILE).unlink()
            run_dir.rmdir()
