"""Image files as a Spark DataFrame of (path, content), read where they are with the binaryFile source."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from zoo.data.folders import IMAGE_EXTENSIONS
from zoo.errors import NoImages

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def suffix_glob() -> str:
    """`*.{jpg,JPG,...}`: binaryFile's pathGlobFilter for every image suffix zoo decodes."""
    suffixes = sorted(
        {s.lstrip(".") for s in IMAGE_EXTENSIONS} | {s.lstrip(".").upper() for s in IMAGE_EXTENSIONS}
    )
    return "*.{" + ",".join(suffixes) + "}"


def image_frame(spark: SparkSession, paths_or_frame: Any) -> DataFrame:
    """(path, content) rows: a DataFrame given with those columns as it is (a `path`-only one is read
    with binaryFile), else files and folders (searched recursively) as binaryFile reads them. Raises
    NoImages when nothing matches."""
    from pyspark.sql import DataFrame

    if isinstance(paths_or_frame, DataFrame):
        if "content" in paths_or_frame.columns:
            return paths_or_frame.select("path", "content")
        paths = [row["path"] for row in paths_or_frame.select("path").distinct().collect()]
    elif isinstance(paths_or_frame, (str, os.PathLike)):
        paths = [os.fspath(paths_or_frame)]
    else:
        paths = [os.fspath(p) for p in paths_or_frame]
    frame = _read(spark, paths)
    if frame.limit(1).count() == 0:
        raise NoImages(
            f"no image files in {', '.join(paths)}",
            hint="image suffixes: " + ", ".join(sorted(IMAGE_EXTENSIONS)),
        )
    return frame


def _read(spark: SparkSession, paths: Iterable[str]) -> DataFrame:
    from pyspark.errors import AnalysisException

    paths = list(dict.fromkeys(paths))
    reader = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    try:
        frame = reader.option("pathGlobFilter", suffix_glob()).load(paths)
    except AnalysisException as exc:  # e.g. PATH_NOT_FOUND
        raise NoImages(f"cannot read {', '.join(paths)}: {str(exc).splitlines()[0]}") from None
    frame = frame.select("path", "content")
    return frame.dropDuplicates(["path"]) if len(paths) > 1 else frame
