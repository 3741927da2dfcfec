"""The one image decoder every command uses (predict, embed, evaluate, finetune): file -> raw RGB uint8.

Steps, in order, so training and prediction always see the same pixels:
1. open with Pillow (reads the header only) and refuse images over the pixel limit (decompression bombs)
   before a single pixel is decoded;
2. take the first frame of animated images and apply the EXIF orientation (`ImageOps.exif_transpose`);
3. convert every mode to 8-bit RGB: alpha (RGBA, LA, PA, palette or grey with a transparent colour) is
   composited on white, 16-bit and 32-bit integer images are scaled (65535 -> 255), float images are
   read as 0..1 when they fit in it, else as 0..255;
4. apply the model's `ResizePolicy` (timm-style): scale so the image covers `size / crop_pct`, keeping
   the aspect ratio, then take the centre `size` crop.

Anything that cannot be decoded raises `zoo.errors.BadImage` with `.path` and a one-line `.reason`.
`decode_batch` runs the decoder on a thread pool (Pillow releases the GIL while decoding) and keeps order.

This module needs nothing of zoo but `errors`: callers pass the resize policy (see `ResizePolicy.from_spec`).
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zoo.choices import ON_BAD_IMAGE, OnBadImage
from zoo.errors import BadImage, InvalidSetting

# 100 megapixels (e.g. 10000x10000). Pillow's own guard warns above ~89 MP and refuses above ~179 MP;
# zoo enforces its own limit from the header instead, so Pillow's warning is redundant noise.
DEFAULT_MAX_PIXELS = 100_000_000
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

_BACKGROUND = (255, 255, 255)  # alpha is composited on white
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_WIDE_INT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


# ------------------------------------------------------------------------------------------ the policy
@dataclass(frozen=True)
class ResizePolicy:
    """How a decoded image becomes a model input: the output size, the filter and the centre-crop share.

    `size` is an int (square) or (height, width). `crop_pct=0.875` at size 224 resizes the shorter side
    to floor(224 / 0.875) = 256 and crops the centre 224x224; `crop_pct=1.0` resizes straight to cover.
    """

    size: int | tuple[int, int]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0

    def __post_init__(self) -> None:
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(int(s) for s in self.size)
        if len(size) != 2 or min(size) < 1:
            raise InvalidSetting(f"size must be a positive int or (height, width), got {self.size!r}")
        object.__setattr__(self, "size", size)
        if self.interpolation not in RESAMPLING:
            raise InvalidSetting(
                f"interpolation must be one of {', '.join(RESAMPLING)}, got {self.interpolation!r}"
            )
        if not 0.0 < self.crop_pct <= 1.0:
            raise InvalidSetting(f"crop_pct must be in (0, 1], got {self.crop_pct}")

    @classmethod
    def from_spec(cls, spec: Any, size: int | tuple[int, int] | None = None) -> ResizePolicy:
        """The policy a registry entry (a ModelSpec) publishes; `size` overrides its input size."""
        return cls(
            size=spec.input_size if size is None else size,
            interpolation=spec.interpolation,
            crop_pct=spec.crop_pct,
        )

    @property
    def height(self) -> int:
        return self.size[0]  # type: ignore[index]

    @property
    def width(self) -> int:
        return self.size[1]  # type: ignore[index]

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) an image of this shape is resized to before the centre crop."""
        box_h = math.floor(self.height / self.crop_pct)
        box_w = math.floor(self.width / self.crop_pct)
        if box_h / height >= box_w / width:  # height is the binding side
            return box_h, max(box_w, int(width * box_h / height))
        return max(box_h, int(height * box_w / width)), box_w

    def apply(self, image: Image.Image) -> Image.Image:
        """Resize (aspect kept) to cover size / crop_pct, then crop the centre `size`."""
        width, height = image.size
        new_h, new_w = self.resized_shape(height, width)
        if (new_h, new_w) != (height, width):
            image = image.resize((new_w, new_h), RESAMPLING[self.interpolation])
        top = int(round((new_h - self.height) / 2.0))
        left = int(round((new_w - self.width) / 2.0))
        if (top, left, new_h, new_w) != (0, 0, self.height, self.width):
            image = image.crop((left, top, left + self.width, top + self.height))
        return image


