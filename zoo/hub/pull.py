"""`zoo.pull`: deliver a verified weight file from the cache, a local cache to adopt, a mirror or the web.

Order (DESIGN §4): the zoo cache -> Keras' and Hugging Face's caches (only with a registry checksum)
-> mirrors -> the registry's sources (zoo.hub.fetch). A mismatch names the source and the next source
is tried. A file without a registry checksum is held to the sha256 its manifest recorded (trust on first
use), so a later pull notices a changed file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from zoo import registry
from zoo.hub import cache
from zoo.hub.cache import Expected, PullResult
from zoo.hub.progress import note
from zoo.registry import ModelSpec, WeightFile


def pull(
    name_or_spec: str | ModelSpec,
    variant: str = "top",
    *,
    mirrors: Iterable[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """The path of a verified file of `variant` (any the entry declares: "top", "notop", "config") in the
    cache, pulled if needed."""
    return pull_weights(name_or_spec, variant, mirrors=mirrors, force=force, progress=progress).path


def pull_weights(
    name_or_spec: str | ModelSpec,
    variant: str = "top",
    *,
    mirrors: Iterable[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> PullResult:
    """Like `pull`, with what was verified and where it came from."""
    spec = registry.resolve(name_or_spec)
    weight = spec.weight(variant)
    if spec.is_keras_hub and variant != "config":
        # a keras-hub weight set is two files: the safetensors is no use without its config.json
        pull_weights(spec, "config", mirrors=mirrors, force=force, progress=progress)
    if not force and (hit := _cache_hit(spec, weight)):
        return hit
    from filelock import FileLock  # here, not at the top: a cached pull never needs it

    cache.lock_path(weight.file).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache.lock_path(weight.file))):
        if not force and (hit := _cache_hit(spec, weight)):
            return hit  # another process pulled it while we waited for the lock
        from zoo.hub import fetch  # only on a cache miss: it loads the HTTP stack

        expected = _expected(spec, weight)
        result = None if force else fetch.adopt_local(spec, weight, expected)
        if result is None:
            result = fetch.from_sources(spec, weight, expected, mirrors, progress)
    if progress:
        note(f"verified sha256:{result.sha256} ({result.trust}) {result.path}")
    return result


def _cache_hit(spec: ModelSpec, weight: WeightFile) -> PullResult | None:
    path = cache.cached_path(spec, weight.variant)
    if path is None:
        return None
    manifest = cache.read_manifest(spec.name, weight.variant)
    trust = weight.checksum_trust
    if manifest is None or manifest.blob != path:
        # the same content, pulled for another model: record it for this one too, so that `zoo cache
        # ls` shows it and `zoo cache rm` of the other model keeps the shared file
        size = path.stat().st_size
        manifest = cache.new_manifest(weight, spec.name, path.parent.name, size, weight.md5, "cache",
                                      trust or cache.TRUST_FIRST_USE)  # fmt: skip
        cache.write_manifest(manifest)
    elif trust is not None and manifest.trust != trust:
        # the registry now says who vouches for this checksum (e.g. a cache labelled before it did)
        manifest = replace(manifest, trust=trust)
        cache.write_manifest(manifest)
    return PullResult.from_manifest(manifest, cached=True)


def _expected(spec: ModelSpec, weight: WeightFile) -> Expected:
    if (expected := Expected.from_registry(weight)) is not None:
        return expected
    recorded = cache.read_manifest(spec.name, weight.variant)
    if recorded is not None and recorded.file == weight.file:  # trust on first use: hold to what we saw
        return Expected(recorded.sha256, None, recorded.size, recorded.trust)
    return Expected(None, None, weight.size, cache.TRUST_FIRST_USE)
