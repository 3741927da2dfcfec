"""The models page at catalogue scale: 1,000 registered models and 10,000 results (targets: the server
renders the page in under 300 ms; the browser's filter answers a keystroke in under 100 ms).

A temporary ZOO_HOME gets user registry entries up to 1,000 models in all and a results store of 10,000
records (benchmarks and evaluations, this machine and two others). Then:
- server render: `Site.respond([])` in this process (what `zoo serve` runs per request), warm, median of
  --rounds; the first (cold) render and a whole HTTP GET of / are shown beside it;
- browser filter: a real headless Chromium on `zoo serve` types into the filter; each query is timed in
  the page from the input event to the finished layout (performance.now(), forced reflow), median. The
  table shows at most 100 matching rows until "show all" (timed once, apart).

    .venv/bin/python benchmarks/web.py                 # 15 rounds
    .venv/bin/python benchmarks/web.py --rounds 5 --screenshot /tmp/models.png
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MODELS, RESULTS = 1000, 10_000
QUERIES = ("mobilenet", "resnet", "bench-07", "efficientnet_b", "xyz-nothing", "")


def populate(home: Path, models: int, results: int) -> list[str]:
    """User entries up to `models` models in all and `results` records; returns every model's name."""
    import json

    import yaml

    from zoo.bench.machine import machine_info
    from zoo.registry import load_registry

    builtin = [spec.name for spec in load_registry()]
    rng = random.Random(0)
    entries = {}
    for i in range(models - len(builtin)):
        entries[f"bench-{i:04d}"] = {
            "arch": "MobileNet",
            "args": {"alpha": 0.25},
            "family": f"family-{i % 40}",
            "license": "Apache-2.0",
            "params": rng.randint(500_000, 90_000_000),
            "published": [
                {
                    "source": "paper",
                    "label": f"Bench {i}",
                    "top1": f"{rng.uniform(50, 88):.1f}%",
                    "top5": f"{rng.uniform(75, 98):.1f}%",
                    "size_mb": str(rng.randint(2, 400)),
                }
            ],
            "weights": {
                "top": {
                    "file": f"bench_{i:04d}.h5",
                    "sha256": f"{i:064x}",
                    "checksum_source": "pinned",
                    "sources": [f"https://example.invalid/bench_{i:04d}.h5"],
                }
            },
        }
    (home / "registry.d").mkdir(parents=True)
    (home / "registry.d" / "bench.yaml").write_text(yaml.safe_dump({"models": entries}, sort_keys=False))
    names = builtin + list(entries)
    machines = [machine_info(), {"host": "gpu-box", "cpu": "Other CPU", "cores": 32}, {"host": "laptop"}]
    with open(home / "results.jsonl", "w", encoding="utf-8") as f:
        for i in range(results):
            model, machine = rng.choice(names), machines[i % 3]
            if i % 4:
                rate = rng.uniform(5, 3000)
                record = {
                    "kind": "benchmark",
                    "model": model,
                    "runtime": rng.choice(["keras", "litert", "onnx"]),
                    "precision": "fp32",
                    "batch_size": rng.choice([1, 32]),
                    "images_per_s": rate,
                    "latency_p50_ms": 32e3 / rate,
                    "status": "ok",
                }
            else:
                top1 = rng.uniform(0.4, 0.9)
                record = {
                    "kind": "evaluate",
                    "model": model,
                    "top1": top1,
                    "top5": min(1, top1 + 0.15),
                    "images": 500,
                    "runtime": "keras",
                    "precision": "fp32",
                }
            stamped = {**record, "machine": machine, "time": f"2026-12-01T{i % 24:02d}:00:00"}
            f.write(json.dumps(stamped) + "\n")
    return names


def server_times(rounds: int, url: str) -> tuple[float, list[float], list[float]]:
    from zoo.web import Site

    site = Site()
    start = time.perf_counter()
    first = site.respond([])
    cold = time.perf_counter() - start
    assert first is not None and first.status == 200
    warm, http = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        site.respond([])
        warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        with urllib.request.urlopen(url + "/", timeout=60) as response:
            response.read()
        http.append(time.perf_counter() - start)
    return cold, warm, http


