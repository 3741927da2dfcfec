"""The weight cache under ZOO_HOME/weights: where verified files live and how to find them (no network).

Layout (docs/hub.md):
    blobs/<sha256>/<file name>        the verified content, stored by content; the file keeps its
                                      registry name because Keras picks its loader by the extension
    manifests/<model>/<variant>.json  one manifest per pulled file: file, sha256, md5, size, source,
                                      trust ("published" | "pinned" | "first-use" |
                                      "imported"), time, and for a Hub source the
                                      commit (revision) the Hub resolved
    incoming/                         partial downloads (resumable); never read as a valid file
    locks/                            one lock file per weight file name (concurrent pulls)

Every write is atomic (temporary file in the same folder, then os.replace), so a kill at any moment
leaves either the old state or the new one. Lookups only stat and read small JSON files: `zoo list`
calls them for every model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from zoo import config
from zoo.atomic import atomic_write_text
from zoo.errors import DiskSpaceError, UnknownModel
from zoo.hashing import Digests
from zoo.hub.progress import note
from zoo.registry import CHECKSUM_PINNED, CHECKSUM_PUBLISHED, ModelSpec, WeightFile

TRUST_PUBLISHED = CHECKSUM_PUBLISHED  # matched a checksum the weights' owner published
TRUST_PINNED = CHECKSUM_PINNED  # matched a checksum this project pinned from a copy of the file
TRUST_FIRST_USE = "first-use"  # no checksum in the registry: sha256 recorded on the first pull
TRUST_IMPORTED = "imported"  # placed by `zoo cache import` without a checksum in the registry


@dataclass(frozen=True)
class Manifest:
    """What the cache knows about one stored file."""

    model: str
    variant: str
    file: str
    sha256: str
    size: int
    md5: str | None = None
    source: str = ""
    trust: str = TRUST_PUBLISHED
    time: float = 0.0
    revision: str | None = None  # the commit an hf:// source resolved to (X-Repo-Commit)

    @property
    def blob(self) -> Path:
        return blob_path(self.sha256, self.file)


def weights_root() -> Path:
    return config.weights_dir()


def blobs_dir() -> Path:
    return weights_root() / "blobs"


def manifests_dir() -> Path:
    return weights_root() / "manifests"


def incoming_dir() -> Path:
    return weights_root() / "incoming"


def locks_dir() -> Path:
    return weights_root() / "locks"


def blob_path(sha256: str, file: str) -> Path:
    return blobs_dir() / sha256 / file


def manifest_path(model: str, variant: str) -> Path:
    return manifests_dir() / model / f"{variant}.json"


def lock_path(file: str) -> Path:
    return locks_dir() / f"{file}.lock"


def read_manifest(model: str, variant: str) -> Manifest | None:
    """The manifest of one model variant, or None when absent or unreadable (a torn write never is)."""
    try:
        data = json.loads(manifest_path(model, variant).read_text(encoding="utf-8"))
        return Manifest(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_manifest(manifest: Manifest) -> Path:
    path = manifest_path(manifest.model, manifest.variant)
    atomic_write_text(path, json.dumps(asdict(manifest), indent=2, sort_keys=True) + "\n")
    return path


def iter_manifests() -> Iterator[Manifest]:
    """Every readable manifest in the cache, sorted by model then variant."""
    root = manifests_dir()
    if not root.is_dir():
        return
    for path in sorted(root.glob("*/*.json")):
        manifest = read_manifest(path.parent.name, path.stem)
        if manifest is not None:
            yield manifest


def manifest_matches(manifest: Manifest, weight: WeightFile) -> bool:
    """Does a manifest describe the file the registry publishes (same name, no conflicting checksum)?"""
    if manifest.file != weight.file:
        return False
    if weight.sha256 and manifest.sha256 != weight.sha256:
        return False
    if weight.md5 and manifest.md5 != weight.md5:
        return False
    return not (weight.size and manifest.size != weight.size)


def _present(path: Path, size: int | None) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return size is None or st.st_size == size


def cached_path(spec: ModelSpec, variant: str = "top") -> Path | None:
    """The verified file of `spec`'s `variant` if the cache holds it, else None. No network, no hashing."""
    try:
        weight = spec.weight(variant)  # the entry's own rules: a keras-hub "notop" is its "top" file
    except UnknownModel:
        return None
    manifest = read_manifest(spec.name, weight.variant)
    if manifest is not None and manifest_matches(manifest, weight) and _present(manifest.blob, manifest.size):
        return manifest.blob
    if weight.sha256:  # the same content pulled for another model (content addressed)
        blob = blob_path(weight.sha256, weight.file)
        if _present(blob, weight.size):
            return blob
    return None


