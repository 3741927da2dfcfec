"""Security: what zoo serves, what it deserializes, what a registry file may name.

Extends what other suites already prove (tests/hub/test_server.py: `..`, encoded traversal, a symlinked
file leaving the folder, POST; tests/engine/test_bundle.py and tests/engine/test_predict.py: a Lambda run
directory is refused; tests/test_registry.py: `!!python/object/apply`). Here: absolute and double-encoded
paths, symlinked folders, every other HTTP method; the explicit `--unsafe` / `unsafe=True` path, proven by a
Lambda layer that leaves a mark when its code runs; every python/* YAML tag; `arch`/`module` that try to
name something outside keras.applications.
"""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from support import REPO
from support.cli import zoo_main
from support.registry import FILE, payload

from zoo.errors import RegistryError, UnsafeModelError
from zoo.hub import serve
from zoo.registry import read_registry_file

DATA = payload(20_000)
SECRET = b"outside the served folder"


# ------------------------------------------------------------------------------------------ zoo serve
@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    (root / FILE).write_bytes(DATA)
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "private-dir").symlink_to(outside, target_is_directory=True)  # a folder link leaving root
    (root / "absolute-link").symlink_to(outside / "secret.txt")  # an absolute link leaving root
    return root


def request(url: str, target: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def secret_targets(served: Path) -> list[str]:
    secret = served.parent / "private" / "secret.txt"
    return [
        str(secret),  # an absolute path as the request path
        "/" + str(secret),  # //tmp/...: an empty first segment
        "/" + str(secret).replace("/", "%2F"),  # the absolute path as one encoded segment
        "/%252e%252e/private/secret.txt",  # double-encoded ..
        "/%2e%2e%2fprivate%2fsecret.txt",
        "/private-dir/secret.txt",  # through the symlinked folder
        "/private-dir%2Fsecret.txt",
        "/absolute-link",
        "/sha256/..%2F..%2Fprivate%2Fsecret.txt",
        "http://127.0.0.1/../private/secret.txt",  # absolute-form request target
        "/" + FILE + "/../../private/secret.txt",
        "/.%2E/private/secret.txt",
        "/..;/private/secret.txt",
    ]


def test_serve_refuses_every_way_out_of_its_folder(served: Path) -> None:
    with serve(served, log=None) as server:
        answers = {target: request(server.url, target) for target in secret_targets(served)}
        _, index = request(server.url, "/index.json")
    for target, (status, body) in answers.items():
        assert status == 404 and SECRET not in body, target
    assert [item["file"] for item in json.loads(index)] == [FILE]  # links leaving the folder are not listed


@pytest.mark.parametrize(
    "method", ["PUT", "DELETE", "PATCH", "OPTIONS", "POST", "TRACE", "CONNECT", "PROPFIND"]
)
def test_serve_answers_get_and_head_only(served: Path, method: str) -> None:
    target = "127.0.0.1:1" if method == "CONNECT" else f"/{FILE}"
    with serve(served, log=None) as server:
        status, body = request(server.url, target, method, body=b"overwrite" if method != "CONNECT" else None)
        after, content = request(server.url, f"/{FILE}")
    assert status in (405, 501) and DATA not in body  # refused; nothing served
    assert (after, content) == (200, DATA) and (served / FILE).read_bytes() == DATA  # nothing changed


# ---------------------------------------------------------------------------- Lambda layers, --unsafe
def lambda_run_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A run directory whose model holds a Lambda layer that writes `marker` when its code runs."""
    import keras

    from zoo.engine.bundle import save_bundle

    marker = tmp_path / "code-ran"
    # A Python lambda: Keras stores its bytecode in the file. The marker path must be a constant of that
    # code (Keras 3.15 reloads saved defaults as a list, which Python refuses), hence eval of the source.
    touch_marker = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")
    mark = keras.layers.Lambda(touch_marker)
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(mark(inputs)))
    run = save_bundle(tmp_path / "run", keras.Model(inputs, outputs), ["a", "b"], {"image_size": 8})
    marker.unlink(missing_ok=True)  # building the model ran it once here, in the test
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "data" / name / "1.png")
    return run, marker


@pytest.mark.slow
def test_lambda_code_runs_only_with_the_explicit_unsafe_flag(tmp_path: Path, capsys) -> None:
    run, marker = lambda_run_dir(tmp_path)
    image, data = tmp_path / "data" / "a" / "1.png", tmp_path / "data"
    for command in (["predict", "--model", str(run), str(image)], ["evaluate", str(run), str(data)]):
        code, _, err = zoo_main(capsys, *command)
        assert code == 1 and "needs unsafe deserialization" in err and "--unsafe" in err, err
        assert not marker.exists(), command  # refused before a line of the file's code ran
    import zoo

    with pytest.raises(UnsafeModelError):
        zoo.predict(run, [image])
    with pytest.raises(UnsafeModelError):
        zoo.evaluate(run, data, record=False)
    assert not marker.exists()

    code, out, err = zoo_main(capsys, "predict", "--model", str(run), str(image), "--unsafe", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["top"][0]["label"] in ("a", "b") and marker.exists()
    marker.unlink()
    code, out, err = zoo_main(capsys, "evaluate", str(run), str(data), "--unsafe", "--json")
    assert code == 0 and json.loads(out)["images"] == 2 and marker.exists(), err
    marker.unlink()
    assert zoo.predict(run, [image], unsafe=True)[0].ok and marker.exists()


def test_unsafe_is_documented_as_dangerous_and_needs_a_model_file(capsys) -> None:
    for command in ("predict", "evaluate"):
        code, out, _ = zoo_main(capsys, command, "--help")
        assert code == 0 and "DANGEROUS" in " ".join(out.split())
    code, _, err = zoo_main(capsys, "predict", "mobilenet_v1_025_224", "x.png", "--unsafe")
    assert code == 2 and "--unsafe applies to --model" in err


# --------------------------------------------------------------------------------------------- YAML
PYTHON_TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/object:os.system {{}}",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/tuple [1, 2]",
]


@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_python_yaml_tags_are_refused_and_never_run(tag: str, tmp_path: Path, capsys, monkeypatch) -> None:
    marker = tmp_path / "hacked"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"models:\n  evil:\n    arch: {tag.format(marker=marker)}\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid YAML"):
        read_registry_file(evil)
    monkeypatch.setenv("ZOO_REGISTRY", str(evil))
    code, _, err = zoo_main(capsys, "list")
    assert code == 1 and err.startswith("Error: ") and "Traceback" not in err
    assert not marker.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("arch", "eval"),
        ("arch", "__import__"),
        ("arch", "os.system"),
        ("arch", "keras.layers.Lambda"),
        ("arch", "Lambda"),
        ("arch", "mobilenet.__builtins__"),
        ("module", "os"),
        ("module", "../../etc"),
    ],
)
def test_a_registry_can_only_name_keras_applications(field: str, value: str, tmp_path: Path) -> None:
    entry = {"arch": "MobileNet", "args": {"alpha": 0.25}, "module": "mobilenet", field: value}
    path = tmp_path / "user.yaml"
    path.write_text(json.dumps({"models": {"sneaky": entry}}), encoding="utf-8")  # JSON is YAML
    kind = "constructor" if field == "arch" else "module"
    with pytest.raises(RegistryError, match=f"not a keras.applications {kind}"):
        read_registry_file(path)


def test_zoo_extracts_no_archives() -> None:
    """Nothing in zoo opens tar or zip archives, so no archive path can escape a folder."""
    package = REPO / "zoo"
    sources = "\n".join(p.read_text(encoding="utf-8") for p in package.rglob("*.py"))
    assert "tarfile" not in sources and "zipfile" not in sources and "shutil.unpack_archive" not in sources
    loads = re.findall(r"np\.load\([^)]*\)", sources)  # .npy/.npz never unpickle objects
    assert loads and all("allow_pickle=False" in call for call in loads)


def test_a_lambda_naming_code_zoo_lacks_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    """A Lambda over a named (unregistered) function stores only the name: loading cannot run it."""
    import keras

    from zoo.engine.bundle import save_bundle

    def halve(t):
        return t * 0.5

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(keras.layers.Lambda(halve)(inputs)))
    run = save_bundle(tmp_path / "run", keras.Model(inputs, outputs), ["a", "b"], {})
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(image)
    for flags in ((), ("--unsafe",)):
        code, _, err = zoo_main(capsys, "predict", "--model", str(run), str(image), *flags)
        assert code == 1 and "needs custom code zoo does not have" in err and "internal error" not in err
        assert len(err.strip().splitlines()) == 2  # Error: ... and Hint: ...


def test_serve_keeps_answering_while_a_client_stays_silent_and_then_drops_it(
    served: Path, monkeypatch
) -> None:
    import socket
    import time

    from zoo.hub import server as server_module

    monkeypatch.setattr(server_module._Handler, "timeout", 0.5)  # the real limit is a minute
    with serve(served, log=None) as server:
        host, port = server.url.removeprefix("http://").split(":")
        silent = socket.create_connection((host, int(port)), timeout=10)
        silent.sendall(b"GET /")  # half a request line, then nothing
        assert request(server.url, f"/{FILE}") == (200, DATA)  # others are still served
        start = time.monotonic()
        assert silent.recv(1024) == b""  # closed by the server, not left hanging
        assert time.monotonic() - start < 5
        silent.close()
