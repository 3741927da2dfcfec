"""Pulls across processes: a SIGKILLed pull leaves nothing trusted; four concurrent pullers, one download."""

from __future__ import annotations

import json
import signal
import time

import pytest
from support.cli import start_zoo
from support.registry import FILE, make_spec, payload, sha256, write_registry
from support.servers import SLOW, FaultServer

from zoo.hub import cache, cached_path, pull

DATA = payload()


@pytest.mark.slow
def test_sigkill_mid_download_then_a_fresh_pull_resumes_and_verifies(tmp_path, monkeypatch):
    with FaultServer({FILE: DATA}, plan=[SLOW], rate=100_000) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "reg.yaml", spec)))
        proc = start_zoo("pull", "tiny")
        part = cache.partial_path(FILE)
        deadline = time.monotonic() + 20
        while not (part.exists() and part.stat().st_size > 20_000) and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert part.exists(), err
        kept = part.stat().st_size
        assert 0 < kept < len(DATA)
        assert cached_path(spec, "top") is None  # the partial file is never a cache hit
        assert pull(spec, progress=False).read_bytes() == DATA
        resumed = server.gets()[-1]
        assert resumed.headers["Range"] == f"bytes={kept}-"  # continued where the killed pull stopped
    assert not part.exists()


@pytest.mark.slow
def test_four_concurrent_pullers_make_one_download(tmp_path, monkeypatch):
    with FaultServer({FILE: DATA}, default=SLOW, rate=300_000) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "reg.yaml", spec)))
        procs = [start_zoo("pull", "tiny", "--json") for _ in range(4)]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
        paths = {json.loads(out)[0]["path"] for out, _ in outputs}
        assert len(server.gets()) == 1
    assert len(paths) == 1
    assert list(cache.blobs_dir().glob("*/*")) == [cache.blob_path(sha256(DATA), FILE)]
    assert cache.blob_path(sha256(DATA), FILE).read_bytes() == DATA
