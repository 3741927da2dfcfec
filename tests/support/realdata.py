"""Real models and real photos for tests whose outputs must really differ from input to input.

The ImageNet classifier (with its head) and the pretrained backbone come from ../shared/fixtures, the
photos from ../shared/data/trashnet6 (see their READMEs); ZOO_FIXTURES / ZOO_DATA override the folders.
A test that needs one skips, with the reason, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from support import REPO

CLASSIFIER_FILE = "mobilenet_2_5_128_tf.h5"
FEATURES_FILE = "mobilenet_2_5_224_tf_no_top.h5"
TRASHNET = "trashnet6"
CLASSES = ("cardboard", "glass", "metal", "paper", "plastic", "trash")


def shared_file(kind: str, env: str, name: str) -> Path:
    """`name` in the shared `kind` folder (`$env`, else ../shared beside the checkout, or beside a git
    worktree's parent folder); the test is skipped when it is nowhere."""
    candidates = [Path(os.environ[env]) / name] if os.environ.get(env) else []
    candidates += [root / "shared" / kind / name for root in (REPO.parent, REPO.parent.parent)]
    for path in candidates:
        if path.exists():
            return path
    pytest.skip(f"{name} not found (looked in ../shared/{kind}; set {env} to its folder)")


def photo_paths(per_class: int, split: str = "val", offset: int = 0) -> list[Path]:
    """`per_class` photos of each TrashNet class (sorted names, from `offset`), class after class."""
    root = shared_file("data", "ZOO_DATA", TRASHNET) / split
    return [p for c in CLASSES for p in sorted((root / c).glob("*.jpg"))[offset : offset + per_class]]


def copy_photos(root: Path, per_class: int, split: str) -> Path:
    """`root/<class>/` folders holding copies of `per_class` photos of each class from `split`; `root`."""
    import shutil

    for photo in photo_paths(per_class, split):
        (root / photo.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, root / photo.parent.name / photo.name)
    return root


def photos(per_class: int, size: int, split: str = "val", offset: int = 0) -> np.ndarray:
    """Real photos as float32 raw RGB 0-255, (N, size, size, 3), decoded by zoo's decoder."""
    from zoo.data.decode import ResizePolicy, decode_batch

    decoded = decode_batch(photo_paths(per_class, split, offset), ResizePolicy(size), on_bad_image="fail")
    return decoded.images.astype(np.float32)


def _raw_rgb_in(network):  # type: ignore[no-untyped-def]
    """`network` behind MobileNet's [-1, 1] scaling, so the model takes raw RGB 0-255 like zoo's."""
    import keras

    inputs = keras.Input(network.input_shape[1:])
    return keras.Model(inputs, network(keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)))


def imagenet_classifier():  # type: ignore[no-untyped-def]
    """The real ImageNet MobileNet (alpha 0.25, 128x128) with its 1000-class softmax head."""
    import keras

    weights = shared_file("fixtures", "ZOO_FIXTURES", CLASSIFIER_FILE)
    network = keras.applications.MobileNet(
        alpha=0.25, input_shape=(128, 128, 3), include_top=True, weights=str(weights)
    )
    return _raw_rgb_in(network)


def pretrained_features(weights: Path, size: int = 96):  # type: ignore[no-untyped-def]
    """The real pretrained MobileNet (alpha 0.25) backbone, average-pooled: 256 features per image."""
    import keras

    network = keras.applications.MobileNet(
        alpha=0.25, include_top=False, weights=str(weights), input_shape=(size, size, 3), pooling="avg"
    )
    return _raw_rgb_in(network)


def wrong_outputs(reference: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs a broken export could give: another input's (shifted by one) and one constant output."""
    return {
        "outputs of other inputs": np.roll(reference, 1, axis=0),
        "one constant output": np.repeat(reference.mean(0, keepdims=True), len(reference), axis=0),
    }
