"""Shared fixtures: every test runs with its own ZOO_HOME, KERAS_HOME and HF_HOME (never the user's)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO

FIXTURE_NAME = "mobilenet_2_5_224_tf_no_top.h5"
FIXTURE_SHA256 = "dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf"


@pytest.fixture(autouse=True)
def isolated_homes(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every cache zoo, Keras and Hugging Face use at fresh temporary folders."""
    root = tmp_path_factory.mktemp("homes")
    for var, sub in (("ZOO_HOME", "zoo"), ("KERAS_HOME", "keras"), ("HF_HOME", "hf")):
        (root / sub).mkdir()
        monkeypatch.setenv(var, str(root / sub))
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hf" / "hub"))
    for var in ("ZOO_OFFLINE", "HF_HUB_OFFLINE", "ZOO_MIRROR", "ZOO_MIRROR_TOKEN", "ZOO_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    # the CLI's default runtime is auto, which measures every installed runtime first: tests name theirs
    # (tests/bench/test_auto.py runs the default)
    monkeypatch.setenv("ZOO_RUNTIME", "keras")
    return root


@pytest.fixture(scope="session")
def fixture_weights() -> Path:
    """The real ImageNet MobileNet (alpha 0.25, 224, no top) weight file from ../shared/fixtures.

    ZOO_FIXTURES overrides the folder. Falls back to the copy zoo ships in zoo/assets.
    """
    candidates = [
        Path(os.environ["ZOO_FIXTURES"]) / FIXTURE_NAME if os.environ.get("ZOO_FIXTURES") else None,
        REPO.parent / "shared" / "fixtures" / FIXTURE_NAME,
        REPO / "zoo" / "assets" / FIXTURE_NAME,
    ]
    for path in candidates:
        if path is not None and path.is_file():
            return path
    pytest.skip(f"{FIXTURE_NAME} not found (looked in ../shared/fixtures and zoo/assets)")


@pytest.fixture
def fast_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts and one retry, so failure tests stay quick."""
    monkeypatch.setenv("ZOO_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("ZOO_HTTP_RETRIES", "1")


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ZOO_HOME for a module's shared fixtures (conversions, runs): the per-test autouse fixture does
    not cover module-scoped ones."""
    home = tmp_path_factory.mktemp("zoo_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(home))
        yield home
