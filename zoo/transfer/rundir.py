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
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write_bytes, atomic_write_text
from zoo.engine.bundle import CONFIG_FILE, read_json, write_json
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

    def finished(self, stage: int) -> bool:
        """`stage` ran to its end (a later stage started, or its final checkpoint is written)."""
        return self.stage > stage or (self.stage == stage and self.stage_done)


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def state_path(run_dir: Path) -> Path:
    return checkpoints_dir(run_dir) / "state.json"


def read_state(run_dir: Path) -> RunState | None:
    path = state_path(run_dir)
    return RunState(**read_json(path)) if path.is_file() else None


def write_state(run_dir: Path, state: RunState) -> None:
    write_json(state_path(run_dir), asdict(state))


def start_state(run_dir: Path, resume: bool) -> RunState:
    """The state a run starts from: the run's own when resuming, a fresh one for a new run."""
    existing = read_state(run_dir) if run_dir.is_dir() else None
    if resume:
        if existing is None or not (run_dir / CONFIG_FILE).is_file():
            raise RunDirError(
                f"{run_dir}: nothing to resume (no checkpoint state)",
                hint="start the run without `resume=True`",
            )
        return existing
    if existing is not None:
        raise RunDirError(
            f"{run_dir} already holds a run",
            hint="pass `resume=True` to continue it, or choose another `out`",
        )
    return RunState()


def restore_weights(checkpoint: Any, path: Path) -> None:
    """Restore a weights-only checkpoint written with `checkpoint.write` (it has no save counter)."""
    checkpoint.restore(str(path)).expect_partial().assert_nontrivial_match()


def restore_final(run_dir: Path, stage: int, variables: list) -> None:
    """Load the weights stage `stage` ended with into `variables`."""
    import tensorflow as tf

    restore_weights(
        tf.train.Checkpoint(weights=variables), checkpoints_dir(run_dir) / f"stage{stage}" / "final"
    )


class StageCheckpoints:
    """The checkpoints of one stage: one per completed epoch (weights and optimizer, to resume), and the
    best and final weights (early stopping restores the best; the next stage starts from the final)."""

    def __init__(self, run_dir: Path, stage: int, variables: list, optimizer: Any) -> None:
        import tensorflow as tf

        self.folder = checkpoints_dir(run_dir) / f"stage{stage}"
        self._epochs = tf.train.Checkpoint(weights=variables, optimizer=optimizer)
        self._weights = tf.train.Checkpoint(weights=variables)
        self._manager = tf.train.CheckpointManager(
            self._epochs, str(self.folder), max_to_keep=2, checkpoint_name="ckpt"
        )

    def save_epoch(self, epoch: int) -> None:
        self._manager.save(checkpoint_number=epoch)

    def restore_epoch(self, epoch: int) -> None:
        self._epochs.restore(str(self.folder / f"ckpt-{epoch}")).assert_existing_objects_matched()

    def write_weights(self, name: str) -> None:
        """Write the weights alone as `name` ("best", "final")."""
        self._weights.write(str(self.folder / name))

    def restore_weights(self, name: str) -> None:
        restore_weights(self._weights, self.folder / name)


@contextlib.contextmanager
def worker_dir(run_dir: Path) -> Iterator[Path]:
    """Where a worker that is not the chief writes its checkpoints (collective saves need every worker to
    save): a temporary directory, starting as a copy of the run's checkpoints for a resume, removed at
    the end. Only the chief writes the run directory."""
    write_dir = Path(tempfile.mkdtemp(prefix="zoo-worker-"))
    try:
        source = checkpoints_dir(run_dir)
        if source.is_dir():  # a resume: every worker restores the chief's last checkpoint
            shutil.copytree(source, checkpoints_dir(write_dir))
        yield write_dir
    finally:
        shutil.rmtree(write_dir, ignore_errors=True)


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

    The event files are written by zoo.transfer.event_file, the same records as tf.summary's, on every
    back-end: no TensorFlow (nor the `tensorboard` package) at training time, only to view them."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        from zoo.transfer.event_file import ScalarEventFile

        folders = ("train", "validation") if enabled else ()
        self._files = {split: ScalarEventFile(run_dir / "tensorboard" / split) for split in folders}

    def epoch(self, row: dict[str, Any]) -> None:
        for split, prefix in (("train", ""), ("validation", "val_")) if self._files else ():
            values = {"loss": row[f"{prefix}loss"], "accuracy": row[f"{prefix}accuracy"]}
            if split == "train":
                values["learning_rate"] = row["learning_rate"]
            self._files[split].scalars(int(row["epoch"]), values)


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
            hint="wait for it to finish (then `resume=True` if needed), or choose another `out`",
        ) from None
    try:
        yield
    finally:
        lock.release()
        # a run refused before it wrote anything (bad data, nothing to resume) leaves no folder behind
        if created and [p.name for p in run_dir.iterdir()] == [LOCK_FILE]:
            (run_dir / LOCK_FILE).unlink()
            run_dir.rmdir()
