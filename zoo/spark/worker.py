"""What runs inside each executor's Python worker: one model per worker, Arrow batches in, rows out.

A Python worker is reused across tasks (spark.python.worker.reuse), so the model is loaded once and kept in
`_MODELS`, keyed by everything that changes it (model, pooling, size, runtime, precision). Weights come
through zoo's hub on the executor (its ZOO_HOME cache or ZOO_MIRROR), checked against the registry's
checksum as every pull is; nothing model-sized travels from the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.data.decode import ResizePolicy, decode_bytes, default_workers
from zoo.errors import BadImage

if TYPE_CHECKING:
    import pandas

    from zoo.engine.installed import RuntimeChooser

EMBED_SCHEMA = "path string, embedding array<float>, model string, weights_sha256 string, error string"
PREDICT_SCHEMA = (
    "path string, labels array<string>, indices array<int>, probabilities array<float>,"
    " model string, weights_sha256 string, error string"
)


@dataclass(frozen=True)
class Task:
    """What to run: pickled into each task (a few strings), never the model itself."""

    kind: str  # "embed" or "predict"
    model: str  # a registry name, or (predict) a run directory / .keras file every executor can read
    runtime: str | RuntimeChooser = "keras"  # a chooser (zoo.bench.auto.AutoChooser) measures per worker
    precision: str = "fp32"
    pooling: str = "avg"
    input_size: int | None = None
    top: int = 5
    batch_size: int = 32
    # embed with a caller's model instead of the registry's (e.g. fine-tuning's own extractor); `model`
    # then names it for the per-worker cache, and the loader is a module-level function (pickled by name)
    loader: Callable[[], Scorer] | None = field(default=None, compare=False)


@dataclass
class Scorer:
    run: Callable[[np.ndarray], np.ndarray]  # decoded batch -> embeddings, or probabilities
    policy: ResizePolicy
    name: str
    weights_sha256: str | None
    labels: list[str] | None = None


_MODELS: dict[Task, Scorer] = {}


def scorer_for(task: Task) -> Scorer:
    # a chooser arrives as a fresh copy with every task: one chosen runtime per worker all the same
    runtime = task.runtime if isinstance(task.runtime, str) else "auto"
    key = Task(task.kind, task.model, runtime, task.precision, task.pooling, task.input_size)
    if key not in _MODELS:
        _MODELS[key] = _load(task)
    return _MODELS[key]


def _load(task: Task) -> Scorer:
    if task.loader is not None:
        return task.loader()
    from zoo.engine._predict import DEFAULT_CROP_PCT, batch_function, make_predictor, model_size
    from zoo.engine.reference import load

    if task.kind == "predict":
        predictor = make_predictor(
            task.model, runtime=task.runtime, precision=task.precision, batch_size=task.batch_size
        )
        return Scorer(
            predictor.probabilities_of, predictor.policy, predictor.name, predictor.weights_sha256,
            predictor.labels,
        )  # fmt: skip
    loaded = load(task.model, image_size=task.input_size, features=task.pooling)
    model = loaded.model
    name = loaded.ref.spec.name if loaded.ref.spec is not None else loaded.name
    run = batch_function(model, task.runtime, task.precision, batch_size=task.batch_size)
    policy = loaded.resize_policy(model_size(model), DEFAULT_CROP_PCT)
    return Scorer(run, policy, name, loaded.weights_sha256)


def score_frames(task: Task, frames: Iterator[pandas.DataFrame]) -> Iterator[pandas.DataFrame]:
    """mapInPandas' function: (path, content) frames in, one output row per input row out."""
    scorer = scorer_for(task)
    with ThreadPoolExecutor(max_workers=default_workers()) as pool:
        for frame in frames:
            for start in range(0, len(frame), task.batch_size):
                chunk = frame.iloc[start : start + task.batch_size]
                yield _score(task, scorer, chunk, pool)


def _decode(path: str, content: bytes, policy: ResizePolicy) -> np.ndarray | str:
    try:
        return decode_bytes(content, path, policy)
    except BadImage as exc:
        return exc.reason


def _score(task: Task, scorer: Scorer, chunk: pandas.DataFrame, pool: ThreadPoolExecutor) -> pandas.DataFrame:
    import pandas

    paths = [str(p) for p in chunk["path"]]
    decoded = list(
        pool.map(lambda pc: _decode(*pc, scorer.policy), zip(paths, chunk["content"], strict=True))
    )
    good = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
    outputs: list[Any] = [None] * len(paths)
    if good:
        batch = np.stack([decoded[i] for i in good])
        values = np.asarray(scorer.run(batch)).reshape(len(good), -1)
        values = values.astype(np.float32) if task.kind == "embed" else values
        for i, row in zip(good, values, strict=True):
            outputs[i] = row
    errors = [d if isinstance(d, str) else None for d in decoded]
    columns: dict[str, Any] = {"path": paths}
    if task.kind == "embed":
        columns["embedding"] = outputs
    else:
        columns.update(_top_columns(outputs, task.top, scorer.labels))
    columns.update(model=scorer.name, weights_sha256=scorer.weights_sha256, error=errors)
    return pandas.DataFrame(columns)


def _top_columns(rows: list[Any], k: int, labels: list[str] | None) -> dict[str, list[Any]]:
    from zoo.engine._predict import _top_k

    tops = [None if row is None else _top_k(row, k, labels) for row in rows]
    return {
        "labels": [None if top is None else [t.label for t in top] for top in tops],
        "indices": [None if top is None else [t.index for t in top] for top in tops],
        "probabilities": [None if top is None else [t.probability for t in top] for top in tops],
    }
