"""Real HTTP servers on 127.0.0.1 for the hub tests: a fault-injecting file server, an HF-compatible one.

No mocks: zoo talks to these over real sockets. Each server records every request it receives, so tests
can count downloads (and prove that a cached or offline pull made none).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Behaviours a FaultServer can take for one request:
OK = "ok"
TRUNCATE = "truncate"  # announce the full length, send half, close cleanly
RESET = "reset"  # send a third, then reset the connection (RST)
WRONG = "wrong"  # the right length, different bytes
HANG = "hang"  # accept, then say nothing for `hang_s` seconds
SLOW = "slow"  # send at `rate` bytes/s
NO_RANGE = "no-range"  # ignore Range: always 200 and the whole file
HUGE = "huge"  # announce an absurd Content-Length, then close
REDIRECT = "redirect"  # 302 to /real/<file>
STATUS_404 = "404"
STATUS_500 = "500"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class _FaultHandler(BaseHTTPRequestHandler):
    server: FaultHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._handle(body=True)

    def _handle(self, body: bool) -> None:
        srv = self.server
        with srv.lock:
            srv.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
            mode = srv.plan.pop(0) if srv.plan else srv.default
        if srv.token and self.headers.get("Authorization") != f"Bearer {srv.token}":
            return self._status(401)
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        if self.path.startswith("/real/"):
            mode = OK
        elif mode == REDIRECT:
            self.send_response(302)
            self.send_header("Location", f"/real/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        data = srv.files.get(name)
        if data is None or mode == STATUS_404:
            return self._status(404)
        if mode == STATUS_500:
            return self._status(500)
        if mode == HANG:
            time.sleep(srv.hang_s)
            self.close_connection = True
            return None
        self._send(data, mode, body)
        return None

    def _status(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, data: bytes, mode: str, body: bool) -> None:
        start = 0
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and mode != NO_RANGE:
            start = int(wanted[6:].split("-")[0])
        payload = data[start:]
        if mode == WRONG:
            payload = bytes(b ^ 0xFF for b in payload[:64]) + payload[64:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(10**15 if mode == HUGE else len(payload)))
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()[:16]}"')
        self.end_headers()
        if not body or mode == HUGE:
            self.close_connection = True
            return
        if mode == TRUNCATE:
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
        elif mode == RESET:
            self.wfile.write(payload[: len(payload) // 3])
            self.wfile.flush()
            # SO_LINGER with a zero timeout turns close() into a TCP reset
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif mode == SLOW:
            step = max(1, self.server.rate // 20)
            for i in range(0, len(payload), step):
                self.wfile.write(payload[i : i + step])
                self.wfile.flush()
                time.sleep(step / self.server.rate)
        else:
            self.wfile.write(payload)


class FaultHTTPServer(ThreadingHTTPServer):
    daemon_threads = True


class FaultServer:
    """Serves `files` (name -> bytes) at /<name>; `plan` gives the behaviour of the next requests in turn."""

    def __init__(
        self,
        files: dict[str, bytes],
        plan: Iterable[str] = (),
        default: str = OK,
        *,
        token: str | None = None,
        rate: int = 1_000_000,
        hang_s: float = 2.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.httpd = FaultHTTPServer(("127.0.0.1", 0), _FaultHandler)
        self.scheme = "https" if tls else "http"
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.files = dict(files)
        self.httpd.plan = list(plan)
        self.httpd.default = default
        self.httpd.token = token
        self.httpd.rate = rate
        self.httpd.hang_s = hang_s
        self.httpd.seen = []
        self.httpd.lock = threading.Lock()
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{getattr(self, 'scheme', 'http')}://127.0.0.1:{self.httpd.server_address[1]}"

    def file_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    @property
    def seen(self) -> list[Seen]:
        return self.httpd.seen

    def gets(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "GET"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def git_blob_id(data: bytes) -> str:
    """The id git gives `data` (what the Hub sends as the ETag of a file kept in git, not LFS)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(filename: str) -> bool:
    """Like a Hub repository's default .gitattributes: weights in LFS, small text files in git."""
    return not filename.endswith((".json", ".txt", ".md"))


NO_SHA256 = "none"  # for `reported`: the Hub reports no sha256 for the file (a non-sha256 ETag only)


