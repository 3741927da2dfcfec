"""`--spark [MASTER]` of `zoo embed`, `zoo predict` and `zoo evaluate`: the job on a Spark cluster, its
rows written as Parquet by Spark (zoo.spark), a summary on stderr (or --json on stdout)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zoo.choices import AUTO, CALIBRATED
from zoo.cli.common import print_json, stderr_console, usage_error
from zoo.spark.cluster import DEFAULT_MASTER  # noqa: F401  (re-exported for the commands)

UseSpark = Annotated[
    bool,
    typer.Option(
        "--spark", help="Run on Apache Spark (see --master); the rows go to a Parquet folder (--out)."
    ),
]
Master = Annotated[
    str,
    typer.Option(
        "--master",
        metavar="MASTER",
        help="With --spark: local[*], local-cluster[N,C,MB] or spark://HOST:7077.",
    ),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="With --spark: replace an existing --out.")]


def check_paths(images: list[str], what: str) -> list[str]:
    """Local paths must exist (a usage error otherwise); URLs (hdfs://, s3a://) are the cluster's to read."""
    missing = [p for p in images if "://" not in p and not Path(p).exists()]
    if missing:
        usage_error(f"no such file or folder: {', '.join(missing)}", what)
    return [p if "://" in p else str(Path(p).resolve()) for p in images]


def run(kind: str, master: str, images: list[str], model: str, out: Path | None, **settings: Any) -> None:
    """Start the session, run `kind` (embed, predict or evaluate) and write `out` (Parquet)."""
    overwrite, as_json = settings.pop("overwrite"), settings.pop("as_json")
    if out is None:
        usage_error("--spark writes its rows as Parquet: give --out FOLDER", "--out")
    _executor_runtime(settings)
    import zoo.spark as zs
    from zoo.spark.jobs import check_output

    check_output(out, overwrite=overwrite)
    zs.require_pyspark()
    from pyspark.sql import SparkSession

    ours = SparkSession.getActiveSession() is None  # a caller's running session is theirs to stop
    spark = zs.session(master, app_name=f"zoo {kind}")
    try:
        source = images[0] if kind == "evaluate" else images
        frame = getattr(zs, kind)(spark, source, model, **settings)
        zs.write(frame, str(out), overwrite=overwrite)
        summary = _summary(spark, kind, str(out))
    finally:
        if ours:
            spark.stop()
    summary.update(out=str(out), master=master)
    if as_json:
        print_json(summary)
        return
    line = f"Wrote {summary['images']} rows to {out} ({summary['unreadable']} unreadable)"
    if kind == "evaluate":
        line += f"; top-1 {summary['top1']:.2%}, top-k {summary['topk']:.2%}"
    stderr_console().print(line)


def finetune_on_spark(cfg: Any, master: str, *, resume: bool, peer_timeout: float, as_json: bool) -> None:
    """`zoo finetune --spark`: features and stage 2 on the cluster, the head on this machine."""
    import zoo.spark as zs

    zs.require_pyspark()
    from pyspark.sql import SparkSession

    from zoo._spark_finetune import train_on_spark

    ours = SparkSession.getActiveSession() is None
    spark = zs.session(master, app_name=f"zoo finetune {cfg.model}")
    try:
        result = train_on_spark(spark, cfg, resume=resume, peer_timeout=peer_timeout)
    finally:
        if ours:
            spark.stop()
    if as_json:
        print_json({"run_dir": str(result.run_dir), "metrics": result.metrics, "history": result.history,
                    "feature_cache_hit": result.feature_cache_hit, "workers": result.workers,
                    "seconds": result.seconds})  # fmt: skip
    else:
        typer.echo(str(result.run_dir))


def _executor_runtime(settings: dict[str, Any]) -> None:
    """The runtime each executor builds: a named one, or for auto a chooser that measures on each executor
    (and caches its choice in that executor's ZOO_HOME); never a calibrated int8, since the executors would
    need the calibration images too (auto leaves those candidates out there)."""
    runtime, precision = settings.get("runtime") or AUTO, settings.get("precision")
    if runtime == AUTO:
        from zoo.bench.auto import AutoChooser

        settings.update(runtime=AutoChooser(None if precision is None else (precision,)), precision="fp32")
        return
    precision = precision or "fp32"
    if (runtime, precision) in CALIBRATED:
        usage_error(
            f"{runtime} {precision} needs calibration images, which --spark does not ship yet", "--precision"
        )
    settings.update(runtime=runtime, precision=precision)


def _summary(spark: Any, kind: str, out: str) -> dict[str, Any]:
    """What was written, read back from the Parquet (never from a second run of the job)."""
    from pyspark.sql import functions as F

    import zoo.spark as zs

    written = spark.read.parquet(out)
    if kind == "evaluate":
        return zs.accuracy(written)
    row = written.agg(F.count("*").alias("images"), F.count("error").alias("unreadable")).first()
    return row.asDict()
