"""The comparison of digests with the expected checksums (the hashing itself is zoo.hashing)."""

from __future__ import annotations

from zoo.errors import ChecksumMismatch
from zoo.hashing import Digests


def mismatch(digests: Digests, *, sha256: str | None, md5: str | None, size: int | None) -> str | None:
    """A one-line description of how `digests` differ from the expected values, or None when they match."""
    if size is not None and digests.size != size:
        return f"size {digests.size} bytes, expected {size}"
    if sha256 and digests.sha256 != sha256:
        return f"sha256 {digests.sha256}, expected {sha256}"
    if md5 and digests.md5 != md5:
        return f"md5 {digests.md5}, expected {md5}"
    return None


def check(digests: Digests, *, sha256: str | None, md5: str | None, size: int | None, what: str) -> None:
    """Raise ChecksumMismatch naming `what` (a source URL or a path) when the digests differ."""
    problem = mismatch(digests, sha256=sha256, md5=md5, size=size)
    if problem:
        raise ChecksumMismatch(f"{what}: {problem}")
