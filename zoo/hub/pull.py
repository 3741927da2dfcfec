"""`zoo.pull`: deliver a verified weight file from the cache, a local cache to adopt, a mirror or the web.

Order (DESIGN §4): the zoo cache -> Keras' and Hugging Face's caches (only with a published checksum)
-> mirrors -> the registry's sources. Every candidate is hashed in one pass and compared before it enters
the cache; a mismatch names the source and the next source is tried.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from zoo import config, registry
from zoo.errors import ChecksumMismatch, OfflineError, WeightsUnavailable
from zoo.hub import cache, download, hf, sources
from zoo.hub.progress import note, transfer_progress
from zoo.hub.verify import Digester, Digests, check, read_chunks
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
        expected = _expected(spec, weight)
        result = None if force else _adopt_local(spec, weight, expected)
        if result is None:
            result = _download(spec, weight, expected, mirrors, progress)
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


def copy_verified(src: Path, weight: WeightFile, expected: Expected, what: str) -> tuple[Path, Digests]:
    """Copy `src` into incoming/ while hashing it; the temporary copy is deleted unless it verifies."""
    download.ensure_free_space(cache.incoming_dir(), src.stat().st_size)
    tmp = cache.incoming_temp(weight.file)
    try:
        digester = Digester(md5=bool(expected.md5))
        with open(tmp, "wb") as out:
            for chunk in read_chunks(src):
                out.write(chunk)
                digester.update(chunk)
        digests = digester.result()
        check(digests, sha256=expected.sha256, md5=expected.md5, size=expected.size, what=what)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digests


def local_candidates(weight: WeightFile) -> list[tuple[str, Path]]:
    """Copies of the file that other tools' caches may already hold: Keras', then Hugging Face's."""
    found: list[tuple[str, Path]] = []
    for folder in dict.fromkeys([config.keras_models_dir(), Path.home() / ".keras" / "models"]):
        path = folder / weight.file
        if path.is_file():
            found.append((f"keras-cache:{path}", path))
    for url in weight.sources:
        if url.startswith("hf://") and (path := hf.find_in_hf_cache(sources.parse_hf(url))):
            found.append((f"hf-cache:{url}", path))
    return found


def _adopt_local(spec: ModelSpec, weight: WeightFile, expected: Expected) -> PullResult | None:
    if not weight.has_checksum:
        return None  # never adopt silently what nobody published a checksum for (`zoo cache import`)
    for label, path in local_candidates(weight):
        if expected.size is not None and path.stat().st_size != expected.size:
            continue
        try:
            tmp, digests = copy_verified(path, weight, expected, label)
        except ChecksumMismatch:
            continue
        return store_verified(spec, weight, tmp, digests, label, expected)
    return None


def offline_error(spec: ModelSpec, weight: WeightFile) -> OfflineError:
    return OfflineError(
        f"{spec.name} ({weight.variant} weights, {weight.file}) is not in the cache and offline mode is on"
        " (ZOO_OFFLINE or HF_HUB_OFFLINE)",
        hint=(
            f"get it one of three ways: run `zoo pull {spec.name}` on a connected machine and copy its cache"
            f" (or serve it with `zoo serve`); `zoo cache import FILE --name {spec.name} --variant"
            f" {weight.variant}`; or unset ZOO_OFFLINE/HF_HUB_OFFLINE and use a mirror (--mirror URL or"
            " ZOO_MIRROR)"
        ),
    )


def _download(
    spec: ModelSpec, weight: WeightFile, expected: Expected, mirrors: Iterable[str] | None, progress: bool
) -> PullResult:
    if config.offline():
        raise offline_error(spec, weight)
    candidates = sources.sources_for(weight, mirrors)
    if not candidates:
        raise WeightsUnavailable(
            f"{spec.name} ({weight.variant}) lists no sources and no mirror is configured",
            hint="pass --mirror URL, set ZOO_MIRROR, or `zoo cache import FILE`",
        )
    failures: list[str] = []
    for source in candidates:
        try:
            tmp, digests = _fetch(source, weight, expected, progress, f"{spec.name} {weight.variant}")
        except (download.SourceFailed, ChecksumMismatch) as exc:
            failures.append(f"{source.url}: {exc}")
            if progress and source is not candidates[-1]:
                note(f"{source.url}: {exc}; trying the next source")
            continue
        return store_verified(spec, weight, tmp, digests, source.url, expected)
    raise WeightsUnavailable(
        f"could not pull {spec.name} ({weight.variant}); every source failed:\n  " + "\n  ".join(failures),
        hint="check the network or the mirror, or `zoo cache import FILE` a copy you trust",
    )


def _fetch(
    source: sources.Source, weight: WeightFile, expected: Expected, progress: bool, label: str
) -> tuple[Path, Digests]:
    if source.kind == "hf":
        path = hf.hf_download(sources.parse_hf(source.url))
        return copy_verified(path, weight, expected, source.url)
    if expected.size:
        download.ensure_free_space(cache.incoming_dir(), expected.size)
    part = cache.partial_path(weight.file)
    with transfer_progress(label, progress, expected.size) as on_progress:
        got = download.download(source.url, part, token=source.token, md5=bool(expected.md5),
                                size_hint=expected.size, on_progress=on_progress)  # fmt: skip
    try:
        check(got.digests, sha256=expected.sha256, md5=expected.md5, size=expected.size, what=source.url)
    except ChecksumMismatch:
        download.discard(part)
        raise
    tmp = cache.incoming_temp(weight.file)
    os.replace(part, tmp)
    download.discard(part)  # the sidecar
    return tmp, got.digests
