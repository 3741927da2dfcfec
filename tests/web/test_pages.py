"""The catalogue's pages over real HTTP (no browser): content, escaping, bad input, 404s, --no-ui, JSON."""

from __future__ import annotations

import html
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from support.registry import write_models
from web.conftest import FIXTURE_MODEL, HOSTILE, SCRIPT

from zoo import config
from zoo.hub.server import serve
from zoo.registry import load_registry


def not_json(constant: str) -> None:
    pytest.fail(f"{constant} is not JSON")


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def rows_of(page: bytes) -> dict[str, str]:
    """Model name -> its row's HTML on the models page."""
    text = page.decode()
    found = re.finditer(r'<tr[^>]*><td><a href="models/([^"]+)\.html".*?</tr>', text)
    return {m.group(1): m.group(0) for m in found}


def test_models_page_lists_every_registered_model_with_this_machines_figures(live):
    status, kind, body = get(live.url + "/")
    assert status == 200 and kind.startswith("text/html")
    rows = rows_of(body)
    registry = load_registry()
    assert set(rows) == {spec.name for spec in registry}
    assert any(spec.is_keras_hub for spec in registry) and HOSTILE in rows  # timm catalogue and user entry
    mine = rows[FIXTURE_MODEL]
    assert 'data-value="812.5"' in mine and "812.5" in mine  # measured here
    assert 'data-value="0.5"' in mine and "50.0%" in mine  # its measured top-1
    # resnet50 was measured on another machine only: no "here" figure on the models page
    assert 'data-value="20.25"' not in rows["resnet50"]
    assert "long-gone-model" not in rows  # measured but no longer registered: not a model row


def test_every_registry_string_is_escaped(live):
    _, _, index = get(live.url + "/")
    _, _, card = get(f"{live.url}/models/{HOSTILE}.html")
    for page in (index.decode(), card.decode()):
        assert "window.pwned" in page  # the hostile text is there ...
        assert "<script>window" not in page and "<img src=x" not in page  # ... only as text
    card_text = card.decode()
    assert html.escape(SCRIPT) in card_text and "&lt;b&gt;MIT&lt;/b&gt; &amp; &quot;quoted&quot;" in card_text
    assert 'href="javascript:' not in card_text  # a script URL is shown, never linked
    assert "&lt;u&gt;src&lt;/u&gt;" in card_text and "&lt;i&gt;tag&lt;/i&gt;" in card_text


def test_card_shows_figures_checksums_trust_and_links_the_mirrors_copy(live, fixture_weights):
    status, _, body = get(f"{live.url}/models/{FIXTURE_MODEL}.html")
    page = body.decode()
    spec = load_registry().get(FIXTURE_MODEL)
    notop = spec.weights["notop"]
    assert status == 200
    assert f"sha256 {notop.sha256}" in page and "pinned" in page
    assert f'href="/{notop.file}"' in page  # the mirror holds it
    assert f'href="/{spec.weights["top"].file}"' not in page  # the mirror does not hold the top file
    for figures in spec.published:
        assert html.escape(figures.source) in page
    assert f"zoo pull {FIXTURE_MODEL}" in page and f"zoo.load(&quot;{FIXTURE_MODEL}&quot;)" in page
    assert f"ZOO_MIRROR={live.url} zoo pull" in page


@pytest.mark.parametrize(
    "path",
    [
        "/models/no-such-model.html",
        "/models/%3Cscript%3E.html",
        "/models/..%2f..%2fetc%2fpasswd.html",
        "/models/%00.html",
        "/models/RESNET50.html",  # names are exact on the site (aliases and case are for the CLI)
        "/models/" + urllib.parse.quote("ünïcødé\u202e") + ".html",
        "/models/a/b.html",
        "/api/models/no-such-model",
        "/runs/resnet50/history.png",
        "/plots/nope.png",
    ],
)
def test_odd_names_get_a_404_never_a_traceback(live, path):
    status, _, body = get(live.url + path)
    assert status == 404
    assert b"Traceback" not in body and b"<script" not in body.lower()
    assert not [line for line in live.log_lines if "failed" in line]


def test_bad_results_store_still_renders_and_json_is_strict(live):
    odd = '\n{"kind": "evaluate", "model": "mobilenet", "top1": NaN}\n[1, 2]\n'
    config.results_path().write_text(config.results_path().read_text() + odd)
    for path in ("/", "/measured.html", "/api/models", "/api/results.json", f"/api/models/{FIXTURE_MODEL}"):
        status, _, body = get(live.url + path)
        assert status == 200, path
        if path.startswith("/api"):
            json.loads(body, parse_constant=not_json)
    _, _, body = get(live.url + "/api/results")
    machines = json.loads(body)["machines"]
    models = {r["model"] for m in machines for r in m["records"]}
    assert "long-gone-model" in models and "resn" not in models  # the truncated line is skipped
    assert machines[0]["label"].startswith(__import__("socket").gethostname())  # this machine first


