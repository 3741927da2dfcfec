"""Training progress on stderr: an epoch bar, a step bar, one summary line per epoch (rich)."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class TrainingProgress:
    """Use as a context manager; `verbose=False` prints nothing."""

    def __init__(self, total_epochs: int, verbose: bool = True) -> None:
        self.verbose = verbose
        self.total_epochs = total_epochs
        self._progress: Any = None
        self._epoch_task: Any = None
        self._step_task: Any = None

    def __enter__(self) -> TrainingProgress:
        if self.verbose:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._epoch_task = self._progress.add_task("epochs", total=self.total_epochs, info="")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, highlight=False, soft_wrap=True)

    def start_epoch(self, stage: int, epoch: int, steps: int) -> None:
        if self._progress is None:
            return
        if self._step_task is not None:
            self._progress.remove_task(self._step_task)
        label = f"stage {stage} epoch {epoch}"
        self._step_task = self._progress.add_task(label, total=steps, info="")

    def step(self, step: int, loss: float, accuracy: float) -> None:
        if self._progress is not None and self._step_task is not None:
            self._progress.update(self._step_task, completed=step, info=f"loss {loss:.4f} acc {accuracy:.3f}")

    def end_epoch(self, row: dict[str, Any], done_epochs: int) -> None:
        """One line per epoch, kept above the bars."""
        if self._progress is None:
            return
        self._progress.update(self._epoch_task, completed=done_epochs)
        self.log(
            f"stage {row['stage']} epoch {row['epoch']:>3}: loss {row['loss']:.4f} acc {row['accuracy']:.4f}"
            f"  val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f}  ({row['seconds']:.1f}s)"
        )
