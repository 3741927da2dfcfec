"""`zoo serve` / zoo.hub.serve: the mirror layout, HTTP semantics, refusals of paths leaving the folder."""

from __future__ import annotations

import http.client
import json
import os
import re
import time
import urllib.request

import pytest
from support.cli import run_zoo, start_zoo
from support.registry import FILE, make_spec, payload, sha256

from zoo.hub import pull, serve

DATA = payload(50_000)


def request(url: str, path: str, method: str = "GET", headers: dict[str, str] | None = None):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / FILE).write_bytes(DATA)
    (tmp_path / "secret.txt").write_text("outside")
    return root


def test_serves_by_name_and_by_sha256_with_length_etag_and_ranges(folder):
    lines: list[str] = []
    with serve(folder, log=lines.append) as server:
        assert server.url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
        response, body = request(server.url, f"/{FILE}")
        assert response.status == 200 and body == DATA
        assert response.headers["Content-Length"] == str(len(DATA))
        assert response.headers["ETag"] == f'"{sha256(DATA)}"'
        response, body = request(server.url, f"/sha256/{sha256(DATA)}")
        assert body == DATA
        response, body = request(server.url, f"/{FILE}", headers={"Range": "bytes=10-19"})
        assert response.status == 206 and body == DATA[10:20]
        assert response.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
        _, body = request(server.url, f"/{FILE}", headers={"Range": "bytes=-5"})
        assert body == DATA[-5:]
        response, _ = request(server.url, f"/{FILE}", headers={"Range": f"bytes={len(DATA)}-"})
        assert response.status == 416
        stale = {"Range": "bytes=10-", "If-Range": '"not-the-etag"'}
        response, body = request(server.url, f"/{FILE}", headers=stale)
        assert response.status == 200 and body == DATA  # changed meanwhile: the whole file
        response, body = request(server.url, f"/{FILE}", method="HEAD")
        assert response.headers["Content-Length"] == str(len(DATA)) and body == b""
        response, _ = request(server.url, f"/{FILE}", method="POST")
        assert response.status == 405
        _, body = request(server.url, "/index.json")
        assert json.loads(body) == [{"file": FILE, "size": len(DATA), "sha256": sha256(DATA)}]
        deadline = time.monotonic() + 5  # a handler logs after its last byte reached the client
        while len(lines) < 9 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(lines) == 9  # one line per request
    assert f'127.0.0.1 "GET /{FILE}" 200 {len(DATA)}' in lines


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sha256/../../secret.txt",
        "/.%2e/secret.txt",
        "/..%5csecret.txt",
        "/secret.txt%00",
        "/link-out",
        "/served/" + FILE,
    ],
)
def test_refuses_paths_that_leave_the_folder(folder, path):
    (folder / "link-out").symlink_to(folder.parent / "secret.txt")
    with serve(folder, log=None) as server:
        response, body = request(server.url, path)
    assert response.status == 404 and b"outside" not in body


def test_symlink_inside_the_folder_is_served(folder):
    (folder / "alias.h5").symlink_to(folder / FILE)
    with serve(folder, log=None) as server:
        _, body = request(server.url, "/alias.h5")
    assert body == DATA


def test_a_zoo_cache_is_a_mirror_for_another_machine(folder, tmp_path, monkeypatch):
    spec = make_spec(DATA)
    with serve(folder, log=None) as first:
        pull(spec, mirrors=[first.url], progress=False)
    with serve(log=None) as cache_mirror:  # the default: this machine's zoo cache
        monkeypatch.setenv("ZOO_HOME", str(tmp_path / "other-machine"))
        path = pull(spec, mirrors=[cache_mirror.url], progress=False)
        assert path.read_bytes() == DATA
        _, body = request(cache_mirror.url, f"/sha256/{sha256(DATA)}")
        assert body == DATA


@pytest.mark.slow
def test_zoo_serve_command_serves_until_interrupted(folder):
    proc = start_zoo("serve", str(folder), "--port", "0", stdout=None)
    try:
        first = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
        assert urllib.request.urlopen(f"{url}/{FILE}", timeout=5).read() == DATA
        assert f'"GET /{FILE}" 200' in proc.stderr.readline()
    finally:
        proc.send_signal(2)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_zoo_serve_refuses_a_missing_folder(tmp_path):
    result = run_zoo("serve", str(tmp_path / "nope"))
    flat = re.sub(r"[│╭╮╰╯─\s]+", " ", result.stderr)  # rich draws the usage error in a box
    assert result.returncode == 2 and "does not exist" in flat
    assert os.listdir(tmp_path) == []


def _manifest(root, model: str, file: str, digest: str) -> None:
    path = root / "manifests" / model / "top.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": model, "variant": "top", "file": file, "sha256": digest, "size": 1}))


def test_a_zoo_cache_never_serves_what_a_manifest_points_outside_its_blobs(tmp_path):
    """A manifest naming `../../x`, or a blob that is a symlink leaving the cache: 404, not in /index.json."""
    root = tmp_path / "weights"
    good = root / "blobs" / sha256(DATA) / FILE
    good.parent.mkdir(parents=True)
    good.write_bytes(DATA)
    _manifest(root, "good", FILE, sha256(DATA))
    # blobs/<sha>/../../x is <root>/x: inside the served folder, but no blob of the cache
    escaping = b"not a blob: a file two levels up"
    (root / "x").write_bytes(escaping)
    (root / "blobs" / sha256(escaping)).mkdir()
    _manifest(root, "escaping", "../../x", sha256(escaping))
    _manifest(root, "a-shadow", "../../x", sha256(DATA))  # listed first: would answer for DATA's hash
    # a blob that is a symlink to a file outside the served folder
    outside = b"outside the served folder"
    (tmp_path / "secret.txt").write_bytes(outside)
    link = root / "blobs" / sha256(outside) / "leak.h5"
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "secret.txt")
    _manifest(root, "leak", "leak.h5", sha256(outside))
    with serve(root, log=None) as server:
        _, body = request(server.url, "/index.json")
        assert json.loads(body) == [{"file": FILE, "size": len(DATA), "sha256": sha256(DATA)}]
        assert request(server.url, f"/sha256/{sha256(DATA)}")[1] == DATA  # the cache itself is served
        for path in (f"/sha256/{sha256(escaping)}", f"/sha256/{sha256(outside)}", "/leak.h5", "/x"):
            response, body = request(server.url, path)
            assert response.status == 404 and body == b"404 Not Found\n", path


def test_a_page_that_fails_is_a_500_and_a_log_line_never_a_traceback(folder, capfd):
    class FailingPages:
        def respond(self, parts: list[str]):
            raise RuntimeError("the page broke")

    lines: list[str] = []
    with serve(folder, log=lines.append) as server:
        server.attach_pages(FailingPages())
        response, body = request(server.url, "/")
        assert response.status == 500 and b"Traceback" not in body
        _, data = request(server.url, f"/{FILE}")  # files are served as before
        assert data == DATA
    assert any("page / failed: RuntimeError: the page broke" in line for line in lines)
    assert "Traceback" not in capfd.readouterr().err
