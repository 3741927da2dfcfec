"""ImageNet-1k class names and WordNet ids, shipped inside the package so prediction works offline.

zoo/assets/imagenet_classes.json has the same content and layout as the `imagenet_class_index.json`
Keras downloads at run time for `decode_predictions` (`{"0": ["n01440764", "tench"], ...}`): output index
-> [WordNet id, class name]. Indices follow the sorted WordNet ids, as in the ILSVRC-2012 devkit, so an
ImageNet-val folder laid out as `val/<wnid>/*.JPEG` maps to model outputs through `wnid_to_index()`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

NUM_IMAGENET_CLASSES = 1000


def class_index_path() -> Path:
    """The shipped class-index file (Keras' imagenet_class_index.json layout)."""
    return Path(str(resources.files("zoo") / "assets" / "imagenet_classes.json"))


@lru_cache(maxsize=1)
def _class_index() -> tuple[tuple[str, str], ...]:
    raw = json.loads(class_index_path().read_text(encoding="utf-8"))
    return tuple((raw[str(i)][0], raw[str(i)][1]) for i in range(NUM_IMAGENET_CLASSES))


def imagenet_labels() -> list[str]:
    """The 1000 class names in output order ("tench", "goldfish", ...), as Keras names them."""
    return [name for _, name in _class_index()]


def imagenet_wnids() -> list[str]:
    """The 1000 WordNet ids in output order ("n01440764", ...)."""
    return [wnid for wnid, _ in _class_index()]


def wnid_to_index() -> dict[str, int]:
    """WordNet id -> output index, for ImageNet-val folders named by WordNet id."""
    return {wnid: index for index, (wnid, _) in enumerate(_class_index())}
