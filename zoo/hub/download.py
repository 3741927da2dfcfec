"""Stream one URL into a partial file while hashing it; resume with Range; retry with backoff.

The partial file lives in the cache's incoming/ folder under the caller's lock. A sidecar JSON records the
URL (or the caller's key for the content, where the URL changes per request, like a signed CDN URL) and
the ETag it came from, so a later process (after a crash or a kill) resumes only the same download.
Nothing here decides whether the bytes are right: the caller compares the returned digests.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path

from zoo import config
from zoo.errors import DiskSpaceError, SourceFailed
from zoo.hashing import CHUNK, Digester, Digests, read_chunks
from zoo.hub import net
from zoo.hub.cache import ensure_free_space
from zoo.hub.progress import ProgressCallback

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
# network failures worth another try (with Range when the server allows it)
_TRANSIENT = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    socket.timeout,
)


@dataclass(frozen=True)
class Download:
    digests: Digests
    etag: str | None
    resumed_from: int  # bytes reused from an earlier partial download


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_meta(part: Path) -> dict:
    try:
        return json.loads(_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


def _reusable_bytes(part: Path, key: str) -> int:
    """How many bytes of an earlier partial download of the same content we may continue from."""
    if not part.exists():
        return 0
    if _read_meta(part).get("url") != key:
        discard(part)
        return 0
    return part.stat().st_size


def _expected_total(response: http.client.HTTPResponse, offset: int) -> int | None:
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and match.group(3) != "*":
            return int(match.group(3))
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _attempt(
    url: str,
    part: Path,
    *,
    token: str | None,
    key: str,
    md5: bool,
    size_hint: int | None,
    on_progress: ProgressCallback | None,
    threaded: bool,
) -> Download:
    offset = _reusable_bytes(part, key)
    headers = {"Accept-Encoding": "identity"}
    etag = _read_meta(part).get("etag") if offset else None
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if etag:
            headers["If-Range"] = etag  # the server sends the whole file if it changed meanwhile
    try:
        response = net.open_url(url, headers=headers, token=token)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # our partial file is longer than the resource: start over
            discard(part)
        raise
    with response:
        resumed = response.status == 206 and response.headers.get("Content-Range", "").startswith(
            f"bytes {offset}-"
        )
        if not resumed:
            offset = 0  # the server ignored Range (or the file changed): start over
        total = _expected_total(response, offset)
        ensure_free_space(part.parent, (total or size_hint or 0) - offset)
        etag = response.headers.get("ETag")
        part.parent.mkdir(parents=True, exist_ok=True)
        _meta_path(part).write_text(json.dumps({"url": key, "etag": etag}), encoding="utf-8")
        digester = Digester(md5=md5, threaded=threaded)
        try:
            _stream(response, part, offset, digester, total, on_progress)
        finally:
            digests = digester.result()  # also stops the hashing thread when the stream failed
    if total is not None and digests.size < total:
        raise http.client.IncompleteRead(b"", total - digests.size)
    return Download(digests, etag, offset)


def _stream(
    response: http.client.HTTPResponse,
    part: Path,
    offset: int,
    digester: Digester,
    total: int | None,
    on_progress: ProgressCallback | None,
) -> None:
    if offset:
        for chunk in read_chunks(part):  # re-seed the digests with the bytes we keep
            digester.update(chunk)
    if on_progress:
        on_progress(offset, total)
    with open(part, "ab" if offset else "wb") as out:
        # read1 returns what the socket has now (readinto would wait to fill the whole buffer), so
        # progress and the resumable partial file advance steadily on slow links
        while chunk := response.read1(CHUNK):
            out.write(chunk)
            digester.update(chunk)
            if on_progress:
                on_progress(len(chunk), None)


def download(
    url: str,
    part: Path,
    *,
    token: str | None = None,
    key: str | None = None,
    md5: bool = False,
    size_hint: int | None = None,
    on_progress: ProgressCallback | None = None,
    threaded: bool = True,
) -> Download:
    """Fetch `url` into `part`, retrying transient failures (resuming where the server allows).

    `key` names the content for resuming (default: the URL).

    Raises SourceFailed when this source cannot deliver; DiskSpaceError and OfflineError pass through.
    """
    attempts = config.http_retries() + 1
    last = ""
    for attempt in range(attempts):
        try:
            return _attempt(
                url,
                part,
                token=token,
                key=key or url,
                md5=md5,
                size_hint=size_hint,
                on_progress=on_progress,
                threaded=threaded,
            )
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}"
            if not net.is_transient_status(exc.code) and exc.code != 416:
                break  # 404, 401, 403 ... will not change on a retry
        except DiskSpaceError:
            discard(part)
            raise
        except _TRANSIENT as exc:
            last = _describe(exc)
            if isinstance(getattr(exc, "reason", None), ssl.SSLCertVerificationError):
                break  # an untrusted certificate stays untrusted
        if attempt + 1 < attempts:
            time.sleep(net.retry_delay(attempt))
    raise SourceFailed(last)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed early ({exc.expected} bytes missing)"
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out after {config.http_timeout():g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
