"""Getting a verified copy from outside the zoo cache: other tools' caches, mirrors, the registry's sources.

Kept apart from zoo.hub.pull, which imports it only on a cache miss: a cached pull never loads the HTTP
stack. Every candidate is hashed in one pass and compared before it enters the cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from zoo import config
from zoo.errors import ChecksumMismatch, OfflineError, WeightsUnavailable
from zoo.hashing import Digester, Digests, read_chunks
from zoo.hub import cache, download, hf, sources
from zoo.hub.cache import Expected, PullResult, store_verified
from zoo.hub.progress import note, transfer_progress
from zoo.hub.verify import check
from zoo.registry import ModelSpec, WeightFile


def copy_verified(src: Path, weight: WeightFile, expected: Expected, what: str) -> tuple[Path, Digests]:
    """Copy `src` into incoming/ while hashing it; the temporary copy is deleted unless it verifies."""
    cache.ensure_free_space(cache.incoming_dir(), src.stat().st_size)
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


def adopt_local(spec: ModelSpec, weight: WeightFile, expected: Expected) -> PullResult | None:
    if not weight.has_checksum:
        return None  # never adopt silently what the registry has no checksum for (`zoo cache import`)
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
            f" {weight.variant}`; or unset ZOO_OFFLINE/HF_HUB_OFFLINE and pull through a mirror (ZOO_MIRROR)"
        ),
    )


def from_sources(
    spec: ModelSpec, weight: WeightFile, expected: Expected, mirrors: Iterable[str] | None, progress: bool
) -> PullResult:
    if config.offline():
        raise offline_error(spec, weight)
    candidates = sources.sources_for(weight, mirrors)
    if not candidates:
        raise WeightsUnavailable(
            f"{spec.name} ({weight.variant}) lists no sources and no mirror is configured",
            hint="configure a mirror (ZOO_MIRROR, or a mirror given to the pull), or `zoo cache import FILE`",
        )
    failures: list[str] = []
    for source in candidates:
        try:
            got = _fetch(source, weight, expected, progress, f"{spec.name} {weight.variant}")
        except (download.SourceFailed, ChecksumMismatch) as exc:
            # a mismatch names its source already
            failure = str(exc) if str(exc).startswith(source.url) else f"{source.url}: {exc}"
            failures.append(failure)
            if progress and source is not candidates[-1]:
                note(f"{failure}; trying the next source")
            continue
        return store_verified(spec, weight, got.tmp, got.digests, source.url, expected, revision=got.revision)
    raise WeightsUnavailable(
        f"could not pull {spec.name} ({weight.variant}); every source failed:\n  " + "\n  ".join(failures),
        hint="check the network or the mirror, or `zoo cache import FILE` a copy you trust",
    )


@dataclass(frozen=True)
class Fetched:
    tmp: Path  # the verified file in incoming/, ready to move into blobs/
    digests: Digests
    revision: str | None = None  # the commit a Hub source resolved to


def _fetch(
    source: sources.Source, weight: WeightFile, expected: Expected, progress: bool, label: str
) -> Fetched:
    if source.kind == "hf":
        return _fetch_hf(source.url, weight, expected, progress, label)
    tmp, digests = _stream_verified(
        source.url, weight, expected, progress, label, token=source.token, what=source.url
    )
    return Fetched(tmp, digests)


def _fetch_hf(url: str, weight: WeightFile, expected: Expected, progress: bool, label: str) -> Fetched:
    """Ask the Hub what the file is, then stream it from where the Hub says, held to what the Hub said."""
    hub = hf.hub_file(url, sources.parse_hf(url), config.http_timeout())
    sha256 = _hub_sha256(hub, weight, expected)
    size = expected.size if expected.size is not None else hub.size
    if expected.size is not None and hub.size is not None and hub.size != expected.size:
        raise ChecksumMismatch(f"{url}: the Hub reports {hub.size} bytes, expected {expected.size}")
    wanted = replace(expected, sha256=sha256, size=size)
    tmp, digests = _stream_verified(hub.url, weight, wanted, progress, label, token=hub.token,
                                    what=url, key=hub.resume_key)  # fmt: skip
    if hub.blob_id:  # a git-stored file (config.json): its id is a hash of the content too
        found = hf.git_blob_id(tmp)
        if found != hub.blob_id:
            tmp.unlink(missing_ok=True)
            raise ChecksumMismatch(f"{url}: git blob id {found}, the Hub reports {hub.blob_id}")
    return Fetched(tmp, digests, hub.commit)


def _hub_sha256(hub: hf.HubFile, weight: WeightFile, expected: Expected) -> str | None:
    """The sha256 the download must have: the Hub's and the registry's (or the pinned one) must agree, and a
    weights file without one is refused before a byte is fetched."""
    if hub.sha256 and expected.sha256 and hub.sha256 != expected.sha256:
        raise ChecksumMismatch(
            f"{hub.source}: the Hub reports sha256 {hub.sha256}, expected {expected.sha256}"
        )
    sha256 = expected.sha256 or hub.sha256
    if sha256 is None and hf.is_weights_file(weight.file):
        raise download.SourceFailed(
            "the Hub reports no sha256 for this file (not stored in LFS), so it cannot be verified: refused"
        )
    return sha256


def _stream_verified(
    url: str,
    weight: WeightFile,
    expected: Expected,
    progress: bool,
    label: str,
    *,
    token: str | None,
    what: str,
    key: str | None = None,
) -> tuple[Path, Digests]:
    """Download `url` into incoming/ while hashing it; the file is returned only when it verifies."""
    if expected.size:
        cache.ensure_free_space(cache.incoming_dir(), expected.size)
    part = cache.partial_path(weight.file)
    while True:
        with transfer_progress(label, progress, expected.size) as on_progress:
            got = download.download(url, part, token=token, md5=bool(expected.md5), key=key,
                                    size_hint=expected.size, on_progress=on_progress)  # fmt: skip
        try:
            check(got.digests, sha256=expected.sha256, md5=expected.md5, size=expected.size, what=what)
            break
        except ChecksumMismatch:
            download.discard(part)
            if not got.resumed_from:
                raise
            # the kept partial bytes may be stale (an older file at that URL): once more from the start
    tmp = cache.incoming_temp(weight.file)
    os.replace(part, tmp)
    download.discard(part)  # the sidecar
    return tmp, got.digests
