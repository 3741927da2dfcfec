"""zoo.spark's throughput against single-process `zoo embed` on the same cores.

    python benchmarks/spark.py [--images 2000] [--size 224]

Replicates the real TrashNet photos (../shared/data) to N files in a temporary folder, imports the real
pretrained MobileNet 0.25 backbone (../shared/fixtures) into a temporary ZOO_HOME through zoo's hub, then
embeds every file
  - single-process: zoo.engine.embed in a fresh interpreter (TensorFlow on every core of this machine);
  - on Spark: local-cluster with 1 executor (1 core) and with 2 executors (1 core each), written as
    Parquet through Spark's committer (each executor's TensorFlow limited to its one core).
Each is timed twice: cold (the model loads; each executor loads its own) and warm (a second job: the
Python workers already hold the model); never the JVMs' start. Prints images/s,
the ratio to single-process (target >= 0.75 with 2 executors) and the largest difference between the
Spark embeddings and the single-process ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" if (REPO.parent / "shared").exists() else REPO.parent.parent / "shared"
MODEL = "mobilenet_v1_025_224"

SINGLE = """
import json, sys, time
import numpy as np
from zoo.engine import embed
seconds = []
for _ in range(2):  # cold (the model loads), then warm (TensorFlow imported, the weight file in memory)
    started = time.perf_counter()
    result = embed(sys.argv[1], sys.argv[2], input_size=int(sys.argv[3]), batch_size=32)
    seconds.append(time.perf_counter() - started)
np.save(sys.argv[4], result.features)
print(json.dumps({"seconds": seconds, "paths": [str(p) for p in result.paths]}))
"""


def replicate(count: int, folder: Path) -> list[Path]:
    photos = sorted((SHARED / "data" / "trashnet6").rglob("*.jpg"))
    files = []
    for index in range(count):
        target = folder / f"{index // 500:03d}" / f"{index:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photos[index % len(photos)], target)
        files.append(target)
    return files


def single_process(folder: Path, size: int, work: Path) -> tuple[list[float], dict[str, np.ndarray]]:
    out = work / "single.npy"
    done = subprocess.run(
        [sys.executable, "-c", SINGLE, MODEL, str(folder), str(size), str(out)],
        capture_output=True, text=True, check=True, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["seconds"], dict(zip(report["paths"], np.load(out), strict=True))


def on_spark(
    executors: int, folder: Path, size: int, work: Path
) -> tuple[list[float], dict[str, np.ndarray]]:
    import zoo.spark as zs

    spark = zs.session(
        f"local-cluster[{executors},1,1536]",
        app_name=f"zoo-bench-{executors}",
        config={
            "spark.executorEnv.TF_NUM_INTRAOP_THREADS": "1",
            "spark.executorEnv.TF_NUM_INTEROP_THREADS": "1",
        },
    )
    try:
        seconds = []
        for run in ("cold", "warm"):  # warm: every Python worker already holds the model (zoo.spark.worker)
            out = work / f"spark{executors}-{run}.parquet"
            started = time.perf_counter()
            zs.write(zs.embed(spark, folder, MODEL, input_size=size), out)
            seconds.append(time.perf_counter() - started)
        frame = spark.read.parquet(str(out)).toPandas()
    finally:
        spark.stop()
    assert frame["error"].isna().all() and frame["path"].is_unique
    return seconds, {
        p.removeprefix("file:"): np.asarray(e) for p, e in zip(frame["path"], frame["embedding"], strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for var in ("ZOO_HOME", "KERAS_HOME"):
            os.environ[var] = str(work / var)
        os.environ["ZOO_OFFLINE"] = "1"
        from zoo.hub.manage import import_file

        import_file(SHARED / "fixtures" / "mobilenet_2_5_224_tf_no_top.h5", MODEL, "notop")
        folder = work / "images"
        files = replicate(args.images, folder)
        seconds, reference = single_process(folder, args.size, work)
        rows = [("single-process zoo embed", os.cpu_count(), seconds, 0.0)]
        for executors in (1, 2):
            took, features = on_spark(executors, folder, args.size, work)
            assert len(features) == len(files)
            worst = max(float(np.abs(features[p] - reference[p]).max()) for p in reference)
            rows.append((f"spark local-cluster, {executors} executor(s) x 1 core", executors, took, worst))
    cold, warm = (len(files) / rows[0][2][0], len(files) / rows[0][2][1])
    print(f"\n{len(files)} images, {MODEL} at {args.size}px, {os.cpu_count()} CPU cores\n")
    print("| run | cores | images/s cold | vs single | images/s warm | vs single | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    for name, cores, took, worst in rows:
        rate_cold, rate_warm = len(files) / took[0], len(files) / took[1]
        print(
            f"| {name} | {cores} | {rate_cold:.1f} | {rate_cold / cold:.2f}x | {rate_warm:.1f} |"
            f" {rate_warm / warm:.2f}x | {worst:.1e} |"
        )


if __name__ == "__main__":
    main()
