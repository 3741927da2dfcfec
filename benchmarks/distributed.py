"""The cost of tf.distribute on one CPU host: the same `zoo finetune` run, side by side in one run, as
(a) one process under the default strategy,
(b) two worker processes under MultiWorkerMirroredStrategy on 127.0.0.1 (the global batch split in two),
(c) one process under MirroredStrategy over two logical CPU devices.

All three share one machine's cores, so this measures the coordination overhead (cluster start, the
collective all-reduce of every step), not a speed-up: on real hardware each worker brings its own
devices. Printed: wall time, the stage-2 seconds per epoch, their ratio to (a), and how far each run's
val loss is from (a)'s at the end of stage 1 and at the end (dropout and augmentation are off). Stage 1
(the head on cached features) agrees to rounding; in stage 2 the convolutions run on half batches and
sums are taken in another order, and Adam's per-weight normalisation lets those rounding differences
grow over the epochs.

    .venv/bin/python benchmarks/distributed.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = REPO / "zoo" / "assets" / "mobilenet_2_5_224_tf_no_top.h5"
MODEL = "mobilenet_v1_025_224"
MIRRORED = (
    "import sys, tensorflow as tf\n"
    "cpu = tf.config.list_physical_devices('CPU')[0]\n"
    "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
    "from zoo.cli.app import main\n"
    "sys.argv = ['zoo', *sys.argv[1:]]\n"
    "main()\n"
)


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def env_for(root: Path) -> dict[str, str]:
    (root / "zoo").mkdir(parents=True, exist_ok=True)
    return {**os.environ, "ZOO_HOME": str(root / "zoo"), "TF_CPP_MIN_LOG_LEVEL": "3"}


def summarize(out: Path, seconds: float) -> dict[str, float]:
    rows = list(csv.DictReader((out / "history.csv").open()))
    stage2 = [float(r["seconds"]) for r in rows if r["stage"] == "2"][1:]  # the first epoch traces
    metrics = json.loads((out / "metrics.json").read_text())
    stage1 = [float(r["val_loss"]) for r in rows if r["stage"] == "1"]
    return {
        "wall": seconds,
        "epoch": statistics.median(stage2),
        "stage1_val_loss": stage1[-1],
        "val_loss": metrics["val_loss"],
    }


def run_all(work: Path, settings: list[str]) -> dict[str, dict[str, float]]:
    results = {}
    started = time.perf_counter()
    out = work / "single"
    subprocess.run(
        [sys.executable, "-m", "zoo", "finetune", *settings, "--strategy", "default", "--out", str(out)],
        env=env_for(work / "node-single"),
        check=True,
        capture_output=True,
    )
    results["(a) default, 1 process"] = summarize(out, time.perf_counter() - started)

    started = time.perf_counter()
    out = work / "multi"
    workers = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "zoo", "finetune", *settings, "--out", str(out)]
            + ["--strategy", "multi-worker", "--workers", workers, "--worker-index", str(index)],
            env=env_for(work / f"node{index}"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for index in (1, 0)
    ]
    if any(p.wait() for p in procs):
        raise SystemExit("the two-worker run failed")
    results["(b) multi-worker, 2 processes"] = summarize(out, time.perf_counter() - started)

    started = time.perf_counter()
    out = work / "mirrored"
    subprocess.run(
        [sys.executable, "-c", MIRRORED, "finetune", *settings, "--strategy", "mirrored", "--out", str(out)],
        env=env_for(work / "node-mirrored"),
        check=True,
        capture_output=True,
    )
    results["(c) mirrored, 2 logical CPUs"] = summarize(out, time.perf_counter() - started)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs")
    args = parser.parse_args()
    per_class, epochs = (20, 2) if args.quick else (60, 4)
    from zoo.data.synthetic import render_dataset

    with tempfile.TemporaryDirectory(prefix="zoo-bench-distributed-") as folder:
        work = Path(folder)
        data = render_dataset(work / "data", per_class=per_class, size=96, seed=0).root
        settings = [
            MODEL, str(data), "--weights", str(WEIGHTS), "--image-size", "96", "--epochs", str(epochs),
            "--fine-tune-epochs", str(epochs), "--batch-size", "16", "--dropout", "0", "--augment", "none",
            "--no-tensorboard",
        ]  # fmt: skip
        results = run_all(work, settings)
    cpus = os.cpu_count()
    print(f"{3 * per_class} images at 96 px, {epochs}+{epochs} epochs, global batch 16, {cpus} CPUs")
    base = results["(a) default, 1 process"]
    print(
        f"{'run':32} {'wall s':>8} {'x (a)':>6} {'stage-2 s/epoch':>16} {'x (a)':>6}"
        f" {'|dval_loss| stage 1':>20} {'final':>9}"
    )
    for name, row in results.items():
        print(
            f"{name:32} {row['wall']:8.1f} {row['wall'] / base['wall']:6.2f} {row['epoch']:16.3f}"
            f" {row['epoch'] / base['epoch']:6.2f}"
            f" {abs(row['stage1_val_loss'] - base['stage1_val_loss']):20.1e}"
            f" {abs(row['val_loss'] - base['val_loss']):9.1e}"
        )


if __name__ == "__main__":
    main()
