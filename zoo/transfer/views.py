"""Stage 1's extra views of a training image: each is one more feature row for the head to train on.

The frozen backbone maps an image to one vector, so without augmentation stage 1 sees each training image
once. A view (the image flipped left-right, or its centre cropped and resized back) is a new vector the
backbone computes once and the feature cache keeps (zoo.transfer.features, keyed by the view), so the head
gets some of augmentation's benefit at the price of one backbone pass per view. Only the images stage 1
fits on get views: the inner split and the validation images stay one row each, so no flipped copy of a
scored image is ever trained on. Tuning (zoo.transfer.tuning) keeps the views only when the inner split
scores better with them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from zoo.choices import EXTRA_VIEWS
from zoo.transfer.settings import FinetuneSettings

CROP_SHARE = 0.8  # the crop view keeps the centre 80% of each side


def views_used(cfg: FinetuneSettings) -> int:
    """Stage 1's rows per fitted image: the chosen or given count ("auto" before tuning chose: 1)."""
    return 1 if cfg.views == "auto" else int(cfg.views)


def extra_views(count: int) -> tuple[str, ...]:
    """The views beyond the image itself that `count` rows per image take."""
    return EXTRA_VIEWS[: count - 1]


def view_of(pixels: np.ndarray, view: str) -> np.ndarray:
    """`view` of a batch of decoded images (N x H x W x 3, uint8), the same shape."""
    if view == "flip":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if view == "crop":
        height, width = pixels.shape[1:3]
        top, left = round(height * (1 - CROP_SHARE) / 2), round(width * (1 - CROP_SHARE) / 2)
        return np.stack(
            [_resized(image[top : height - top, left : width - left], (width, height)) for image in pixels]
        )
    raise ValueError(f"unknown view {view!r}")


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
