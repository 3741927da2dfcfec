"""How far each back-end's float32 forward pass is from the exact answer, on real photos: the pretrained
MobileNet 0.25 (224, no top, ../shared/fixtures) built by zoo.load, on TrashNet photos (../shared/data).

The exact answer is the same model computed in float64 (every layer cloned under the "float64" dtype
policy, the same weights): on PyTorch, on JAX (x64 on) and on TensorFlow, which must agree to ~1e-12
among themselves for the reference to be trusted. Against it, in float32:
    predict        Keras' own model.predict on TensorFlow, JAX and PyTorch (Keras' forward)
    frozen graph   TensorFlow: zoo's keras runtime (grappler folds BatchNormalization by itself)
    unfolded       JAX, PyTorch: zoo's forward pass (zoo.engine.backend) on the model as built
    folded         JAX, PyTorch: the same on a copy with BatchNormalization folded into the convolutions
                   (zoo.engine.folding), zoo's keras runtime's default
Error = max|a - ref| / max|ref|, as tests/engine/test_backends.py measures parity. One child process per
back-end and precision (Keras fixes its back-end per process; TensorFlow never shares a process with torch).

    .venv/bin/python benchmarks/backends_float64.py --per-class 6
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")


def float32_outputs(model, photos: np.ndarray, backend: str) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    from zoo.engine.folding import fold_batch_norms

    outputs = {"predict": model.predict(photos, verbose=0, batch_size=len(photos))}
    if backend == "tensorflow":
        from zoo.engine.runtimes import KerasRuntime

        outputs["frozen graph"] = KerasRuntime(model).predict(photos)
        return outputs
    from zoo.engine.backend import backend_forward

    for path, network in (("unfolded", model), ("folded", fold_batch_norms(model))):
        forward = backend_forward(network, backend, fold=False)
        forward(photos)
        outputs[path] = forward(photos)  # torch: the frozen trace of the second call
    return outputs


def float64_outputs(model, photos: np.ndarray) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    from zoo.engine.runtimes import clone_with_policy

    exact = clone_with_policy(model, "float64")
    assert all(w.dtype == "float64" for w in exact.weights), "a weight is not float64"
    outputs = np.asarray(exact.predict(photos.astype(np.float64), verbose=0, batch_size=len(photos)))
    assert outputs.dtype == np.float64, outputs.dtype
    return {"float64": outputs}


def child(job: dict, out: Path) -> None:
    import keras

    import zoo

    backend = keras.config.backend()
    photos = np.load(job["photos"])
    model = zoo.load("mobilenet_v1_025_224", weights=job["weights"], include_top=False)
    found = float64_outputs(model, photos) if job["float64"] else float32_outputs(model, photos, backend)
    np.savez(out, **found)


def run_child(backend: str, exact: bool, job: dict, root: Path) -> dict[str, np.ndarray]:
    out = root / f"{backend}-{'f64' if exact else 'f32'}.npz"
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(REPO),
        **({"JAX_ENABLE_X64": "1"} if exact and backend == "jax" else {}),
    }
    spec = root / f"{out.stem}.json"
    spec.write_text(json.dumps({**job, "float64": exact}))
    done = subprocess.run([sys.executable, __file__, "--child", str(spec), str(out)], env=env, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{backend} {'float64' if exact else 'float32'} child failed")
    with np.load(out) as found:
        return {name: found[name] for name in found.files}


def relative(a: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(a - reference)) / np.max(np.abs(reference)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=6, help="photos per TrashNet class (val split)")
    parser.add_argument(
        "--weights", default=str(REPO.parent / "shared/fixtures/mobilenet_2_5_224_tf_no_top.h5")
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(Path(args.child[0]).read_text()), Path(args.child[1]))
        return 0
    sys.path.insert(0, str(REPO / "tests"))
    from support.realdata import photos

    root = Path(tempfile.mkdtemp(prefix="zoo-float64-"))
    np.save(root / "photos.npy", photos(per_class=args.per_class, size=224))
    job = {"photos": str(root / "photos.npy"), "weights": args.weights}
    exact = {backend: run_child(backend, True, job, root)["float64"] for backend in BACKENDS}
    reference = exact["torch"]
    print(f"{len(reference)} photos, load {os.getloadavg()[0]:.1f}; reference: float64 on torch")
    for backend in ("jax", "tensorflow"):
        print(f"  float64 on {backend:10} vs the reference: {relative(exact[backend], reference):.1e}")
    print(f"{'back-end':11} {'float32 path':13} {'vs float64':>10}")
    found = {backend: run_child(backend, False, job, root) for backend in BACKENDS}
    for backend, outputs in found.items():
        for path, values in outputs.items():
            print(f"{backend:11} {path:13} {relative(values, reference):10.2e}")
    print("between float32 paths (vs TensorFlow predict, as the cross-back-end test):")
    for backend, outputs in found.items():
        for path, values in outputs.items():
            print(f"  {backend:11} {path:13} {relative(values, found['tensorflow']['predict']):10.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
