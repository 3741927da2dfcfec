"""`zoo pull` / `zoo cache ...` through the real CLI entry point, and link-keras (hf:// in test_hf.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from support.cli import zoo_main
from support.registry import FILE, make_spec, payload, sha256, write_registry
from support.servers import FaultServer

from zoo.errors import WeightsUnavailable
from zoo.hub import cache, cached_path, pull, serve
from zoo.hub.pull import pull_weights

DATA = payload(100_000)


@pytest.fixture
def registered(tmp_path, monkeypatch):
    """Model 'tiny' in a user registry, its file on a loopback mirror set through ZOO_MIRROR."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / FILE).write_bytes(DATA)
    spec = make_spec(DATA)
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "reg.yaml", spec)))
    with serve(folder, log=None) as mirror:
        monkeypatch.setenv("ZOO_MIRROR", mirror.url)
        yield spec


def test_pull_prints_digest_and_path_and_json(registered, capsys):
    code, out, err = zoo_main(capsys, "pull", "tiny")
    path = cache.blob_path(sha256(DATA), FILE)
    assert code == 0 and out == f"{sha256(DATA)}  {path}\n"
    assert f"verified sha256:{sha256(DATA)}" in err
    code, out, _ = zoo_main(capsys, "pull", "tiny", "--json")
    [record] = json.loads(out)
    assert record["path"] == str(path) and record["cached"] is True and record["trust"] == "published"


def test_trust_labels_say_who_vouches_for_the_checksum(tmp_path, monkeypatch, capsys):
    """`published` only for a checksum the weights' owner published; a registry's own pin says `pinned`."""
    owned, pinned = DATA, payload(100_000, seed=3)
    specs = [
        make_spec(owned, name="owned", file="owned.h5", checksum="md5", checksum_source="published"),
        make_spec(pinned, name="pinned", file="pinned.h5", checksum="sha256", checksum_source="pinned"),
    ]
    files = [str(write_registry(tmp_path / f"{spec.name}.yaml", spec)) for spec in specs]
    monkeypatch.setenv("ZOO_REGISTRY", os.pathsep.join(files))
    with FaultServer({"owned.h5": owned, "pinned.h5": pinned}) as mirror:
        code, _, err = zoo_main(capsys, "pull", "owned", "--mirror", mirror.url)
        assert code == 0 and f"verified sha256:{sha256(owned)} (published) " in err
        code, _, err = zoo_main(capsys, "pull", "pinned", "--mirror", mirror.url)
        assert code == 0 and f"verified sha256:{sha256(pinned)} (pinned) " in err
    code, out, _ = zoo_main(capsys, "cache", "ls")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:]}
    assert code == 0 and rows == {"owned": "published", "pinned": "pinned"}
    code, out, _ = zoo_main(capsys, "cache", "verify")
    assert code == 0 and sorted(line.split()[-1] for line in out.splitlines()) == ["(pinned)", "(published)"]
    # a cache labelled before the registry said who pinned the checksum is relabelled on the next pull
    manifest = cache.read_manifest("pinned", "top")
    cache.write_manifest(replace(manifest, trust="published"))
    assert pull_weights("pinned", progress=False).trust == "pinned"
    assert cache.read_manifest("pinned", "top").trust == "pinned"


def test_pull_usage_and_runtime_errors(registered, capsys, monkeypatch):
    code, _, err = zoo_main(capsys, "pull", "tiny", "--mirror", "ftp://x")
    assert code == 2 and "not an http:// or https:// URL" in err
    code, _, err = zoo_main(capsys, "pull", "tinyy")
    assert code == 2 and "Error: unknown model 'tinyy'; did you mean 'tiny'?" in err
    code, _, err = zoo_main(capsys, "pull", "tiny", "--variant", "notop")
    assert code == 2 and "has no 'notop' weights" in err
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    code, _, err = zoo_main(capsys, "pull", "tiny")
    assert code == 1 and "offline mode is on" in err and "Hint:" in err and "Traceback" not in err


def test_cache_ls_path_rm(registered, capsys):
    assert zoo_main(capsys, "cache", "path")[1].strip() == str(cache.weights_root())
    code, _, err = zoo_main(capsys, "cache", "path", "tiny")
    assert code == 1 and "not in the cache" in err
    zoo_main(capsys, "pull", "tiny")
    code, out, _ = zoo_main(capsys, "cache", "ls", "--json")
    [entry] = json.loads(out)
    assert (entry["model"], entry["variant"], entry["sha256"]) == ("tiny", "top", sha256(DATA))
    assert entry["size"] == len(DATA)
    assert zoo_main(capsys, "cache", "path", "tiny")[1].strip() == str(cache.blob_path(sha256(DATA), FILE))
    code, out, _ = zoo_main(capsys, "cache", "rm", "tiny")
    assert code == 0 and "removed tiny top" in out
    assert cached_path(registered, "top") is None and not cache.blob_path(sha256(DATA), FILE).exists()
    assert zoo_main(capsys, "cache", "rm", "tiny")[0] == 1


