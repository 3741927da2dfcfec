"""Labelled image sets: class folders (`root/<class>/*`) and CSV files (`path,label`), and their splits.

Everything here works on paths and labels only; no image is opened (decoding is zoo.data.decode's job).
Data problems that would make training meaningless are refused up front with zoo.errors.BadDataset:
a single class, a class without images, a validation set with classes the training set lacks.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import BadDataset, InvalidSetting

# Extensions Pillow decodes that image datasets actually use (compared lowercase).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


@dataclass(frozen=True)
class LabelledImages:
    """Image paths with integer labels that index `classes` (sorted class names)."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.labels):
            raise InvalidSetting("paths and labels must have the same length")

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> dict[str, int]:
        """Images per class name, in class order (classes without images count 0)."""
        tally = Counter(self.labels)
        return {name: tally.get(index, 0) for index, name in enumerate(self.classes)}

    def subset(self, indices: Iterable[int]) -> LabelledImages:
        """The images at `indices`, with the same class list."""
        picked = list(indices)
        return LabelledImages(
            paths=tuple(self.paths[i] for i in picked),
            labels=tuple(self.labels[i] for i in picked),
            classes=self.classes,
        )

    def without(self, paths: Iterable[Path]) -> LabelledImages:
        """The images minus `paths` (e.g. the ones the decoder skipped)."""
        drop = {Path(p) for p in paths}
        return self.subset(i for i, p in enumerate(self.paths) if p not in drop)


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(path_or_dir: str | Path) -> list[Path]:
    """One file -> [it]; a folder -> every image file below it (recursively, sorted).

    A file named on its own is always returned, whatever it is: the decoder then says what is wrong with
    it (not an image, a pipe, ...) instead of it silently vanishing."""
    path = Path(path_or_dir)
    if path.exists() and not path.is_dir():
        return [path]
    if not path.is_dir():
        raise BadDataset(f"{path}: no such file or folder")
    return sorted(p for p in path.rglob("*") if is_image_file(p))


def scan_folders(root: str | Path) -> LabelledImages:
    """Read `root/<class>/...`: each sub-folder is a class, every image below it an example."""
    root = Path(root)
    if not root.is_dir():
        raise BadDataset(f"{root}: not a folder", hint="expected root/<class>/<image> folders or a CSV")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise BadDataset(
            f"{root}: no class folders",
            hint="put each class's images in its own sub-folder: root/<class>/<image>",
        )
    paths: list[Path] = []
    labels: list[int] = []
    for index, class_dir in enumerate(class_dirs):
        images = list_images(class_dir)
        paths.extend(images)
        labels.extend([index] * len(images))
    data = LabelledImages(tuple(paths), tuple(labels), tuple(d.name for d in class_dirs))
    check_trainable(data, str(root))
    return data


def read_csv(csv_path: str | Path) -> LabelledImages:
    """Read a `path,label` CSV (header optional); relative paths resolve against the CSV's folder."""
    csv_path = Path(csv_path)
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except OSError as exc:
        raise BadDataset(f"cannot read {csv_path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BadDataset(
            f"{csv_path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})",
            hint="save the CSV as UTF-8 (`path,label` rows)",
        ) from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    pairs: list[tuple[Path, str]] = []
    for line, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise BadDataset(f"{csv_path}: row {line} must be `path,label`, got {','.join(row)!r}")
        path = Path(row[0].strip()).expanduser()
        pairs.append((path if path.is_absolute() else csv_path.parent / path, row[1].strip()))
    classes = tuple(sorted({label for _, label in pairs}))
    index = {name: i for i, name in enumerate(classes)}
    data = LabelledImages(
        paths=tuple(p for p, _ in pairs),
        labels=tuple(index[label] for _, label in pairs),
        classes=classes,
    )
    check_trainable(data, str(csv_path))
    return data


def load_labelled(source: str | Path) -> LabelledImages:
    """A class-folder tree or a `.csv` file, whichever `source` is."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".csv":
        return read_csv(source)
    return scan_folders(source)


def check_trainable(data: LabelledImages, where: str) -> None:
    """Refuse data a classifier cannot learn from: fewer than two classes, or a class without images."""
    if len(data.classes) < 2:
        found = f"only '{data.classes[0]}'" if data.classes else "none"
        raise BadDataset(
            f"{where}: a classifier needs at least two classes, found {found}",
            hint="add a folder (or CSV label) per class",
        )
    empty = [name for name, n in data.counts().items() if n == 0]
    if empty:
        raise BadDataset(
            f"{where}: class {', '.join(repr(e) for e in empty)} has no images",
            hint="add images or remove the empty class; extensions: " + ", ".join(sorted(IMAGE_EXTENSIONS)),
        )


def align_classes(train: LabelledImages, val: LabelledImages) -> LabelledImages:
    """Re-index `val` onto train's classes; a val class the training set lacks is an error."""
    unknown = sorted(set(val.classes) - set(train.classes))
    if unknown:
        raise BadDataset(
            f"the validation set has classes the training set lacks: {', '.join(unknown)}",
            hint="use the same class folders (or CSV labels) for training and validation",
        )
    index = {name: i for i, name in enumerate(train.classes)}
    return LabelledImages(
        paths=val.paths,
        labels=tuple(index[val.classes[label]] for label in val.labels),
        classes=train.classes,
    )


def train_and_validation(
    data: str | Path, val: str | Path | None, *, val_split: float, seed: int
) -> tuple[LabelledImages, LabelledImages]:
    """The training and validation sets as a fine-tuning run makes them: the `val` folder (or CSV) on
    the training classes, else a stratified `val_split` of `data` under `seed`."""
    train = load_labelled(data)
    if val:
        return train, align_classes(train, load_labelled(val))
    return stratified_split(train, val_split, seed=seed)


def stratified_split(
    data: LabelledImages, val_fraction: float, seed: int = 0
) -> tuple[LabelledImages, LabelledImages]:
    """Split each class by `val_fraction` with a fixed seed; every class keeps at least one training image.

    A class with enough images also gets at least one validation image, so every class is measured.
    """
    if not 0.0 < val_fraction < 1.0:
        raise InvalidSetting(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    train_idx: list[int] = []
    val_idx: list[int] = []
    for label in range(len(data.classes)):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        n_val = int(round(len(members) * val_fraction))
        n_val = min(max(n_val, 1 if len(members) >= 2 else 0), len(members) - 1)
        val_idx.extend(members[:n_val].tolist())
        train_idx.extend(members[n_val:].tolist())
    return data.subset(sorted(train_idx)), data.subset(sorted(val_idx))


def class_weights(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """Weights inversely proportional to class frequency, mean 1 over the examples ("balanced")."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights.astype(np.float32)
