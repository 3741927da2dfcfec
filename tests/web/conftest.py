"""What the web tests share: a ZOO_HOME with a hostile user entry and a results store, and a live mirror
(`zoo serve` in a thread, pages attached) serving the real MobileNet 0.25 weight file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.registry import write_models

from zoo import config
from zoo.bench.machine import machine_info
from zoo.hub.server import MirrorServer, serve
from zoo.web import serve_pages

FIXTURE_MODEL = "mobilenet_v1_025_224"  # its notop file is the real fixture, pinned in registry.yaml
HOSTILE = "hostile-entry"
SCRIPT = "<script>window.pwned=1</script>"
OTHER_MACHINE = {"host": "elsewhere", "cpu": "Some Other CPU", "cores": 64}


def benchmark(model: str, rate: float, machine: dict, batch: int = 32) -> dict:
    return {
        "kind": "benchmark", "model": model, "runtime": "keras", "precision": "fp32", "batch_size": batch,
        "images_per_s": rate, "latency_p50_ms": batch * 1e3 / rate, "status": "ok", "machine": machine,
        "time": "2026-12-01T10:00:00+00:00",
    }  # fmt: skip


def evaluation(model: str, top1: float, machine: dict) -> dict:
    return {
        "kind": "evaluate", "model": model, "runtime": "keras", "precision": "fp32", "top1": top1,
        "top5": min(1.0, top1 + 0.2), "images": 60, "machine": machine, "time": "2026-12-01T10:05:00+00:00",
    }  # fmt: skip


def hostile_entry() -> dict:
    """A user entry whose every free-text field is markup or a script URL."""
    return {
        "arch": "MobileNet",
        "args": {"alpha": 0.25},
        "family": SCRIPT,
        "license": "<b>MIT</b> & \"quoted\" 'single'",
        "tags": ["<i>tag</i>"],
        "paper": {"title": "<img src=x onerror=window.pwned=2>", "url": "javascript:window.pwned=3"},
        "published": [{"source": "<u>src</u>", "label": "<script>window.pwned=4</script>", "top1": "75.0%"}],
        "weights": {"top": {"file": "hostile.h5", "sources": ["https://example.invalid/hostile.h5"]}},
    }


@pytest.fixture
def home(isolated_homes: Path) -> Path:
    """ZOO_HOME with the hostile user entry, and a results store: this machine's figures for the fixture
    model, another machine's, a model no longer registered, and a truncated last line (a killed writer)."""
    zoo_home = config.zoo_home()
    registry_d = config.user_registry_dir()
    registry_d.mkdir(parents=True)
    write_models(registry_d / "hostile.yaml", {HOSTILE: hostile_entry()})
    here = machine_info()
    records = [
        benchmark(FIXTURE_MODEL, 812.5, here),
        evaluation(FIXTURE_MODEL, 0.5, here),
        benchmark("resnet50", 20.25, OTHER_MACHINE),
        benchmark(FIXTURE_MODEL, 400.5, here)
        | {"runtime": "onnxruntime", "variant": "spinning", "backend": "jax"},  # noqa: E501
        benchmark("long-gone-model", 99.0, here),
        {"kind": "benchmark", "model": ["not", "a", "name"]},
        {"kind": "benchmark", "model": "mobilenet", "images_per_s": "fast", "machine": here},
    ]
    lines = "".join(json.dumps(r) + "\n" for r in records)
    config.results_path().write_text(lines + '{"kind": "benchmark", "model": "resn', encoding="utf-8")
    return zoo_home


@pytest.fixture
def mirror_folder(tmp_path: Path, fixture_weights: Path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    shutil.copyfile(fixture_weights, folder / fixture_weights.name)
    return folder


@pytest.fixture
def live(home: Path, mirror_folder: Path) -> Iterator[MirrorServer]:
    """`zoo serve` as the CLI starts it (pages attached), in a thread on 127.0.0.1."""
    lines: list[str] = []
    server = serve(mirror_folder, log=lines.append)
    serve_pages(server)
    server.log_lines = lines  # type: ignore[attr-defined]
    with server:
        yield server
