"""The catalogue as a site: a page or file per path, for `zoo serve` (live) and `zoo catalog build` (static).

Paths (the same in both; every link between pages is relative):
    index.html                      models            models/<name>.html       a card per model
    measured.html                   results + plots   runs.html                registered runs
    static/zoo.css, static/zoo.js   plots/<machine>.png                        runs/<name>/<picture>.png
    api/models.json  api/models/<name>.json  api/results.json   (live also without ".json")
"""

from __future__ import annotations

import socket
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from zoo.bench.machine import machine_info
from zoo.hub.cache import cached_path
from zoo.hub.server import MirrorServer
from zoo.registry import ModelSpec, Registry, load_registry
from zoo.web import api, data
from zoo.web.pages_models import card_page, models_page
from zoo.web.pages_results import measured_page, not_found_page, runs_page

HTML = "text/html; charset=utf-8"
JSON = "application/json"
PNG = "image/png"
_STATIC_TYPES = {"zoo.css": "text/css; charset=utf-8", "zoo.js": "text/javascript; charset=utf-8"}
TOP_PAGES = ("index.html", "measured.html", "runs.html")


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


def _ok(content_type: str, body: bytes) -> Response:
    return Response(200, content_type, body)


class Site:
    """Renders the catalogue's paths. `mirror_files` names the weight files the mirror serving the pages
    holds (name -> link), `mirror` the URL to show in commands ("" when unknown)."""

    def __init__(
        self,
        registry: Callable[[], Registry] = load_registry,
        results: data.ResultsCache | None = None,
        mirror_files: Callable[[], Mapping[str, str]] = dict,
        mirror: str = "",
    ) -> None:
        self._registry = registry
        self.results = results if results is not None else data.ResultsCache()
        self._mirror_files = mirror_files
        self.mirror = mirror
        self._plots: dict[tuple[str, Any, int], bytes] = {}
        self._plot_lock = threading.Lock()

    # ------------------------------------------------------------------------------------- routing
    def respond(self, parts: list[str]) -> Response | None:
        """The response for a path split into its (decoded) segments; None: not a path of the site."""
        match parts:
            case [] | ["index.html"]:
                return _ok(HTML, models_page(self.rows(), data.machine_label(machine_info())))
            case ["measured.html"]:
                return _ok(HTML, measured_page(self.machines(), data.this_machine_key()))
            case ["runs.html"]:
                return _ok(HTML, runs_page(data.registered_runs(self._registry())))
            case ["models", page] if page.endswith(".html"):
                return self._card(page.removesuffix(".html"))
            case ["static", name] if name in _STATIC_TYPES:
                return _ok(_STATIC_TYPES[name], static_file(name))
            case ["plots", name] if name.endswith(".png"):
                return self._plot(name.removesuffix(".png"))
            case ["runs", name, picture] if picture in data.RUN_PICTURES:
                return self._run_picture(name, picture)
            case ["api", ("models" | "models.json")]:
                return _ok(JSON, api.models_json(self.rows(), data.machine_label(machine_info())))
            case ["api", "models", name]:
                return self._model_json(name.removesuffix(".json"))
            case ["api", ("results" | "results.json")]:
                return _ok(JSON, api.results_json(data.by_machine(self.results.records())))
            case ["models" | "runs" | "plots", *_]:
                return Response(404, HTML, not_found_page("No such page.", "../" * (len(parts) - 1)))
        return None

    def rows(self) -> list[dict[str, Any]]:
        return data.catalogue_rows(self._registry(), self.results.records())

    def _spec(self, name: str) -> ModelSpec | None:
        registry = self._registry()
        if name not in registry:  # exact names only: an alias or another case is not a card's path
            return None
        spec = registry.get(name)
        return spec if spec.name == name else None

    def _card(self, name: str) -> Response:
        spec = self._spec(name)
        if spec is None:
            return Response(404, HTML, not_found_page(f"No model is registered as “{name}”.", "../"))
        files = self._mirror_files()
        row = next(iter(data.catalogue_rows(self._registry(), self.results.records(), name)), None)
        cached = {variant: cached_path(spec, variant) is not None for variant in spec.weights}
        return _ok(HTML, card_page(spec, row, cached, files.get, self.mirror))

    def _model_json(self, name: str) -> Response:
        spec = self._spec(name)
        if spec is None:
            return Response(404, JSON, api.error_json(f"no model is registered as {name!r}"))
        files = self._mirror_files()
        row = next(iter(data.catalogue_rows(self._registry(), self.results.records(), name)), None)
        downloads = {variant: files.get(w.file) for variant, w in spec.weights.items()}
        return _ok(JSON, api.model_json(spec, row, downloads))

    def _run_picture(self, name: str, picture: str) -> Response | None:
        spec = self._spec(name)
        if spec is None or not spec.bundle:
            return None
        run_dir = Path(spec.bundle).resolve()
        try:
            path = (run_dir / picture).resolve(strict=True)
        except OSError:
            return None
        # the picture must really be in the run directory (not a link to elsewhere)
        return _ok(PNG, path.read_bytes()) if path.is_relative_to(run_dir) and path.is_file() else None

    # -------------------------------------------------------------------------------------- results
    def machines(self) -> list[tuple[data.MachineResults, dict[str, dict[str, Any]], str | None]]:
        from zoo.bench.tables import measured_rows

        out = []
        for group in data.by_machine(self.results.records()):
            summary = measured_rows(group.records)
            plotted = any(r.get("images_per_s_measured") is not None for r in summary.values())
            out.append((group, summary, f"plots/{group.key}.png" if plotted else None))
        return out

    def _plot(self, key: str) -> Response | None:
        group = next((g for g in data.by_machine(self.results.records()) if g.key == key), None)
        if group is None:
            return None
        cache_key = (key, self.results.version, id(self._registry()))
        with self._plot_lock:  # matplotlib's pyplot is not thread-safe
            if cache_key not in self._plots:
                self._plots = {cache_key: accuracy_vs_speed_png(group)} | {
                    k: v for k, v in self._plots.items() if k[1] == self.results.version
                }
            return _ok(PNG, self._plots[cache_key])


def accuracy_vs_speed_png(group: data.MachineResults) -> bytes:
    """The plot `zoo table --plot` draws, from one machine's records."""
    from zoo.bench.plots import plot_accuracy_vs_speed
    from zoo.bench.tables import table

    frame = table(records=group.records)
    with tempfile.TemporaryDirectory(prefix="zoo-plot-") as tmp:
        path = plot_accuracy_vs_speed(
            frame, Path(tmp) / "plot.png", title=f"Accuracy vs speed: {group.label}"
        )
        return path.read_bytes()


def static_file(name: str) -> bytes:
    return (resources.files("zoo.web") / "static" / name).read_bytes()


def serve_pages(server: MirrorServer) -> Site:
    """Attach the catalogue to a running mirror: cards link the weight files this mirror holds."""

    def mirror_files() -> dict[str, str]:
        return {
            entry.file: "/" + urllib.parse.quote(entry.file) for entry in server.catalog.entries().values()
        }

    site = Site(mirror_files=mirror_files, mirror=_public_url(server))
    server.attach_pages(site)
    return site


def _public_url(server: MirrorServer) -> str:
    """The URL other machines use: a server bound to every address is named by this host's name."""
    host, port = server.httpd.server_address[:2]
    return f"http://{socket.gethostname()}:{port}" if host in ("0.0.0.0", "::") else server.url
