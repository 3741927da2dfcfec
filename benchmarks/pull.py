"""Benchmark `zoo pull` against a plain urllib download of the same file, side by side in one run.

(a) from a loopback server throttled to 100 MB/s (a fast network): zoo/urllib throughput, target >= 0.95
(b) from an unthrottled loopback server: the same ratio (zoo also hashes sha256 while streaming)
(c) the wall time of a cached `zoo pull` in a fresh process (process start included), target < 0.5 s

Usage: .venv/bin/python benchmarks/pull.py [--quick] [--size-mb N] [--repeats N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

FILE = "bench_weights.h5"


class ThrottledHandler(BaseHTTPRequestHandler):
    """Serves one file; `rate` bytes/s (0 = as fast as loopback goes), paced per 1 MB block."""

    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        path: Path = self.server.path  # type: ignore[attr-defined]
        rate: int = self.server.rate  # type: ignore[attr-defined]
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        start = time.perf_counter()
        sent = 0
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                self.wfile.write(block)
                sent += len(block)
                if rate:
                    ahead = sent / rate - (time.perf_counter() - start)
                    if ahead > 0:
                        time.sleep(ahead)


def start_server(path: Path, rate: int) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ThrottledHandler)
    httpd.path = path  # type: ignore[attr-defined]
    httpd.rate = rate  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/{FILE}"


def time_urllib(url: str, dest: Path) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    elapsed = time.perf_counter() - start
    dest.unlink()
    return elapsed


def time_zoo(spec, home: Path) -> float:
    from zoo.hub import pull

    os.environ["ZOO_HOME"] = str(home)
    start = time.perf_counter()
    pull(spec, progress=False)
    elapsed = time.perf_counter() - start
    shutil.rmtree(home)
    return elapsed


def pair(url: str, spec, work: Path, repeats: int) -> tuple[float, float]:
    """Median seconds of (urllib, zoo), runs interleaved so both see the same machine load."""
    plain, zoo = [], []
    for i in range(repeats):
        plain.append(time_urllib(url, work / "plain.bin"))
        zoo.append(time_zoo(spec, work / f"home{i}"))
    return statistics.median(plain), statistics.median(zoo)


def cached_pull_seconds(spec_file: Path, source: Path, home: Path, repeats: int) -> dict[str, float]:
    """Median wall times of a cached pull in a new process: the CLI, the Python API, and bare Python."""
    env = {**os.environ, "ZOO_HOME": str(home), "ZOO_REGISTRY": str(spec_file)}
    prime = [sys.executable, "-m", "zoo", "cache", "import", str(source), "--name", "bench"]
    subprocess.run(prime, env=env, check=True, capture_output=True)
    commands = {
        "cli": [sys.executable, "-m", "zoo", "pull", "bench"],
        "api": [sys.executable, "-c", "import zoo; zoo.pull('bench')"],
        "bare": [sys.executable, "-c", "pass"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):  # interleaved, so all three see the same machine load
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(seen) for name, seen in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 40 MB file and fewer repeats")
    parser.add_argument("--size-mb", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    size_mb = args.size_mb or (40 if args.quick else 200)
    repeats = args.repeats or (3 if args.quick else 5)

    from zoo.registry import ModelSpec, WeightFile

    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        work = Path(tmp)
        source = work / FILE
        source.write_bytes(os.urandom(size_mb * 1_000_000))
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        print(f"file: {size_mb} MB, {repeats} interleaved runs each, medians", flush=True)

        rows = []
        for label, rate in (("(a) throttled 100 MB/s", 100_000_000), ("(b) unthrottled loopback", 0)):
            httpd, url = start_server(source, rate)
            weight = WeightFile("top", FILE, size=size_mb * 1_000_000, sha256=digest, sources=(url,))
            spec = ModelSpec(name="bench", arch="MobileNet", weights={"top": weight})
            plain, zoo = pair(url, spec, work, repeats)
            httpd.shutdown()
            rows.append((label, plain, zoo))
            print(
                f"{label:26s} urllib {size_mb / plain:7.1f} MB/s   zoo pull (sha256 verified) "
                f"{size_mb / zoo:7.1f} MB/s   zoo/urllib throughput {plain / zoo:.3f}x",
                flush=True,
            )

        # (c) the file sits in the cache; its only source is unreachable, so any network use would fail
        top = {
            "file": FILE,
            "size": size_mb * 1_000_000,
            "sha256": digest,
            "sources": ["http://127.0.0.1:9/x"],
        }
        registry = {"models": {"bench": {"arch": "MobileNet", "preprocess": "tf", "weights": {"top": top}}}}
        spec_file = work / "bench.yaml"
        spec_file.write_text(yaml.safe_dump(registry), encoding="utf-8")
        home = work / "cached-home"
        home.mkdir()
        cached = cached_pull_seconds(spec_file, source, home, repeats)
        print(
            f"(c) cached pull in a new process: `zoo pull` {cached['cli']:.3f} s, "
            f'`python -c "import zoo; zoo.pull(...)"` {cached["api"]:.3f} s, '
            f"bare `python -c pass` {cached['bare']:.3f} s"
        )
        print(
            f"summary: throttled ratio {rows[0][1] / rows[0][2]:.3f}x (target >= 0.95), "
            f"unthrottled ratio {rows[1][1] / rows[1][2]:.3f}x, "
            f"cached `zoo pull` {cached['cli']:.3f} s (target < 0.5 s)"
        )


if __name__ == "__main__":
    main()