def test_api_models_and_model(live):
    _, kind, body = get(live.url + "/api/models")
    data = json.loads(body)
    assert kind == "application/json" and data["count"] == len(load_registry())
    row = next(r for r in data["models"] if r["name"] == FIXTURE_MODEL)
    assert row["images_per_s_measured"] == 812.5 and row["top1_measured"] == 0.5
    assert row["card"] == f"models/{FIXTURE_MODEL}.html"
    _, _, body = get(f"{live.url}/api/models/{FIXTURE_MODEL}.json")
    one = json.loads(body)
    assert one["weights"]["notop"]["sha256"] == load_registry().get(FIXTURE_MODEL).weights["notop"].sha256
    assert one["downloads"] == {"top": None, "notop": "/mobilenet_2_5_224_tf_no_top.h5"}
    assert one["cached"] == {"top": False, "notop": False} and "origin" not in one


def test_a_served_file_wins_over_a_page_and_no_ui_serves_files_only(home, mirror_folder):
    (mirror_folder / "runs.html").write_bytes(b"a weight file that happens to be called runs.html")
    with serve(mirror_folder, log=None) as plain:  # `zoo serve --no-ui`
        assert json.loads(get(plain.url + "/")[2])[0]["file"] == "mobilenet_2_5_224_tf_no_top.h5"
        assert get(plain.url + "/measured.html")[0] == 404
        assert get(plain.url + "/api/models")[0] == 404
    from zoo.web import serve_pages

    with serve(mirror_folder, log=None) as server:
        serve_pages(server)
        assert get(server.url + "/runs.html")[2] == b"a weight file that happens to be called runs.html"
        status, kind, body = get(server.url + "/measured.html")
        assert status == 200 and kind.startswith("text/html") and b"<h1>Measured</h1>" in body
        status, _, body = get(server.url + "/mobilenet_2_5_224_tf_no_top.h5")
        assert status == 200 and len(body) == 2108140


def test_pages_carry_a_same_origin_content_security_policy(live):
    with urllib.request.urlopen(live.url + "/", timeout=30) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and response.headers["X-Content-Type-Options"] == "nosniff"


def test_runs_page_shows_a_registered_runs_metrics_history_and_pictures(live, tmp_path):
    from zoo.transfer.plots import plot_history

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    history = [
        {"epoch": 1, "stage": 1, "loss": 0.9, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": 0.65},
        {"epoch": 2, "stage": 2, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.75},
    ]
    plot_history(history, run_dir / "history.png")
    (run_dir / "config.json").write_text(json.dumps({"model": FIXTURE_MODEL, "image_size": 96, "lr": 0.001}))
    per_class = {"<cat>": {"precision": 0.8, "recall": 0.7, "f1": 0.74, "support": 10}}
    metrics = {"val_accuracy": 0.75, "val_loss": 0.6, "epochs_run": 2, "per_class": per_class}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    (run_dir / "history.csv").write_text("epoch,stage,loss\n1,1,0.9\n2,2,0.5\n")
    (run_dir / "confusion.png").symlink_to(tmp_path / "secret.png")  # leaves the run dir: not served
    (tmp_path / "secret.png").write_bytes(b"\x89PNG secret")
    write_models(config.user_registry_dir() / "flowers.yaml",
                 {"flowers-v1": {"arch": "MobileNet", "args": {"alpha": 0.25}, "num_classes": 2,
                                 "bundle": str(run_dir)}})  # fmt: skip
    status, _, body = get(live.url + "/runs.html")
    page = body.decode()
    assert status == 200 and "flowers-v1" in page and "75.0%" in page and "&lt;cat&gt;" in page
    assert 'src="runs/flowers-v1/history.png"' in page and "&quot;lr&quot;" not in page and "0.001" in page
    status, kind, picture = get(live.url + "/runs/flowers-v1/history.png")
    assert status == 200 and kind == "image/png" and picture == (run_dir / "history.png").read_bytes()
    assert get(live.url + "/runs/flowers-v1/confusion.png")[0] == 404


@pytest.mark.slow
def test_measured_page_draws_each_machines_plot(live):
    status, _, body = get(live.url + "/measured.html")
    page = body.decode()
    plots = re.findall(r'<img src="(plots/[0-9a-f]{12}\.png)"', page)
    assert status == 200 and len(plots) == 2  # this machine and the other one
    assert "elsewhere (Some Other CPU, 64 cores)" in page and "(this machine)" in page
    status, kind, png = get(f"{live.url}/{plots[0]}")
    assert status == 200 and kind == "image/png"
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_measured_page_tells_a_runtimes_variants_and_back_ends_apart(live):
    # onnxruntime with spinning workers is its own row in `zoo benchmark --runtime all`: the page says so
    _, _, body = get(live.url + "/measured.html")
    page = body.decode()
    header = re.search(r"<caption>benchmark</caption><thead><tr>(.*?)</tr>", page).group(1)
    columns = re.findall(r"<th>([^<]*)</th>", header)
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", page) if "onnxruntime" in r)
    cells = dict(zip(columns, re.findall(r"<td[^>]*>([^<]*)</td>", row), strict=True))
    assert cells["variant"] == "spinning" and cells["backend"] == "jax" and cells["runtime"] == "onnxruntime"
    assert cells["images_per_s"] == "400.5"


def test_rendering_imports_no_back_end(home):
    import subprocess
    import sys

    code = (
        "import sys; from zoo.web import Site; s = Site()\n"
        "for p in ([], ['measured.html'], ['runs.html'], ['models', 'resnet50.html'], ['api', 'models']):\n"
        "    assert s.respond(p).status == 200, p\n"
        "back_ends = ('tensorflow', 'keras', 'torch', 'jax', 'onnxruntime', 'openvino')\n"
        "print(sorted(m for m in back_ends if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
