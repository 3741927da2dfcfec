"""Render a small labelled image dataset: shapes whose class colour and brightness do not give away.

Used by `zoo demo` (which must run offline, with nothing downloaded) and by tests that need a task where
pretrained features genuinely help: every image gets a random background and a random foreground colour,
so only the shape separates the classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from zoo.errors import InvalidSetting

SHAPES = ("circle", "square", "triangle", "star")


@dataclass(frozen=True)
class RenderedDataset:
    root: Path
    classes: tuple[str, ...]
    count: int


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        corners = [angle + math.pi / 4 + k * math.pi / 2 for k in range(4)]
        return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in corners]
    if kind == "triangle":
        corners = [angle + k * 2 * math.pi / 3 for k in range(3)]
        return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in corners]
    if kind == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            a = angle + k * math.pi / 5
            points.append((cx + radius * math.cos(a), cy + radius * math.sin(a)))
        return points
    raise InvalidSetting(f"unknown shape {kind!r}")


def render_shape(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB image of `kind` at a random place, size, rotation and colour, on a noisy background."""
    background = rng.integers(0, 256, size=3)
    foreground = rng.integers(0, 256, size=3)
    while np.abs(foreground.astype(int) - background.astype(int)).sum() < 150:  # keep the shape visible
        foreground = rng.integers(0, 256, size=3)
    noise = rng.normal(0, 12, size=(size, size, 3))
    pixels = np.clip(background[None, None, :] + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    r = size * rng.uniform(0.18, 0.32)
    cx, cy = rng.uniform(r, size - r, size=2)
    fill = tuple(int(c) for c in foreground)
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon(_polygon(kind, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=fill)
    return image


def render_dataset(
    root: str | Path,
    *,
    classes: tuple[str, ...] = SHAPES[:3],
    per_class: int = 40,
    size: int = 128,
    seed: int = 0,
    image_format: str = "JPEG",
) -> RenderedDataset:
    """Write `root/<class>/<class>_NNN.jpg` for each class; returns what was written."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    suffix = ".png" if image_format.upper() == "PNG" else ".jpg"
    for kind in classes:
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = render_shape(kind, size, rng)
            image.save(folder / f"{kind}_{i:03d}{suffix}", format=image_format, quality=92)
    return RenderedDataset(root=root, classes=tuple(classes), count=per_class * len(classes))
