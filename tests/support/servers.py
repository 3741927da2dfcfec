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
        name = self.path.rsplit("/", 1)[-1]
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


class _HfHandler(BaseHTTPRequestHandler):
    """What hf_hub_download asks: HEAD (metadata headers) and GET of /{repo}/resolve/{rev}/{file}."""

    server: FaultHTTPServer
    protocol_version = "HTTP/1.1"
    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._handle(body=True)

    def _handle(self, body: bool) -> None:
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
        parts = self.path.split("?")[0].strip("/").split("/")
        # org / repo / resolve / revision / file...
        data = None
        if len(parts) >= 5 and parts[2] == "resolve":
            data = self.server.files.get(("/".join(parts[:2]), "/".join(parts[4:])))
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", self.COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


class HfServer(FaultServer):
    """A Hugging Face-compatible endpoint for `files`: {(repo_id, filename): bytes}. Use as HF_ENDPOINT."""

    def __init__(self, files: dict[tuple[str, str], bytes]) -> None:  # noqa: D107
        self.httpd = FaultHTTPServer(("127.0.0.1", 0), _HfHandler)
        self.httpd.files = dict(files)
        self.httpd.seen = []
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
