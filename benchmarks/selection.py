"""zoo select vs fine-tuning every candidate, and tuned zoo finetune vs today's defaults, on real photos.

(1) Which backbone: `zoo.select` over the candidates (the fixture backbone, MobileNet alpha 0.25 with real
    ImageNet weights, at several input sizes) on the training photos, cold (empty ZOO_HOME but the
    weights), against the naive way: fine-tune each candidate with the Keras transfer-learning guide's
    recipe (benchmarks/finetune.py) and keep the best val accuracy. Each side runs in a fresh Python
    process, as a user runs it (TensorFlow's start-up counted on both). Targets: the same winner, in
    <= 1/5 of the time.
(2) Fine-tuning defaults: `zoo finetune` with today's defaults (--no-tune) against the tuned default,
    both on the training photos (or the first --per-class of each class) with the val photos as --val,
    interleaved. Targets: never lower val accuracy, +5 points on the hardest set, <= 1.5x the wall time.

Data: ../shared/data/trashnet6 (train / val; see its README), or --data DIR with train/ and val/.

(Named selection.py: a select.py here would shadow the standard library's `select` module.)

    .venv/bin/python benchmarks/selection.py [--sizes 96,128,160,224] [--image-size 128] [--part 1|2]
        [--repeats 2] [--per-class N]
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

from finetune import WEIGHTS, keras_guide_recipe  # benchmarks/finetune.py: the guide's recipe

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "trashnet6"
MODEL = "mobilenet_v1_025_224"


def fresh_home() -> None:
    """An empty ZOO_HOME holding only the backbone's weights (as `zoo cache import` puts them)."""
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-bench-select-")
    os.environ["ZOO_OFFLINE"] = "1"
    from zoo.hub.manage import import_file

    import_file(WEIGHTS, MODEL, "notop")


def which_backbone(data: Path, sizes: list[int], epochs: int, batch_size: int) -> None:
    """Each side as a user runs it: a fresh Python process (TensorFlow's start-up counted on both sides),
    zoo select on a cold ZOO_HOME, then the guide's recipe at every size."""
    fresh_home()
    spec = ["--data", str(data), "--sizes", ",".join(map(str, sizes))]
    picked, select_s = _child(["--child", "select", *spec])
    naive, naive_s = _child(
        ["--child", "naive", *spec, "--epochs", str(epochs), "--batch-size", str(batch_size)]
    )
    naive = {int(size): figures for size, figures in naive.items()}
    train_count = sum(1 for p in (data / "train").rglob("*") if p.is_file())
    val_count = sum(1 for p in (data / "val").rglob("*") if p.is_file())
    print(f"(1) candidates: {MODEL} at {', '.join(map(str, sizes))} px; {train_count} train, {val_count} val "
          "photos; each side in a fresh process (start-up counted)")  # fmt: skip
    print("| input | zoo select: 5-fold CV accuracy | ms/image | guide recipe: val accuracy | seconds |")
    print("|---|---|---|---|---|")
    for row in sorted(picked["rows"], key=lambda r: r["image_size"]):
        size = row["image_size"]
        print(
            f"| {size} | {row['cv_accuracy']:.3f} ± {row['cv_std']:.3f} | {row['ms_per_image']:.2f} | "
            f"{naive[size][0]:.3f} | {naive[size][1]:.1f} |"
        )
    zoo_winner, naive_winner = picked["winner"], max(sizes, key=lambda s: naive[s][0])
    print(
        f"winner: zoo select {zoo_winner} px, guide recipe {naive_winner} px "
        f"(same: {zoo_winner == naive_winner})"
    )
    print(f"time: zoo select {select_s:.1f} s, guide recipe x{len(sizes)} {naive_s:.1f} s "
          f"(ratio {select_s / naive_s:.2f}, target <= 0.20)")  # fmt: skip


