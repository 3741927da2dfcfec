"""Evaluation on data whose answers are known by construction, and the class-name / WordNet-id mapping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.cli import invoke
from support.models import colour_classifier
from support.realdata import CLASSIFIER_FILE, TRASHNET, shared_file

from zoo.bench.evaluate import interleaved_subset, map_classes, top_k_hits
from zoo.data.folders import LabelledImages
from zoo.engine.labels import imagenet_labels, imagenet_wnids
from zoo.errors import BadDataset

# Scores the colour model gives each solid colour, per output class (labels.json order).
LABELS = ["zebra", "Apple Pie", "cat", "dog", "eel", "fox"]
SCORES = {
    "red": [6, 5, 4, 3, 2, 1],
    "green": [1, 2, 3, 4, 5, 6],
    "blue": [3, 6, 1, 2, 4, 5],
}
RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
# (folder, colour): the true class and the image shown. Rank of the folder's class in SCORES[colour]:
# zebra/red 1st, cat/red 3rd, fox/green 1st, zebra/green 6th, apple_pie/blue 1st, cat/blue 6th... see below
IMAGES = [
    ("zebra", "red"),  # rank 1: top-1 and top-5
    ("cat", "red"),  # rank 3: top-5 only
    ("zebra", "green"),  # rank 6: neither
    ("apple_pie", "blue"),  # rank 1: both
    ("DOG", "blue"),  # scores 2 -> rank 5: top-5 only
    ("eel", "green"),  # scores 5 -> rank 2: top-5 only
]
TOP1, TOP5 = 2 / 6, 5 / 6


def colour_model():
    """Raw RGB in -> mean colour / 255 -> a fixed linear map to the six class scores."""
    return colour_classifier([SCORES["red"], SCORES["green"], SCORES["blue"]], size=8)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    from zoo.engine.bundle import save_bundle

    return save_bundle(tmp_path / "run", colour_model(), LABELS, {"image_size": 8})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for i, (folder, colour) in enumerate(IMAGES):
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 10), RGB[colour]).save(root / folder / f"{i}.png")
    return root


@pytest.mark.slow
def test_evaluate_a_run_directory_gives_the_constructed_accuracy(run_dir: Path, data_dir: Path) -> None:
    from zoo.bench import evaluate
    from zoo.bench.results import read_results

    (data_dir / "fox" / "broken.png").parent.mkdir()
    (data_dir / "fox" / "broken.png").write_bytes(b"not an image")
    frame = evaluate(str(run_dir), data_dir, batch_size=4)
    row = frame.iloc[0]
    assert row["top1"] == pytest.approx(TOP1) and row["top5"] == pytest.approx(TOP5)
    assert (row["images"], row["skipped"], row["classes"]) == (6, 1, 6)
    (record,) = read_results(kind="evaluate")
    assert record["top1"] == pytest.approx(TOP1) and record["runtime"] == "keras"
    assert len(record["weights_sha256"]) == 64 and len(record["dataset_fingerprint"]) == 16
    assert record["skipped_files"][0][0].endswith("broken.png")

    # the CLI on the same data, with --limit spreading over classes
    result = invoke("evaluate", str(run_dir), str(data_dir), "--json", "--limit", "3")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    # one image of each of the first three classes (DOG, apple_pie, cat): rank 5, rank 1, rank 3
    assert payload["images"] == 3
    assert (payload["top1"], payload["top5"]) == (pytest.approx(1 / 3), pytest.approx(1.0))
    assert len(read_results(kind="evaluate")) == 2


def test_folders_map_by_name_ignoring_case_and_separators() -> None:
    assert map_classes(["apple_pie", "DOG", "zebra"], LABELS) == [1, 3, 0]
    with pytest.raises(BadDataset, match="'llama'"):
        map_classes(["cat", "llama"], LABELS)


def test_imagenet_folders_map_by_wordnet_id_or_class_name() -> None:
    labels, wnids = imagenet_labels(), imagenet_wnids()
    assert len(labels) == len(wnids) == 1000
    assert map_classes(["n01440764", "n01443537", "great white shark"], labels, wnids) == [0, 1, 2]
    assert map_classes(["n04589890"], labels, wnids) == [wnids.index("n04589890")]
    # "crane" is two ImageNet classes (the bird and the machine): only the WordNet id says which
    with pytest.raises(BadDataset, match="several"):
        map_classes(["crane"], labels, wnids)
    assert labels[map_classes(["n02012849"], labels, wnids)[0]] == "crane"


def test_top_k_hits_counts_exactly() -> None:
    scores = np.array([SCORES[c] for _, c in IMAGES], dtype=np.float32)
    truth = np.array([map_classes([f], LABELS)[0] for f, _ in IMAGES])
    assert top_k_hits(scores, truth) == (2, 5)
    assert top_k_hits(scores, truth, k=1) == (2, 2)


def test_limit_takes_images_from_every_class_in_turn() -> None:
    data = LabelledImages(
        tuple(Path(f"{c}{i}.png") for c in "ab" for i in range(4)), (0, 0, 0, 0, 1, 1, 1, 1), ("a", "b")
    )
    picked = interleaved_subset(data, 3)
    assert [p.name for p in picked.paths] == ["a0.png", "a1.png", "b0.png"]
    assert interleaved_subset(data, None) is data


def test_evaluate_a_model_object_with_its_labels(data_dir: Path) -> None:
    from zoo.bench import evaluate

    frame = evaluate(colour_model(), data_dir, labels=LABELS, record=False)
    assert (frame.loc[0, "top1"], frame.loc[0, "top5"]) == (pytest.approx(TOP1), pytest.approx(TOP5))
    with pytest.raises(ValueError, match="6 outputs but 2 labels"):
        evaluate(colour_model(), data_dir, labels=["a", "b"])


CLASSIFIER_SHA256 = "fe295db7f78635f1403127e3ba8cdc6237f83262bdb745063a67c1d81190c7f8"
# Real photos, and the rank (1 = the model's first choice) of the class each one's folder names:
# two top-1 hits, two top-5-only hits (ranks 2 and 5), two misses (rank 6, just outside, and the last).
PHOTOS = {
    "glass/glass116.jpg": 1,
    "plastic/plastic329.jpg": 1,
    "paper/paper106.jpg": 2,
    "cardboard/cardboard314.jpg": 5,
    "trash/trash1.jpg": 6,
    "metal/metal102.jpg": 1000,
}


def plain_keras_ranking(weights: Path, photos: list[Path]) -> np.ndarray:
    """Independently of zoo's model building: keras.applications.MobileNet + its preprocess_input on the
    decoded pixels; each row the 1000 probabilities of one photo."""
    import keras

    from zoo import registry
    from zoo.data.decode import ResizePolicy, decode_batch

    pixels = decode_batch(photos, ResizePolicy.from_spec(registry.get("mobilenet_v1_025_128"))).images
    model = keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3), weights=str(weights))
    inputs = keras.applications.mobilenet.preprocess_input(pixels.astype(np.float32))
    return np.asarray(model.predict(inputs, verbose=0))


@pytest.mark.slow
def test_imagenet_validation_layout_through_a_registry_model(tmp_path: Path) -> None:
    from zoo.bench import evaluate
    from zoo.hub.manage import import_file

    classifier = shared_file("fixtures", "ZOO_FIXTURES", CLASSIFIER_FILE)
    photos = [shared_file("data", "ZOO_DATA", TRASHNET) / "val" / p for p in PHOTOS]
    probabilities = plain_keras_ranking(classifier, photos)
    wnids = imagenet_wnids()
    root = tmp_path / "val"
    for k, (photo, rank, row) in enumerate(zip(photos, PHOTOS.values(), probabilities, strict=True)):
        order = np.argsort(-row)
        ranked = row[order]
        # the target's side of the top-1 and top-5 boundaries must not hang on float round-off
        boundary = {1: 0, 2: 0, 5: 4, 6: 4}.get(rank)
        assert boundary is None or ranked[boundary] - ranked[boundary + 1] > 5e-4, photo
        folder = root / wnids[order[rank - 1]]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"ILSVRC_{k}.JPEG").write_bytes(photo.read_bytes())

    import_file(classifier, "mobilenet_v1_025_128", "top")
    frame = evaluate("mobilenet_v1_025_128", root, batch_size=4)
    row = frame.iloc[0]
    assert (row["model"], row["images"], row["image_size"]) == ("mobilenet_v1_025_128", 6, 128)
    assert row["top1"] == pytest.approx(2 / 6) and row["top5"] == pytest.approx(4 / 6)
    assert row["weights"] == "imagenet" and row["weights_sha256"] == CLASSIFIER_SHA256


def test_unknown_imagenet_folders_fail_before_any_weights_are_fetched(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.bench import evaluate

    monkeypatch.setenv("ZOO_OFFLINE", "1")  # fetching weights would raise OfflineError instead
    with pytest.raises(BadDataset, match="'DOG', 'apple_pie', 'cat'"):
        evaluate("mobilenet_v1_025_128", data_dir)
