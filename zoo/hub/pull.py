"""`zoo.pull`: deliver a verified weight file from the cache, a local cache to adopt, a mirror or the web.

Order (DESIGN §4): the zoo cache -> Keras' and Hugging Face's caches (only with a published checksum)
-> mirrors -> the registry's sources (zoo.hub.fetch). A mismatch names the source and the next source
is tried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from zoo import registry
from zoo.hashing import Digests
from zoo.hub import cache
from zoo.hub.progress import note
from zoo.registry import ModelSpec, WeightFile


@dataclass(frozen=True)
class PullResult:
    model: str
    variant: str
    file: str
    path: Path
    sha256: str
    md5: str | None
    size: int
    source: str
    trust: str
    cached: bool  # True when the file was already in the zoo cache (no network, no copy)

    @classmethod
    def from_manifest(cls, m: cache.Manifest, *, cached: bool) -> PullResult:
        return cls(m.model, m.variant, m.file, m.blob, m.sha256, m.md5, m.size, m.source, m.trust, cached)

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class Expected:
    sha256: str | None
    md5: str | None
    size: int | None
    trust: str  # the trust level a file that matches these values gets


def resolve(name_or_spec: str | ModelSpec) -> ModelSpec:
    return name_or_spec if isinstance(name_or_spec, ModelSpec) else registry.get(name_or_spec)


def pull(
    name_or_spec: str | ModelSpec,
    variant: str = "top",
    *,
    mirrors: Iterable[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """The path of a verified weight file of `variant` ("top" or "notop") in the cache, pulled if needed."""
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
    spec = resolve(name_or_spec)
    weight = spec.weight(variant)
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
    if manifest is None or manifest.blob != path:
        # the same content, pulled for another model: record it for this one too, so that `zoo cache
        # ls` shows it and `zoo cache rm` of the other model keeps the shared file
        size = path.stat().st_size
        manifest = cache.new_manifest(weight, spec.name, path.parent.name, size, weight.md5, "cache",
                                      cache.TRUST_PUBLISHED)  # fmt: skip
        cache.write_manifest(manifest)
    return PullResult.from_manifest(manifest, cached=True)


def _expected(spec: ModelSpec, weight: WeightFile) -> Expected:
    if weight.has_checksum:
        return Expected(weight.sha256, weight.md5, weight.size, cache.TRUST_PUBLISHED)
    recorded = cache.read_manifest(spec.name, weight.variant)
    if recorded is not None and recorded.file == weight.file:  # trust on first use: hold to what we saw
        return Expected(recorded.sha256, None, recorded.size, recorded.trust)
    return Expected(None, None, weight.size, cache.TRUST_FIRST_USE)


def store_verified(
    spec: ModelSpec, weight: WeightFile, tmp: Path, digests: Digests, source: str, expected: Expected
) -> PullResult:
    """Move a verified temporary file into the cache; warn when its sha256 is recorded on first use."""
    if expected.trust == cache.TRUST_FIRST_USE and expected.sha256 is None:
        note(
            f"Warning: {spec.name} ({weight.variant}) has no published checksum; recorded "
            f"sha256:{digests.sha256} on first use. Later pulls and `zoo cache verify` check against it."
        )
    manifest = cache.store(tmp, weight, spec.name, digests.sha256, digests.size, digests.md5, source,
                           expected.trust)  # fmt: skip
    return PullResult.from_manifest(manifest, cached=False)