FILTER_JS = """
const [query] = arguments;
const input = document.querySelector("input[name=q]");
const start = performance.now();
input.value = query;
input.dispatchEvent(new Event("input", {bubbles: true}));
document.body.offsetHeight;  // the layout of the filtered table, finished
const elapsed = performance.now() - start;
return [elapsed, document.querySelectorAll("#models tbody tr:not([hidden])").length];
"""


SHOW_ALL_JS = """
const input = document.querySelector("input[name=q]");
input.value = "";
input.dispatchEvent(new Event("input", {bubbles: true}));
document.body.offsetHeight;
const start = performance.now();
document.querySelector("button.more").click();
document.body.offsetHeight;
return performance.now() - start;
"""


def browser_times(url: str, rounds: int, screenshot: str | None) -> dict[str, list[float]] | str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.browser import chromium, console_errors, missing

    if (why := missing()) is not None:
        return why
    times: dict[str, list[float]] = {q: [] for q in QUERIES}
    with chromium() as driver:
        start = time.perf_counter()
        driver.get(url + "/")
        load = time.perf_counter() - start
        rows = driver.execute_script("return document.querySelectorAll('#models tbody tr').length")
        for _ in range(rounds):
            for query in QUERIES:
                elapsed, shown = driver.execute_script(FILTER_JS, query)
                times[query].append(elapsed / 1e3)
                times.setdefault(f"{query!r} rows", []).append(shown)
        times["_show_all"] = [driver.execute_script(SHOW_ALL_JS) / 1e3]
        if screenshot:
            driver.execute_script(FILTER_JS, "mobilenet")
            driver.save_screenshot(screenshot)
        errors = console_errors(driver)
    times["_load"] = [load]
    times["_rows"] = [rows]
    times["_errors"] = [len(errors)]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--models", type=int, default=MODELS)
    parser.add_argument("--results", type=int, default=RESULTS)
    parser.add_argument("--screenshot", default=None, help="save the filtered models page as this PNG")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "zoo"
        os.environ["ZOO_HOME"] = str(home)
        names = populate(home, args.models, args.results)
        from zoo.hub.server import serve
        from zoo.web import serve_pages

        (Path(tmp) / "mirror").mkdir()
        with serve(Path(tmp) / "mirror", log=None) as server:
            serve_pages(server)
            cold, warm, http = server_times(args.rounds, server.url)
            browser = browser_times(server.url, args.rounds, args.screenshot)

    ms = lambda seconds: f"{seconds * 1e3:7.1f} ms"  # noqa: E731
    print(f"models page: {len(names)} registered models, {args.results} results ({args.rounds} rounds)")
    print(f"  server render, warm (median)      {ms(statistics.median(warm))}   target < 300 ms")
    print(f"  server render, warm (max)         {ms(max(warm))}")
    print(f"  server render, first request      {ms(cold)}   (parses registry and store)")
    print(f"  HTTP GET / on 127.0.0.1 (median)  {ms(statistics.median(http))}")
    if isinstance(browser, str):
        print(f"  browser filter: skipped ({browser})")
        return
    print(
        f"  browser: page load {ms(browser['_load'][0])}, {browser['_rows'][0]} rows, "
        f"{browser['_errors'][0]} console errors"
    )
    every = [t for q in QUERIES for t in browser[q]]
    print(f"  browser: 'show all' (every row laid out) {ms(browser['_show_all'][0])}")
    median = ms(statistics.median(every))
    print(f"  browser filter, input to layout (median over all)  {median}   target < 100 ms")
    for query in QUERIES:
        shown = browser[f"{query!r} rows"][0]
        median, slowest = ms(statistics.median(browser[query])), ms(max(browser[query]))
        print(f"    {query!r:18} median {median}  max {slowest}  rows shown {shown}")


if __name__ == "__main__":
    main()
