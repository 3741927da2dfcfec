"""Cache housekeeping behind `zoo cache`: list, remove, verify, import a file, link into Keras' cache."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from zoo import config, registry
from zoo.errors import UnknownModel, ZooError
from zoo.hashing import hash_file
from zoo.hub import cache
from zoo.hub.cache import Expected, Manifest, PullResult, store_verified
from zoo.hub.fetch import copy_verified
from zoo.hub.verify import mismatch
from zoo.registry import WeightFile


@dataclass(frozen=True)
class VerifyResult:
    model: str
    variant: str
    file: str
    path: Path
    ok: bool
    problem: str | None = None
    trust: str = ""  # who vouches for the checksum the file was held to (the manifest's trust levels)


def canonical_name(name: str) -> str:
    """Registry aliases resolve to the canonical name; names the registry no longer knows stay as given."""
    try:
        return registry.get(name).name
    except (UnknownModel, ZooError):
        return name


def select(names: Iterable[str] = ()) -> list[Manifest]:
    """Manifests of the given models (all when none given)."""
    wanted = {canonical_name(n) for n in names}
    return [m for m in cache.iter_manifests() if not wanted or m.model in wanted]


def remove(name: str, variant: str | None = None) -> list[Manifest]:
    """Forget a model's files (one variant or all); blobs no other manifest uses are deleted."""
    model = canonical_name(name)
    removed = [m for m in cache.iter_manifests() if m.model == model and variant in (None, m.variant)]
    for manifest in removed:
        cache.manifest_path(manifest.model, manifest.variant).unlink(missing_ok=True)
    still_used = {m.blob for m in cache.iter_manifests()}
    for manifest in removed:
        if manifest.blob not in still_used:
            manifest.blob.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                manifest.blob.parent.rmdir()
    return removed


def verify(names: Iterable[str] = ()) -> list[VerifyResult]:
    """Rehash every cached file and compare with its manifest (and with the registry's checksum)."""
    results = []
    for m in select(names):
        weight = _registry_weight(m)
        trust = (weight.checksum_trust if weight else None) or m.trust
        problem = _check_manifest(m, weight)
        results.append(VerifyResult(m.model, m.variant, m.file, m.blob, problem is None, problem, trust))
    return results


def _registry_weight(manifest: Manifest) -> WeightFile | None:
    """The registry's record of the manifest's file; None when the model or the file left the registry."""
    try:
        weight = registry.get(manifest.model).weights.get(manifest.variant)
    except ZooError:
        return None
    return weight if weight is not None and weight.file == manifest.file else None


def _check_manifest(manifest: Manifest, weight: WeightFile | None) -> str | None:
    if not manifest.blob.is_file():
        return "file missing"
    digests = hash_file(manifest.blob, md5=bool(manifest.md5))
    problem = mismatch(digests, sha256=manifest.sha256, md5=manifest.md5, size=manifest.size)
    if problem or weight is None:
        return problem  # without the registry's record, the manifest is all we can check
    return mismatch(digests, sha256=weight.sha256, md5=None, size=weight.size)


def import_file(path: Path, name: str, variant: str = "top") -> PullResult:
    """Store a local file as `name`'s `variant`, checking the registry's checksum when there is one."""
    spec = registry.resolve(name)
    weight = spec.weight(variant)
    expected = Expected.from_registry(weight) or Expected(None, None, None, cache.TRUST_IMPORTED)
    tmp, digests = copy_verified(Path(path), weight, expected, str(path))
    return store_verified(spec, weight, tmp, digests, f"import:{Path(path).resolve()}", expected)


def link_keras(names: Iterable[str] = ()) -> list[tuple[Path, Path]]:
    """Place cached files under Keras' own names in $KERAS_HOME/models (hard link, else a copy).

    Then keras.applications finds them without a download. Returns (cached file, Keras path) pairs.
    """
    target_dir = config.keras_models_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    linked = []
    for manifest in select(names):
        target = target_dir / manifest.file
        if not (target.exists() and os.path.samefile(target, manifest.blob)):
            _place(manifest.blob, target)
        linked.append((manifest.blob, target))
    return linked


def _place(source: Path, target: Path) -> None:
    """Atomically make `target` a hard link to (or, across file systems, a copy of) `source`."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
