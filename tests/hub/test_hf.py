"""hf:// sources against a loopback Hub (and its CDN on another origin), as huggingface_hub sees the real one.

The Hub's metadata comes through huggingface_hub; the bytes through zoo's own downloader, held to the
sha256 the Hub reports for an LFS file (or the git blob id of a small one) and pinned in the manifest.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace

import pytest
from support.cli import zoo_main
from support.registry import make_spec, payload, sha256, write_models, write_registry
from support.servers import NO_SHA256, TRUNCATE, HfServer, header

from zoo.errors import OfflineError, WeightsUnavailable
from zoo.hub import cache, cached_path, pull, serve
from zoo.hub.pull import pull_weights

REPO = "timm/tiny_net.in1k"
WEIGHTS = payload(200_000, seed=11)
CONFIG = b'{"architecture": "tiny_net", "num_classes": 1000}\n'
FILES = {(REPO, "model.safetensors"): WEIGHTS, (REPO, "config.json"): CONFIG}


def hub_spec(name: str = "tiny_net.in1k"):
    """A keras-hub style entry: the safetensors as "top", the config.json as "config", no checksums."""
    top = make_spec(WEIGHTS, [f"hf://{REPO}/model.safetensors"], checksum=None, size=None, name=name,
                    file=f"{name}.safetensors")  # fmt: skip
    config = make_spec(CONFIG, [f"hf://{REPO}/config.json"], checksum=None, size=None, name=name,
                       file=f"{name}.config.json", variant="config")  # fmt: skip
    return replace(top, weights={**top.weights, **config.weights})


def assert_nothing_cached() -> None:
    assert not list(cache.manifests_dir().glob("*/*.json")) if cache.manifests_dir().exists() else True
    assert not list(cache.blobs_dir().glob("*/*")) if cache.blobs_dir().exists() else True
    assert not list(cache.incoming_dir().glob("*.tmp")) if cache.incoming_dir().exists() else True


@pytest.fixture
def hub(monkeypatch):
    with HfServer(FILES) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def test_pull_streams_both_files_and_pins_sha256_and_commit(hub, capsys):
    spec = hub_spec()
    weights = pull_weights(spec, "top", progress=True)
    config = pull_weights(spec, "config", progress=True)
    assert weights.path.read_bytes() == WEIGHTS and config.path.read_bytes() == CONFIG
    assert (weights.sha256, config.sha256) == (sha256(WEIGHTS), sha256(CONFIG))
    for variant, data in (("top", WEIGHTS), ("config", CONFIG)):
        manifest = cache.read_manifest(spec.name, variant)
        assert manifest.sha256 == sha256(data) and manifest.revision == HfServer.COMMIT
        assert manifest.trust == cache.TRUST_FIRST_USE and manifest.source.startswith(f"hf://{REPO}/")
    assert f"matches what the Hub reports at commit {HfServer.COMMIT}" in capsys.readouterr().err
    # metadata by HEAD from the Hub; the LFS bytes from the CDN, the git-stored config.json from the Hub
    assert [(s.method, s.path.split("/")[-1]) for s in hub.resolves()] == [
        ("HEAD", "model.safetensors"), ("HEAD", "config.json"), ("GET", "config.json")]  # fmt: skip
    assert [s.path.split("?")[0] for s in hub.cdn.gets()] == [f"/cdn/{sha256(WEIGHTS)}"]
    assert not any(cache.incoming_dir().iterdir())  # no partial file or sidecar left behind


def test_a_wrong_sha256_from_the_hub_is_refused_and_nothing_cached(monkeypatch):
    wrong = sha256(b"something else")
    with HfServer(FILES, reported={(REPO, "model.safetensors"): wrong}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(WeightsUnavailable, match=rf"hf://{REPO}/model.safetensors: sha256 "
                                                     rf"{sha256(WEIGHTS)}, expected {wrong}"):  # fmt: skip
            pull(hub_spec(), progress=False)
    assert_nothing_cached()


def test_bytes_that_differ_from_the_hubs_sha256_are_refused(monkeypatch):
    tampered = bytes([WEIGHTS[0] ^ 1]) + WEIGHTS[1:]
    with HfServer(FILES, served={(REPO, "model.safetensors"): tampered}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(WeightsUnavailable, match=f"expected {sha256(WEIGHTS)}"):
            pull(hub_spec(), progress=False)
    assert_nothing_cached()


def test_a_weights_file_without_a_sha256_from_the_hub_is_refused_before_any_download(monkeypatch):
    with HfServer(FILES, reported={(REPO, "model.safetensors"): NO_SHA256}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(WeightsUnavailable, match="the Hub reports no sha256 for this file"):
            pull(hub_spec(), progress=False)
        assert hub.cdn.seen == []
    assert_nothing_cached()


def test_a_tampered_config_json_fails_its_git_blob_id(monkeypatch):
    tampered = CONFIG.replace(b"1000", b"1001")  # same length: only the content check can tell
    with HfServer(FILES, served={(REPO, "config.json"): tampered}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(WeightsUnavailable, match=r"config.json: git blob id \w{40}, the Hub reports"):
            pull(hub_spec(), "config", progress=False)
    assert_nothing_cached()


def test_hf_token_goes_to_the_hub_and_never_to_the_cdn(monkeypatch):
    with HfServer(FILES, token="hf_secret") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(WeightsUnavailable, match="401"):
            pull(hub_spec(), progress=False)  # a private repository without the token
        monkeypatch.setenv("HF_TOKEN", "hf_secret")
        spec = hub_spec()
        assert pull(spec, progress=False).read_bytes() == WEIGHTS
        assert pull(spec, "config", progress=False).read_bytes() == CONFIG
        authorized = [s for s in hub.resolves()[-3:] if header(s, "Authorization") == "Bearer hf_secret"]
        assert len(authorized) == 3  # HEAD, HEAD, and the GET of config.json (kept on the Hub)
        assert hub.cdn.gets() and not any(header(s, "Authorization") for s in hub.cdn.seen)


def test_offline_pull_makes_no_request_and_gives_the_three_ways_out(hub, tmp_path, monkeypatch, capsys):
    spec = hub_spec()
    top_only = replace(spec, weights={"top": spec.weights["top"]})
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "reg.yaml", top_only)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = zoo_main(capsys, "pull", spec.name)
    assert code == 1 and "offline mode is on" in err and "Traceback" not in err
    assert f"zoo pull {spec.name}" in err and f"zoo cache import FILE --name {spec.name}" in err
    assert "mirror" in err
    assert hub.seen == [] and hub.cdn.seen == []


def test_a_change_on_disk_or_on_the_hub_is_caught_against_the_pin(hub, tmp_path, monkeypatch, capsys):
    spec = hub_spec()
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "reg.yaml", replace(
        spec, weights={"top": spec.weights["top"]}))))  # fmt: skip
    path = pull(spec, progress=False)
    assert zoo_main(capsys, "cache", "verify")[0] == 0
    # the Hub now holds a different file under the same name: a forced pull refuses it
    hub.httpd.files[(REPO, "model.safetensors")] = payload(200_000, seed=12)
    with pytest.raises(WeightsUnavailable, match=f"expected {sha256(WEIGHTS)}"):
        pull(spec, force=True, progress=False)
    assert path.read_bytes() == WEIGHTS
    path.chmod(0o644)
    with open(path, "r+b") as fh:  # the blob changed on disk
        fh.seek(100)
        fh.write(bytes([fh.read(1)[0] ^ 1]))
    code, out, err = zoo_main(capsys, "cache", "verify")
    assert code == 1 and f"CORRUPT  {spec.name} top" in out and "sha256" in err


def test_a_mirror_serves_what_came_from_the_hub_by_name_and_by_sha256(hub, tmp_path, monkeypatch):
    spec = hub_spec()
    pulled = {v: pull_weights(spec, v, progress=False) for v in ("top", "config")}
    with serve(cache.weights_root(), log=None) as mirror:
        for result in pulled.values():
            with urllib.request.urlopen(f"{mirror.url}/sha256/{result.sha256}") as response:
                assert response.read() == result.path.read_bytes()
        seen = len(hub.seen)
        monkeypatch.setenv("ZOO_HOME", str(tmp_path / "elsewhere"))  # another machine's empty cache
        for variant, result in pulled.items():
            again = pull_weights(spec, variant, mirrors=[mirror.url], progress=False)
            assert again.sha256 == result.sha256 and again.source == f"{mirror.url}/{result.file}"
        assert len(hub.seen) == seen  # the mirror answered: the Hub was not asked
        assert [p for _, p in mirror.requests][-2:] == [f"/{r.file}" for r in pulled.values()]


def test_a_missing_file_names_the_hubs_error_and_the_next_source_is_tried(hub):
    spec = hub_spec()
    top = spec.weights["top"]
    missing = f"hf://{REPO}/no_such.safetensors"
    spec = replace(spec, weights={"top": replace(top, sources=(missing, *top.sources))})
    assert pull(spec, progress=False).read_bytes() == WEIGHTS
    only_missing = replace(spec, name="other", weights={"top": replace(top, sources=(missing,))})
    with pytest.raises(WeightsUnavailable, match=rf"{missing}: \w*EntryNotFoundError: 404"):
        pull(only_missing, force=True, progress=False)


def test_a_hub_that_answers_503_is_asked_again_and_a_404_is_not(hub, monkeypatch):
    monkeypatch.setenv("ZOO_HTTP_RETRIES", "2")
    hub.httpd.failures = [503, 502]
    assert pull(hub_spec(), progress=False).read_bytes() == WEIGHTS
    weights_heads = [s for s in hub.resolves() if s.path.endswith("model.safetensors") and s.method == "HEAD"]
    assert len(weights_heads) == 3  # two failures, then the answer

    hub.httpd.failures = [503, 503, 503]
    with pytest.raises(WeightsUnavailable, match="503"):
        pull(replace(hub_spec(), name="other"), force=True, progress=False)
    assert hub.httpd.failures == []  # 1 + ZOO_HTTP_RETRIES asks, no more

    asked = len(hub.resolves())
    hub.httpd.failures = [404]
    with pytest.raises(WeightsUnavailable, match="404"):
        pull(replace(hub_spec(), name="third"), force=True, progress=False)
    assert len(hub.resolves()) == asked + 1  # a 404 will not change on a retry


def test_a_pickle_is_never_fetched(hub):
    spec = hub_spec()
    top = replace(spec.weights["top"], file="tiny.bin", sources=(f"hf://{REPO}/pytorch_model.bin",))
    with pytest.raises(WeightsUnavailable, match="pickle file, which runs code when loaded"):
        pull(replace(spec, weights={"top": top}), progress=False)
    assert hub.seen == []


def test_an_interrupted_download_resumes_from_a_freshly_signed_cdn_url(hub, monkeypatch):
    monkeypatch.setenv("ZOO_HTTP_RETRIES", "0")
    hub.cdn.httpd.plan = [TRUNCATE]
    with pytest.raises(WeightsUnavailable, match="connection closed early"):
        pull(hub_spec(), progress=False)
    assert cache.partial_path(f"{hub_spec().name}.safetensors").stat().st_size == len(WEIGHTS) // 2
    assert pull(hub_spec(), progress=False).read_bytes() == WEIGHTS
    first, second = hub.cdn.gets()
    assert first.path != second.path  # another signature ...
    assert second.headers["Range"] == f"bytes={len(WEIGHTS) // 2}-"  # ... the same content: resumed


def test_adopted_from_the_hugging_face_cache_only_with_a_registry_checksum(hub, monkeypatch):
    from huggingface_hub import hf_hub_download

    from zoo.hub.hf import hf_cache_dir

    # another tool (timm, transformers) downloaded the file into the Hugging Face cache
    hf_hub_download(REPO, "model.safetensors", cache_dir=hf_cache_dir(), endpoint=hub.url)
    before = len(hub.seen)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError):
        pull(hub_spec(), progress=False)  # no registry checksum: never adopted silently
    spec = hub_spec()
    checked = replace(spec.weights["top"], sha256=sha256(WEIGHTS), checksum_source="pinned")
    result = pull_weights(replace(spec, weights={"top": checked}), progress=False)
    assert result.source == f"hf-cache:hf://{REPO}/model.safetensors" and result.sha256 == sha256(WEIGHTS)
    assert len(hub.seen) == before
    assert cached_path(replace(spec, weights={"top": checked}), "top") == result.path


def test_cache_ls_shows_the_commit(hub, capsys):
    pull(hub_spec(), progress=False)
    code, out, _ = zoo_main(capsys, "cache", "ls")
    assert code == 0 and "revision" in out.splitlines()[0] and HfServer.COMMIT[:12] in out
    code, out, _ = zoo_main(capsys, "cache", "ls", "--json")
    assert json.loads(out)[0]["revision"] == HfServer.COMMIT


def test_every_variant_a_keras_hub_entry_declares_goes_through_the_cli(hub, tmp_path, monkeypatch, capsys):
    name = "resnet18.tiny"
    entry = {
        "loader": "keras-hub", "layout": "timm", "arch": "resnet18", "hf_repo": REPO,
        "preprocess": "normalize", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "hub_config": {"architecture": "resnet18", "num_classes": 1000},
        "weights": {
            "top": {"file": f"{name}.safetensors", "sources": [f"hf://{REPO}/model.safetensors"]},
            "config": {"file": f"{name}.config.json", "sources": [f"hf://{REPO}/config.json"]},
        },
    }  # fmt: skip
    monkeypatch.setenv("ZOO_REGISTRY", str(write_models(tmp_path / "reg.yaml", {name: entry})))
    code, out, _ = zoo_main(capsys, "pull", name, "--variant", "all", "--json")
    assert code == 0 and [r["variant"] for r in json.loads(out)] == ["top", "config"]
    assert {r["revision"] for r in json.loads(out)} == {HfServer.COMMIT}
    code, out, _ = zoo_main(capsys, "cache", "path", name, "--variant", "config")
    assert code == 0 and out.strip() == str(cache.blob_path(sha256(CONFIG), f"{name}.config.json"))
    code, out, _ = zoo_main(capsys, "cache", "rm", name, "--variant", "config")
    assert code == 0 and f"removed {name} config" in out
    code, _, _ = zoo_main(capsys, "pull", name)  # the default pull brings the config.json back too
    assert code == 0 and cache.read_manifest(name, "config") is not None
    assert zoo_main(capsys, "cache", "rm", name, "--variant", "config")[0] == 0
    (tmp_path / "config.json").write_bytes(CONFIG)
    code, out, _ = zoo_main(capsys, "cache", "import", str(tmp_path / "config.json"), "--name", name,
                            "--variant", "config", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["trust"] == "imported"
    assert cache.read_manifest(name, "config").sha256 == sha256(CONFIG)
    code, out, _ = zoo_main(capsys, "pull", name, "--variant", "notop")  # the head is dropped when loading
    top = cache.blob_path(sha256(WEIGHTS), f"{name}.safetensors")
    assert code == 0 and out == f"{sha256(WEIGHTS)}  {top}\n"
    assert zoo_main(capsys, "cache", "path", name, "--variant", "notop")[1].strip() == str(top)
    code, _, err = zoo_main(capsys, "cache", "import", str(tmp_path / "config.json"), "--name", "mobilenet",
                            "--variant", "config")  # fmt: skip
    assert code == 2 and "has no 'config' weights (it has: top, notop)" in err
