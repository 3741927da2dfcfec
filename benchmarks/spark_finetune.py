"""`zoo finetune --spark` against single-process `zoo finetune` on the same cores.

    python benchmarks/spark_finetune.py [--per-class 10] [--size 128]

Copies `per-class` real TrashNet photos of each of the 6 classes (../shared/data), imports the real
pretrained MobileNet 0.25 backbone (../shared/fixtures) into temporary ZOO_HOMEs through zoo's hub, then
  - single-process: `zoo finetune --epochs 1 --fine-tune-epochs 1` in a fresh interpreter; its stage-1
    feature time is the "computed backbone features in X s" it logs (TensorFlow already imported);
  - on Spark (local-cluster[2,1,1024], a fresh feature cache): zoo.finetune_on_spark, the same settings;
    the seconds of the features job (executors cold: each Python worker imports TensorFlow and builds
    the network), of stage 1 on the driver, and of stage 2's barrier stage (two worker processes that
    each start TensorFlow, form the MultiWorkerMirroredStrategy cluster, train and evaluate);
and prints them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = "mobilenet_v1_025_224"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from support.realdata import FEATURES_FILE, copy_photos, shared_file

    root = Path(tempfile.mkdtemp(prefix="zoo-spark-ft-"))
    data = copy_photos(root / "data", args.per_class, "val")
    settings = ["--image-size", str(args.size), "--epochs", "1", "--fine-tune-epochs", "1",
                "--batch-size", "16", "--unfreeze", "4", "--dropout", "0", "--augment", "none",
                "--no-tensorboard"]  # fmt: skip
    out: dict[str, object] = {"images": sum(1 for _ in data.rglob("*.jpg")), "size": args.size}
    for name in ("single", "spark"):
        home = root / f"home-{name}"
        for var in ("ZOO_HOME", "KERAS_HOME"):
            (home / var).mkdir(parents=True)
            os.environ[var] = str(home / var)
        os.environ["ZOO_OFFLINE"] = "1"
        from zoo.hub.manage import import_file

        import_file(shared_file("fixtures", "ZOO_FIXTURES", FEATURES_FILE), MODEL, "notop")
    started = time.perf_counter()
    os.environ["ZOO_HOME"], os.environ["KERAS_HOME"] = (
        str(root / "home-single" / v) for v in ("ZOO_HOME", "KERAS_HOME")
    )
    command = [sys.executable, "-m", "zoo", "finetune", MODEL, str(data), "--out", str(root / "single")]
    done = subprocess.run([*command, *settings], capture_output=True, text=True, check=True)
    out["single_total_s"] = round(time.perf_counter() - started, 1)
    found = re.search(r"computed backbone features in ([0-9.]+)s", done.stderr)
    out["single_features_s"] = float(found.group(1)) if found else None

    import zoo
    import zoo.spark as zs

    os.environ["ZOO_HOME"], os.environ["KERAS_HOME"] = (
        str(root / "home-spark" / v) for v in ("ZOO_HOME", "KERAS_HOME")
    )
    spark = zs.session("local-cluster[2,1,1024]", app_name="zoo-bench-finetune")
    try:
        started = time.perf_counter()
        result = zoo.finetune_on_spark(
            spark, MODEL, data, out=str(root / "spark"), image_size=args.size, epochs=1, fine_tune_epochs=1,
            batch_size=16, unfreeze=4, dropout=0.0, augment=(), tensorboard=False, verbose=False,
        )  # fmt: skip
        out["spark_total_s"] = round(time.perf_counter() - started, 1)
    finally:
        spark.stop()
    out.update({f"spark_{k}_s": round(v, 1) for k, v in result.seconds.items()}, workers=result.workers)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
