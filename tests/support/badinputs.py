"""A generator of bad (and merely odd) inputs for the robustness suites, with each one's documented outcome.

Image files: every kind is written by `write_bad_images(folder)`, which returns one `BadInput` per file:
    outcome "decoded": the decoder reads it (odd but valid: CMYK, 16-bit, palette + transparency, ...);
    outcome "skipped": the decoder refuses it with a one-line reason containing `reason`;
    outcome "ignored": not an image file at all for the folder scanner (a symlink pointing at itself, a
    named pipe); named directly, the decoder skips it with `reason` (and never blocks on the pipe).
Data folders: `one_class`, `empty_class`, `symlink_loop_folder` and `many_tiny_images` build whole trees.

Everything is tiny and written with Pillow (or by hand where Pillow refuses to write the bad thing).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

Outcome = Literal["decoded", "skipped", "ignored"]

# Declared size of the decompression bomb: 40000 x 40000 = 1.6 gigapixels, a few hundred bytes on disk.
BOMB_SIDE = 40_000
LONG_NAME_BYTES = 255  # the usual file-name limit (ext4, xfs, tmpfs)


@dataclass(frozen=True)
class BadInput:
    """One file written by the generator and what zoo must do with it."""

    kind: str
    path: Path
    outcome: Outcome
    reason: str = ""  # a substring of the reason the decoder gives when the file is named directly


def good_image(path: Path, seed: int = 0, size: tuple[int, int] = (40, 48)) -> Path:
    """A small valid RGB image (format from the extension), distinct per seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A PNG whose header declares side x side pixels over a tiny (incomplete) data stream."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (side + 1) * 4, 9)  # four rows of zeros; the rest never arrives
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def _noise(size: tuple[int, int] = (32, 32), seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _animated_gif(path: Path) -> Path:
    frames = [Image.new("P", (24, 24), colour) for colour in (1, 2, 3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    return path


def _palette_with_transparency(path: Path) -> Path:
    image = _noise().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.save(path, transparency=0)
    return path


def _sixteen_bit(path: Path) -> Path:
    values = np.linspace(0, 65535, 32 * 32, dtype=np.uint16).reshape(32, 32)
    Image.fromarray(values).save(path)  # uint16 -> mode I;16
    return path


def _non_utf8_name(folder: Path) -> Path:
    """A file whose name is Latin-1 bytes (invalid UTF-8), seen by Python as a surrogate-escaped str."""
    name = os.fsdecode(b"caf\xe9-\xff.png")
    return good_image(folder / name, seed=11)


# kind -> (writer(folder) -> path, outcome, reason)
_IMAGE_CASES: dict[str, tuple[Callable[[Path], Path], Outcome, str]] = {
    "zero_byte": (lambda d: _write(d / "zero.jpg", b""), "skipped", "empty file"),
    "truncated_jpeg": (
        lambda d: _write(d / "truncated.jpg", _jpeg_bytes(_noise())[:300]),
        "skipped",
        "truncated",
    ),
    "truncated_png": (
        lambda d: _write(d / "truncated.png", _png_bytes(_noise())[:200]),
        "skipped",
        "truncated",
    ),
    "text_as_jpg": (lambda d: _write(d / "notes.jpg", b"just some words\n"), "skipped", "not an image"),
    "html_as_png": (
        lambda d: _write(d / "page.png", b"<!doctype html><html><body>404</body></html>"),
        "skipped",
        "not an image",
    ),
    "bomb": (lambda d: _write(d / "bomb.png", bomb_png()), "skipped", "decompression-bomb"),
    "png_named_jpg": (lambda d: _write(d / "really_png.jpg", _png_bytes(_noise())), "decoded", ""),
    "cmyk_jpeg": (
        lambda d: (_noise().convert("CMYK").save(d / "cmyk.jpg"), d / "cmyk.jpg")[1],
        "decoded",
        "",
    ),
    "png_16bit": (lambda d: _sixteen_bit(d / "deep16.png"), "decoded", ""),
    "png_palette_transparency": (lambda d: _palette_with_transparency(d / "palette.png"), "decoded", ""),
    "animated_gif": (lambda d: _animated_gif(d / "animated.gif"), "decoded", ""),
    "one_pixel": (lambda d: good_image(d / "dot.png", seed=5, size=(1, 1)), "decoded", ""),
    "non_utf8_name": (_non_utf8_name, "decoded", ""),
    "non_utf8_name_empty": (
        lambda d: _write(d / os.fsdecode(b"\xff-empty.png"), b""),
        "skipped",
        "empty file",
    ),
    "long_name": (
        lambda d: good_image(d / ("n" * (LONG_NAME_BYTES - 4) + ".png"), seed=12),
        "decoded",
        "",
    ),
    "self_symlink": (
        lambda d: (os.symlink("self.jpg", d / "self.jpg"), d / "self.jpg")[1],
        "ignored",
        "symbolic links",
    ),
    "fifo": (lambda d: (os.mkfifo(d / "pipe.jpg"), d / "pipe.jpg")[1], "ignored", "not a regular file"),
    # macOS leaves `._NAME` AppleDouble files (metadata, not pixels) next to every copied image
    "appledouble": (
        lambda d: _write(d / "._photo.jpg", b"\x00\x05\x16\x07" + bytes(60)),
        "ignored",
        "not an image",
    ),
    "upper_case_extension": (lambda d: good_image(d / "SHOUT.JPG", seed=14), "decoded", ""),
}

IMAGE_KINDS: tuple[str, ...] = tuple(_IMAGE_CASES)


def write_bad_image(folder: Path, kind: str) -> BadInput:
    """Write one kind of bad input into `folder`."""
    writer, outcome, reason = _IMAGE_CASES[kind]
    folder.mkdir(parents=True, exist_ok=True)
    return BadInput(kind, writer(folder), outcome, reason)


def write_bad_images(folder: Path) -> list[BadInput]:
    """Every kind of bad image file, all in `folder`."""
    return [write_bad_image(folder, kind) for kind in IMAGE_KINDS]


def unreadable_file(folder: Path) -> BadInput:
    """A valid image with mode 000 (root reads it anyway: the test drops to `nobody` to try it)."""
    path = good_image(folder / "locked.png", seed=13)
    path.chmod(0)
    return BadInput("unreadable", path, "skipped", "permission denied")


def labelled_folder(root: Path, classes: dict[str, int], seed: int = 0) -> Path:
    """root/<class>/<n>.png with the given number of good images per class."""
    for offset, (name, count) in enumerate(classes.items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            good_image(folder / f"{index}.png", seed=seed + 100 * offset + index)
    return root


def one_class(root: Path) -> Path:
    return labelled_folder(root, {"only": 4})


def empty_class(root: Path) -> Path:
    labelled_folder(root, {"full": 4, "other": 4})
    (root / "empty").mkdir()
    (root / "empty" / "readme.txt").write_text("no images here")
    return root


def symlink_loop_folder(root: Path) -> Path:
    """Two classes of good images, where class `a` also holds a link to itself and a link to the root."""
    labelled_folder(root, {"a": 3, "b": 3})
    os.symlink(".", root / "a" / "again")
    os.symlink("..", root / "a" / "up")
    os.symlink("self.png", root / "a" / "self.png")
    return root


def corrupt_run_dirs(run_dir: Path, dest: Path) -> dict[str, Path]:
    """Copies of a run directory whose model.keras is random bytes, cut in half, or empty."""
    import shutil

    original = (run_dir / "model.keras").read_bytes()
    damage = {
        "garbage": np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "truncated": original[: len(original) // 2],
        "empty": b"",
    }
    out = {}
    for name, data in damage.items():
        copy = dest / f"run_{name}"
        shutil.copytree(run_dir, copy)
        (copy / "model.keras").write_bytes(data)
        out[name] = copy
    return out


def bad_weight_files(folder: Path, real_weights: Path) -> dict[str, Path]:
    """`.h5` weight files Keras cannot open: random bytes, and a real file cut in half."""
    folder.mkdir(parents=True, exist_ok=True)
    garbage = folder / "garbage.h5"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    truncated = folder / "truncated.h5"
    data = real_weights.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {"garbage": garbage, "truncated": truncated}


def bad_csvs(folder: Path, image: Path) -> dict[str, Path]:
    """`path,label` files that are not UTF-8: a Latin-1 label, and a PNG renamed to .csv."""
    folder.mkdir(parents=True, exist_ok=True)
    latin = folder / "latin1.csv"
    latin.write_bytes(b"path,label\n" + os.fsencode(image) + b",caf\xe9\n" + os.fsencode(image) + b",tea\n")
    binary = folder / "image.csv"
    binary.write_bytes(image.read_bytes())
    return {"latin1": latin, "binary": binary}


def many_tiny_images(root: Path, count: int = 10_000, classes: int = 4) -> Path:
    """`count` 8x8 PNGs spread over `classes` class folders (about 1 s: one encoded image, copied)."""
    data = _png_bytes(Image.new("RGB", (8, 8), (200, 30, 30)))
    for index in range(count):
        folder = root / f"class{index % classes}"
        if index < classes:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:05d}.png").write_bytes(data)
    return root
