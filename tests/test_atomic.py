"""zoo.atomic: a write either completes onto the target or leaves the old file and no temporary file behind.

Checked by the folder's listing before and after, never by guessing temporary file names.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zoo.atomic import atomic_path, atomic_write_bytes, atomic_write_text


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "manifest.json"
    path.parent.mkdir()
    path.write_text("old content", encoding="utf-8")
    (path.parent / "neighbour.txt").write_text("untouched", encoding="utf-8")
    return path


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_atomic_path_yields_a_fresh_path_beside_the_target_and_replaces_the_target_on_success(target):
    before = listing(target.parent)
    with atomic_path(target, suffix=".keras") as tmp:
        assert tmp.parent == target.parent and tmp != target and tmp.name.endswith(".keras")
        tmp.write_text("new content", encoding="utf-8")
        written = tmp.stat().st_ino
        assert target.read_text(encoding="utf-8") == "old content"  # untouched until the block completes
    assert target.read_text(encoding="utf-8") == "new content"
    assert target.stat().st_ino == written  # the very file written was renamed onto the target, not copied
    assert not tmp.exists() and listing(target.parent) == before


def test_atomic_path_creates_the_folder_of_a_new_target(tmp_path):
    target = tmp_path / "new" / "deeper" / "file.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01" and listing(target.parent) == ["file.bin"]


def test_an_error_inside_atomic_path_keeps_the_old_file_and_leaves_nothing_behind(target):
    before = listing(target.parent)
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_path(target) as tmp:
        tmp.write_text("half of the new con", encoding="utf-8")
        raise RuntimeError("disk on fire")
    assert target.read_text(encoding="utf-8") == "old content"
    assert listing(target.parent) == before


@pytest.mark.parametrize(
    "write",
    [
        lambda path: atomic_write_text(path, "new content \ud800 cannot be encoded"),  # fails mid-write
        lambda path: atomic_write_bytes(path, 42),  # type: ignore[arg-type]  # not bytes: fails in the writer
    ],
    ids=["text", "bytes"],
)
def test_a_write_that_raises_inside_the_atomic_writers_keeps_the_old_file(target, write):
    before = listing(target.parent)
    with pytest.raises((UnicodeEncodeError, TypeError)):
        write(target)
    assert target.read_text(encoding="utf-8") == "old content"
    assert listing(target.parent) == before


def test_atomic_writers_replace_the_content(target):
    atomic_write_text(target, "ünïcode text")
    assert target.read_text(encoding="utf-8") == "ünïcode text"
    atomic_write_bytes(target, b"raw bytes")
    assert target.read_bytes() == b"raw bytes"
    assert listing(target.parent) == ["manifest.json", "neighbour.txt"]
