"""`zoo catalog build OUT_DIR`: every page of the catalogue written as a static site (relative links)."""

from __future__ import annotations

from pathlib import Path

from zoo.registry import load_registry
from zoo.web import data
from zoo.web.site import TOP_PAGES, Site


def site_paths(site: Site) -> list[list[str]]:
    """Every path of the site, as segments: pages, cards, static files, plots, run pictures, JSON."""
    registry = load_registry()
    paths = [[page] for page in TOP_PAGES]
    paths += [["static", "zoo.css"], ["static", "zoo.js"]]
    paths += [["models", f"{spec.name}.html"] for spec in registry]
    paths += [["api", "models.json"], ["api", "results.json"]]
    paths += [["api", "models", f"{spec.name}.json"] for spec in registry]
    paths += [[*plot.split("/")] for _, _, plot in site.machines() if plot]
    paths += [
        ["runs", run.name, picture] for run in data.registered_runs(registry) for picture in run.pictures
    ]
    return paths


def build_catalog(out_dir: str | Path, mirror: str | None = None) -> list[Path]:
    """Write the catalogue under `out_dir`; `mirror` (a zoo mirror URL) makes the cards link each weight
    file there. Returns the files written."""
    out = Path(out_dir)
    base = mirror.rstrip("/") if mirror else None
    files = {spec_file: f"{base}/{spec_file}" for spec_file in _weight_files()} if base else {}
    site = Site(mirror_files=lambda: files, mirror=base or "")
    written = []
    for parts in site_paths(site):
        response = site.respond(parts)
        if response is None or response.status != 200:
            continue  # e.g. a run picture removed meanwhile
        path = out.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(response.body)
        written.append(path)
    return written


def _weight_files() -> list[str]:
    return [weight.file for spec in load_registry() for weight in spec.weights.values()]