def test_cache_verify_catches_a_corrupted_file(registered, capsys):
    path = pull(registered, progress=False)
    assert zoo_main(capsys, "cache", "verify")[0] == 0
    path.chmod(0o644)
    with open(path, "r+b") as fh:  # flip one byte in place: same size, different content
        fh.seek(1234)
        fh.write(bytes([fh.read(1)[0] ^ 1]))
    code, out, err = zoo_main(capsys, "cache", "verify")
    assert code == 1
    assert f"CORRUPT  tiny top  {path}" in out
    assert "1 of 1 cached files are corrupted: tiny top: sha256" in err


def test_cache_import_checks_the_published_checksum(registered, tmp_path, capsys):
    good, bad = tmp_path / "good.h5", tmp_path / "bad.h5"
    good.write_bytes(DATA)
    bad.write_bytes(payload(100_000, seed=5))
    code, _, err = zoo_main(capsys, "cache", "import", str(bad), "--name", "tiny")
    assert code == 1 and "sha256" in err and cached_path(registered, "top") is None
    assert not any(cache.incoming_dir().iterdir())
    code, out, _ = zoo_main(capsys, "cache", "import", str(good), "--name", "tiny", "--json")
    assert code == 0 and json.loads(out)["source"] == f"import:{good}"
    assert cached_path(registered, "top").read_bytes() == DATA
    assert zoo_main(capsys, "cache", "import", str(tmp_path / "missing.h5"), "--name", "tiny")[0] == 2


def test_import_of_an_unchecked_file_is_then_held_to_its_digest(tmp_path, monkeypatch):
    spec = make_spec(DATA, checksum=None, size=None)
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "reg.yaml", spec)))
    (tmp_path / "w.h5").write_bytes(DATA)
    from zoo.hub.manage import import_file

    assert import_file(tmp_path / "w.h5", "tiny").trust == "imported"
    changed = FaultServer({FILE: payload(100_000, seed=9)})
    with changed, pytest.raises(WeightsUnavailable, match=f"expected {sha256(DATA)}"):
        pull(spec, mirrors=[changed.url], force=True, progress=False)


@pytest.mark.slow
def test_link_keras_lets_keras_get_file_find_the_weights(registered, isolated_homes, capsys):
    fixture = make_spec(DATA)
    pull(fixture, progress=False)
    code, out, _ = zoo_main(capsys, "cache", "link-keras", "tiny")
    target = isolated_homes / "keras" / "models" / FILE
    assert code == 0 and out.strip() == str(target)
    assert target.read_bytes() == DATA
    import keras

    found = keras.utils.get_file(
        FILE,
        origin="http://127.0.0.1:9/unreachable",  # any download attempt would fail
        cache_subdir="models",
        cache_dir=str(isolated_homes / "keras"),
        file_hash=sha256(DATA),
    )
    assert found == str(target)
    assert "tensorflow" in sys.modules  # (keras imported it here; zoo.hub itself never does)


def test_public_api_and_no_heavy_imports():
    code = (
        "import sys, zoo, zoo.hub.pull\n"
        "from zoo.hub import serve, is_pulled\n"
        "assert callable(zoo.pull) and zoo.pull is zoo.hub.pull and callable(serve)\n"
        "assert not {'tensorflow', 'keras', 'pandas', 'huggingface_hub'} & set(sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_demo_flow_pulls_the_shipped_file_through_a_plain_folder_mirror(fixture_weights):
    from conftest import FIXTURE_SHA256

    with serve(fixture_weights.parent, log=None) as mirror:
        result = pull_weights("mobilenet_v1_025_224", "notop", mirrors=[mirror.url], progress=False)
    assert result.sha256 == FIXTURE_SHA256 and result.trust == "pinned"  # Keras publishes none for it
    assert result.path.name == fixture_weights.name
    assert mirror.requests == [("GET", f"/{fixture_weights.name}")]


def test_two_models_sharing_one_file_share_the_blob(registered, capsys):
    twin = make_spec(DATA, name="twin")
    first = pull(registered, progress=False)
    shared = pull_weights(twin, progress=False)
    assert shared.cached and shared.path == first  # no download: same content, same blob
    from zoo.hub.manage import remove

    remove("tiny")
    assert first.exists() and cached_path(twin, "top") == first


def test_pulled_models_agrees_with_is_pulled_for_a_whole_catalogue(registered):
    """The batch form `zoo list` and the web pages use: by manifest, by shared content, and not at all."""
    twin, other = make_spec(DATA, name="twin"), make_spec(payload(10, seed=1), name="other")
    specs = [registered, twin, other]
    assert cache.pulled_models(specs) == set()
    pull(registered, progress=False)
    from zoo.hub.manage import remove

    assert cache.pulled_models(specs) == {"tiny", "twin"}  # twin: the same content, found by its sha256
    remove("tiny")
    expected = {s.name for s in specs if cache.is_pulled(s)}
    assert cache.pulled_models(specs) == expected == set()  # the blob went with the only manifest naming it
