"""Property-based tests of the one image decoder: on random bytes and on mutated valid images of every
format zoo reads, decode_image either returns (H, W, 3) uint8 pixels or raises zoo.errors.BadImage with a
one-line reason. Any other exception type (or a hang) is a bug.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from zoo.data.decode import ResizePolicy, decode_image
from zoo.errors import BadImage

POLICY = ResizePolicy(16)
# A tight pixel limit: a mutated header may declare a huge image; the guard must refuse it cheaply.
MAX_PIXELS = 1_000_000
# Pillow warns (UserWarning) about the corrupt metadata it skips; the property is about what it raises.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _encoded(fmt: str, mode: str, **options) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


SEEDS = {
    "png": _encoded("PNG", "RGB"),
    "png_palette": _encoded("PNG", "P", transparency=0),
    "jpeg": _encoded("JPEG", "RGB"),
    "jpeg_cmyk": _encoded("JPEG", "CMYK"),
    "gif": _encoded("GIF", "P"),
    "bmp": _encoded("BMP", "RGB"),
    "webp": _encoded("WEBP", "RGB"),
    "tiff": _encoded("TIFF", "RGB"),
}


def check_decode(path: Path) -> None:
    """The property: pixels of the policy's shape, or BadImage with a one-line reason."""
    try:
        pixels = decode_image(path, POLICY, max_pixels=MAX_PIXELS)
    except BadImage as exc:
        assert exc.reason and "\n" not in exc.reason
        assert exc.path == path
    else:
        assert pixels.dtype == np.uint8 and pixels.shape == (16, 16, 3)


@FUZZ
@given(data=st.binary(min_size=0, max_size=2048))
def test_random_bytes_decode_or_raise_bad_image(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "random.jpg"
    path.write_bytes(data)
    check_decode(path)


@FUZZ
@given(
    data=st.binary(min_size=0, max_size=512),
    magic=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF", b"II*\x00"]),
)
def test_random_bytes_behind_a_real_magic_number(data: bytes, magic: bytes, tmp_path: Path) -> None:
    path = tmp_path / "magic.png"
    path.write_bytes(magic + data)
    check_decode(path)


@pytest.mark.parametrize("fmt", list(SEEDS))
@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_mutated_valid_images(
    fmt: str, flips: list[tuple[int, int]], cut: int | None, tmp_path: Path
) -> None:
    """Overwrite a few bytes (headers included) and maybe truncate: still pixels or BadImage."""
    data = bytearray(SEEDS[fmt])
    for offset, value in flips:
        data[offset % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path / f"mutated.{fmt}"
    path.write_bytes(bytes(data))
    check_decode(path)


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_unmutated_seeds_decode(fmt: str, tmp_path: Path) -> None:
    """The seeds themselves are valid: the mutation tests start from images that decode."""
    path = tmp_path / f"seed.{fmt}"
    path.write_bytes(SEEDS[fmt])
    assert decode_image(path, POLICY).shape == (16, 16, 3)
