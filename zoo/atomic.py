"""Atomic file writes: a temporary file in the target's folder, renamed onto the target only when the
write completed. A kill at any moment leaves either the old file or the new one, never half of one,
and a failed write leaves no temporary file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path, *, prefix: str | None = None, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a fresh temporary path next to `path`; on success it replaces `path`, on error it is removed.

    `suffix` matters to writers that pick a format by extension (Keras' `.keras`, numpy's `.npz`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
