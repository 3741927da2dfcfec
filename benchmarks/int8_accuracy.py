"""int8 against fp32 keras on held-out real photos: the real ImageNet MobileNet 0.25 @128 with its head.

../shared/data has no photos with ImageNet labels (TrashNet's six materials are not ImageNet classes), so
the labelled task is built from training photos only: each ImageNet class fp32 keras answers on the
MAP_PER_CLASS first training photos of each material is assigned to the material it is answered for most,
and a photo counts as right when its top-1 (top-5: any of its five) class belongs to its own material.
Calibration uses other training photos (CALIBRATION_PER_CLASS from offset MAP_PER_CLASS); every figure is
scored on all 234 validation photos, which neither the mapping, the calibration nor the search saw.

Besides accuracy: agreement (int8 top-1 == fp32 top-1) and "fp32 top-1 in int8 top-5".

    .venv/bin/python benchmarks/int8_accuracy.py            # the int8 paths as zoo converts them now
    .venv/bin/python benchmarks/int8_accuracy.py --before   # without the float-layer search: each
                            # searched precision replaced by its plain one (PLAIN_INSTEAD), e.g. litert
                            # int8-full -> int8-plain; the same as naming those in --paths
    .venv/bin/python benchmarks/int8_accuracy.py --paths openvino:int8 openvino:int8+bf16
    .venv/bin/python benchmarks/int8_accuracy.py --calibration-offset 80 --paths onnxruntime:int8
                                                            # another calibration subset, one path
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests")]

import numpy as np  # noqa: E402

PATHS = (("openvino", "int8"), ("onnxruntime", "int8"), ("litert", "int8-full"), ("litert", "int8"))
# --before: the searched int8 precisions and their plain counterparts (every layer int8, nothing searched).
# A precision of its own rather than a patch: the float-layer search's split_calibration is imported by
# name into zoo.engine.runtime_openvino and zoo.engine.litert_int8, so patching int8_search's attribute (as
# --before once did) left both searches on and measured the searched int8 under the "before" label.
PLAIN_INSTEAD = {
    ("openvino", "int8"): "int8-plain",
    ("openvino", "int8+bf16"): "int8-plain+bf16",
    ("litert", "int8-full"): "int8-plain",
}
MAP_PER_CLASS, CALIBRATION_PER_CLASS, SIZE = 40, 40, 128


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument(
        "--before", action="store_true",
        help="every layer int8, no float-layer search: the plain precision in place of each searched one",
    )  # fmt: skip
    parser.add_argument(
        "--calibration-offset", type=int, default=MAP_PER_CLASS, metavar="N",
        help=f"calibrate on the training photos from the N-th of each class (>= {MAP_PER_CLASS}: never the "
        "mapping photos)",
    )  # fmt: skip
    parser.add_argument(
        "--paths", nargs="+", default=[":".join(p) for p in PATHS], metavar="RUNTIME:PRECISION"
    )
    args = parser.parse_args()
    if args.calibration_offset < MAP_PER_CLASS:
        parser.error(f"--calibration-offset must be at least {MAP_PER_CLASS}")
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-int8-bench-"))
    from support.realdata import CLASSES, imagenet_classifier, photo_paths, photos

    from zoo.engine.runtimes import KerasRuntime, make_runtime

    paths = [tuple(path.split(":", 1)) for path in args.paths]
    if args.before:
        paths = [(runtime, PLAIN_INSTEAD.get((runtime, p), p)) for runtime, p in paths]
    model = imagenet_classifier()
    mapping_photos = photos(MAP_PER_CLASS, SIZE, "train")
    calibration = photos(CALIBRATION_PER_CLASS, SIZE, "train", offset=args.calibration_offset)
    scored = photos(10_000, SIZE, "val")
    per_class = [sum(1 for p in photo_paths(10_000, "val") if p.parent.name == c) for c in CLASSES]
    truth = np.repeat(np.arange(len(CLASSES)), per_class)
    reference = KerasRuntime(model)
    answered = reference.predict(mapping_photos).argmax(1)
    counts = np.zeros((1000, len(CLASSES)))
    np.add.at(counts, (answered, np.repeat(np.arange(len(CLASSES)), MAP_PER_CLASS)), 1)
    material = np.where(counts.sum(1) > 0, counts.argmax(1), -1)

    def figures(outputs: np.ndarray) -> tuple[float, float, np.ndarray]:
        top = np.argsort(-outputs, axis=1, kind="stable")[:, :5]
        hit = material[top] == truth[:, None]
        return float(hit[:, 0].mean()), float(hit.any(1).mean()), top

    fp32_1, fp32_5, fp32_top = figures(reference.predict(scored))
    print(f"{len(scored)} val photos, {len(calibration)} calibration photos (train from "
          f"{args.calibration_offset} of each class), mapping: "
          f"{len(mapping_photos)} other train photos; {'before' if args.before else 'after'}")  # fmt: skip
    print(f"{'keras fp32':22} top-1 {fp32_1:.3f}          top-5 {fp32_5:.3f}")
    for runtime, precision in paths:
        start = time.perf_counter()
        runner = make_runtime(model, runtime, precision, calibration=calibration)
        took = time.perf_counter() - start
        top1, top5, top = figures(runner.predict(scored))
        agree = float((top[:, 0] == fp32_top[:, 0]).mean())
        in5 = float((top == fp32_top[:, :1]).any(1).mean())
        name = f"{runtime} {precision}"
        print(f"{name:22} top-1 {top1:.3f} ({(top1 - fp32_1) * 100:+.1f})  top-5 {top5:.3f} "
              f"({(top5 - fp32_5) * 100:+.1f})  agreement {agree:.3f}  fp32 top-1 in top-5 {in5:.3f}"
              f"  [{took:.0f} s to convert]", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