class _HfHandler(BaseHTTPRequestHandler):
    """The Hub's /{repo}/resolve/{revision}/{file}, as huggingface_hub and zoo see it.

    An LFS file: 302 to the CDN (another origin) with X-Linked-Etag (its sha256), X-Linked-Size and
    X-Repo-Commit. A file kept in git: 200 with ETag = its git blob id. A missing file: 404 with
    X-Error-Code: EntryNotFound.
    """

    server: FaultHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._handle(body=True)

    def _handle(self, body: bool) -> None:
        srv = self.server
        with srv.lock:
            srv.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
            failure = srv.failures.pop(0) if srv.failures and "/resolve/" in self.path else None
        if failure is not None:
            return self._error(failure, "", "failing as planned")
        if srv.token and self.headers.get("Authorization") != f"Bearer {srv.token}":
            return self._error(401, "RepoNotFound", "Invalid credentials in Authorization header")
        parts = self.path.split("?")[0].strip("/").split("/")
        resolve = len(parts) >= 5 and parts[2] == "resolve"
        key = ("/".join(parts[:2]), "/".join(parts[4:])) if resolve else None
        data = srv.files.get(key) if key else None
        if data is None:
            return self._error(404, "EntryNotFound", "Entry not found")
        served = srv.served.get(key, data)
        if is_lfs(key[1]):
            return self._redirect_to_cdn(key, data, served)
        self.send_response(200)
        self.send_header("X-Repo-Commit", srv.commit)
        self.send_header("ETag", f'"{git_blob_id(data)}"')
        self.send_header("Content-Length", str(len(served)))
        self.end_headers()
        if body:
            self.wfile.write(served)
        return None

    def _redirect_to_cdn(self, key: tuple[str, str], data: bytes, served: bytes) -> None:
        srv = self.server
        sha = hashlib.sha256(data).hexdigest()
        reported = srv.reported.get(key, sha)
        with srv.lock:
            srv.cdn.httpd.files[sha] = served
            srv.signed += 1
        self.send_response(302)
        # signed afresh for every request, as the real CDN URLs are
        self.send_header("Location", f"{srv.cdn.url}/cdn/{sha}?signature={srv.signed}")
        self.send_header("X-Repo-Commit", srv.commit)
        if reported == NO_SHA256:
            self.send_header("ETag", f'"{git_blob_id(data)[:20]}-1"')
        else:
            self.send_header("X-Linked-Etag", f'"{reported}"')
            self.send_header("ETag", f'"{reported}"')
        self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, code: int, error_code: str, message: str) -> None:
        self.send_response(code)
        self.send_header("X-Error-Code", error_code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Length", "0")
        self.end_headers()


class HfServer(FaultServer):
    """A Hugging Face Hub-compatible endpoint (use its url as HF_ENDPOINT) and its CDN (`.cdn`, a
    FaultServer on another origin, so fault plans apply to the download itself).

    `files`: {(repo_id, filename): bytes}. `served`: bytes sent instead of the true ones (a tampered copy;
    the metadata still describes `files`). `reported`: the sha256 reported for an LFS file instead of the
    true one (a wrong one, or NO_SHA256). `token`: the bearer token the Hub requires (401 without it).
    `httpd.failures`: HTTP statuses the next requests for files get instead of an answer, in order.
    """

    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(  # noqa: D107
        self,
        files: dict[tuple[str, str], bytes],
        *,
        served: dict[tuple[str, str], bytes] | None = None,
        reported: dict[tuple[str, str], str] | None = None,
        token: str | None = None,
        commit: str = COMMIT,
    ) -> None:
        self.cdn = FaultServer({})
        self.httpd = FaultHTTPServer(("127.0.0.1", 0), _HfHandler)
        self.httpd.files = dict(files)
        self.httpd.served = dict(served or {})
        self.httpd.reported = dict(reported or {})
        self.httpd.token = token
        self.httpd.commit = commit
        self.httpd.cdn = self.cdn
        self.httpd.signed = 0
        self.httpd.failures = []
        self.httpd.seen = []
        self.httpd.lock = threading.Lock()
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def resolves(self) -> list[Seen]:
        """The requests for files (huggingface_hub also asks /api/... on its own: telemetry, left out)."""
        return [s for s in self.seen if "/resolve/" in s.path]

    def close(self) -> None:
        super().close()
        self.cdn.close()


def header(seen: Seen, name: str) -> str | None:
    """A request header by name, whatever its case (httpx sends them in lower case)."""
    return next((v for k, v in seen.headers.items() if k.lower() == name.lower()), None)
