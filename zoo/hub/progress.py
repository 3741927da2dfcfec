"""Download progress on stderr (rich): size, speed, ETA; silent when disabled."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (bytes just received, total expected or None); called once with 0 when the total becomes known
ProgressCallback = Callable[[int, int | None], None]


@contextmanager
def transfer_progress(
    description: str, enabled: bool = True, total: int | None = None
) -> Iterator[ProgressCallback | None]:
    """Yield a callback for zoo.hub.download (None when disabled)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(file=sys.stderr)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)

        def advance(received: int, total: int | None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.advance(task, received)

        yield advance


def note(message: str) -> None:
    """One line on stderr (warnings and the final 'verified' line)."""
    print(message, file=sys.stderr, flush=True)
