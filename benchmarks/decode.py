"""The image decoder's throughput: serial vs the thread pool, and prediction with vs without overlap.

Measured side by side in one run on the same JPEG files (written to a temporary folder first):
  1. decode_image in a plain loop  vs  decode_batch on a thread pool (default workers, then 1 worker);
  2. predicting chunk by chunk (decode a chunk, then run the model on it)  vs  iter_batches, which decodes
     the next chunk while the model runs on this one (what zoo.predict does).
Rounds alternate the variants so drifting machine load hits both alike; the best round of each counts.

    .venv/bin/python benchmarks/decode.py            # 128 photos of 800x600, 3 rounds
    .venv/bin/python benchmarks/decode.py --quick    # 32 photos, 2 rounds
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    paths = []
    for i in range(count):
        base = np.stack([xx * 255 / width, yy * 255 / height, np.full_like(xx, i * 7 % 255)], axis=-1)
        pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        paths.append(folder / f"{i:04d}.jpg")
        Image.fromarray(pixels).save(paths[-1], quality=90)
    return paths


def best_rate(variants: dict[str, Callable[[], None]], images: int, rounds: int) -> dict[str, float]:
    best = dict.fromkeys(variants, 0.0)
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            best[name] = max(best[name], images / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="32 photos, 2 rounds")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    count = args.images or (32 if args.quick else 128)
    rounds = args.rounds or (2 if args.quick else 3)

    import keras

    from zoo.data.decode import ResizePolicy, decode_batch, decode_image, default_workers, iter_batches
    from zoo.engine._predict import batch_function
    from zoo.engine.preprocessing import ImagenetPreprocessing

    policy = ResizePolicy(224, "bilinear", 0.875)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp), count, (600, 800))
        workers = default_workers()
        decode = best_rate(
            {
                "serial loop": lambda: [decode_image(p, policy) for p in paths],
                f"decode_batch ({workers} workers)": lambda: decode_batch(paths, policy),
                "decode_batch (1 worker)": lambda: decode_batch(paths, policy, workers=1),
            },
            count,
            rounds,
        )

        inputs = keras.Input((224, 224, 3))
        backbone = keras.applications.MobileNetV2(weights=None, include_top=True, input_shape=(224, 224, 3))
        model = keras.Model(inputs, backbone(ImagenetPreprocessing("tf")(inputs)))
        run = batch_function(model)
        run(decode_batch(paths[:8], policy).images)  # trace once, outside the clock
        chunk = 16

        def sequential() -> None:
            for i in range(0, len(paths), chunk):
                run(decode_batch(paths[i : i + chunk], policy).images)

        def overlapped() -> None:
            for batch in iter_batches(paths, policy, chunk):
                run(batch.images)

        predict = best_rate(
            {"decode then infer": sequential, "iter_batches (overlap)": overlapped}, count, rounds
        )

    print(f"{count} JPEGs 800x600 -> 224x224, {os.cpu_count()} CPUs, best of {rounds} rounds")
    base = decode["serial loop"]
    for name, rate in decode.items():
        print(f"  decode  {name:<28} {rate:8.1f} images/s  x{rate / base:.2f}")
    base = predict["decode then infer"]
    for name, rate in predict.items():
        print(f"  predict {name:<28} {rate:8.1f} images/s  x{rate / base:.2f}  (MobileNetV2, batch {chunk})")


if __name__ == "__main__":
    main()
