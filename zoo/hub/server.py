"""`zoo serve`: a read-only HTTP mirror of a zoo cache or of any folder of weight files.

Layout (what a mirror URL means, docs/hub.md):
    GET /<file name>        the file by its registry name, e.g. /mobilenet_2_5_224_tf_no_top.h5
    GET /sha256/<hex>       the file by content
    GET /index.json         [{"file", "size", "sha256"}] for every file served
    GET / and other paths   the catalogue's web pages, when a `Pages` is attached (zoo.web; a file of the
                            same name always wins, so pages never hide a weight file)
HEAD and GET only; Content-Length, ETag and single byte ranges (Range, If-Range). Requests that try to
leave the folder (.., encoded separators, symlinks pointing outside, a manifest naming `../../x`) get 404
and are never listed. One log line per request.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from zoo.hashing import CHUNK, hash_file
from zoo.hub import cache
from zoo.registry import is_bare_file_name

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Entry:
    file: str
    path: Path
    sha256: str | None  # known without hashing for a zoo cache; computed on demand for a plain folder


class Catalog:
    """The files a server exposes: a zoo cache (by its manifests) or the regular files of a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    @property
    def is_zoo_cache(self) -> bool:
        return (self.root / "manifests").is_dir() and (self.root / "blobs").is_dir()

    def entries(self) -> dict[str, Entry]:
        """File name -> entry, read fresh per request so files pulled meanwhile are served."""
        if self.is_zoo_cache:
            out = {}
            for path in sorted((self.root / "manifests").glob("*/*.json")):
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                    file, sha = str(data["file"]), str(data["sha256"])
                except (OSError, ValueError, KeyError):
                    continue
                blob = self.root / "blobs" / sha / file
                # a manifest is data on disk: its file name must not walk out of blobs/<sha256>/
                if _SHA256.match(sha) and is_bare_file_name(file) and self._inside(blob):
                    out[file] = Entry(file, blob, sha)
            return out
        return {
            p.name: Entry(p.name, p, None)
            for p in sorted(self.root.iterdir())
            if not p.name.startswith(".") and self._inside(p)
        }

    def _inside(self, path: Path) -> bool:
        """A regular file whose real location (symlinks resolved) is inside the served folder."""
        try:
            real = path.resolve(strict=True)
        except OSError:
            return False
        return real.is_file() and real.is_relative_to(self.root)

    def sha256(self, entry: Entry) -> str:
        if entry.sha256:
            return entry.sha256
        st = entry.path.stat()
        key = (str(entry.path), st.st_size, st.st_mtime_ns)
        with self._lock:
            if key not in self._hashes:
                self._hashes[key] = hash_file(entry.path).sha256
            return self._hashes[key]

    def by_name(self, name: str) -> Entry | None:
        return self.entries().get(name)

    def by_sha256(self, digest: str) -> Entry | None:
        return next((e for e in self.entries().values() if self.sha256(e) == digest), None)


class PageResponse(Protocol):
    status: int
    content_type: str
    body: bytes


class Pages(Protocol):
    """What answers the paths that are not files (zoo.web.Site): None when the path is not a page."""

    def respond(self, parts: list[str]) -> PageResponse | None: ...


