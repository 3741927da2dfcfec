"""zoo finetune vs the Keras transfer-learning guide's recipe: one run, the same data and backbone.

(a) the guide's recipe: augmentation + frozen backbone (training=False) + pooling + dropout + dense inside
    `model.fit`, 10 epochs (every epoch runs the backbone on every image);
(b) zoo stage 1, 10 epochs: features extracted once (cold cache, the extraction pass counted), the head
    trains on them;
(c) a default `zoo finetune` end to end (stage 1, then stage 2 with the top layers unfrozen and flips).

Targets: (b) >= 5x faster than (a) at equal or better val accuracy; (c) better val accuracy than (a) in at
most 2x its wall time. Data: rendered shapes with random colours (only the shape tells the class). Both
sides decode with zoo's decoder and use the same stratified split. Backbone: the real ImageNet MobileNet
alpha 0.25 (no top) that zoo ships, at --image-size.

    .venv/bin/python benchmarks/finetune.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = REPO / "zoo" / "assets" / "mobilenet_2_5_224_tf_no_top.h5"
MODEL = "mobilenet_v1_025_224"


def keras_guide_recipe(train, val, image_size: int, epochs: int, batch_size: int) -> tuple[float, float]:
    """(val accuracy, seconds) of the guide's recipe, decoding included."""
    import keras
    import numpy as np

    from zoo.data.decode import ResizePolicy, decode_batch
    from zoo.registry import get

    started = time.perf_counter()
    policy = ResizePolicy.from_spec(get(MODEL), image_size)
    x_train = decode_batch(train.paths, policy).images
    x_val = decode_batch(val.paths, policy).images
    y_train, y_val = np.asarray(train.labels), np.asarray(val.labels)
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNet(
        input_shape=(image_size, image_size, 3), alpha=0.25, include_top=False, weights=str(WEIGHTS)
    )
    base.trainable = False
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.layers.RandomRotation(0.1)(x)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(x)  # MobileNet's "tf" preprocessing
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    model = keras.Model(inputs, keras.layers.Dense(len(train.classes))(x))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0)
    _, accuracy = model.evaluate(x_val, y_val, batch_size=batch_size, verbose=0)
    return float(accuracy), time.perf_counter() - started


def zoo_run(data: Path, out: Path, image_size: int, batch_size: int, **settings) -> tuple[float, float]:
    """(val accuracy, seconds) of zoo.finetune with a cold feature cache."""
    import zoo

    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-bench-home-")
    started = time.perf_counter()
    result = zoo.finetune(
        MODEL, data, weights=str(WEIGHTS), image_size=image_size, batch_size=batch_size, out=str(out),
        verbose=False, tensorboard=False, **settings,
    )  # fmt: skip
    return float(result.val_accuracy), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer, smaller images (a short run)")
    parser.add_argument("--per-class", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None, help="model input size")
    parser.add_argument(
        "--render-size",
        type=int,
        default=40,
        help="rendered image size; small = blurry when upscaled = harder",
    )
    args = parser.parse_args()
    per_class = args.per_class or (30 if args.quick else 150)
    image_size = args.image_size or (96 if args.quick else 224)
    batch_size, epochs = 16, 10
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from zoo.data.folders import scan_folders, stratified_split
    from zoo.data.synthetic import SHAPES, render_dataset

    work = Path(tempfile.mkdtemp(prefix="zoo-bench-finetune-"))
    data = render_dataset(
        work / "data", classes=SHAPES, per_class=per_class, size=args.render_size, seed=11
    ).root
    train, val = stratified_split(scan_folders(data), 0.2, seed=0)  # the split zoo makes with seed 0
    print(
        f"data: {len(SHAPES)} shapes x {per_class}, rendered at {args.render_size} px, model input"
        f" {image_size} px; train {len(train)}, val {len(val)}"
    )

    guide_acc, guide_s = keras_guide_recipe(train, val, image_size, epochs, batch_size)
    stage1_acc, stage1_s = zoo_run(
        data, work / "stage1", image_size, batch_size, epochs=epochs, fine_tune_epochs=0
    )
    full_acc, full_s = zoo_run(data, work / "default", image_size, batch_size)

    print(f"(a) Keras guide recipe, model.fit {epochs} epochs : val acc {guide_acc:.3f}  {guide_s:6.1f} s")
    print(f"(b) zoo stage 1, {epochs} epochs (cached features): val acc {stage1_acc:.3f}  {stage1_s:6.1f} s")
    print(f"(c) zoo finetune, defaults (10 + 5 epochs)      : val acc {full_acc:.3f}  {full_s:6.1f} s")
    print(
        f"(b) vs (a): {guide_s / stage1_s:.1f}x faster (target >= 5x), accuracy {stage1_acc - guide_acc:+.3f}"
    )
    print(
        f"(c) vs (a): {full_s / guide_s:.2f}x the time (target <= 2x), accuracy {full_acc - guide_acc:+.3f}"
    )


if __name__ == "__main__":
    main()
