"""How much faster `zoo list` answers than a bare `import tensorflow` (target: at least 10x).

Both are timed as fresh processes, interleaved in one run so that machine load hits both alike, and the
median wall time of each is reported with their ratio.

    .venv/bin/python benchmarks/cli_startup.py            # 7 rounds
    .venv/bin/python benchmarks/cli_startup.py --quick    # 3 rounds
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "zoo list": [sys.executable, "-m", "zoo", "list"],
    "zoo info resnet50": [sys.executable, "-m", "zoo", "info", "resnet50"],
    "python -c 'import tensorflow'": [sys.executable, "-c", "import tensorflow"],
}
BASELINE = "python -c 'import tensorflow'"


def wall_time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (each runs every command once)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)

    with tempfile.TemporaryDirectory() as home:  # an empty cache: the same work on every machine
        env = {**os.environ, "ZOO_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
        for argv in COMMANDS.values():  # warm the OS file cache once, untimed
            wall_time(argv, env)
        times: dict[str, list[float]] = {label: [] for label in COMMANDS}
        for _ in range(rounds):
            for label, argv in COMMANDS.items():
                times[label].append(wall_time(argv, env))

    baseline = statistics.median(times[BASELINE])
    print(f"median wall time over {rounds} rounds (fresh process each):")
    for label, samples in times.items():
        median = statistics.median(samples)
        ratio = "" if label == BASELINE else f"   {baseline / median:5.1f}x faster than importing tensorflow"
        print(f"  {label:<32} {median * 1000:8.0f} ms{ratio}")


if __name__ == "__main__":
    main()