# Pages come from this server only: no script, style or picture from anywhere else.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class _Handler(BaseHTTPRequestHandler):
    server: MirrorHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "zoo-serve"
    timeout = 60  # seconds a connection may stay silent (mid-request or kept alive) before it is closed

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:  # counted on arrival, so a test that saw the response also sees the request
            self.server.requests.append((self.command, self.path))
        return ok

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._respond(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._respond(body=True)

    def _refuse_method(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (signature of the base)
        pass  # one line per request is written by _log instead

    def _log(self, status: int, sent: int) -> None:
        if self.server.log is not None:
            self.server.log(f'{self.client_address[0]} "{self.command} {self.path}" {status} {sent}')

    def _error(self, status: HTTPStatus, extra: dict[str, str] | None = None) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._log(status.value, 0)

    def _lookup(self) -> Entry | bytes | PageResponse | None:
        raw = urllib.parse.urlsplit(self.path).path
        if "\\" in raw or "\x00" in raw:
            return None
        parts = raw.split("/")[1:]  # split before unquoting: an encoded "/" never becomes a separator
        names = [urllib.parse.unquote(p) for p in parts]
        if any(n in ("", ".", "..") or "/" in n or "\\" in n or "\x00" in n for n in names):
            if raw == "/":
                return self._page([]) if self.server.pages is not None else self._index()
            return None
        catalog = self.server.catalog
        if names == ["index.json"]:
            return self._index()
        if len(names) == 1:
            return catalog.by_name(names[0]) or self._page(names)
        if len(names) == 2 and names[0] == "sha256" and _SHA256.match(names[1]):
            return catalog.by_sha256(names[1])
        return self._page(names)

    def _page(self, names: list[str]) -> PageResponse | None:
        pages = self.server.pages
        if pages is None:
            return None
        try:
            return pages.respond(names)
        except Exception as exc:  # a page that fails is a 500 and a log line, never a traceback
            if self.server.log is not None:
                self.server.log(f"page {self.path} failed: {type(exc).__name__}: {exc}")
            return _ServerError()

    def _index(self) -> bytes:
        catalog = self.server.catalog
        items = [
            {"file": e.file, "size": e.path.stat().st_size, "sha256": catalog.sha256(e)}
            for e in catalog.entries().values()
        ]
        return (json.dumps(items, indent=2) + "\n").encode()

    def _respond(self, body: bool) -> None:
        try:
            found = self._lookup()
        except OSError:
            found = None
        if found is None:
            self._error(HTTPStatus.NOT_FOUND)
            return
        if isinstance(found, bytes):
            self._send_bytes(found, body)
            return
        if isinstance(found, Entry):
            self._send_file(found, body)
            return
        self._send_bytes(found.body, body, found.status, found.content_type, _PAGE_HEADERS)

    def _send_bytes(
        self,
        data: bytes,
        body: bool,
        status: int = 200,
        content_type: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)
        self._log(status, len(data) if body else 0)

    def _send_file(self, entry: Entry, body: bool) -> None:
        size = entry.path.stat().st_size
        etag = f'"{self.server.catalog.sha256(entry)}"'
        start, end = 0, size - 1
        status = HTTPStatus.OK
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and (if_range is None or if_range == etag):
            parsed = _parse_range(wanted, size)
            if parsed is None:
                self._error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, {"Content-Range": f"bytes */{size}"})
                return
            start, end = parsed
            status = HTTPStatus.PARTIAL_CONTENT
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        sent = 0
        if body:
            with open(entry.path, "rb") as fh:
                fh.seek(start)
                while sent < length and (chunk := fh.read(min(CHUNK, length - sent))):
                    self.wfile.write(chunk)
                    sent += len(chunk)
        self._log(status.value, sent)


@dataclass(frozen=True)
class _ServerError:
    status: int = 500
    content_type: str = "text/plain"
    body: bytes = b"500 Internal Server Error (the server's log says why)\n"


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range 'bytes=a-b', 'bytes=a-' or 'bytes=-n' -> (first, last); None when unsatisfiable."""
    match = _RANGE.match(header.strip())
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:  # suffix range: the last n bytes
        n = int(match[2])
        return (max(0, size - n), size - 1) if n > 0 and size > 0 else None
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    return (first, last) if first <= last else None


class MirrorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], catalog: Catalog, log: Callable[[str], None] | None) -> None:
        self.catalog = catalog
        self.log = log
        self.pages: Pages | None = None  # the web pages (zoo.web.Site), attached by `zoo serve`
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests and the demo
        super().__init__(address, _Handler)


class MirrorServer:
    """A running (or ready) mirror: `.url`, `.start()` (background thread), `.serve_forever()`, `.close()`."""

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.httpd = MirrorHTTPServer((host, port), Catalog(self.directory), log)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.httpd.requests

    @property
    def catalog(self) -> Catalog:
        return self.httpd.catalog

    def attach_pages(self, pages: Pages | None) -> MirrorServer:
        """Answer the paths that are not files with `pages` (None: files only, as `zoo serve --no-ui`)."""
        self.httpd.pages = pages
        return self

    def start(self) -> MirrorServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.1,), name="zoo-serve", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> MirrorServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def serve(
    directory: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log: Callable[[str], None] | None = _stderr_log,
) -> MirrorServer:
    """A mirror of `directory` (default: the zoo weight cache); then `.start()` or `.serve_forever()`."""
    root = Path(directory) if directory is not None else cache.weights_root()
    if directory is None:
        root.mkdir(parents=True, exist_ok=True)
    if not root.is_dir():
        raise NotADirectoryError(str(root))
    return MirrorServer(root, host, port, log)
