"""hf:// sources: what the Hugging Face Hub says about a file (through huggingface_hub), and its cache.

Only the metadata comes from huggingface_hub (a HEAD of the file's resolve URL: the commit it resolved to,
the sha256 of an LFS file, the git blob id of a small one, and where the bytes are). The bytes themselves
are streamed by zoo.hub.download, which hashes, resumes and stores them like any other file.

huggingface_hub reads its environment once, at import; zoo reads HF_ENDPOINT and HF_HUB_CACHE on every
call instead, so a change (tests, long-lived processes) takes effect. The token is huggingface_hub's own
resolution (HF_TOKEN, then the stored login), sent to the Hub's own host only: never to a CDN it points at.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from zoo import __version__, config
from zoo.errors import SourceFailed
from zoo.hashing import read_chunks
from zoo.hub.net import ensure_online, is_transient_status, retry_delay
from zoo.hub.sources import HfLocation

DEFAULT_ENDPOINT = "https://huggingface.co"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_BLOB = re.compile(r"^[0-9a-f]{40}$")
# Files that unpickle (run code) when loaded: never fetched, whatever an entry says.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# Small text files a repository may keep in git rather than LFS (verified by their git blob id).
_TEXT_SUFFIXES = (".json", ".txt", ".md", ".yaml", ".yml")


@dataclass(frozen=True)
class HubFile:
    """One file as the Hub describes it."""

    source: str  # the hf:// URL it was asked for
    url: str  # where the bytes are: the Hub's resolve URL, or the CDN location it redirects to
    token: str | None  # sent with the download only when `url` is on the Hub's own origin
    commit: str | None  # the commit the revision resolved to (X-Repo-Commit)
    sha256: str | None  # an LFS file's sha256 (X-Linked-Etag)
    blob_id: str | None  # a git-stored file's blob id (its ETag): sha1 of b"blob <size>\0" + content
    size: int | None

    @property
    def resume_key(self) -> str:
        """What a partial download is of: a CDN URL is signed afresh on every request, so not the URL."""
        return f"{self.source}@{self.commit or '?'}#{self.sha256 or self.blob_id or '?'}"


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface"
    return base / "hub"


def find_in_hf_cache(location: HfLocation) -> Path | None:
    """The file if the Hugging Face cache already holds it (no network)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        location.repo_id, location.filename, cache_dir=hf_cache_dir(), revision=location.revision
    )
    return Path(found) if isinstance(found, str) else None


def is_weights_file(filename: str) -> bool:
    """Anything but a small text file must come with the sha256 the Hub reports for LFS files."""
    return not filename.lower().endswith(_TEXT_SUFFIXES)


def refuse_pickle(filename: str) -> None:
    if filename.lower().endswith(PICKLE_SUFFIXES):
        raise SourceFailed(f"{filename} is a pickle file, which runs code when loaded: zoo never fetches one")


def hub_file(source: str, location: HfLocation, timeout: float) -> HubFile:
    """Ask the Hub about `location` (one HEAD, redirects on the Hub followed, a CDN redirect not)."""
    refuse_pickle(location.filename)
    ensure_online(source)
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import get_token_to_send

    base = endpoint()
    url = hf_hub_url(location.repo_id, location.filename, revision=location.revision, endpoint=base)
    token = get_token_to_send(None)  # HF_TOKEN, else the stored login (unless implicit tokens are off)
    attempts = config.http_retries() + 1
    for attempt in range(attempts):
        try:
            meta = get_hf_file_metadata(url, token=token or False, timeout=timeout, endpoint=base,
                                        library_name="zoo", library_version=__version__)  # fmt: skip
            break
        except Exception as exc:  # huggingface_hub's many error types: this source failed, try the next
            if attempt + 1 == attempts or not _transient(exc):
                raise SourceFailed(_describe(exc)) from exc
            time.sleep(retry_delay(attempt))
    where = urllib.parse.urljoin(url, meta.location)
    etag = (meta.etag or "").lower()
    return HubFile(
        source=source,
        url=where,
        token=token if _origin(where) == _origin(base) else None,
        commit=meta.commit_hash,
        sha256=etag if _SHA256.match(etag) else None,
        blob_id=etag if _GIT_BLOB.match(etag) else None,
        size=meta.size,
    )


def git_blob_id(path: Path) -> str:
    """The id git (and the Hub's ETag) gives a file's content."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    for chunk in read_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _transient(exc: BaseException) -> bool:
    """A failed HEAD worth asking again: a 5xx, 408 or 429 answer, or no answer at all (connection refused
    or reset, timeout). huggingface_hub raises its HTTP client's TransportError for the latter; the client
    has changed between releases (httpx, httpx2), so it is recognised by name rather than imported."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return is_transient_status(status)
    no_answer = any(cls.__name__ == "TransportError" for cls in type(exc).__mro__)
    return no_answer or isinstance(exc, OSError | TimeoutError)


def _describe(exc: BaseException) -> str:
    """huggingface_hub's messages span lines (status, blank, detail, request id): the first two that say
    something, on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {' '.join(lines[:2])}" if lines else type(exc).__name__
