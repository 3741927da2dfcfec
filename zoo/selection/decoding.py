"""The training images decoded once for every candidate of a selection, then resized per candidate.

Candidates differ in input size (and resize policy), not in the files: each image is decoded once at full
size (zoo.data.decode.decode_rgb) and each candidate's policy resizes it, which gives exactly the pixels a
direct decode at that size gives (so the features match `zoo finetune`'s and share its feature cache).
The full-size images are kept only while they fit in ORIGINALS_BUDGET bytes; past it, each candidate
decodes the files again, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.decode import DecodedBatch, ResizePolicy, decode_batch, decode_rgb, default_workers
from zoo.errors import BadImage

ORIGINALS_BUDGET = 1 << 30  # bytes of full-size RGB kept in memory (1 GiB: ~3,000 12-megapixel photos /4)


class DecodedOnce:
    """`batch(policy)`: decode_batch(paths, policy, on_bad_image="skip"), decoding each file only once."""

    def __init__(self, paths: Sequence[Path], budget: int = ORIGINALS_BUDGET) -> None:
        self.paths = [Path(p) for p in paths]
        self.budget = budget
        self.decodes = 0  # how many times the files were decoded (1 while the originals fit the budget)
        self._originals: list[Image.Image | BadImage] | None = None
        self._over_budget = False

    def batch(self, policy: ResizePolicy) -> DecodedBatch:
        if self._originals is None and not self._over_budget:
            self._originals = self._decode_originals()
        if self._originals is None:
            self.decodes += 1
            return decode_batch(self.paths, policy, on_bad_image="skip")
        kept = [
            (p, im) for p, im in zip(self.paths, self._originals, strict=True) if isinstance(im, Image.Image)
        ]
        skipped = [
            (p, im.reason)
            for p, im in zip(self.paths, self._originals, strict=True)
            if isinstance(im, BadImage)
        ]
        with ThreadPoolExecutor(max_workers=default_workers()) as pool:
            arrays = list(pool.map(lambda item: np.asarray(policy.apply(item[1]), np.uint8), kept))
        empty = np.zeros((0, policy.height, policy.width, 3), np.uint8)
        return DecodedBatch(np.stack(arrays) if arrays else empty, [p for p, _ in kept], skipped)

    def _decode_originals(self) -> list[Image.Image | BadImage] | None:
        """Every file at full size, or None (and the budget marked spent) when they do not fit."""
        self.decodes += 1
        with ThreadPoolExecutor(max_workers=default_workers()) as pool:
            results = pool.map(_try_decode_rgb, self.paths)
            originals, size = [], 0
            for result in results:
                size += result.width * result.height * 3 if isinstance(result, Image.Image) else 0
                if size > self.budget:
                    self._over_budget = True
                    pool.shutdown(wait=False, cancel_futures=True)
                    return None
                originals.append(result)
        return originals


def _try_decode_rgb(path: Path) -> Image.Image | BadImage:
    try:
        return decode_rgb(path)
    except BadImage as exc:
        return exc
