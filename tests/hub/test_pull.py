"""zoo.hub.pull against real loopback servers: each failure ends in a clear error, no corrupt cache entry."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess

import pytest
from support.registry import FILE, make_spec, payload, sha256
from support.servers import (
    HANG,
    HUGE,
    NO_RANGE,
    REDIRECT,
    RESET,
    SLOW,
    STATUS_404,
    STATUS_500,
    TRUNCATE,
    WRONG,
    FaultServer,
)

from zoo.errors import DiskSpaceError, OfflineError, WeightsUnavailable
from zoo.hub import cache, cached_path, is_pulled, pull, serve
from zoo.hub.pull import pull_weights

DATA = payload()


def assert_nothing_cached(spec) -> None:
    assert cached_path(spec, "top") is None
    assert not list(cache.manifests_dir().glob("*/*.json")) if cache.manifests_dir().exists() else True
    assert not list(cache.blobs_dir().glob("*/*")) if cache.blobs_dir().exists() else True


def test_pull_from_mirror_then_cached_pull_makes_no_request(tmp_path):
    (tmp_path / FILE).write_bytes(DATA)
    spec = make_spec(DATA)
    with serve(tmp_path, log=None) as mirror:
        path = pull(spec, mirrors=[mirror.url], progress=False)
        assert path.read_bytes() == DATA
        assert path.name == FILE and path.parent.name == sha256(DATA)
        assert is_pulled(spec) and cached_path(spec, "top") == path
        assert len(mirror.requests) == 1
        again = pull_weights(spec, mirrors=[mirror.url], progress=False)
        assert again.cached and again.path == path
        assert len(mirror.requests) == 1  # the cached pull made zero requests


def test_truncated_body_is_retried_with_range_and_resumes():
    with FaultServer({FILE: DATA}, plan=[TRUNCATE]) as server:
        path = pull(make_spec(DATA, [server.file_url(FILE)]), progress=False)
        assert path.read_bytes() == DATA
        first, second = server.gets()
        assert "Range" not in first.headers
        assert second.headers["Range"] == f"bytes={len(DATA) // 2}-"


@pytest.mark.usefixtures("fast_network")
def test_always_truncated_source_fails_clearly_and_caches_nothing():
    with FaultServer({FILE: DATA}, default=TRUNCATE) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        with pytest.raises(WeightsUnavailable, match="connection closed early"):
            pull(spec, progress=False)
    assert_nothing_cached(spec)


def test_dropped_connection_mid_stream_resumes():
    with FaultServer({FILE: DATA}, plan=[RESET]) as server:
        assert pull(make_spec(DATA, [server.file_url(FILE)]), progress=False).read_bytes() == DATA
        assert len(server.gets()) == 2


def test_wrong_bytes_of_right_length_name_the_source_and_the_next_source_is_used():
    with FaultServer({FILE: DATA}, default=WRONG) as bad, FaultServer({FILE: DATA}) as good:
        spec = make_spec(DATA, [bad.file_url(FILE), good.file_url(FILE)])
        result = pull_weights(spec, progress=False)
        assert result.source == good.file_url(FILE)
        assert result.path.read_bytes() == DATA
        with pytest.raises(WeightsUnavailable, match=rf"{bad.url}/{FILE}: sha256 [0-9a-f]+, expected"):
            pull(make_spec(DATA, [bad.file_url(FILE)], name="other", file="other.h5"), progress=False)
    assert not list(cache.incoming_dir().glob("*.part"))  # the bad bytes were deleted


@pytest.mark.usefixtures("fast_network")
def test_404_is_not_retried_and_500_is():
    with FaultServer({FILE: DATA}, default=STATUS_404) as missing:
        with pytest.raises(WeightsUnavailable, match="HTTP 404"):
            pull(make_spec(DATA, [missing.file_url(FILE)]), progress=False)
        assert len(missing.gets()) == 1
    with FaultServer({FILE: DATA}, default=STATUS_500) as broken:
        with pytest.raises(WeightsUnavailable, match="HTTP 500"):
            pull(make_spec(DATA, [broken.file_url(FILE)]), progress=False)
        assert len(broken.gets()) == 2  # ZOO_HTTP_RETRIES=1


def test_timeout_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("ZOO_HTTP_TIMEOUT", "0.3")
    monkeypatch.setenv("ZOO_HTTP_RETRIES", "0")
    with FaultServer({FILE: DATA}, default=HANG, hang_s=1.0) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        with pytest.raises(WeightsUnavailable, match=r"timed out after 0.3 s"):
            pull(spec, progress=False)
    assert_nothing_cached(spec)


def test_slow_server_still_delivers_with_progress(capsys):
    with FaultServer({FILE: DATA}, default=SLOW, rate=2_000_000) as server:
        result = pull_weights(make_spec(DATA, [server.file_url(FILE)]), progress=True)
    assert result.path.read_bytes() == DATA
    assert f"verified sha256:{sha256(DATA)}" in capsys.readouterr().err


def test_redirect_is_followed_and_the_token_is_not_forwarded(monkeypatch):
    monkeypatch.setenv("ZOO_MIRROR_TOKEN", "s3cret")
    with FaultServer({FILE: DATA}, default=REDIRECT) as server:
        path = pull(make_spec(DATA), mirrors=[server.url], progress=False)
        assert path.read_bytes() == DATA
        first, second = server.gets()
        assert first.headers.get("Authorization") == "Bearer s3cret"
        assert second.path == f"/real/{FILE}" and "Authorization" not in second.headers


def test_server_ignoring_range_makes_zoo_start_over():
    with FaultServer({FILE: DATA}, plan=[TRUNCATE], default=NO_RANGE) as server:
        path = pull(make_spec(DATA, [server.file_url(FILE)]), progress=False)
        assert path.read_bytes() == DATA  # not the first half twice
        assert "Range" in server.gets()[1].headers


def test_offline_makes_no_request_and_lists_the_ways_out(monkeypatch):
    with FaultServer({FILE: DATA}) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        for var in ("ZOO_OFFLINE", "HF_HUB_OFFLINE"):
            monkeypatch.setenv(var, "1")
            with pytest.raises(OfflineError) as info:
                pull(spec, mirrors=[server.url], progress=False)
            monkeypatch.delenv(var)
            assert "zoo pull tiny" in info.value.hint
            assert "zoo cache import FILE --name tiny" in info.value.hint and "mirror" in info.value.hint
        assert server.seen == []
        pull(spec, progress=False)
        monkeypatch.setenv("ZOO_OFFLINE", "1")
        assert pull(spec, progress=False).read_bytes() == DATA  # cached: fine offline


def test_mirror_order_explicit_then_env_then_registry(monkeypatch):
    with (
        FaultServer({FILE: DATA}, default=STATUS_404) as explicit,
        FaultServer({FILE: DATA}) as env_mirror,
        FaultServer({FILE: DATA}) as origin,
    ):
        monkeypatch.setenv("ZOO_MIRROR", env_mirror.url)
        result = pull_weights(
            make_spec(DATA, [origin.file_url(FILE)]), mirrors=[explicit.url], progress=False
        )
        assert result.source == f"{env_mirror.url}/{FILE}"
        # the explicit mirror is asked by name, then by content (the zoo serve layout), before moving on
        assert [g.path for g in explicit.gets()] == [f"/{FILE}", f"/sha256/{sha256(DATA)}"]
        assert len(env_mirror.gets()) == 1 and origin.seen == []


def test_a_zoo_serve_mirror_is_found_by_content_when_its_file_name_differs(tmp_path):
    (tmp_path / "renamed-on-the-mirror.h5").write_bytes(DATA)
    with serve(tmp_path, log=None) as mirror:
        result = pull_weights(make_spec(DATA), mirrors=[mirror.url], progress=False)
        assert result.source == f"{mirror.url}/sha256/{sha256(DATA)}"
        assert result.path.read_bytes() == DATA and result.path.name == FILE
        assert [path for method, path in mirror.requests] == [f"/{FILE}", f"/sha256/{sha256(DATA)}"]


@pytest.mark.usefixtures("fast_network")
def test_bearer_token_reaches_mirrors_only(monkeypatch):
    with FaultServer({FILE: DATA}, token="t0k") as private, FaultServer({FILE: DATA}) as origin:
        spec = make_spec(DATA, [origin.file_url(FILE)])
        with pytest.raises(WeightsUnavailable, match="HTTP 401"):
            pull(make_spec(DATA), mirrors=[private.url], progress=False)
        monkeypatch.setenv("ZOO_MIRROR_TOKEN", "t0k")
        assert pull_weights(spec, mirrors=[private.url], progress=False).source.startswith(private.url)
        pull(spec, force=True, progress=False, mirrors=[])
        assert "Authorization" not in origin.gets()[-1].headers


def test_disk_space_is_checked_before_downloading():
    with FaultServer({FILE: DATA}) as server:
        spec = make_spec(DATA, [server.file_url(FILE)], size=10**15)
        with pytest.raises(DiskSpaceError, match="not enough disk space"):
            pull(spec, progress=False)
        assert server.seen == []
    with FaultServer({FILE: DATA}, default=HUGE) as liar, pytest.raises(DiskSpaceError):
        pull(make_spec(DATA, [liar.file_url(FILE)], size=None), progress=False)
    assert not any(cache.incoming_dir().iterdir())


def test_first_use_records_sha256_with_a_warning_and_holds_later_pulls_to_it(capsys):
    changed = payload(seed=1)
    with FaultServer({FILE: DATA}) as server:
        spec = make_spec(DATA, [server.file_url(FILE)], checksum=None, size=None)
        result = pull_weights(spec, progress=True)
        assert result.trust == "first-use" and result.sha256 == sha256(DATA)
        assert "no published checksum" in capsys.readouterr().err
        server.httpd.files[FILE] = changed  # the source now serves different bytes
        with pytest.raises(WeightsUnavailable, match=f"expected {sha256(DATA)}"):
            pull(spec, force=True, progress=False)
    assert cached_path(spec, "top").read_bytes() == DATA


def test_md5_only_checksums_are_verified():
    with FaultServer({FILE: DATA}) as server:
        result = pull_weights(make_spec(DATA, [server.file_url(FILE)], checksum="md5"), progress=False)
        assert result.trust == "published" and result.md5 is not None
    with FaultServer({FILE: DATA}, default=WRONG) as bad, pytest.raises(WeightsUnavailable, match="md5"):
        pull(make_spec(DATA, [bad.file_url(FILE)], checksum="md5", name="b", file="b.h5"), progress=False)


def test_keras_cache_copy_is_adopted_only_with_a_published_checksum(isolated_homes):
    keras_models = isolated_homes / "keras" / "models"
    keras_models.mkdir()
    (keras_models / FILE).write_bytes(DATA)
    result = pull_weights(make_spec(DATA), progress=False)  # no sources, no mirror: no network possible
    assert result.source.startswith("keras-cache:") and result.path.read_bytes() == DATA
    with pytest.raises(WeightsUnavailable, match="no sources"):
        pull(make_spec(DATA, checksum=None, name="unchecked"), progress=False)


def test_corrupt_keras_cache_copy_is_not_adopted(isolated_homes):
    keras_models = isolated_homes / "keras" / "models"
    keras_models.mkdir()
    (keras_models / FILE).write_bytes(payload(seed=2))
    with FaultServer({FILE: DATA}) as server:
        result = pull_weights(make_spec(DATA, [server.file_url(FILE)]), progress=False)
        assert result.source == server.file_url(FILE)


def test_blobs_are_read_only():
    with FaultServer({FILE: DATA}) as server:
        path = pull(make_spec(DATA, [server.file_url(FILE)]), progress=False)
    assert path.stat().st_mode & 0o222 == 0  # no write bit for anyone


def test_a_torn_manifest_is_not_a_cache_hit():
    with FaultServer({FILE: DATA}) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        path = pull(spec, progress=False)
        cache.manifest_path("tiny", "top").write_text("{not json")
        path.chmod(0o644)
        path.write_bytes(DATA[:100])  # and the blob is short
        assert cached_path(spec, "top") is None
        assert pull(spec, progress=False).read_bytes() == DATA


def test_proxy_from_the_environment_carries_the_request(monkeypatch):
    for var in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    with FaultServer({FILE: DATA}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        path = pull(make_spec(DATA, [f"http://weights.example.invalid/{FILE}"]), progress=False)
        assert path.read_bytes() == DATA
        assert (
            proxy.gets()[0].path == f"http://weights.example.invalid/{FILE}"
        )  # absolute URI: a proxy request


@pytest.fixture
def tls_files(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.mark.usefixtures("fast_network")
@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_custom_ca_bundle_is_honoured(tls_files, monkeypatch, variable):
    cert, context = tls_files
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with FaultServer({FILE: DATA}, tls=context) as server:
        spec = make_spec(DATA, [server.file_url(FILE)])
        assert server.url.startswith("https://")
        with pytest.raises(WeightsUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            pull(spec, progress=False)
        monkeypatch.setenv(variable, str(cert))
        assert pull(spec, progress=False).read_bytes() == DATA


def test_a_stale_partial_file_is_dropped_and_the_download_restarted():
    stale = payload(seed=7)[: len(DATA) // 2]  # half of some other file, left by an earlier crash
    with FaultServer({FILE: DATA}) as server:
        part = cache.partial_path(FILE)
        part.parent.mkdir(parents=True)
        part.write_bytes(stale)
        part.with_name(part.name + ".json").write_text(json.dumps({"url": server.file_url(FILE)}))
        assert pull(make_spec(DATA, [server.file_url(FILE)]), progress=False).read_bytes() == DATA
        first, second = server.gets()
        assert first.headers["Range"] == f"bytes={len(stale)}-" and "Range" not in second.headers
