"""zoo select decodes the training photos once and resizes them per candidate: the very pixels a direct
decode at each size gives (so features match zoo finetune's), bad files skipped, and a memory budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from support.realdata import photo_paths

from zoo.data.decode import ResizePolicy, decode_batch
from zoo.selection.decoding import DecodedOnce


def test_one_decode_serves_every_size_with_the_pixels_of_a_direct_decode(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    paths = [*photo_paths(2, split="train"), broken]
    once = DecodedOnce(paths)
    for policy in (ResizePolicy(96, "bilinear", 1.0), ResizePolicy(160, "bicubic", 0.875)):
        expected, got = decode_batch(paths, policy, on_bad_image="skip"), once.batch(policy)
        assert got.images.shape == (12, policy.height, policy.width, 3)
        np.testing.assert_array_equal(got.images, expected.images)
        assert got.paths == expected.paths and got.skipped == expected.skipped
        assert [p for p, _ in got.skipped] == [broken]
    assert once.decodes == 1


def test_over_the_budget_each_size_decodes_the_files_again() -> None:
    paths = photo_paths(1, split="train")
    once = DecodedOnce(paths, budget=384 * 288 * 3 * 2)  # two of six photos fit
    policy = ResizePolicy(96, "bilinear", 1.0)
    for _ in range(2):
        np.testing.assert_array_equal(once.batch(policy).images, decode_batch(paths, policy).images)
    assert once.decodes == 3  # the attempt at keeping them, then one decode a size
