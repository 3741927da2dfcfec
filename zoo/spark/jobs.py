"""embed / predict / evaluate as Spark DataFrames, and writing them as Parquet through Spark's committer."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.choices import AUTO
from zoo.engine.runtimes import check_choice
from zoo.errors import InvalidSetting, OutputExists
from zoo.spark.images import image_frame
from zoo.spark.worker import EMBED_SCHEMA, PREDICT_SCHEMA, Scorer, Task, score_frames

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from zoo.engine.installed import RuntimeChooser


def embed(
    spark: SparkSession,
    images: Any,
    model: str,
    *,
    pooling: str = "avg",
    input_size: int | None = None,
    runtime: str | RuntimeChooser = "keras",
    precision: str = "fp32",
    batch_size: int = 32,
) -> DataFrame:
    """Pooled backbone features of every image: path, embedding (array<float>), model, weights_sha256,
    error (the reason a file could not be decoded; its embedding is then null). `images`: files, folders
    (searched recursively) or a DataFrame with a `path` (and optionally `content`) column. Lazy: nothing
    runs until the frame is written or collected."""
    task = _task("embed", model, runtime, precision, batch_size, pooling=pooling, input_size=input_size)
    return _map(image_frame(spark, images), task, EMBED_SCHEMA)


def embed_with(
    spark: SparkSession, images: Any, name: str, loader: Callable[[], Scorer], *, batch_size: int = 32
) -> DataFrame:
    """embed's rows, scored by the Scorer `loader` builds once per Python worker (a module-level function,
    or a functools.partial of one, that every executor can import); `name` keys that worker's cache, so
    a different model needs a different name."""
    if batch_size < 1:
        raise InvalidSetting(f"batch_size must be at least 1, got {batch_size}")
    task = Task("embed", name, batch_size=batch_size, loader=loader)
    return _map(image_frame(spark, images), task, EMBED_SCHEMA)


def predict(
    spark: SparkSession,
    images: Any,
    model: str,
    *,
    top: int = 5,
    runtime: str | RuntimeChooser = "keras",
    precision: str = "fp32",
    batch_size: int = 32,
) -> DataFrame:
    """Top-k classes of every image: path, labels, indices, probabilities (arrays, best first), model,
    weights_sha256, error. `model`: a registry name, or a run directory every executor can read."""
    if top < 1:
        raise InvalidSetting(f"top must be at least 1, got {top}")
    task = _task("predict", model, runtime, precision, batch_size, top=top)
    return _map(image_frame(spark, images), task, PREDICT_SCHEMA)


def evaluate(
    spark: SparkSession,
    folder: str | os.PathLike[str],
    model: str,
    *,
    top: int = 5,
    runtime: str | RuntimeChooser = "keras",
    precision: str = "fp32",
    batch_size: int = 32,
) -> DataFrame:
    """predict on a labelled folder (root/<class>/image): adds `label` (the class folder's name), and
    `top1` / `topk` (is the label first / among the top k; null for unreadable files)."""
    from pyspark.sql import functions as F

    frame = predict(
        spark, folder, model, top=top, runtime=runtime, precision=precision, batch_size=batch_size
    )
    label = F.element_at(F.split(F.col("path"), "/"), -2)
    frame = frame.withColumn("label", label)
    hit = F.when(F.col("error").isNull(), F.coalesce(F.col("labels")[0] == F.col("label"), F.lit(False)))
    return frame.withColumn("top1", hit).withColumn(
        "topk", F.when(F.col("error").isNull(), F.array_contains("labels", F.col("label")))
    )


def accuracy(frame: DataFrame) -> dict[str, Any]:
    """images, unreadable, top1, topk (fractions of the readable images) of an evaluate() frame."""
    from pyspark.sql import functions as F

    row = frame.agg(
        F.count("*").alias("images"),
        F.count("error").alias("unreadable"),
        F.avg(F.col("top1").cast("double")).alias("top1"),
        F.avg(F.col("topk").cast("double")).alias("topk"),
    ).first()
    return row.asDict()


def write(frame: DataFrame, out: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Parquet at `out` through Spark's output committer: only committed task attempts land, so a retried
    task leaves exactly one row per image. An existing `out` is refused unless `overwrite`."""
    check_output(out, overwrite=overwrite)
    frame.write.mode("overwrite" if overwrite else "errorifexists").parquet(os.fspath(out))


def check_output(out: str | os.PathLike[str], *, overwrite: bool) -> None:
    """OutputExists (exit 2) for an existing local output path without `overwrite` (checked before
    any work; Spark checks again, for remote file systems, when it writes)."""
    path = Path(os.fspath(out).removeprefix("file:"))
    if path.exists() and not overwrite:
        raise OutputExists(
            f"{out} already exists", hint="pass --overwrite to replace it, or choose another path"
        )


def _task(kind: str, model: str, runtime: Any, precision: str, batch_size: int, **settings: Any) -> Task:
    if runtime == AUTO:
        raise InvalidSetting(
            "runtime='auto' measures on each executor, which needs a chooser",
            hint="pass runtime=zoo.bench.auto.AutoChooser() (what zoo embed --spark does), or name a runtime",
        )
    if not callable(runtime):
        check_choice(runtime, precision)
    if batch_size < 1:
        raise InvalidSetting(f"batch_size must be at least 1, got {batch_size}")
    return Task(kind, str(model), runtime, precision, batch_size=batch_size, **settings)


def _map(images: DataFrame, task: Task, schema: str) -> DataFrame:
    return images.mapInPandas(functools.partial(score_frames, task), schema)
