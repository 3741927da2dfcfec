"""zoo.spark on a real two-executor cluster: same numbers as single-process zoo embed, one row per image,
bad images as rows with reasons, and exactly one row per image after a Python worker is killed mid-job."""

from __future__ import annotations

import os

import numpy as np
import pytest
from spark.conftest import CLASSIFIER, EMBED_MODEL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SIZE = 96


def by_path(rows) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {row["path"].removeprefix("file:"): row for row in rows}


def test_embed_equals_single_process_and_bad_images_are_rows(spark, spark_home, image_dir, monkeypatch):
    import zoo.spark as zs
    from zoo.engine import embed

    root, good, reasons = image_dir
    rows = by_path(zs.embed(spark, root, EMBED_MODEL, input_size=SIZE, batch_size=5).collect())
    assert sorted(rows) == sorted([str(p) for p in good] + [str(root / "bad" / name) for name in reasons])
    assert str(root / "bad" / "empty.jpg") not in rows  # Spark's file scans skip zero-byte files

    monkeypatch.setenv("ZOO_HOME", str(spark_home / "ZOO_HOME"))  # the driver's own single-process run
    monkeypatch.setenv("KERAS_HOME", str(spark_home / "KERAS_HOME"))
    single = embed(EMBED_MODEL, root, input_size=SIZE)
    assert sorted(str(p) for p in single.paths) == sorted(str(p) for p in good)
    for path, features in zip(single.paths, single.features, strict=True):
        row = rows[str(path)]
        assert row["error"] is None
        np.testing.assert_allclose(np.array(row["embedding"], np.float32), features, rtol=0, atol=1e-6)
        assert row["model"] == EMBED_MODEL
        assert row["weights_sha256"] == "dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf"
    features = np.array([rows[str(p)]["embedding"] for p in good])
    assert np.linalg.matrix_rank(features) == len(good)  # real photos give really different features
    for name, reason in reasons.items():
        row = rows[str(root / "bad" / name)]
        assert row["embedding"] is None and row["error"].startswith(reason), row["error"]


def _kill_once(marker: str):  # type: ignore[no-untyped-def]
    """mapInPandas: the first Python worker to reach its second batch dies (os._exit), once, mid-task."""

    def run(frames):  # type: ignore[no-untyped-def]
        for index, frame in enumerate(frames):
            if index == 1:
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    pass
                else:
                    os._exit(1)
            yield frame

    return run


def test_killed_python_worker_still_leaves_one_row_per_image(spark, image_dir, tmp_path):
    import zoo.spark as zs

    root, good, reasons = image_dir
    marker = tmp_path / "killed"
    images = zs.image_frame(spark, root)
    flaky = images.mapInPandas(_kill_once(str(marker)), images.schema)
    out = tmp_path / "features.parquet"
    zs.write(zs.embed(spark, flaky, EMBED_MODEL, input_size=SIZE), out)

    assert marker.exists()  # a worker really died mid-job
    # written by Spark's committer: the job committed (_SUCCESS) and no attempt's files were left over
    assert (out / "_SUCCESS").is_file() and not (out / "_temporary").exists()
    written = spark.read.parquet(str(out)).collect()
    paths = [row["path"] for row in written]
    assert len(paths) == len(set(paths)) == len(good) + len(reasons)
    assert sum(row["error"] is None for row in written) == len(good)


def test_existing_output_is_refused_unless_overwrite(spark, image_dir, tmp_path):
    import zoo.spark as zs
    from zoo.errors import OutputExists

    root, good, _ = image_dir
    out = tmp_path / "out.parquet"
    frame = zs.embed(spark, [good[0], good[1]], EMBED_MODEL, input_size=SIZE)
    zs.write(frame, out)
    with pytest.raises(OutputExists, match="already exists"):
        zs.write(frame, out)
    zs.write(zs.embed(spark, [good[2]], EMBED_MODEL, input_size=SIZE), out, overwrite=True)
    assert [r["path"] for r in spark.read.parquet(str(out)).collect()] == [f"file:{good[2]}"]


def test_paths_without_images_are_a_usage_error(spark, image_dir, tmp_path):
    import zoo.spark as zs
    from zoo.errors import NoImages

    root, _, _ = image_dir
    (tmp_path / "empty").mkdir()
    for where in (tmp_path / "empty", root / "bad" / "notes.txt", tmp_path / "missing"):
        with pytest.raises(NoImages) as caught:
            zs.embed(spark, where, EMBED_MODEL)
        assert caught.value.exit_code == 2


def test_cli_embed_spark_writes_parquet(spark, image_dir, tmp_path, capsys):
    import json

    from support.cli import zoo_main

    root, good, reasons = image_dir
    out = tmp_path / "cli.parquet"
    args = ("embed", EMBED_MODEL, str(root), "--size", str(SIZE), "--out", str(out), "--json", "--spark")
    code, stdout, err = zoo_main(capsys, *args)
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["images"], summary["unreadable"]) == (len(good) + len(reasons), len(reasons))
    assert spark.read.parquet(str(out)).count() == len(good) + len(reasons)
    code, _, err = zoo_main(capsys, *args)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert zoo_main(capsys, *args, "--overwrite")[0] == 0


def test_predict_and_evaluate_equal_single_process(spark, spark_home, image_dir, monkeypatch):
    import zoo.spark as zs
    from zoo.engine import predict

    root, good, reasons = image_dir
    frame = zs.evaluate(spark, root, CLASSIFIER, top=3)
    rows = by_path(frame.collect())
    monkeypatch.setenv("ZOO_HOME", str(spark_home / "ZOO_HOME"))
    monkeypatch.setenv("KERAS_HOME", str(spark_home / "KERAS_HOME"))
    for single in predict(CLASSIFIER, good, top=3):
        row = rows[str(single.path)]
        assert row["indices"] == [t.index for t in single.top]
        assert row["labels"] == [t.label for t in single.top]
        np.testing.assert_allclose(row["probabilities"], [t.probability for t in single.top], atol=1e-6)
        assert row["label"] == single.path.parent.name
        assert row["top1"] is False and row["error"] is None  # TrashNet's classes are not ImageNet's
    assert len({tuple(rows[str(p)]["indices"]) for p in good}) > 1  # real photos, different answers
    summary = zs.accuracy(frame)
    expected = (len(good) + len(reasons), len(reasons), 0.0)
    assert (summary["images"], summary["unreadable"], summary["top1"]) == expected


def test_auto_measures_on_the_executors_and_their_choice_is_cached_there(spark, spark_home, image_dir):
    import zoo.spark as zs
    from zoo.bench.auto import AutoChooser

    root, good, _ = image_dir
    decisions = spark_home / "ZOO_HOME" / "auto"
    before = set(decisions.glob("*.json")) if decisions.exists() else set()
    chooser = AutoChooser(("fp32",))
    frame = zs.embed(spark, root, EMBED_MODEL, input_size=SIZE, runtime=chooser, batch_size=4)
    rows = by_path(frame.collect())
    keras_rows = by_path(zs.embed(spark, root, EMBED_MODEL, input_size=SIZE, batch_size=4).collect())
    made = set(decisions.glob("*.json")) - before  # written by the executors, through their ZOO_HOME
    assert [path for path in made if not path.name.startswith(("gate-", "peaks"))], made
    for path in good:
        auto, keras = rows[str(path)], keras_rows[str(path)]
        assert auto["error"] is None
        np.testing.assert_allclose(auto["embedding"], keras["embedding"], rtol=0, atol=2e-4)
    with pytest.raises(Exception, match="needs a chooser"):
        zs.embed(spark, root, EMBED_MODEL, runtime="auto")
