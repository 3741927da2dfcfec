"""`zoo catalog build` and `zoo serve` with and without its pages, as the shell runs them."""

from __future__ import annotations

import json
import re
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support.cli import run_zoo, start_zoo, zoo_main

from zoo.registry import load_registry


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.targets += [value for name, value in attrs if name in ("href", "src") and value]


def links_of(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.targets


def test_catalog_build_writes_a_site_whose_every_relative_link_resolves(capsys, tmp_path):
    out = tmp_path / "site"
    code, stdout, stderr = zoo_main(
        capsys, "catalog", "build", str(out), "--mirror", "http://mirror.lan:8000/"
    )
    assert code == 0 and stdout.strip() == str(out / "index.html")
    names = [spec.name for spec in load_registry()]
    assert sorted(p.stem for p in (out / "models").glob("*.html")) == sorted(names)
    assert json.loads((out / "api" / "models.json").read_text())["count"] == len(names)
    pages = sorted(out.rglob("*.html"))
    assert f"wrote {len(list(p for p in out.rglob('*') if p.is_file()))} files" in stderr
    external = set()
    for page in pages:
        for target in links_of(page):
            if target.startswith(("http://", "https://", "data:")):
                external.add(target.split("/")[2] if target.startswith("http") else "data")
                continue
            assert not target.startswith("/"), f"{page}: {target} is not relative"
            assert (page.parent / target.split("#")[0]).resolve().is_file(), f"{page}: {target} is missing"
    card = (out / "models" / "mobilenet_v1_025_224.html").read_text()
    assert 'href="http://mirror.lan:8000/mobilenet_2_5_224_tf_no_top.h5"' in card  # --mirror links
    assert "mirror.lan:8000" in external


def test_catalog_build_refuses_a_mirror_that_is_not_http(tmp_path):
    result = run_zoo("catalog", "build", str(tmp_path / "site"), "--mirror", "ftp://x")
    assert result.returncode == 2 and "not an http:// or https:// URL" in result.stderr
    assert not (tmp_path / "site").exists()


@pytest.mark.slow
@pytest.mark.parametrize("ui", [True, False])
def test_zoo_serve_answers_pages_unless_no_ui(tmp_path, ui):
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "w.h5").write_bytes(b"weights")
    proc = start_zoo("serve", str(folder), "--port", "0", *([] if ui else ["--no-ui"]), stdout=None)
    try:
        first = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
        with urllib.request.urlopen(url + "/", timeout=30) as response:
            kind, body = response.headers["Content-Type"], response.read()
        if ui:
            assert "pages at" in first and kind.startswith("text/html") and b"<h1>Models</h1>" in body
        else:
            assert "pages at" not in first and json.loads(body) == [
                {"file": "w.h5", "size": 7, "sha256": __import__("hashlib").sha256(b"weights").hexdigest()}
            ]
        assert urllib.request.urlopen(url + "/w.h5", timeout=5).read() == b"weights"
    finally:
        proc.send_signal(2)
        proc.wait(timeout=10)
    assert proc.returncode == 0
