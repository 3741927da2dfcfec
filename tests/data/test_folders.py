"""Class folders, CSVs, splits and the data errors that must stop a run before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.data.folders import (
    IMAGE_EXTENSIONS,
    LabelledImages,
    align_classes,
    class_weights,
    list_images,
    load_labelled,
    read_csv,
    scan_folders,
    stratified_split,
)
from zoo.errors import BadDataset


def make_tree(root: Path, layout: dict[str, int]) -> Path:
    for name, count in layout.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            (root / name / f"{i:02d}.jpg").write_bytes(b"not decoded here")
    return root


def test_scan_folders_sorts_classes_and_ignores_non_images(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", {"dog": 3, "cat": 2})
    (root / "cat" / "notes.txt").write_text("ignored")
    (root / "cat" / ".hidden.jpg").write_bytes(b"ignored")
    (root / "dog" / "nested").mkdir()
    (root / "dog" / "nested" / "deep.PNG").write_bytes(b"x")
    data = scan_folders(root)
    assert data.classes == ("cat", "dog")
    assert data.counts() == {"cat": 2, "dog": 4}
    assert data.labels == (0, 0, 1, 1, 1, 1)
    assert root / "dog" / "nested" / "deep.PNG" in data.paths


def test_single_class_is_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", {"only": 3})
    with pytest.raises(BadDataset, match="at least two classes, found only 'only'"):
        scan_folders(root)


def test_empty_class_is_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", {"a": 2, "b": 2, "empty": 0})
    (root / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(BadDataset, match="class 'empty' has no images"):
        scan_folders(root)


def test_folder_without_classes_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.jpg").write_bytes(b"x")
    with pytest.raises(BadDataset, match="no class folders"):
        scan_folders(tmp_path / "flat")
    with pytest.raises(BadDataset, match="not a folder"):
        scan_folders(tmp_path / "missing")


def test_csv_resolves_relative_paths_against_its_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    csv_path = tmp_path / "sub" / "labels.csv"
    absolute = tmp_path / "abs.jpg"
    csv_path.write_text(f"path,label\nimg/a.jpg,cat\nimg/b.jpg,dog\n{absolute},dog\n\n")
    data = read_csv(csv_path)
    assert data.classes == ("cat", "dog")
    assert data.paths == (tmp_path / "sub" / "img" / "a.jpg", tmp_path / "sub" / "img" / "b.jpg", absolute)
    assert data.labels == (0, 1, 1)
    assert load_labelled(csv_path) == data


def test_csv_errors(tmp_path: Path) -> None:
    bad_row = tmp_path / "bad.csv"
    bad_row.write_text("a.jpg,cat\nb.jpg\n")
    with pytest.raises(BadDataset, match="row 2 must be `path,label`"):
        read_csv(bad_row)
    one_class = tmp_path / "one.csv"
    one_class.write_text("a.jpg,cat\nb.jpg,cat\n")
    with pytest.raises(BadDataset, match="at least two classes"):
        read_csv(one_class)
    with pytest.raises(BadDataset, match="cannot read"):
        read_csv(tmp_path / "missing.csv")


def test_val_classes_missing_from_train_are_refused(tmp_path: Path) -> None:
    train = scan_folders(make_tree(tmp_path / "train", {"a": 2, "b": 2}))
    val = scan_folders(make_tree(tmp_path / "val", {"b": 1, "c": 1}))
    with pytest.raises(BadDataset, match="classes the training set lacks: c"):
        align_classes(train, val)


def test_align_classes_reindexes_a_val_set_with_fewer_classes(tmp_path: Path) -> None:
    train = scan_folders(make_tree(tmp_path / "train", {"a": 2, "b": 2, "c": 2}))
    val = scan_folders(make_tree(tmp_path / "val", {"b": 1, "c": 2}))
    aligned = align_classes(train, val)
    assert aligned.classes == ("a", "b", "c")
    assert aligned.labels == (1, 2, 2)


def test_stratified_split_is_fixed_by_seed_and_keeps_every_class(tmp_path: Path) -> None:
    data = scan_folders(make_tree(tmp_path / "data", {"a": 10, "b": 5, "c": 2}))
    train, val = stratified_split(data, 0.2, seed=3)
    assert val.counts() == {"a": 2, "b": 1, "c": 1}
    assert train.counts() == {"a": 8, "b": 4, "c": 1}
    assert set(train.paths).isdisjoint(val.paths)
    assert set(train.paths) | set(val.paths) == set(data.paths)
    again_train, again_val = stratified_split(data, 0.2, seed=3)
    assert (again_train, again_val) == (train, val)
    other_train, _ = stratified_split(data, 0.2, seed=4)
    assert other_train.paths != train.paths
    with pytest.raises(ValueError):
        stratified_split(data, 1.5)


def test_list_images_file_or_folder(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "d", {"x": 2})
    assert list_images(root / "x" / "00.jpg") == [root / "x" / "00.jpg"]
    assert list_images(root) == [root / "x" / "00.jpg", root / "x" / "01.jpg"]
    assert ".jpg" in IMAGE_EXTENSIONS and ".txt" not in IMAGE_EXTENSIONS
    with pytest.raises(BadDataset):
        list_images(tmp_path / "nope")


def test_without_and_class_weights() -> None:
    data = LabelledImages((Path("a"), Path("b"), Path("c"), Path("d")), (0, 0, 0, 1), ("x", "y"))
    assert data.without([Path("b")]).paths == (Path("a"), Path("c"), Path("d"))
    weights = class_weights(data.labels, 3)
    np.testing.assert_allclose(weights, [4 / 6, 4 / 2, 0.0], rtol=1e-6)
