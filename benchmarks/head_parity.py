"""Head parity across Keras back-ends, on real photos: the same `zoo finetune` stage 1 (a new head on the
frozen, real ImageNet MobileNet alpha 0.25 backbone, from the same seed) on TensorFlow, JAX and PyTorch,
each in its own process with its own ZOO_HOME (each back-end computes its own backbone features: no
feature cache is shared). Target: validation accuracies within 2 points of each other.

Data: TrashNet (../shared/data/trashnet6, 6 classes, 703 train / 234 val photos; see its README), the
fixed train/val split; `--train-per-class N` takes the first N training photos of each class.

    .venv/bin/python benchmarks/head_parity.py [--train-per-class N] [--epochs E] [--dropout P] [--json]

The head starts from the same weights on every back-end (numpy draws them from the seed) and sees the same
batches; with dropout (the default recipe's 0.2) each back-end draws its own masks, with --dropout 0 the
runs differ only by floating-point round-off.

Prints a Markdown table (val accuracy, val loss, wall time per back-end) and the largest accuracy gap.
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

REPO = Path(__file__).resolve().parent.parent
# ../shared beside the checkout, or beside a git worktree's parent folder
SHARED = next(
    (root / "shared" for root in (REPO.parent, REPO.parent.parent) if (root / "shared" / "data").is_dir()),
    REPO.parent / "shared",
)
MODEL = "mobilenet_v1_025_224"
BACKENDS = ("tensorflow", "jax", "torch")


def subset(source: Path, target: Path, per_class: int | None) -> Path:
    """`source` (class folders), or `target` holding the first `per_class` photos of each class."""
    if per_class is None:
        return source
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / folder.name).mkdir(parents=True, exist_ok=True)
        for photo in sorted(folder.glob("*.jpg"))[:per_class]:
            shutil.copy(photo, target / folder.name / photo.name)
    return target


def run_backend(backend: str, job: dict, home: Path) -> dict:
    """One back-end's run in a child process: its metrics and wall time (process start included)."""
    code = (
        "import json, sys\nfrom zoo.transfer import finetune\njob = json.loads(sys.argv[1])\n"
        "result = finetune(job['model'], job['train'], **job['settings'])\n"
        "print(json.dumps({'val_accuracy': result.metrics['val_accuracy'], "
        "'val_loss': result.metrics['val_loss']}))"
    )
    env = {**os.environ, "KERAS_BACKEND": backend, "ZOO_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    settings = {**job["settings"], "out": str(home / "run")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps({**job, "settings": settings})],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
    return {"backend": backend, **json.loads(done.stdout.strip().splitlines()[-1]), "seconds": seconds}


def measure(
    train_per_class: int | None, epochs: int, image_size: int, weights: Path, dropout: float
) -> list[dict]:
    data = SHARED / "data" / "trashnet6"
    with tempfile.TemporaryDirectory(prefix="head-parity-") as tmp:
        root = Path(tmp)
        job = {
            "model": MODEL,
            "train": str(subset(data / "train", root / "train", train_per_class)),
            "settings": {
                "val": str(data / "val"),
                "weights": str(weights),
                "image_size": image_size,
                "epochs": epochs,
                "fine_tune_epochs": 0,
                "batch_size": 32,
                "seed": 0,
                "dropout": dropout,
                "tensorboard": False,
                "verbose": False,
            },
        }
        return [run_backend(b, job, root / b) for b in BACKENDS]


def table(rows: list[dict]) -> str:
    lines = ["| back-end | val accuracy | val loss | wall time (s) |", "|---|---|---|---|"]
    for r in rows:
        figures = f"{r['val_accuracy']:.4f} | {r['val_loss']:.4f} | {r['seconds']:.1f}"
        lines.append(f"| {r['backend']} | {figures} |")
    return "\n".join(lines)


def accuracy_gap(rows: list[dict]) -> float:
    accuracies = [r["val_accuracy"] for r in rows]
    return max(accuracies) - min(accuracies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-per-class", type=int, default=None, help="default: every training photo")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=128)
    fixture = SHARED / "fixtures" / "mobilenet_2_5_224_tf_no_top.h5"
    parser.add_argument("--weights", type=Path, default=fixture)
    parser.add_argument("--dropout", type=float, default=0.2, help="0: no back-end's own randomness left")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = measure(args.train_per_class, args.epochs, args.image_size, args.weights, args.dropout)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(table(rows))
    print(f"\nlargest val accuracy gap: {100 * accuracy_gap(rows):.2f} points (target: at most 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
