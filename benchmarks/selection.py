"""zoo select vs fine-tuning every candidate, and zoo finetune --tune vs today's defaults, on real photos.

(1) Which backbone: `zoo.select` over the candidates (the fixture backbone, MobileNet alpha 0.25 with real
    ImageNet weights, at several input sizes) on the training photos, cold (empty ZOO_HOME but the
    weights), against the naive way: fine-tune each candidate with the Keras transfer-learning guide's
    recipe (benchmarks/finetune.py) and keep the best val accuracy. Targets: the same winner, in <= 1/5
    of the time.
(2) Fine-tuning defaults: `zoo finetune` with today's defaults against `--tune`, both on the training
    photos with the val photos as --val. Targets: never lower val accuracy, in <= 1.5x the wall time.

Data: ../shared/data/trashnet6 (train / val; see its README), or --data DIR with train/ and val/.

(Named selection.py: a select.py here would shadow the standard library's `select` module.)

    .venv/bin/python benchmarks/selection.py [--sizes 96,128,160,224] [--image-size 128] [--part 1|2]
"""

from __future__ import annotations

import argparse
import os
import shutil
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
    import zoo
    from zoo.data.folders import scan_folders

    fresh_home()
    started = time.perf_counter()
    frame = zoo.select(data / "train", MODEL, image_sizes=sizes)
    select_s = time.perf_counter() - started
    train, val = scan_folders(data / "train"), scan_folders(data / "val")
    naive = {}
    naive_started = time.perf_counter()
    for size in sizes:
        naive[size] = keras_guide_recipe(train, val, size, epochs, batch_size)
    naive_s = time.perf_counter() - naive_started
    print(
        f"(1) candidates: {MODEL} at {', '.join(map(str, sizes))} px; "
        f"{len(train)} train, {len(val)} val photos"
    )
    print("| input | zoo select: 5-fold CV accuracy | ms/image | guide recipe: val accuracy | seconds |")
    print("|---|---|---|---|---|")
    by_size = frame.set_index("image_size")
    for size in sizes:
        row = by_size.loc[size]
        print(
            f"| {size} | {row.cv_accuracy:.3f} ± {row.cv_std:.3f} | {row.ms_per_image:.2f} | "
            f"{naive[size][0]:.3f} | {naive[size][1]:.1f} |"
        )
    zoo_winner = frame.attrs["recommended"]["image_size"]
    naive_winner = max(sizes, key=lambda s: naive[s][0])
    print(
        f"winner: zoo select {zoo_winner} px, guide recipe {naive_winner} px "
        f"(same: {zoo_winner == naive_winner})"
    )
    print(f"time: zoo select {select_s:.1f} s, guide recipe x{len(sizes)} {naive_s:.1f} s "
          f"(ratio {select_s / naive_s:.2f}, target <= 0.20)")  # fmt: skip


def finetune_defaults(data: Path, image_size: int, batch_size: int) -> None:
    import zoo

    rows = []
    for name, settings in (("defaults", {}), ("--tune", {"tune": True})):
        fresh_home()
        out = Path(tempfile.mkdtemp(prefix="zoo-bench-run-")) / name
        started = time.perf_counter()
        run = zoo.finetune(
            MODEL, data / "train", val=str(data / "val"), image_size=image_size, batch_size=batch_size,
            out=str(out), verbose=False, tensorboard=False, **settings,
        )  # fmt: skip
        rows.append((name, run.val_accuracy, time.perf_counter() - started, run.config))
        shutil.rmtree(out, ignore_errors=True)
    print(f"(2) zoo finetune on {data.name} at {image_size} px, --val {data.name}/val")
    print("| settings | val accuracy | wall time | stage 1 lr / wd / epochs |")
    print("|---|---|---|---|")
    for name, accuracy, seconds, cfg in rows:
        print(
            f"| {name} | {accuracy:.3f} | {seconds:.1f} s | "
            f"{cfg.lr:g} / {cfg.weight_decay:g} / {cfg.epochs} |"
        )
    (_, base_acc, base_s, _), (_, tuned_acc, tuned_s, _) = rows
    print(f"--tune vs defaults: accuracy {100 * (tuned_acc - base_acc):+.1f} points (target >= 0), "
          f"time {tuned_s / base_s:.2f}x (target <= 1.5x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="a folder with train/ and val/ class folders")
    parser.add_argument("--sizes", default="96,128,160,224", help="(1): the candidates' input sizes")
    parser.add_argument("--image-size", type=int, default=128, help="(2): the model input size")
    parser.add_argument("--part", choices=("1", "2", "both"), default="both")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.part in ("1", "both"):
        which_backbone(args.data, [int(s) for s in args.sizes.split(",")], epochs=10, batch_size=32)
    if args.part in ("2", "both"):
        finetune_defaults(args.data, args.image_size, batch_size=32)


if __name__ == "__main__":
    main()
