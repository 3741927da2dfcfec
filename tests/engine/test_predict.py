"""zoo.predict / zoo.embed and the `zoo predict` / `zoo embed` commands, on real models and real files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from support.cli import WIDE, run_zoo, zoo_main
from support.models import colour_classifier
from support.registry import fixture_entry, write_models

from zoo.data.decode import ResizePolicy, decode_batch
from zoo.engine._predict import embed, load_embeddings, predict
from zoo.engine.bundle import save_bundle
from zoo.engine.labels import imagenet_labels, imagenet_wnids, wnid_to_index
from zoo.errors import BadImage, InvalidSetting, RuntimeUnavailable

NAME = "test_mobilenet_predict"
TABBY, GOLDEN = 281, 207


@pytest.fixture
def user_registry(tmp_path, monkeypatch, fixture_weights) -> None:
    path = write_models(
        tmp_path / "user.yaml", {NAME: fixture_entry(fixture_weights, interpolation="bicubic")}
    )
    monkeypatch.setenv("ZOO_REGISTRY", str(path))


@pytest.fixture(scope="module")
def classifier_weights(tmp_path_factory, fixture_weights) -> Path:
    """A full 1000-class MobileNet 0.25 weight file: the pretrained fixture backbone, and a classifier
    biased towards "tabby" then "golden retriever" so the ranking is known and not a tie."""
    model = keras.applications.MobileNet(alpha=0.25, weights=None, include_top=True)
    backbone = keras.applications.MobileNet(alpha=0.25, weights=str(fixture_weights), include_top=False)
    for layer in backbone.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    kernel, bias = model.get_layer("conv_preds").get_weights()
    bias[TABBY], bias[GOLDEN] = 6.0, 5.0
    model.get_layer("conv_preds").set_weights([kernel * 0.1, bias])
    path = tmp_path_factory.mktemp("weights") / "mobilenet_top.weights.h5"
    model.save_weights(path)
    return path


def photo(path: Path, seed: int, size=(150, 200)) -> Path:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, 1, 3)) * np.ones((*size, 1))
    pixels = np.clip(base + rng.normal(0, 40, (*size, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def mixed_files(tmp_path) -> list[Path]:
    """good, text-as-.jpg, good, zero-byte, good: in that order."""
    folder = tmp_path / "images"
    folder.mkdir()
    text = folder / "notes.jpg"
    text.write_text("not a picture")
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    return [photo(folder / "a.png", 1), text, photo(folder / "b.png", 2), empty, photo(folder / "c.png", 3)]


# ------------------------------------------------------------------------------------------- labels
def test_shipped_imagenet_labels():
    labels, wnids = imagenet_labels(), imagenet_wnids()
    assert len(labels) == len(wnids) == len(set(wnids)) == 1000
    assert labels[0] == "tench" and labels[TABBY] == "tabby" and labels[999] == "toilet_tissue"
    assert wnids == sorted(wnids)  # ILSVRC order: output index = rank of the WordNet id
    assert wnid_to_index()["n01440764"] == 0 and wnid_to_index()[wnids[TABBY]] == TABBY


# ------------------------------------------------------------------------------------------ predict
@pytest.mark.slow
def test_cli_predict_answers_good_files_and_reports_bad_ones(
    user_registry, classifier_weights, mixed_files, capsys
):
    args = ["predict", NAME, *map(str, mixed_files), "--weights", str(classifier_weights), "--top", "3"]
    code, out, err = zoo_main(capsys, *args, "--json")
    assert code == 1, err
    answers = json.loads(out)
    assert [a["path"] for a in answers] == [str(p) for p in mixed_files]
    assert [a["error"] for a in answers] == [
        None,
        "not an image (format not recognised)",
        None,
        "empty file (0 bytes)",
        None,
    ]
    assert f"Error: {mixed_files[1]}: not an image (format not recognised)" in err
    assert "Traceback" not in err

    # The same numbers straight from Keras: the model's own softmax on preprocess_input images.
    good = [mixed_files[i] for i in (0, 2, 4)]
    images = decode_batch(good, ResizePolicy(224, "bicubic", 0.875)).images
    reference = keras.applications.MobileNet(alpha=0.25, weights=str(classifier_weights))
    expected = keras.ops.convert_to_numpy(
        reference(keras.applications.mobilenet.preprocess_input(images.astype("float32")))
    )
    for answer, row in zip([answers[i] for i in (0, 2, 4)], expected, strict=True):
        assert [t["label"] for t in answer["top"][:2]] == ["tabby", "golden_retriever"]
        assert [t["index"] for t in answer["top"]] == list(np.argsort(-row)[:3])
        np.testing.assert_allclose(
            [t["probability"] for t in answer["top"]], np.sort(row)[::-1][:3], atol=1e-5
        )

    code, out, _ = zoo_main(capsys, *args)
    lines = out.splitlines()
    assert code == 1 and len(lines) == 3 * 4  # a path line and three classes for each good file
    assert lines[0] == str(mixed_files[0]) and lines[1].endswith("tabby (281)")


def test_cli_missing_path_is_a_usage_error_before_any_work(tmp_path):
    # wide, so rich's error box does not fold a long temporary path (as under pytest-xdist)
    result = run_zoo("predict", "no_such_model", str(tmp_path / "missing.jpg"), env=WIDE, timeout=60)
    assert result.returncode == 2
    assert "no such file or folder" in result.stderr and "missing.jpg" in result.stderr
    assert "Traceback" not in result.stderr


def tiny_logits_model(num_classes: int = 3, size: int = 16) -> keras.Model:
    return colour_classifier(np.eye(3, num_classes, dtype="float32") * 4, size)


def test_predict_run_directory_uses_its_labels_and_softmax(tmp_path, capsys):
    run = save_bundle(tmp_path / "run", tiny_logits_model(), ["red", "green", "blue"], {"image_size": 16})
    files = []
    for name, colour in [("r.png", (250, 10, 10)), ("b.png", (10, 10, 250))]:
        files.append(tmp_path / name)
        Image.new("RGB", (20, 20), colour).save(files[-1])
    answers = predict(run, files, top=3)
    assert [a.top[0].label for a in answers] == ["red", "blue"]
    logits = np.array([250, 10, 10]) / 255 * 4
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(
        [t.probability for t in answers[0].top], sorted(expected, reverse=True), atol=1e-5
    )
    code, out, err = zoo_main(capsys, "predict", "--model", str(run), str(files[1]), "--top", "1")
    assert code == 0, err
    assert out.splitlines()[1].endswith("blue (2)")


def test_registered_run_directory_predicts_and_embeds_by_name(tmp_path):
    from zoo.transfer import register

    config = {"model": "mobilenet_v1_025_224", "image_size": 32}
    run = save_bundle(tmp_path / "run", tiny_logits_model(size=32), ["red", "green", "blue"], config)
    register(run, "colours")
    image = tmp_path / "g.png"
    Image.new("RGB", (40, 40), (0, 200, 0)).save(image)
    assert predict("colours", [image])[0].top[0].label == "green"
    features = embed("colours", [image]).features  # the pooled input of the "logits" head
    np.testing.assert_allclose(features, [[0, 200 / 255, 0]], atol=1e-4)  # resampling rounds a little


@pytest.mark.slow
def test_predict_on_litert_agrees_with_keras(tmp_path):
    run = save_bundle(tmp_path / "run", tiny_logits_model(), ["red", "green", "blue"], {"image_size": 16})
    files = [photo(tmp_path / f"{i}.png", i, size=(16, 16)) for i in range(3)]
    on_keras, on_litert = predict(run, files, top=3), predict(run, files, top=3, runtime="litert")
    for k, lite in zip(on_keras, on_litert, strict=True):
        assert [t.label for t in lite.top] == [t.label for t in k.top]
        np.testing.assert_allclose(
            [t.probability for t in lite.top], [t.probability for t in k.top], atol=1e-5
        )


def test_cli_refuses_impossible_runtime_choices_as_usage_errors(tmp_path, capsys):
    image = photo(tmp_path / "a.png", 0)
    code, _, err = zoo_main(
        capsys, "predict", "anything", str(image), "--runtime", "keras", "--precision", "int8"
    )
    assert code == 2 and "the keras runtime has no int8 precision" in err


def test_unsafe_run_directory_is_refused(tmp_path, capsys):
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Dense(2)(keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=(1, 2)))(inputs))
    run = save_bundle(tmp_path / "run", keras.Model(inputs, outputs), ["a", "b"], {})
    image = tmp_path / "x.png"
    Image.new("RGB", (16, 16)).save(image)
    code, _, err = zoo_main(capsys, "predict", "--model", str(run), str(image))
    assert code == 1
    assert "needs unsafe deserialization" in err and "Traceback" not in err


def test_predict_api_policies_and_errors(tmp_path, mixed_files):
    model = tiny_logits_model()
    calls = []
    answers = predict(
        model, mixed_files, top=2, labels=["x", "y", "z"], batch_size=2, progress=lambda *a: calls.append(a)
    )
    assert [a.ok for a in answers] == [True, False, True, False, True]
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert all(len(a.top) == 2 for a in answers if a.ok)
    with pytest.raises(BadImage) as info:
        predict(model, mixed_files, on_bad_image="fail")
    assert info.value.path == mixed_files[1]
    with pytest.raises(InvalidSetting, match="the model has 3 outputs but 2 labels were given"):
        predict(model, mixed_files[:1], labels=["x", "y"])
    with pytest.raises(RuntimeUnavailable, match="unknown runtime 'onnx'"):
        predict(model, mixed_files[:1], runtime="onnx")
    assert predict(model, mixed_files[:1])[0].top[0].label.startswith("class_")


# -------------------------------------------------------------------------------------------- embed
@pytest.mark.slow
def test_embed_matches_the_feature_model_and_round_trips(
    user_registry, fixture_weights, mixed_files, tmp_path, capsys
):
    from zoo.engine.build import load

    folder = mixed_files[0].parent
    features = embed(NAME, [folder], weights=fixture_weights, input_size=96, batch_size=2)
    good = sorted(p for p in mixed_files if p.suffix == ".png" and p.stat().st_size)
    assert features.paths == good
    assert sorted(features.skipped) == sorted(
        [(mixed_files[1], "not an image (format not recognised)"), (mixed_files[3], "empty file (0 bytes)")]
    )
    model = load(NAME, weights=fixture_weights, include_top=False, input_shape=96)
    images = decode_batch(good, ResizePolicy(96, "bicubic", 0.875)).images
    # graph batches of 2 vs one eager batch of 3: same math, float32 summation order differs
    np.testing.assert_allclose(
        features.features, keras.ops.convert_to_numpy(model(images)), rtol=1e-4, atol=1e-4
    )
    assert features.features.shape == (3, 256)

    out = tmp_path / "out" / "features.npy"
    code, stdout, err = zoo_main(
        capsys,
        "embed",
        NAME,
        str(folder),
        "--out",
        str(out),
        "--weights",
        str(fixture_weights),
        "--size",
        "96",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["images"], summary["dimensions"], summary["skipped"]) == (3, 256, 2)
    saved = load_embeddings(out)
    assert saved.paths == good
    np.testing.assert_allclose(saved.features, features.features, atol=1e-6)
    assert f"Skipped: {mixed_files[1]}" in err


def test_embed_output_format_is_checked_first(tmp_path, mixed_files, capsys):
    code, _, err = zoo_main(
        capsys, "embed", "anything", str(mixed_files[0]), "--out", str(tmp_path / "f.csv")
    )
    assert code == 2 and "--out must end in .npy or .parquet" in err


def test_parquet_without_pyarrow_is_a_clear_error_before_any_work(tmp_path, mixed_files, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` fails as on a machine without it
    out = tmp_path / "f.parquet"
    code, _, err = zoo_main(capsys, "embed", "anything", str(mixed_files[0]), "--out", str(out))
    assert code == 1  # refused before the (unknown) model name is even looked up
    assert "needs the pyarrow package" in err and "pip install pyarrow" in err
    assert not out.exists()


def test_parquet_output_holds_the_same_rows_as_npy(
    tmp_path, mixed_files, capsys, user_registry, fixture_weights
):
    folder = mixed_files[0].parent
    common = ("embed", NAME, str(folder), "--weights", str(fixture_weights), "--size", "96")
    for suffix in (".npy", ".parquet"):
        code, _, err = zoo_main(capsys, *common, "--out", str(tmp_path / f"f{suffix}"))
        assert code == 0, err
    as_npy, as_parquet = load_embeddings(tmp_path / "f.npy"), load_embeddings(tmp_path / "f.parquet")
    assert as_parquet.paths == as_npy.paths and len(as_npy.paths) == 3
    np.testing.assert_allclose(as_parquet.features, as_npy.features, atol=1e-6)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        code, _, err = zoo_main(
            capsys, "embed", "anything", str(mixed_files[0]), "--out", str(tmp_path / "f.parquet")
        )
        assert code == 1
        assert "needs the pyarrow package" in err and "pip install pyarrow" in err
