"""Digests of files and streams: every needed hash computed in one pass over the bytes.

A ground-floor module (stdlib only): the hub verifies downloads with it, the engine fingerprints run
directories and the feature cache keys images by content with it.

hashlib releases the GIL on large buffers, so `Digester(threaded=True)` hashes on a helper thread while
the caller keeps reading the socket and writing the file (benchmarks/pull.py measures the difference).
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str | None
    size: int


class Digester:
    """Feeds bytes to sha256 (always) and md5 (when asked), optionally on a background thread."""

    def __init__(self, *, md5: bool = False, threaded: bool = False) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=16)
            self._thread = threading.Thread(target=self._drain, name="zoo-hash", daemon=True)
            self._thread.start()

    def _update(self, data: bytes) -> None:
        self._sha256.update(data)
        if self._md5 is not None:
            self._md5.update(data)

    def _drain(self) -> None:
        assert self._queue is not None
        while (data := self._queue.get()) is not None:
            self._update(data)

    def update(self, data: bytes) -> None:
        self.size += len(data)
        if self._queue is not None:
            self._queue.put(bytes(data))
        else:
            self._update(data)

    def result(self) -> Digests:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        return Digests(self._sha256.hexdigest(), self._md5.hexdigest() if self._md5 else None, self.size)


def hash_chunks(chunks: Iterable[bytes], *, md5: bool = False) -> Digests:
    digester = Digester(md5=md5)
    for chunk in chunks:
        digester.update(chunk)
    return digester.result()


def read_chunks(path: Path, chunk: int = CHUNK):
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            yield data


def hash_file(path: Path, *, md5: bool = False) -> Digests:
    """sha256 (and md5) of a file in one read."""
    return hash_chunks(read_chunks(path), md5=md5)