def _child(args: list[str]) -> tuple[dict, float]:
    """(the JSON a child run of this script prints last, its wall time from spawn to exit)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def child(mode: str, data: Path, sizes: list[int], epochs: int, batch_size: int) -> None:
    """One side of (1), in this (fresh) process; prints its result as JSON."""
    if mode == "select":
        import zoo

        frame = zoo.select(data / "train", MODEL, image_sizes=sizes)
        rows = frame[["image_size", "cv_accuracy", "cv_std", "ms_per_image"]].to_dict("records")
        print(json.dumps({"rows": rows, "winner": int(frame.attrs["recommended"]["image_size"])}))
        return
    from zoo.data.folders import scan_folders

    train, val = scan_folders(data / "train"), scan_folders(data / "val")
    print(json.dumps({size: keras_guide_recipe(train, val, size, epochs, batch_size) for size in sizes}))


def finetune_defaults(
    data: Path, image_size: int, batch_size: int, repeats: int, per_class: int | None
) -> None:
    """Today's fixed recipe (--no-tune) against the tuned default, A B A B... in one process (so both see
    the same load), each run cold; the median wall time of each."""
    import statistics

    import zoo

    train = data / "train" if per_class is None else subset(data / "train", per_class)
    variants = (
        ("--no-tune (today's defaults)", {"tune": False}),
        ("tuned, --views 1 (no extra views)", {"views": 1}),
        ("tuned (the new default: --views auto)", {}),
    )
    runs: dict[str, list] = {name: [] for name, _ in variants}
    for _ in range(repeats):
        for name, settings in variants:
            fresh_home()
            out = Path(tempfile.mkdtemp(prefix="zoo-bench-run-")) / "run"
            started = time.perf_counter()
            run = zoo.finetune(
                MODEL, train, val=str(data / "val"), image_size=image_size, batch_size=batch_size,
                out=str(out), verbose=False, tensorboard=False, **settings,
            )  # fmt: skip
            runs[name].append((run.val_accuracy, time.perf_counter() - started, run.config))
            shutil.rmtree(out, ignore_errors=True)
    images = sum(1 for p in train.rglob("*") if p.is_file())
    print(f"(2) zoo finetune on {data.name} ({images} training photos) at {image_size} px, "
          f"--val {data.name}/val, {repeats} interleaved repeats")  # fmt: skip
    print("| settings | val accuracy | wall time (median) | stage 1 lr / wd / epochs / views | stage 2 |")
    print("|---|---|---|---|---|")
    medians = {}
    for name, rows in runs.items():
        accuracy, cfg = rows[0][0], rows[0][2]  # every repeat is the same run (seeded, deterministic)
        medians[name] = (accuracy, statistics.median(seconds for _, seconds, _ in rows))
        print(
            f"| {name} | {accuracy:.3f} | {medians[name][1]:.1f} s | {cfg.lr:g} / {cfg.weight_decay:g} / "
            f"{cfg.epochs} / {cfg.views} | unfreeze {cfg.unfreeze}, lr {cfg.fine_tune_lr:g}, "
            f"{cfg.fine_tune_epochs} epochs |"
        )
    (base_acc, base_s), (plain_acc, plain_s), (tuned_acc, tuned_s) = medians.values()
    print(f"tuned --views 1 vs --no-tune: accuracy {100 * (plain_acc - base_acc):+.1f} points, "
          f"time {plain_s / base_s:.2f}x")  # fmt: skip
    print(f"tuned (default) vs --no-tune: accuracy {100 * (tuned_acc - base_acc):+.1f} points "
          f"(target >= +5), time {tuned_s / base_s:.2f}x (target <= 1.5x)")  # fmt: skip


def subset(train: Path, per_class: int) -> Path:
    """The first `per_class` photos of each class (sorted names), copied into a temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="zoo-bench-subset-"))
    for folder in sorted(p for p in train.iterdir() if p.is_dir()):
        (root / folder.name).mkdir()
        for path in sorted(folder.iterdir())[:per_class]:
            shutil.copy(path, root / folder.name / path.name)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="a folder with train/ and val/ class folders")
    parser.add_argument("--sizes", default="96,128,160,224", help="(1): the candidates' input sizes")
    parser.add_argument("--image-size", type=int, default=128, help="(2): the model input size")
    parser.add_argument("--part", choices=("1", "2", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=2, help="(2): interleaved runs of each setting")
    parser.add_argument(
        "--per-class", type=int, default=None, help="(2): only this many training photos a class"
    )
    parser.add_argument("--child", choices=("select", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child:
        child(args.child, args.data, sizes, args.epochs, args.batch_size)
        return
    if args.part in ("1", "both"):
        which_backbone(args.data, sizes, args.epochs, args.batch_size)
    if args.part in ("2", "both"):
        finetune_defaults(args.data, args.image_size, args.batch_size, args.repeats, args.per_class)


if __name__ == "__main__":
    main()
