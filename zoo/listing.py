"""The model list: registry entries joined with one source's published figures and the cache status.

`model_rows` builds plain dict rows (no pandas) for `zoo list`; `list_models` wraps the same rows in a
pandas DataFrame for Python users; `describe` is everything `zoo info` shows. Nothing here imports
TensorFlow, and pandas only inside `list_models`.

Which rows and in what order:
- no source (the default): every model in registry order (keras.applications, then the timm catalogue),
  each with its home source's figures (ModelSpec.home_figures: keras.io for keras.applications, timm for
  keras-hub entries) and where it comes from ("From": keras, timm, transformers, run);
- a source ("keras.io", "classic", "paper", "timm", ...): only the models that source covers, best top-1
  first, shown as that source printed them (its row labels, its columns and its exact figure text).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InvalidSetting, UnknownSource
from zoo.registry import Figures, ModelSpec, Registry, load_registry, parse_accuracy, parse_count
from zoo.render import TextTable

if TYPE_CHECKING:
    import pandas as pd

SORT_KEYS = ("name", "family", "params", "size_mb", "top1", "top5", "depth", "input_size", "pulled")
PUBLISHED_FIELDS = ("size_mb", "top1", "top5", "params", "depth")
# A row's values as numbers (fractions for accuracy, MB for size); rows also carry "published": the text.
FRAME_COLUMNS = (
    "name", "label", "family", "params", "size_mb", "top1", "top5", "depth", "input_size", "pulled", "source",
    "from",
)  # fmt: skip

Row = dict[str, Any]


# ------------------------------------------------------------------------------------------------ rows
def known_sources(registry: Registry) -> list[str]:
    """Every figures source some entry has, in first-seen order."""
    seen: dict[str, None] = {}
    for spec in registry:
        for figures in spec.published:
            seen.setdefault(figures.source, None)
    return list(seen)


def _pulled(specs: list[ModelSpec]) -> set[str]:
    from zoo.hub.cache import pulled_models  # the hub owns the cache layout; imported late to stay fast

    return pulled_models(specs)


def origin_label(spec: ModelSpec) -> str:
    """Where an entry's weights come from: keras (keras.applications), timm or transformers (a Hugging Face
    checkpoint keras-hub converts), run (a fine-tuning run registered with `zoo register`)."""
    if spec.bundle:
        return "run"
    return spec.layout if spec.is_keras_hub and spec.layout else "keras"


def _row(spec: ModelSpec, figures: Figures | None, pulled: bool) -> Row:
    published = {f: getattr(figures, f) for f in PUBLISHED_FIELDS} if figures else {}
    return {
        "name": spec.name,
        "label": figures.label if figures and figures.label else spec.name,
        "family": spec.family,
        "params": spec.params,
        "size_mb": figures.size_mb_value if figures else None,
        "top1": figures.top1_value if figures else None,
        "top5": figures.top5_value if figures else None,
        "depth": figures.depth_value if figures else None,
        "input_size": spec.input_size,
        "pulled": pulled,
        "source": figures.source if figures else None,
        "from": origin_label(spec),
        "published": published,
    }


def _sorted(rows: list[Row], key: str, desc: bool) -> list[Row]:
    """Sort by one column; rows without a value always go last, in their previous order."""
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]
    return sorted(present, key=lambda r: r[key], reverse=desc) + missing


def parse_param_limit(value: float | int | str | None) -> float | None:
    """A parameter limit as a number or as published text: 5e6, '5M', '25.6M', '3,500,000'."""
    if value is None or isinstance(value, (int, float)):
        return value
    parsed = parse_count(value)
    if parsed is None:
        raise InvalidSetting(f"not a parameter count: {value!r} (examples: 5M, 25.6M, 3500000)")
    return float(parsed)


def model_rows(
    patterns: Iterable[str] = (),
    *,
    family: str | None = None,
    tag: str | None = None,
    min_top1: float | None = None,
    max_params: float | int | str | None = None,
    max_size: float | None = None,
    pulled: bool | None = None,
    sort: str | None = None,
    desc: bool = False,
    source: str | None = None,
    registry: Registry | None = None,
    extra_registries: Sequence[str | Path] = (),
) -> list[Row]:
    """The filtered, sorted rows both `zoo list` and `list_models` show (see the module docstring)."""
    registry = registry if registry is not None else load_registry(extra_registries)
    if source is not None and source not in known_sources(registry):
        raise UnknownSource(
            f"no model has figures from source {source!r}",
            hint=f"known sources: {', '.join(known_sources(registry))}",
        )
    if sort is not None and sort not in SORT_KEYS:
        raise InvalidSetting(f"unknown sort key {sort!r} (expected one of {', '.join(SORT_KEYS)})")
    specs = registry.select(
        patterns,
        family=family,
        tag=tag,
        source=source,
        min_top1=min_top1,
        max_params=parse_param_limit(max_params),
        max_size=max_size,
    )
    rows = []
    cached = _pulled(specs)
    for spec in specs:
        figures = spec.figures(source) if source is not None else spec.home_figures()
        if source is not None and figures is None:
            continue
        is_pulled = spec.name in cached
        if pulled is not None and is_pulled != pulled:
            continue
        rows.append(_row(spec, figures, is_pulled))
    if sort is not None:
        return _sorted(rows, sort, desc)
    if source is not None:  # a source's own table: best first, like the tables these sources print
        return _sorted(_sorted(rows, "top5", True), "top1", True)
    return list(reversed(rows)) if desc else rows


def list_models(
    patterns: Iterable[str] | str = (),
    family: str | None = None,
    tag: str | None = None,
    min_top1: float | None = None,
    max_params: float | int | str | None = None,
    max_size: float | None = None,
    pulled: bool | None = None,
    sort: str | None = None,
    desc: bool = False,
    source: str | None = None,
    extra_registries: Sequence[str | Path] = (),
) -> pd.DataFrame:
    """Registered models as a DataFrame (one row per model; figures from `source`, by default each
    model's home source: keras.io for keras.applications, timm for the timm catalogue).

    `extra_registries` are user registry files, like `zoo list --registry PATH`.

    >>> zoo.list_models("efficientnet*", min_top1=0.8, sort="top1", desc=True)
    """
    import pandas as pd

    if isinstance(patterns, str):
        patterns = (patterns,)
    rows = model_rows(
        patterns,
        family=family,
        tag=tag,
        min_top1=min_top1,
        max_params=max_params,
        max_size=max_size,
        pulled=pulled,
        sort=sort,
        desc=desc,
        source=source,
        extra_registries=extra_registries,
    )
    frame = pd.DataFrame([{c: r[c] for c in FRAME_COLUMNS} for r in rows], columns=list(FRAME_COLUMNS))
    return frame.astype({"params": "Int64", "depth": "Int64", "input_size": "int64", "pulled": "bool"})


# --------------------------------------------------------------------------------------------- columns
Column = tuple[str, Callable[[Row], str]]


def _text(value: str | None) -> str:
    return "-" if value is None else value


def _millions(count: int | None) -> str:
    return "-" if count is None else f"{count / 1e6:.1f}M"


def _percent(text: str | None) -> str:
    """A published accuracy as a percentage: keras.io's text as printed ("74.9%"), timm's bare
    percentage ("81.214") to the same one decimal, so that one column reads alike."""
    if text is None:
        return "-"
    if text.strip().endswith("%"):
        return text
    value = parse_accuracy(text)
    return text if value is None else f"{value * 100:.1f}%"


# timm's results-imagenet.csv: a row's label is "<tag> @ <img_size>px" (zoo.registry docs/registry.md)
_TIMM_LABEL = re.compile(r"^(?P<model>\S+) @ (?P<img_size>[0-9]+)px$")


def _timm_label_part(row: Row, part: str) -> str:
    found = _TIMM_LABEL.match(row["label"])
    if found is None:
        return row["label"] if part == "model" else "-"
    return found.group(part)


# The columns of a source whose table is not keras.io's shape: timm's results csv, its own headers.
SOURCE_COLUMNS: dict[str, list[Column]] = {
    "timm": [
        ("model", lambda r: _timm_label_part(r, "model")),
        ("img_size", lambda r: _timm_label_part(r, "img_size")),
        ("top1", lambda r: _text(r["published"].get("top1"))),
        ("top5", lambda r: _text(r["published"].get("top5"))),
        ("param_count", lambda r: _text(r["published"].get("params"))),
    ],
}


def columns_for(source: str | None) -> list[Column]:
    """The text columns of a listing: zoo's own view, or one source's table exactly as it was printed."""
    if source is None:
        return [
            ("Model", lambda r: r["name"]),
            ("Family", lambda r: r["family"]),
            ("From", lambda r: r["from"]),
            ("Params", lambda r: _millions(r["params"])),
            ("Size (MB)", lambda r: _text(r["published"].get("size_mb"))),
            ("Top-1", lambda r: _percent(r["published"].get("top1"))),
            ("Top-5", lambda r: _percent(r["published"].get("top5"))),
            ("Depth", lambda r: _text(r["published"].get("depth"))),
            ("Input", lambda r: str(r["input_size"])),
            ("Pulled", lambda r: "yes" if r["pulled"] else ""),
        ]
    if source in SOURCE_COLUMNS:
        return SOURCE_COLUMNS[source]
    size_header = "Size (MB)" if source == "keras.io" else "Size"  # keras.io's figures carry no unit
    return [
        ("Model", lambda r: r["label"]),
        (size_header, lambda r: _text(r["published"].get("size_mb"))),
        ("Top-1 Accuracy", lambda r: _text(r["published"].get("top1"))),
        ("Top-5 Accuracy", lambda r: _text(r["published"].get("top5"))),
        ("Parameters", lambda r: _text(r["published"].get("params"))),
        ("Depth", lambda r: _text(r["published"].get("depth"))),
    ]


def text_cells(rows: list[Row], columns: list[Column]) -> list[list[str]]:
    return [[cell(r) for _, cell in columns] for r in rows]


def text_table(rows: list[Row], columns: list[Column]) -> TextTable:
    """The listing as text cells for zoo.render: figures right-aligned, names and flags left."""
    headers = [header for header, _ in columns]
    numeric = [header not in _TEXT_COLUMNS for header in headers]
    return TextTable(headers, text_cells(rows, columns), numeric)


_TEXT_COLUMNS = ("Model", "Family", "From", "Pulled", "model")


# ---------------------------------------------------------------------------------------------- info
def describe(spec: ModelSpec) -> dict[str, Any]:
    """Everything the registry knows about one model, plus where its weight files are cached (or None)."""
    from zoo.hub.cache import cached_path, holds_model

    data = dataclasses.asdict(spec)
    data["published"] = [{k: v for k, v in f.items() if v is not None} for f in data["published"]]
    data["cached"] = {variant: _path_or_none(cached_path(spec, variant)) for variant in spec.weights}
    data["pulled"] = holds_model(spec, [path is not None for path in data["cached"].values()])
    data["from"] = origin_label(spec)
    return data


def _path_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)
