"""The backbone-feature cache under ZOO_HOME/features: pooled backbone outputs, computed once per content.

`features_for` is stage 1's way in: the features of a run's images, from the cache or computed and stored.

A frozen backbone in inference mode maps an image to the same vector every time, so stage 1 (no
augmentation) needs it once per image and model. The cache key covers everything that changes the vector:
    extractor key = sha256(model name, checksum of the backbone's weight values, image size, resize policy,
                           and the view for an extra view of the images: zoo.transfer.views)
    content key   = sha256(extractor key, the sorted sha256 digests of the image files' bytes)
Layout: features/<extractor key[:16]>/<content key>.npz with `digests`, `features` (float32, one row per
decodable image) and `bad_digests`/`bad_reasons` (images the decoder refused, so a hit skips them too).
Writes are atomic (temporary file in the same folder, then os.replace): a killed run leaves no torn entry.
"""

from __future__ import annotations

import hashlib
import json
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import config
from zoo.atomic import atomic_path
from zoo.engine.fingerprint import weights_sha256
from zoo.hashing import hash_file

if TYPE_CHECKING:
    import keras

FORMAT_VERSION = 1
_traced: weakref.WeakKeyDictionary[keras.Model, Callable[..., Any]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CachedFeatures:
    """Features by image digest, and the digests of images that could not be decoded (with why)."""

    by_digest: dict[str, np.ndarray]
    bad: dict[str, str]


def image_digests(paths: Sequence[Path]) -> list[str]:
    """sha256 of each file's bytes (unreadable files hash their path, so the decoder reports them)."""
    digests = []
    for path in paths:
        try:
            digests.append(hash_file(Path(path)).sha256)
        except OSError:
            digests.append("unreadable:" + hashlib.sha256(str(path).encode()).hexdigest())
    return digests


def extractor_key(
    model_name: str, weights_sha256: str, image_size: int, policy: object, view: str | None = None
) -> str:
    fields: dict[str, object] = {
        "version": FORMAT_VERSION,
        "model": model_name,
        "weights": weights_sha256,
        "image_size": image_size,
        "policy": repr(policy),
    }
    if view is not None:  # the images themselves keep the key they always had
        fields["view"] = view
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def content_key(extractor: str, digests: Sequence[str]) -> str:
    digest = hashlib.sha256(extractor.encode())
    for item in sorted(set(digests)):
        digest.update(item.encode())
    return digest.hexdigest()


class FeatureCache:
    """Read and write cached features for one extractor key."""

    def __init__(self, extractor: str, root: Path | None = None) -> None:
        self.extractor = extractor
        self.folder = (root or config.features_dir()) / extractor[:16]

    def path(self, digests: Sequence[str]) -> Path:
        return self.folder / f"{content_key(self.extractor, digests)}.npz"

    def load(self, digests: Sequence[str]) -> CachedFeatures | None:
        """The cached entry for exactly this set of images, or None (a miss, or an unreadable entry)."""
        path = self.path(digests)
        try:
            with np.load(path, allow_pickle=False) as data:  # each data[key] reads the file again: once each
                digests, features = data["digests"], data["features"]
                bad_digests, bad_reasons = data["bad_digests"], data["bad_reasons"]
            rows = {str(d): features[i] for i, d in enumerate(digests)}
            bad = {str(d): str(r) for d, r in zip(bad_digests, bad_reasons, strict=True)}
        except (OSError, KeyError, ValueError):
            return None
        return CachedFeatures(rows, bad)

    def store(self, digests: Sequence[str], features: np.ndarray, bad: dict[str, str]) -> Path:
        """Write the entry atomically; `digests[i]` is the image of `features[i]`."""
        path = self.path([*digests, *bad])
        with atomic_path(path, prefix=".entry.", suffix=".npz") as tmp, tmp.open("wb") as handle:
            np.savez(
                handle,
                digests=np.asarray(list(digests), dtype=str),
                features=np.asarray(features, np.float32),
                bad_digests=np.asarray(list(bad), dtype=str),
                bad_reasons=np.asarray(list(bad.values()), dtype=str),
            )
        return path


@dataclass
class ImageFeatures:
    """Stage 1's input: each decodable image's features (in the order of the paths asked for), the images
    the decoder refused (with why), and whether the cache already held them."""

    by_path: dict[Path, np.ndarray]
    skipped: list[tuple[Path, str]]
    cache_hit: bool


# () -> (features of every decodable image, in path order; the images the decoder refused, with why)
Compute = Callable[[], tuple[np.ndarray, list[tuple[Path, str]]]]


def features_for(
    paths: Sequence[Path],
    model_name: str,
    backbone: keras.Model,
    image_size: int,
    policy: object,
    compute: Compute,
    log: Callable[[str], None],
    view: str | None = None,
) -> ImageFeatures:
    """The backbone features of `paths` (or of their `view`): from the cache, or computed (by `compute`)
    and cached."""
    digests = image_digests(paths)
    cache = FeatureCache(extractor_key(model_name, weights_sha256(backbone), image_size, policy, view))
    cached = cache.load(digests)
    hit = cached is not None
    what = "backbone features" + (f" ({view} view)" if view else "")
    if cached is None:
        started = time.perf_counter()
        features, skipped = compute()
        refused = {path for path, _ in skipped}
        digest_of = dict(zip(paths, digests, strict=True))
        bad = {digest_of[p]: reason for p, reason in skipped}
        cache.store([digest_of[p] for p in paths if p not in refused], features, bad)
        cached = cache.load(digests)
        assert cached is not None
        log(f"computed {what} in {time.perf_counter() - started:.1f}s (cached)")
    else:
        log(f"{what}: cache hit ({len(cached.by_digest)} images)")
    by_path = {}
    skipped = []
    for path, digest in zip(paths, digests, strict=True):
        if digest in cached.bad:
            skipped.append((path, cached.bad[digest]))
        else:
            by_path[path] = cached.by_digest[digest]
    return ImageFeatures(by_path, skipped, hit)


def extract(extractor: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The extractor's outputs (inference mode) for raw RGB images, float32, in batches: a tf.function on
    TensorFlow, zoo's keras runtime forward pass on JAX and PyTorch (zoo.engine.backend)."""
    import keras

    backend = keras.config.backend()
    if backend != "tensorflow":
        from zoo.engine.backend import backend_forward

        forward = backend_forward(extractor, backend)
        batch = max(batch_size, 32)
        chunks = [forward(images[i : i + batch].astype(np.float32)) for i in range(0, len(images), batch)]
        return np.concatenate(chunks)
    import tensorflow as tf

    forward = _traced.get(extractor)
    if forward is None:  # traced once per extractor: a run's extra views reuse the image pass's graph
        forward = _traced[extractor] = tf.function(
            lambda x: extractor(x, training=False), reduce_retracing=True
        )
    batch = max(batch_size, 32)
    chunks = [forward(tf.constant(images[i : i + batch], tf.float32)) for i in range(0, len(images), batch)]
    return np.concatenate([np.asarray(c, np.float32) for c in chunks])