# ----------------------------------------------------------------------------------------- one image
def decode_image(
    path: str | os.PathLike[str],
    policy: ResizePolicy | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode one file to a uint8 (H, W, 3) RGB array; with a policy, H, W is the policy's size.

    Raises BadImage (with `.path` and `.reason`) for a missing, empty, non-image, truncated or corrupt
    file, or one over `max_pixels` (checked from the header, before any pixel is decoded).
    """
    path = Path(path)
    _check_file(path)
    return _decode(path, path, policy, max_pixels)


def decode_bytes(
    data: bytes, name: str, policy: ResizePolicy | None = None, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """decode_image for a file's bytes already read (e.g. by Spark's binaryFile source); `name` is the
    file's path or URL, for messages. Same checks, same pixels."""
    if not data:
        raise BadImage(Path(name), "empty file (0 bytes)")
    return _decode(Path(name), io.BytesIO(data), policy, max_pixels)


def decode_rgb(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Steps 1-3 of decode_image: the whole image as 8-bit RGB, not resized yet. Resizing it with a policy
    (`policy.apply`) gives decode_image(path, policy)'s very pixels, so one decode serves many sizes."""
    path = Path(path)
    _check_file(path)
    return _decode_rgb(path, path, max_pixels)


def _decode(
    path: Path, source: Path | io.BytesIO, policy: ResizePolicy | None, max_pixels: int
) -> np.ndarray:
    rgb = _decode_rgb(path, source, max_pixels)
    if policy is not None:
        rgb = policy.apply(rgb)
    return np.asarray(rgb, dtype=np.uint8)


def _decode_rgb(path: Path, source: Path | io.BytesIO, max_pixels: int) -> Image.Image:
    try:
        with Image.open(source) as image:
            _check_pixels(path, image, max_pixels)
            image.seek(0)  # animated GIF/PNG/WebP: the first frame
            image.load()
            rgb = to_rgb(ImageOps.exif_transpose(image))
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage(path, "not an image (format not recognised)") from None
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fired in Image.open (above 2x Image.MAX_IMAGE_PIXELS): same refusal, same words.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else None
        raise _too_large(path, pixels, min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0))) from None
    except MemoryError:
        raise BadImage(path, "too large to decode in memory") from None
    except Exception as exc:  # Pillow's plugins raise OSError, SyntaxError, ValueError, struct.error...
        raise BadImage(path, f"truncated or corrupt image data ({_describe(exc)})") from None
    return rgb


