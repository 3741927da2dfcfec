"""Where a weight file can come from, in order: mirrors (explicit, then ZOO_MIRROR), then the registry.

A mirror is a base URL serving files by name (what `zoo serve` serves, or any static server holding the
files): the file `resnet50.h5` of mirror `http://host:8000` is `http://host:8000/resnet50.h5`; when its
sha256 is published, `http://host:8000/sha256/<hex>` (what `zoo serve` also answers) is tried next.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from zoo import config
from zoo.errors import RegistryError
from zoo.registry import WeightFile

_HF = re.compile(r"^hf://(?P<repo>[^/@\s]+/[^/@\s]+)/(?P<file>[^@\s]+?)(?:@(?P<rev>[^@\s]+))?$")


@dataclass(frozen=True)
class Source:
    url: str
    kind: str  # "mirror" | "url" | "hf"
    token: str | None = None  # the mirror bearer token; never sent to registry sources


@dataclass(frozen=True)
class HfLocation:
    repo_id: str
    filename: str
    revision: str | None


def parse_hf(url: str) -> HfLocation:
    """'hf://org/repo/path/file.h5@rev' -> HfLocation('org/repo', 'path/file.h5', 'rev')."""
    match = _HF.match(url)
    if not match:
        raise RegistryError(f"not an hf:// source: {url!r}", hint="hf://org/repo/path/to/file[@revision]")
    return HfLocation(match["repo"], match["file"], match["rev"])


def mirror_url(base: str, file: str) -> str:
    return f"{base.rstrip('/')}/{urllib.parse.quote(file)}"


def mirror_bases(explicit: Iterable[str] | None = None) -> list[str]:
    """Explicit mirrors first (--mirror), then ZOO_MIRROR, without duplicates."""
    seen: list[str] = []
    for base in [*(explicit or ()), *config.mirrors()]:
        base = base.strip().rstrip("/")
        if base and base not in seen:
            seen.append(base)
    return seen


def sources_for(weight: WeightFile, mirrors: Iterable[str] | None = None) -> list[Source]:
    token = config.mirror_token()
    out = []
    for base in mirror_bases(mirrors):
        out.append(Source(mirror_url(base, weight.file), "mirror", token))
        if weight.sha256:  # a zoo serve mirror also has it by content, under whatever name it was pulled
            out.append(Source(f"{base.rstrip('/')}/sha256/{weight.sha256}", "mirror", token))
    for url in weight.sources:
        out.append(Source(url, "hf" if url.startswith("hf://") else "url"))
    return out
