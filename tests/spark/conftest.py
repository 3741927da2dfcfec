"""One real Spark cluster on 127.0.0.1 for the whole session (a start costs about a minute):
`local-cluster[2,1,1024]` (a master, two executor JVMs, each with its own Python worker running this venv's
interpreter). The executors get this session's ZOO_HOME/KERAS_HOME, where the real pretrained fixture
backbone was imported through zoo's hub; they pull (and verify) it from there themselves. Skips, with the
reason, without Java or pyspark."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.realdata import CLASSIFIER_FILE, photo_paths, shared_file

MASTER = "local-cluster[2,1,1024]"
EMBED_MODEL = "mobilenet_v1_025_224"  # the registry entry whose notop file is the fixture (pinned sha256)
CLASSIFIER = "mobilenet_v1_025_128"  # its top file is the real ImageNet classifier fixture


@pytest.fixture(scope="session")
def spark_home(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("spark_home")
    with pytest.MonkeyPatch.context() as patch:
        for var in ("ZOO_HOME", "KERAS_HOME"):
            (home / var).mkdir()
            patch.setenv(var, str(home / var))
        patch.setenv("ZOO_OFFLINE", "1")  # executors must find everything in the cache: no network
        from zoo.hub.manage import import_file

        import_file(fixture_weights, EMBED_MODEL, "notop")
        import_file(shared_file("fixtures", "ZOO_FIXTURES", CLASSIFIER_FILE), CLASSIFIER, "top")
        yield home


@pytest.fixture(scope="session")
def spark(spark_home: Path) -> Iterator[object]:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)")
    pytest.importorskip("pyspark", reason="pip install zoo-hub[spark]")
    import zoo.spark as zs

    session = zs.session(
        MASTER,
        app_name="zoo-tests",
        config={
            "spark.task.maxFailures": "4",  # a killed Python worker's task is retried
            "spark.sql.execution.arrow.maxRecordsPerBatch": "4",  # several batches per task
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], dict[str, str]]:
    """Twelve real photos in class folders, three bad files (with the reason each must get) and a
    non-image file that must not be read at all."""
    root = tmp_path_factory.mktemp("images")
    good = []
    for photo in photo_paths(2):
        target = root / photo.parent.name / photo.name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(photo, target)
        good.append(target)
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")  # Spark's file scans skip zero-byte files: never a row
    (bad / "text.jpg").write_text("not an image\n")
    (bad / "cut.jpg").write_bytes(good[0].read_bytes()[:600])
    (bad / "notes.txt").write_text("ignored: not an image suffix\n")
    reasons = {
        "text.jpg": "not an image (format not recognised)",
        "cut.jpg": "truncated or corrupt image data",
    }
    return root, good, reasons
