"""zoo.select and `zoo select` on real photos (TrashNet) with the real pretrained MobileNet 0.25 backbone,
its weights imported into a real ZOO_HOME and used offline."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import zoo_main
from support.realdata import CLASSES, photo_paths

from zoo.bench.results import append_results, read_results, stamp
from zoo.selection.latency import KIND

MODEL = "mobilenet_v1_025_224"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Usage errors are drawn in a box as wide as the terminal; wide enough that no message is folded."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> Iterator[Path]:
    """One ZOO_HOME for the module, holding the fixture backbone's weights (as `zoo cache import` puts
    them), so features, scores and timings stored by one test are there for the next."""
    root = tmp_path_factory.mktemp("select_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(root))
        from zoo.hub.manage import import_file

        import_file(fixture_weights, MODEL, "notop")
        yield root


@pytest.fixture
def home(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZOO_HOME", str(shared_home))
    monkeypatch.setenv("ZOO_OFFLINE", "1")  # every weight file used here is already in the cache
    return shared_home


def _photo_folder(root: Path, per_class: int, classes: tuple[str, ...] = CLASSES) -> Path:
    """`per_class` real training photos of each class, as root/<class>/<file>."""
    for path in photo_paths(per_class, split="train"):
        if path.parent.name in classes:
            (root / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, root / path.parent.name / path.name)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 classes x 12 real photos."""
    return _photo_folder(tmp_path_factory.mktemp("photos") / "train", 12)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The candidates whose network zoo.select builds, in order (the real build, counted)."""
    from zoo.selection import scoring

    labels: list[str] = []
    real_build = scoring.build_candidate

    def counting_build(candidate, *args, **kwargs):  # type: ignore[no-untyped-def]
        labels.append(candidate.label)
        return real_build(candidate, *args, **kwargs)

    monkeypatch.setattr("zoo.selection.run.build_candidate", counting_build)
    return labels


def _select(photos: Path, sizes: list[int], **options):  # type: ignore[no-untyped-def]
    import zoo

    options.setdefault("folds", 3)
    return zoo.select(photos, MODEL, image_sizes=sizes, **options)


@pytest.mark.slow
def test_pretrained_features_beat_random_init_on_real_photos(home: Path, photos: Path) -> None:
    pretrained = _select(photos, [96])
    random_init = _select(photos, [96], weights="none")
    assert list(pretrained["status"]) == ["ok"] and list(random_init["status"]) == ["ok"]
    good, chance = pretrained["cv_accuracy"].iloc[0], random_init["cv_accuracy"].iloc[0]
    # measured: 0.50 against 0.18 (6 classes: chance is 0.17)
    assert good >= chance + 0.2, (good, chance)
    assert chance < 0.35
    assert 0 < pretrained["cv_std"].iloc[0] < 0.2
    assert pretrained["images"].iloc[0] == 72
    assert pretrained["ms_per_image"].iloc[0] > 0
    row = pretrained.attrs["recommended"]
    assert (row["model"], row["image_size"]) == (MODEL, 96)
    assert pretrained.attrs["verdict"].startswith(f"recommended: {MODEL} at 96 px: 50.0%")
    stored = [r for r in read_results(kind="select") if r["image_size"] == 96]
    assert len(stored) == 2  # one score per weights setting, in the results store


@pytest.mark.slow
def test_a_second_run_reuses_stored_scores_and_timings(home: Path, photos: Path) -> None:
    first = _select(photos, [96])
    before = len(read_results())
    said: list[str] = []
    second = _select(photos, [96], log=said.append)
    assert second["cv_accuracy"].iloc[0] == first["cv_accuracy"].iloc[0]
    assert second["timing"].iloc[0] == "stored"
    assert any("score stored by an earlier run" in line for line in said), said
    assert len(read_results()) == before  # nothing measured or scored again


@pytest.mark.slow
def test_timing_is_the_network_built_for_scoring_labelled_and_stored_apart(
    home: Path, photos: Path, built: list[str]
) -> None:
    """One build per candidate: the timed network is the scored one (backbone + pooling, not the ImageNet
    classifier), its row is stored under its own kind, and a `zoo benchmark` row is not taken for it."""
    from zoo.bench.machine import machine_info

    full_model = {"kind": "benchmark", "model": MODEL, "image_size": 104, "runtime": "keras",
                  "precision": "fp32", "batch_size": 1, "status": "ok", "images_per_s": 1e6}  # fmt: skip
    append_results([stamp({**full_model, "machine": machine_info()})])
    row = _select(photos, [104]).iloc[0]
    assert built == [f"{MODEL}@104"]  # one build served the timing and the features
    assert (row["status"], row["timing"], row["timed"]) == ("ok", "measured", "backbone + pooling, fp32")
    assert row["ms_per_image"] != pytest.approx(1e-3)  # not the full-model benchmark row
    (stored,) = [r for r in read_results(kind=KIND) if r["image_size"] == 104]
    assert stored["timed"] == "backbone + pooling" and stored["params"] < 300_000  # no 1000-class head
    assert row["ms_per_image"] == pytest.approx(1e3 / stored["images_per_s"])
    assert not [r for r in read_results(kind="benchmark") if r.get("timed")]  # tables never see it
    assert "(backbone + pooling, fp32; keras, batch 1)" in _select(photos, [104]).attrs["verdict"]


@pytest.mark.slow
def test_a_stored_score_and_timing_build_nothing_and_a_random_init_candidate_is_timed_too(
    home: Path, photos: Path, built: list[str]
) -> None:
    first = _select(photos, [112], weights="none").iloc[0]
    assert (first["status"], first["timing"]) == ("ok", "measured")
    assert built == [f"{MODEL}@112"]
    built.clear()
    again = _select(photos, [112], weights="none").iloc[0]
    assert built == []
    assert (again["timing"], again["cv_accuracy"]) == ("stored", first["cv_accuracy"])


@pytest.mark.slow
def test_runtime_auto_times_with_the_fastest_runtime_here_and_names_it(home: Path, photos: Path) -> None:
    from zoo.choices import RUNTIMES

    first = _select(photos, [64], runtime="auto")
    row = first.iloc[0]
    assert (row["status"], row["timing"]) == ("ok", "measured")
    assert row["runtime"] in RUNTIMES  # the runtime that ran, not "auto"
    stored = [r for r in read_results(kind=KIND) if r["runtime"] == "auto" and r["image_size"] == 64]
    # auto also times onnxruntime with spinning workers and openvino over streams; whichever won, its
    # name starts with the runtime
    variants = ("", " (spinning)", " (streams)")
    assert stored[-1]["auto_choice"] in [f"{row['runtime']} fp32{variant}" for variant in variants]
    assert stored[-1]["timed"] == "backbone + pooling"
    assert row["ms_per_image"] == pytest.approx(1e3 / stored[-1]["images_per_s"])
    again = _select(photos, [64], runtime="auto").iloc[0]
    assert (again["timing"], again["runtime"], again["ms_per_image"]) == (
        "stored", row["runtime"], row["ms_per_image"],
    )  # fmt: skip


@pytest.mark.slow
def test_an_interrupted_run_resumes_without_scoring_finished_candidates_again(
    home: Path, photos: Path
) -> None:
    def stop_at_second(done: int, total: int, label: str) -> None:
        if done == 1:
            raise KeyboardInterrupt  # what Ctrl-C raises between two candidates

    with pytest.raises(KeyboardInterrupt):
        _select(photos, [64, 80], progress=stop_at_second)
    said: list[str] = []
    frame = _select(photos, [64, 80], log=said.append)
    assert set(frame["status"]) == {"ok"}
    assert f"{MODEL}@64: score stored by an earlier run (skipped)" in said
    assert any(line.startswith(f"{MODEL}@80: computed backbone features") for line in said), said


@pytest.mark.slow
def test_the_time_budget_stops_early_and_still_reports(home: Path, photos: Path) -> None:
    frame = _select(photos, [72, 88], time_budget="0.001s", fresh=True)
    by_size = frame.set_index("image_size")
    assert by_size.loc[72, "status"] == "ok"
    assert by_size.loc[88, "status"] == "not run"
    assert "--time-budget" in by_size.loc[88, "reason"]
    assert frame.attrs["recommended"]["image_size"] == 72


@pytest.mark.slow
def test_a_candidate_without_weights_offline_gets_a_row_and_the_rest_go_on(home: Path, photos: Path) -> None:
    import zoo

    frame = zoo.select(photos, [MODEL, "mobilenet_v1_025_128"], image_sizes=[96], folds=3)
    status = dict(zip(frame["model"], frame["status"], strict=True))
    assert status == {MODEL: "ok", "mobilenet_v1_025_128": "no weights"}
    reason = frame.set_index("model").loc["mobilenet_v1_025_128", "reason"]
    assert "offline" in reason and "zoo pull mobilenet_v1_025_128" in reason


# ------------------------------------------------------------------------------------------- the CLI
@pytest.mark.slow
def test_cli_json_and_plot(
    home: Path, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "select.png"
    args = (
        "select",
        str(photos),
        MODEL,
        "--image-size",
        "96,64",
        "--folds",
        "3",
        "--json",
        "--plot",
        str(plot),
    )
    code, out, err = zoo_main(capsys, *args)
    assert code == 0, err
    report = json.loads(out)
    assert report["recommended"] == {"model": MODEL, "image_size": 96}
    rows = {row["image_size"]: row for row in report["rows"]}
    assert rows[96]["recommended"] is True and rows[64]["recommended"] is False
    assert rows[96]["cv_accuracy"] > rows[64]["cv_accuracy"]  # sorted best first, too
    assert report["rows"][0]["image_size"] == 96
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "recommended: mobilenet_v1_025_224 at 96 px" in err


@pytest.mark.slow
def test_cli_nothing_meets_the_latency_budget(
    home: Path, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("select", str(photos), MODEL, "--image-size", "96", "--folds", "3", "--max-ms-per-image", "0.001")
    code, out, err = zoo_main(capsys, *args)
    assert code == 1
    assert "too slow" in out
    assert "nothing meets --max-ms-per-image 0.001; fastest was mobilenet_v1_025_224 at 96 px at" in err
    assert "Traceback" not in err


def test_cli_one_class_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _photo_folder(tmp_path / "one", 6, classes=("glass",))
    code, _, err = zoo_main(capsys, "select", str(data), MODEL)
    assert code == 1
    assert "a classifier needs at least two classes, found only 'glass'" in err
    assert "Traceback" not in err


def test_cli_a_class_smaller_than_the_folds_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _photo_folder(tmp_path / "few", 4, classes=("glass", "metal"))
    code, _, err = zoo_main(capsys, "select", str(data), MODEL, "--folds", "5")
    assert code == 2
    assert "5-fold cross-validation needs 5 images per class; 'glass' has 4, 'metal' has 4" in err


def test_cli_a_pattern_that_matches_nothing_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _photo_folder(tmp_path / "two", 5, classes=("glass", "metal"))
    code, _, err = zoo_main(capsys, "select", str(data), "no_such_net*", "--tag", "mobile")
    assert code == 2
    assert "no registered backbone matches no_such_net* --tag mobile" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--time-budget", "soon", "not a duration"), ("--max-ms-per-image", "0", "must be positive"),
     ("--image-size", "8", "--image-size must be between 32 and 1024, got 8")],
)  # fmt: skip
def test_cli_bad_options_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    data = _photo_folder(tmp_path / "two", 5, classes=("glass", "metal"))
    code, _, err = zoo_main(capsys, "select", str(data), MODEL, option, value)
    assert code == 2
    assert message in err


@pytest.mark.slow
def test_cli_then_finetune_trains_the_winner_from_the_cached_features(
    home: Path,
    photos: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # the run directory's default place: runs/NAME-TIME
    args = ("select", str(photos), MODEL, "--image-size", "96", "--folds", "3", "--then-finetune")
    code, _, err = zoo_main(capsys, *args)
    assert code == 0, err
    assert "backbone features: cache hit (72 images)" in err  # select's features, reused by the run
    (run_dir,) = (tmp_path / "runs").iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["model"], config["image_size"]) == (MODEL, 96)
    assert json.loads((run_dir / "metrics.json").read_text())["val_accuracy"] > 1 / 6
