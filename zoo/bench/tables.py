"""`zoo.table`: the registry's published figures and this machine's measured ones, side by side (pandas).

Published figures are one source's (`source`), or by default each model's home source
(ModelSpec.home_figures: keras.io for keras.applications, timm's results csv for the timm catalogue);
the column published_source says which. Measured figures come from the results store: the latest
evaluation of each model (top-1/top-5) and the latest benchmark row at keras.io's reference batch size
(keras.io times "one inference step" of a batch of 32 on a CPU), preferring the keras runtime at fp32 (the
configuration keras.io measured).
"""

from __future__ import annotations

import fnmatch
import json
import numbers
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from zoo import registry
from zoo.bench.results import read_results
from zoo.choices import TABLE_FORMATS, TABLE_SOURCES
from zoo.errors import InvalidSetting

if TYPE_CHECKING:
    import pandas as pd

REFERENCE_BATCH = 32  # keras.io's "time per inference step" is for a batch of 32

COLUMNS = (
    "model", "top1_published", "top1_measured", "top5_published", "top5_measured", "eval_images",
    "ms_per_step_published", "ms_per_step_measured", "images_per_s_published", "images_per_s_measured",
    "measured_batch", "measured_runtime", "params", "gmacs", "published_source",
)  # fmt: skip
INTEGER_COLUMNS = ("eval_images", "measured_batch", "params")
PUBLISHED_COLUMNS = (
    "model", "top1_published", "top5_published", "ms_per_step_published", "images_per_s_published", "params",
    "published_source",
)  # fmt: skip
MEASURED_COLUMNS = (
    "model", "top1_measured", "top5_measured", "eval_images", "ms_per_step_measured", "images_per_s_measured",
    "measured_batch", "measured_runtime", "gmacs",
)  # fmt: skip


def published_frame(patterns: Sequence[str] = (), source: str | None = None) -> pd.DataFrame:
    """One row per registry model matching `patterns` with its published figures from `source` (None:
    each model's home source)."""
    import pandas as pd

    if source is not None and source not in TABLE_SOURCES:
        raise InvalidSetting(f"source must be one of {', '.join(TABLE_SOURCES)}, got {source!r}")
    rows = []
    for spec in registry.load_registry().select(patterns):
        figures = spec.figures(source) if source is not None else spec.home_figures()
        step_ms = None if figures is None else registry.parse_number(figures.cpu_ms)
        rows.append(
            {
                "model": spec.name,
                "top1_published": figures.top1_value if figures else None,
                "top5_published": figures.top5_value if figures else None,
                "ms_per_step_published": step_ms,
                "images_per_s_published": REFERENCE_BATCH * 1e3 / step_ms if step_ms else None,
                "params": spec.params,
                "published_source": figures.source if figures else None,
            }
        )
    return pd.DataFrame(rows, columns=list(PUBLISHED_COLUMNS))


def measured_frame(records: Iterable[dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per measured model: its latest accuracy and its latest reference-batch speed."""
    import pandas as pd

    rows = measured_rows(read_results() if records is None else records)
    return pd.DataFrame(list(rows.values()), columns=list(MEASURED_COLUMNS))


def measured_rows(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Model -> its MEASURED_COLUMNS (plain values, no pandas): the latest accuracy and the preferred
    speed record of each model, sorted by model name."""
    records = list(records)
    accuracy = _latest(r for r in records if r.get("kind") == "evaluate")
    speed = _latest(
        (r for r in records if r.get("kind") == "benchmark" and r.get("status", "ok") == "ok"),
        rank=_speed_rank,
    )
    rows = {}
    for model in sorted(set(accuracy) | set(speed)):
        acc, bench = accuracy.get(model, {}), speed.get(model, {})
        rows[model] = {
            "model": model,
            "top1_measured": acc.get("top1"),
            "top5_measured": acc.get("top5"),
            "eval_images": acc.get("images"),
            "ms_per_step_measured": bench.get("latency_p50_ms"),
            "images_per_s_measured": bench.get("images_per_s"),
            "measured_batch": bench.get("batch_size"),
            "measured_runtime": _runtime_label(bench),
            "gmacs": bench.get("gmacs"),
        }
    return rows


def _runtime_label(bench: dict[str, Any]) -> str | None:
    # .get: a hand-edited or older store may lack either field, and a table must still render
    return f"{bench.get('runtime', '?')}/{bench.get('precision', '?')}" if bench else None


def _speed_rank(record: dict[str, Any]) -> tuple:
    """Higher is preferred: keras fp32 first, then the reference batch, then the largest batch."""
    batch = int(record.get("batch_size") or 0)
    return (
        record.get("runtime") == "keras" and record.get("precision") == "fp32",
        batch == REFERENCE_BATCH,
        batch,
    )


def _latest(records: Iterable[dict[str, Any]], rank=None) -> dict[str, dict[str, Any]]:
    """Per model, the best-ranked record, the latest among equals (the store is oldest first)."""
    best: dict[str, dict[str, Any]] = {}
    for record in records:
        model = record.get("model")
        if not model:
            continue
        old = best.get(model)
        if old is None or rank is None or rank(record) >= rank(old):
            best[model] = record
    return best


def table(
    pattern: str | Sequence[str] | None = None,
    *,
    source: str | None = None,
    records: Iterable[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Published and measured figures joined on the model name (an outer join: a measured run directory
    that is not in the registry still gets its row). `source`: whose published figures (None: each
    model's home source, keras.io or timm)."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern or [])
    published = published_frame(patterns, source)
    measured = measured_frame(records)
    if patterns:
        keep = measured["model"].map(
            lambda m: any(fnmatch.fnmatchcase(m.lower(), p.lower()) for p in patterns)
        )
        measured = measured[keep | measured["model"].isin(published["model"])]
    joined = published.merge(measured, on="model", how="outer", sort=False)
    order = {name: i for i, name in enumerate(published["model"])}
    joined = joined.sort_values(
        "model", key=lambda s: s.map(lambda m: order.get(m, len(order))), kind="stable"
    )
    joined = joined.reindex(columns=list(COLUMNS)).reset_index(drop=True)
    # NaN from the outer join would turn counts into floats
    return joined.astype({c: "Int64" for c in INTEGER_COLUMNS})


# ----------------------------------------------------------------------------------------- rendering
def render(frame: pd.DataFrame, fmt: str) -> str:
    """The table as text in `fmt` ("table" is plain aligned text; the CLI draws it with rich instead)."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps(json_records(frame), indent=2) + "\n"
    if fmt == "html":
        return frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}") + "\n"
    if fmt in ("md", "table"):
        return markdown(frame) if fmt == "md" else frame.to_string(index=False, na_rep="-") + "\n"
    raise InvalidSetting(f"format must be one of {', '.join(TABLE_FORMATS)}, got {fmt!r}")


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: missing figures become null, NumPy scalars plain numbers."""
    rows = []
    for row in frame.to_dict(orient="records"):
        rows.append(
            {k: (None if _missing(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
        )
    return rows


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def cell(value: Any) -> str:
    """One figure as text: accuracies and rates to 4 significant digits, counts as integers."""
    if _missing(value):
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned)."""
    from zoo.render import TextTable
    from zoo.render import markdown as render_markdown

    rows = [[cell(v) for v in row] for row in frame.itertuples(index=False)]
    numeric = [frame[c].dtype.kind in "iuf" for c in frame.columns]
    return render_markdown(TextTable(list(frame.columns), rows, numeric))
