"""The one image decoder: modes, EXIF, refusals with documented reasons, the resize policy, batches."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from zoo.data.decode import DecodedBatch, ResizePolicy, decode_batch, decode_image, iter_batches
from zoo.errors import BadImage

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def solid(path: Path, mode: str, colour, size=(8, 6), **save) -> Path:
    Image.new(mode, size, colour).save(path, **save)
    return path


def assert_all(pixels: np.ndarray, colour, atol: int = 0) -> None:
    assert pixels.dtype == np.uint8 and pixels.shape[-1] == 3
    diff = np.abs(pixels.astype(int) - np.array(colour)).max()
    assert diff <= atol, f"max deviation {diff} from {colour}"


# ------------------------------------------------------------------------------------------------ modes
def test_rgb_png_is_exact(tmp_path):
    path = solid(tmp_path / "a.png", "RGB", (12, 200, 77))
    pixels = decode_image(path)
    assert pixels.shape == (6, 8, 3)
    assert_all(pixels, (12, 200, 77))


def test_grayscale_becomes_equal_channels(tmp_path):
    pixels = decode_image(solid(tmp_path / "g.png", "L", 90))
    assert_all(pixels, (90, 90, 90))


def test_rgba_is_composited_on_white(tmp_path):
    path = tmp_path / "rgba.png"
    image = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    image.putpixel((0, 0), (0, 0, 255, 0))  # fully transparent blue -> white
    image.putpixel((1, 0), (0, 0, 0, 128))  # half-transparent black -> mid grey
    image.save(path)
    pixels = decode_image(path)
    assert tuple(pixels[0, 0]) == WHITE
    assert np.abs(pixels[0, 1].astype(int) - 127).max() <= 1
    assert tuple(pixels[1, 3]) == RED


def test_grey_with_alpha(tmp_path):
    path = tmp_path / "la.png"
    Image.new("LA", (3, 3), (40, 0)).save(path)
    assert_all(decode_image(path), WHITE)


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    path = tmp_path / "p.png"
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * (254 * 3))  # index 0 black, index 1 green
    image.putpixel((3, 3), 1)
    image.save(path, transparency=0)  # index 0 is transparent
    pixels = decode_image(path)
    assert tuple(pixels[0, 0]) == WHITE
    assert tuple(pixels[3, 3]) == GREEN


def test_palette_gif_first_frame_of_animation(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (5, 5), c).convert("P") for c in (BLUE, RED, GREEN)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(path).n_frames == 3
    assert_all(decode_image(path), BLUE)


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "g16.png"
    values = np.array([[0, 257 * 10, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I;16")
    pixels = decode_image(path)
    assert pixels[0, :, 0].tolist() == [0, 10, 128, 255]
    assert (pixels[..., 0] == pixels[..., 2]).all()


def test_32bit_integer_image_is_read_as_16bit_range(tmp_path):
    path = tmp_path / "i32.tif"
    Image.fromarray(np.full((2, 2), 65535, dtype=np.int32), mode="I").save(path)
    assert_all(decode_image(path), WHITE)


def test_float_image_in_unit_range(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.full((2, 2), 0.5, dtype=np.float32), mode="F").save(path)
    assert_all(decode_image(path), (128, 128, 128))


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # pure red in CMYK
    assert Image.open(path).mode == "CMYK"
    assert_all(decode_image(path), RED, atol=3)


def test_exif_orientation_is_applied(tmp_path):
    # Stored 2 wide x 1 high: left red, right blue. Orientation 6 = "rotate 90 clockwise to display".
    path = tmp_path / "rotated.jpg"
    stored = Image.new("RGB", (32, 16), RED)
    stored.paste(BLUE, (16, 0, 32, 16))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, exif=exif, quality=95)
    pixels = decode_image(path)
    assert pixels.shape == (32, 16, 3)  # displayed portrait
    assert_all(pixels[4:12], RED, atol=6)  # the left half is now on top
    assert_all(pixels[20:28], BLUE, atol=6)


YELLOW = (255, 255, 0)
# The transpose that stores an upright picture so that EXIF orientation N displays it upright again
# (orientation 3: rotate 180 to display; 6: rotate 90 clockwise; 8: rotate 90 counter-clockwise).
STORED_AS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def quadrants(width: int, height: int) -> Image.Image:
    """Upright: top-left red, top-right green, bottom-left blue, bottom-right yellow."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(GREEN, (width // 2, 0, width, height // 2))
    image.paste(BLUE, (0, height // 2, width // 2, height))
    image.paste(YELLOW, (width // 2, height // 2, width, height))
    return image


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_exif_rotated_photo_is_upright_before_a_non_square_resize_and_crop(tmp_path, orientation):
    # upright 100 wide x 50 high; the policy wants 24 high x 40 wide, so it resizes to 48x24 and crops
    # the width: the orientation must be applied first, or the shape and the quadrants come out wrong
    path = tmp_path / f"orientation{orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    quadrants(100, 50).transpose(STORED_AS[orientation]).save(path, exif=exif, quality=95)
    assert Image.open(path).size == ((100, 50) if orientation == 3 else (50, 100))  # stored sideways

    pixels = decode_image(path, ResizePolicy((24, 40)))
    assert pixels.shape == (24, 40, 3)
    assert_all(pixels[3:9, 5:15], RED, atol=12)
    assert_all(pixels[3:9, 25:35], GREEN, atol=12)
    assert_all(pixels[15:21, 5:15], BLUE, atol=12)
    assert_all(pixels[15:21, 25:35], YELLOW, atol=12)


# --------------------------------------------------------------------------------- documented refusals
def refused(path: Path, **kwargs) -> BadImage:
    with pytest.raises(BadImage) as info:
        decode_image(path, **kwargs)
    assert info.value.path == path
    assert str(path) in str(info.value)
    return info.value


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert refused(path).reason == "empty file (0 bytes)"


def test_text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n")
    assert refused(path).reason == "not an image (format not recognised)"


def test_truncated_jpeg(tmp_path):
    buffer = io.BytesIO()
    Image.effect_noise((128, 128), 60).convert("RGB").save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert refused(path).reason.startswith("truncated or corrupt image data")


def test_missing_file_and_directory(tmp_path):
    assert refused(tmp_path / "nope.png").reason == "file not found"
    assert refused(tmp_path).reason == "is a directory, not an image file"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000), 0).save(path, optimize=True)  # ~50 KB on disk, 400 megapixels
    assert path.stat().st_size < 2_000_000
    error = refused(path)
    assert error.reason.startswith("too large: 400,000,000 pixels exceeds the limit of ")
    assert error.reason.endswith("(decompression-bomb guard)")
    medium = tmp_path / "medium.png"  # over zoo's default limit, under Pillow's own refusal
    Image.new("1", (12000, 12000), 0).save(medium, optimize=True)
    assert refused(medium).reason == (
        "too large: 12000x12000 = 144,000,000 pixels exceeds the limit of 100,000,000"
        " (decompression-bomb guard)"
    )


def test_pixel_limit_is_configurable(tmp_path):
    path = solid(tmp_path / "a.png", "RGB", RED, size=(100, 100))
    assert "exceeds the limit of 9,999" in refused(path, max_pixels=9_999).reason
    assert decode_image(path, max_pixels=10_000).shape == (100, 100, 3)


# ------------------------------------------------------------------------------------------ the policy
def test_policy_covers_then_centre_crops(tmp_path):
    # 400x200 (w x h): bands of 100 px red | green | green | blue. crop_pct 0.5 at size 50:
    # shorter side -> 100, so 200x100, then the centre 50x50 lies inside the green bands.
    image = Image.new("RGB", (400, 200), GREEN)
    image.paste(RED, (0, 0, 100, 200))
    image.paste(BLUE, (300, 0, 400, 200))
    path = tmp_path / "bands.png"
    image.save(path)
    policy = ResizePolicy(50, "bilinear", crop_pct=0.5)
    assert policy.resized_shape(200, 400) == (100, 200)
    pixels = decode_image(path, policy)
    assert pixels.shape == (50, 50, 3)
    assert_all(pixels, GREEN)
    wide = decode_image(path, ResizePolicy((20, 80), "nearest", crop_pct=1.0))
    assert wide.shape == (20, 80, 3)
    assert tuple(wide[10, 0]) == RED and tuple(wide[10, -1]) == BLUE


def test_policy_matches_timm_arithmetic():
    policy = ResizePolicy(224, "bicubic", crop_pct=0.875)
    assert policy.resized_shape(480, 640) == (256, 341)  # floor(224 / 0.875) = 256, 640 * 256 / 480
    assert policy.resized_shape(640, 480) == (341, 256)
    assert ResizePolicy(224).resized_shape(100, 100) == (224, 224)  # small images are upscaled


def test_policy_from_spec_and_validation():
    spec = SimpleNamespace(input_size=299, interpolation="bicubic", crop_pct=0.9)
    assert ResizePolicy.from_spec(spec) == ResizePolicy((299, 299), "bicubic", 0.9)
    assert ResizePolicy.from_spec(spec, size=128).size == (128, 128)
    with pytest.raises(ValueError, match="interpolation"):
        ResizePolicy(10, "cubic")
    with pytest.raises(ValueError, match="crop_pct"):
        ResizePolicy(10, crop_pct=0)


# ------------------------------------------------------------------------------------------- batches
def make_mixed_folder(tmp_path: Path) -> list[Path]:
    colours = [RED, GREEN, BLUE, WHITE, (1, 2, 3)]
    paths = [solid(tmp_path / f"{i}.png", "RGB", c, size=(9 + i, 7)) for i, c in enumerate(colours)]
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    return [*paths[:2], bad, *paths[2:]]


def test_decode_batch_keeps_order_and_reports_skips(tmp_path):
    paths = make_mixed_folder(tmp_path)
    batch = decode_batch(paths, ResizePolicy(4), workers=3)
    assert isinstance(batch, DecodedBatch)
    assert batch.images.shape == (5, 4, 4, 3)
    assert batch.paths == [p for p in paths if p.name != "bad.jpg"]
    assert batch.skipped == [(paths[2], "not an image (format not recognised)")]
    for image, colour in zip(batch.images, [RED, GREEN, BLUE, WHITE, (1, 2, 3)], strict=True):
        assert_all(image, colour)


def test_decode_batch_fail_raises_the_first_bad_image(tmp_path):
    paths = make_mixed_folder(tmp_path)
    with pytest.raises(BadImage) as info:
        decode_batch(paths, ResizePolicy(4), on_bad_image="fail")
    assert info.value.path == paths[2]


def test_decode_batch_of_nothing_has_the_policy_shape():
    assert decode_batch([], ResizePolicy((3, 5))).images.shape == (0, 3, 5, 3)


def test_iter_batches_chunks_in_order(tmp_path):
    paths = make_mixed_folder(tmp_path)
    batches = list(iter_batches(paths, ResizePolicy(4), batch_size=2, workers=2))
    assert [len(b) for b in batches] == [2, 1, 2]
    assert [p for b in batches for p in b.paths] == [p for p in paths if p.name != "bad.jpg"]
    assert [s for b in batches for s in b.skipped] == [(paths[2], "not an image (format not recognised)")]
