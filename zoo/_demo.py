"""`zoo demo`: the main job end to end, offline, on embedded defaults.

1. render a labelled shapes dataset (train and a separate test set) — colour does not give the class away;
2. serve the weights zoo ships (MobileNet v1 alpha 0.25, ImageNet, no top) from a mirror on 127.0.0.1
   and pull them through the normal verified path (for another `--model`, pull from its real sources);
3. fine-tune with the two-stage recipe (cached backbone features, then the top layers);
4. evaluate the run on the test set with the keras and LiteRT runtimes, benchmark both (on JAX and
   PyTorch the keras runtime alone: LiteRT conversions go through TensorFlow);
5. print an accuracy/speed table and say where the run directory and its plots are.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from zoo import config, registry

BUNDLED_MODEL = "mobilenet_v1_025_224"
BUNDLED_FILE = "mobilenet_2_5_224_tf_no_top.h5"

# The runtimes the demo compares: the two every install has (LiteRT from a TensorFlow-built model only).
DEMO_RUNTIMES = ("keras", "litert")


def demo_runtimes() -> tuple[str, ...]:
    from zoo import config

    return DEMO_RUNTIMES if config.keras_backend() == "tensorflow" else ("keras",)


@dataclass
class DemoSettings:
    out: Path = Path("zoo-demo")
    model: str = BUNDLED_MODEL
    image_size: int = 128
    train_per_class: int = 100
    test_per_class: int = 30
    epochs: int = 10
    fine_tune_epochs: int = 5
    batch_size: int = 32
    seed: int = 0


@dataclass
class DemoResult:
    run_dir: Path
    weights: Path
    val_accuracy: float | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bundled_weights() -> Path:
    """The ImageNet weight file shipped inside the package (see zoo/assets/NOTICE.md)."""
    return Path(str(resources.files("zoo") / "assets" / BUNDLED_FILE))


def _render(settings: DemoSettings) -> tuple[Path, Path]:
    from zoo.data.synthetic import render_dataset

    data = settings.out / "data"
    train, test = data / "train", data / "test"
    for folder in (train, test):
        if folder.exists():
            shutil.rmtree(folder)
    common = {"size": settings.image_size}
    render_dataset(train, per_class=settings.train_per_class, seed=settings.seed, **common)
    render_dataset(test, per_class=settings.test_per_class, seed=settings.seed + 1, **common)
    return train, test


def _pull_weights(spec: registry.ModelSpec) -> Path:
    from zoo.hub import pull, serve

    if spec.name != BUNDLED_MODEL:
        _say(f"Pulling {spec.name} weights from their published sources ...")
        return pull(spec, "notop")
    with tempfile.TemporaryDirectory(prefix="zoo-demo-mirror-") as folder:
        shutil.copyfile(bundled_weights(), Path(folder) / BUNDLED_FILE)
        with serve(folder, log=None) as mirror:
            _say(f"Serving the bundled weights at {mirror.url} (zoo serve) and pulling them through it ...")
            return pull(spec, "notop", mirrors=[mirror.url])


def _measure(run_dir: Path, test: Path, settings: DemoSettings) -> list[dict[str, Any]]:
    from zoo.bench import benchmark, evaluate

    rows = []
    runtimes = demo_runtimes()
    speed = benchmark([str(run_dir)], batch_sizes=(16,), runtimes=runtimes, warmup=2, iters=10, record=False)
    for runtime in runtimes:
        scores = evaluate(str(run_dir), test, runtime=runtime, batch_size=settings.batch_size, record=True)
        row = scores.iloc[0].to_dict()
        measured = speed[(speed["runtime"] == runtime) & (speed["status"] == "ok")]
        rows.append(
            {
                "runtime": runtime,
                "precision": "fp32",
                "test_top1": float(row["top1"]),
                "test_top5": float(row["top5"]),
                "images": int(row.get("images", 0) or 0),
                "images_per_s": float(measured["images_per_s"].iloc[0]) if len(measured) else None,
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The closing accuracy/speed table, as Markdown (readable in a terminal too)."""
    lines = [
        "| runtime | precision | test top-1 | test top-5 | images/s (batch 16) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        speed = f"{r['images_per_s']:.1f}" if r["images_per_s"] is not None else "failed"
        lines.append(
            f"| {r['runtime']} | {r['precision']} | {r['test_top1']:.3f} | {r['test_top5']:.3f} | {speed} |"
        )
    return "\n".join(lines)


def run_demo(settings: DemoSettings | None = None, **overrides: Any) -> DemoResult:
    """Run the demo; every output lands in `settings.out` (default ./zoo-demo)."""
    from dataclasses import replace

    settings = replace(settings or DemoSettings(), **overrides)
    settings.out = Path(settings.out)
    spec = registry.get(settings.model)  # an unknown --model fails before any work
    config.prepare_keras_backend()  # so does a back-end or keras.json zoo cannot run on
    start = time.perf_counter()
    settings.out.mkdir(parents=True, exist_ok=True)

    classes = 3
    _say(f"[1/4] Rendering a shapes dataset ({classes} classes) in {settings.out / 'data'} ...")
    train, test = _render(settings)

    _say("[2/4] Getting pretrained weights ...")
    weights = _pull_weights(spec)

    _say(f"[3/4] Fine-tuning {spec.name} at {settings.image_size}px ...")
    from zoo.transfer import finetune

    run_dir = settings.out / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    result = finetune(
        spec.name,
        train,
        weights="imagenet",
        image_size=settings.image_size,
        epochs=settings.epochs,
        fine_tune_epochs=settings.fine_tune_epochs,
        batch_size=settings.batch_size,
        seed=settings.seed,
        out=str(run_dir),
    )

    _say(f"[4/4] Evaluating on the held-out test set and benchmarking {' vs '.join(demo_runtimes())} ...")
    rows = _measure(result.run_dir, test, settings)
    elapsed = time.perf_counter() - start
    return DemoResult(result.run_dir, weights, result.val_accuracy, rows, elapsed)


def print_summary(result: DemoResult) -> None:
    print(format_table(result.rows))
    print()
    if result.val_accuracy is not None:
        print(f"Validation accuracy after fine-tuning: {result.val_accuracy:.3f}")
    print(f"Run directory: {result.run_dir}  (history.png, confusion.png, model.keras, metrics.json)")
    print(f"Weights (verified): {result.weights}")
    print(f"Demo finished in {result.seconds:.0f} s.")