def _check_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BadImage(path, "file not found") from None
    except OSError as exc:
        raise BadImage(path, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadImage(path, "is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):  # opening a pipe or a device could block forever or never end
        raise BadImage(path, "not a regular file (a pipe, socket or device)")
    if info.st_size == 0:
        raise BadImage(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise BadImage(path, "cannot read: permission denied")


def _check_pixels(path: Path, image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise _too_large(path, width * height, max_pixels, f"{width}x{height} = ")
    if width == 0 or height == 0:
        raise BadImage(path, f"has no pixels ({width}x{height})")


def _too_large(path: Path, pixels: int | None, limit: int, dims: str = "") -> BadImage:
    count = f"{dims}{pixels:,} pixels" if pixels is not None else "the pixel count"
    return BadImage(
        path,
        f"too large: {count} exceeds the limit of {limit:,} (decompression-bomb guard)",
        hint="raise max_pixels only for files you trust",
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: alpha on white, wide integers scaled, floats read as 0..1 or 0..255."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in _WIDE_INT_MODES:
        # Pillow's own convert("RGB") clips 16-bit values at 255 instead of scaling them.
        values = np.asarray(image).astype(np.float64)
        return _grey_to_rgb(np.clip(np.rint(values / 257.0), 0, 255))
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        scale = 255.0 if values.size and values.min() >= 0.0 and values.max() <= 1.0 else 1.0
        return _grey_to_rgb(np.clip(np.rint(values * scale), 0, 255))
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, P, CMYK (Pillow handles Adobe-inverted JPEGs), YCbCr, LAB, HSV


def _grey_to_rgb(values: np.ndarray) -> Image.Image:
    grey = values.astype(np.uint8)
    return Image.fromarray(np.repeat(grey[..., None], 3, axis=-1))


# -------------------------------------------------------------------------------------- many images
@dataclass
class DecodedBatch:
    """Decoded images stacked as (N, H, W, 3) uint8, the paths kept (in order) and those skipped, why."""

    images: np.ndarray
    paths: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def check_on_bad_image(on_bad_image: str) -> None:
    """InvalidSetting unless `on_bad_image` is one of zoo.choices.ON_BAD_IMAGE."""
    if on_bad_image not in ON_BAD_IMAGE:
        allowed = " or ".join(map(repr, ON_BAD_IMAGE))
        raise InvalidSetting(f"on_bad_image must be {allowed}, got {on_bad_image!r}")


def decode_batch(
    paths: Iterable[str | os.PathLike[str]],
    policy: ResizePolicy,
    *,
    on_bad_image: OnBadImage = "skip",
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DecodedBatch:
    """Decode many files in parallel, in order. "skip" records bad files in `.skipped`; "fail" raises
    the first BadImage (in input order)."""
    check_on_bad_image(on_bad_image)
    path_list = [Path(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        results = pool.map(lambda p: _try_decode(p, policy, max_pixels), path_list)
        return _collect(path_list, results, policy, on_bad_image, pool)


def _try_decode(path: Path, policy: ResizePolicy, max_pixels: int) -> np.ndarray | BadImage:
    try:
        return decode_image(path, policy, max_pixels=max_pixels)
    except BadImage as exc:
        return exc


def _collect(
    paths: Sequence[Path],
    results: Iterable[np.ndarray | BadImage],
    policy: ResizePolicy,
    on_bad_image: OnBadImage,
    pool: ThreadPoolExecutor,
) -> DecodedBatch:
    images, kept, skipped = [], [], []
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, BadImage):
            if on_bad_image == "fail":
                pool.shutdown(wait=False, cancel_futures=True)
                raise result
            skipped.append((path, result.reason))
        else:
            images.append(result)
            kept.append(path)
    stacked = np.stack(images) if images else np.zeros((0, policy.height, policy.width, 3), dtype=np.uint8)
    return DecodedBatch(stacked, kept, skipped)


def iter_batches(
    paths: Iterable[str | os.PathLike[str]],
    policy: ResizePolicy,
    batch_size: int = 32,
    *,
    on_bad_image: OnBadImage = "skip",
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[DecodedBatch]:
    """Decode in chunks of `batch_size` files, decoding the next chunk while the caller uses this one.

    Each yielded batch holds the images decoded from its chunk (fewer when files were skipped).
    """
    if batch_size < 1:
        raise InvalidSetting(f"batch_size must be at least 1, got {batch_size}")
    path_list = [Path(p) for p in paths]
    chunks = [path_list[i : i + batch_size] for i in range(0, len(path_list), batch_size)]
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        pending = None
        for index, chunk in enumerate(chunks):
            if pending is None:
                pending = [pool.submit(_try_decode, p, policy, max_pixels) for p in chunk]
            current = pending
            following = chunks[index + 1] if index + 1 < len(chunks) else []
            pending = [pool.submit(_try_decode, p, policy, max_pixels) for p in following] or None
            yield _collect(chunk, (f.result() for f in current), policy, on_bad_image, pool)