def is_pulled(spec: ModelSpec, variant: str | None = None) -> bool:
    """True when the cache holds `variant` of `spec`, or (None) the model is usable from the cache.
    Fast: for `zoo list`."""
    if variant is not None:
        return cached_path(spec, variant) is not None
    return holds_model(spec, [cached_path(spec, v) is not None for v in spec.weights])


def pulled_models(specs: Iterable[ModelSpec]) -> set[str]:
    """The names of the `specs` that `is_pulled` holds true for, fast for a whole catalogue: only a model
    with a manifest folder, or whose checksum names a blob folder, can be cached, so only those are read."""
    with_manifest, blobs = _names_in(manifests_dir()), _names_in(blobs_dir())
    return {
        spec.name
        for spec in specs
        if (spec.name in with_manifest or any(w.sha256 in blobs for w in spec.weights.values() if w.sha256))
        and is_pulled(spec)
    }


def _names_in(folder: Path) -> set[str]:
    try:
        return {entry.name for entry in os.scandir(folder)}
    except OSError:
        return set()


def holds_model(spec: ModelSpec, present: list[bool]) -> bool:
    """Whether files present like this (one flag per weight variant) make the model usable: a keras-hub
    model needs all of them (the safetensors and its config.json), a keras.applications one either."""
    return all(present) if spec.is_keras_hub else any(present)


def new_manifest(
    weight: WeightFile,
    model: str,
    sha256: str,
    size: int,
    md5: str | None,
    source: str,
    trust: str,
    revision: str | None = None,
) -> Manifest:
    return Manifest(
        model=model,
        variant=weight.variant,
        file=weight.file,
        sha256=sha256,
        size=size,
        md5=md5,
        source=source,
        trust=trust,
        time=round(time.time(), 3),
        revision=revision,
    )


def store(tmp: Path, manifest: Manifest) -> Manifest:
    """Move a verified temporary file into the cache (atomically) as `manifest` says, and record it.

    The blob is made read-only: a tool that later opens it for writing (through a link made by
    `zoo cache link-keras`) fails loudly instead of silently replacing verified bytes.
    """
    blob = manifest.blob
    blob.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp, 0o444)
    os.replace(tmp, blob)
    write_manifest(manifest)
    return manifest


def incoming_temp(file: str) -> Path:
    """A fresh temporary path in incoming/ (same file system as blobs/, so os.replace is atomic)."""
    folder = incoming_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{file}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def partial_path(file: str) -> Path:
    """The resumable partial download of `file` (only ever written under the file's lock)."""
    return incoming_dir() / f"{file}.part"


def ensure_free_space(folder: Path, need: int) -> None:
    """Refuse to start a download or copy that cannot fit (before any byte is written)."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DiskSpaceError(
            f"not enough disk space in {folder}: need {need / 1e6:.1f} MB, {free / 1e6:.1f} MB free",
            hint="free some space, or point ZOO_HOME at a larger disk",
        )


# ------------------------------------------------------------------------------- storing a verified file
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
    revision: str | None = None  # the commit an hf:// source resolved to

    @classmethod
    def from_manifest(cls, m: Manifest, *, cached: bool) -> PullResult:
        return cls(m.model, m.variant, m.file, m.blob, m.sha256, m.md5, m.size, m.source, m.trust, cached,
                   m.revision)  # fmt: skip

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class Expected:
    sha256: str | None
    md5: str | None
    size: int | None
    trust: str  # the trust level a file that matches these values gets

    @classmethod
    def from_registry(cls, weight: WeightFile) -> Expected | None:
        """The registry's checksum and who vouches for it ("published" or "pinned"); None when it has none."""
        trust = weight.checksum_trust
        return None if trust is None else cls(weight.sha256, weight.md5, weight.size, trust)


def store_verified(
    spec: ModelSpec,
    weight: WeightFile,
    tmp: Path,
    digests: Digests,
    source: str,
    expected: Expected,
    *,
    revision: str | None = None,
) -> PullResult:
    """Move a verified temporary file into the cache; warn when its sha256 is recorded on first use."""
    if expected.trust == TRUST_FIRST_USE and expected.sha256 is None and revision is not None:
        note(
            f"{spec.name} ({weight.variant}) matches what the Hub reports at commit {revision}; recorded "
            f"sha256:{digests.sha256} on first use. Later pulls and `zoo cache verify` check against it."
        )
    elif expected.trust == TRUST_FIRST_USE and expected.sha256 is None:
        note(
            f"Warning: {spec.name} ({weight.variant}) has no published checksum; recorded "
            f"sha256:{digests.sha256} on first use. Later pulls and `zoo cache verify` check against it."
        )
    manifest = store(tmp, new_manifest(weight, spec.name, digests.sha256, digests.size, digests.md5, source,
                                       expected.trust, revision))  # fmt: skip
    return PullResult.from_manifest(manifest, cached=False)
