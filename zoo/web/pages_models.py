"""The models page (every registered model, sortable and filterable) and a card per model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from zoo.registry import FIGURE_FIELDS, ModelSpec
from zoo.web.html import Markup, el, escape, link, number, page, percent, void

# A weight file's download link, or None where no copy can be linked (the mirror does not hold it).
FileLink = Callable[[str], str | None]

_MODEL_COLUMNS = (  # header, row key, kind ("text", "count", "mb", "fraction", "rate", "flag")
    ("Model", "name", "text"), ("Family", "family", "text"), ("From", "from", "text"),
    ("Source", "source", "text"), ("Params (M)", "params", "count"), ("Size (MB)", "size_mb", "mb"),
    ("Top-1", "top1", "fraction"), ("Top-5", "top5", "fraction"),
    ("img/s here", "images_per_s_measured", "rate"),
    ("Top-1 here", "top1_measured", "fraction"), ("Cached", "cached", "flag"),
)  # fmt: skip


ROW_LIMIT = 100  # rows the browser shows at once (zoo.js: data-limit); "show all" lifts it

_FORMATS = {
    "count": lambda v: f"{v / 1e6:.1f}",
    "mb": lambda v: number(v, 4),
    "fraction": percent,
    "rate": lambda v: number(v, 4),
}


# The models page has a thousand rows: its cells are formatted strings rather than `el` calls (5x faster),
# every value still passing through `escape`.
def _cell(row: dict[str, Any], key: str, kind: str) -> str:
    value = row[key]
    if kind == "text":
        text = escape("-" if value is None else value)
        return f'<td><a href="models/{text}.html">{text}</a></td>' if key == "name" else f"<td>{text}</td>"
    if kind == "flag":
        return f'<td data-value="{1 if value else 0}">{"yes" if value else ""}</td>'
    if value is None:
        return '<td class="num" data-value="">-</td>'
    return f'<td class="num" data-value="{escape(value)}">{escape(_FORMATS[kind](value))}</td>'


def models_page(rows: list[dict[str, Any]], machine: str) -> bytes:
    families = sorted({r["family"] for r in rows if r["family"]})
    form = el(
        "form",
        el(
            "input",
            type="search",
            name="q",
            placeholder="Filter: name, family, source…",
            aria_label="Filter models",
            autocomplete="off",
        ),
        el(
            "select",
            el("option", "all families", value=""),
            [el("option", f, value=f) for f in families],
            name="family",
            aria_label="Family",
        ),
        el("label", void("input", type="checkbox", name="cached"), " cached here"),
        el("label", void("input", type="checkbox", name="measured"), " measured here"),
        el("span", f"{len(rows)} models", class_="count"),
        el("button", "show all", type="button", class_="more", hidden=True),
        class_="filters",
        data_filters="models",
    )
    head = el(
        "thead", el("tr", [el("th", h, class_=None if k == "text" else "num") for h, _, k in _MODEL_COLUMNS])
    )
    body = Markup(f"<tbody>{''.join(_model_row(r) for r in rows)}</tbody>")
    intro = el(
        "p",
        "Every registered model with its published figures; “here” columns are measured on ",
        el("b", machine),
        ". Click a header to sort.",
        class_="note",
    )
    table = el("table", head, body, id="models", class_="sortable", data_limit=ROW_LIMIT)
    content = Markup(intro + form + table)
    return page("Models", content, root="", current="index.html", script=True)


def _model_row(row: dict[str, Any]) -> str:
    search = " ".join(str(row[k] or "") for k in ("name", "label", "family", "from", "source")).lower()
    measured = row["images_per_s_measured"] is not None or row["top1_measured"] is not None
    cells = "".join(_cell(row, key, kind) for _, key, kind in _MODEL_COLUMNS)
    return (
        f'<tr data-search="{escape(search)}" data-family="{escape(row["family"])}"'
        f' data-cached="{"yes" if row["cached"] else "no"}" data-measured="{"yes" if measured else "no"}">'
        f"{cells}</tr>"
    )


# --------------------------------------------------------------------------------------------- card
def card_page(
    spec: ModelSpec, row: dict[str, Any] | None, cached: dict[str, bool], file_link: FileLink, mirror: str
) -> bytes:
    """One model: facts, every source's figures side by side, weight files, commands."""
    sections = [
        _facts(spec),
        el("h2", "Published figures, by source"),
        _figures(spec, row),
        el("h2", "Weight files"),
        _weights(spec, cached, file_link),
        el("h2", "Use it"),
        _commands(spec, mirror),
    ]
    return page(spec.name, Markup("".join(sections)), root="../", current="")


def _facts(spec: ModelSpec) -> Markup:
    paper = spec.paper.get("title") or spec.paper.get("url")
    preprocess = f"{spec.preprocess}, resize {spec.interpolation}, crop {spec.crop_pct:g}"
    if spec.mean and spec.std:
        preprocess += f", mean {list(spec.mean)}, std {list(spec.std)}"
    facts = [
        ("Family", spec.family or "-"),
        ("Architecture", f"{spec.arch} ({spec.loader})"),
        ("Input", f"{spec.input_size} × {spec.input_size} RGB"),
        ("Preprocessing", preprocess),
        ("Classes", number(spec.num_classes)),
        ("Parameters", number(spec.params)),
        ("Licence", spec.license or "-"),
        ("Paper", link(spec.paper.get("url"), paper) if paper else "-"),
        ("Aliases", ", ".join(spec.aliases) or "-"),
        ("Tags", ", ".join(spec.tags) or "-"),
    ]
    if spec.hf_repo:
        facts.append(("Checkpoint", spec.hf_repo))
    if spec.bundle:
        facts.append(("Run directory", spec.bundle))
    return el("dl", [(el("dt", k), el("dd", v)) for k, v in facts], class_="facts")


# the figures' rows: the published fields, then the speed only this machine's measurement gives
_FIGURE_ROWS = (
    ("label", "row label (measured: runtime)"),
    *((f, f.replace("_", " ")) for f in FIGURE_FIELDS),
    ("images_per_s", "images / s"),
)


def _figures(spec: ModelSpec, row: dict[str, Any] | None) -> Markup:
    measured = _measured_cells(row)
    if not spec.published and not measured:
        return el("p", "No published figures.", class_="note")
    sources = list(spec.published)
    mine = el("th", "measured here") if measured else None
    head = el("tr", el("th", ""), [el("th", link(f.url, f.source)) for f in sources], mine)
    lines = []
    for key, title in _FIGURE_ROWS:
        cells = [getattr(f, key, None) for f in sources]
        here = measured.get(key)
        if all(c is None for c in cells) and here is None:
            continue
        here_cell = el("td", here or "-") if measured else None
        lines.append(el("tr", el("th", title), [el("td", c or "-") for c in cells], here_cell))
    return el("table", el("thead", head), el("tbody", lines), id="figures")


def _measured_cells(row: dict[str, Any] | None) -> dict[str, str | None]:
    if not row or (row["images_per_s_measured"] is None and row["top1_measured"] is None):
        return {}
    rate, step = row["images_per_s_measured"], row["ms_per_step_measured"]
    runtime = f"{row['measured_runtime']}, batch {row['measured_batch']}" if row["measured_runtime"] else None
    return {
        "label": runtime,
        "top1": percent(row["top1_measured"]) if row["top1_measured"] is not None else None,
        "top5": percent(row["top5_measured"]) if row["top5_measured"] is not None else None,
        "cpu_ms": number(step) if step is not None else None,
        "images_per_s": number(rate) if rate is not None else None,
    }


def _weights(spec: ModelSpec, cached: dict[str, bool], file_link: FileLink) -> Markup:
    if not spec.weights:
        return el("p", "No weight files: the model is built from its run directory.", class_="note")
    head = el(
        "tr",
        [el("th", h) for h in ("Variant", "File", "Size", "Checksum", "Trust", "Download", "Cached here")],
    )
    rows = []
    for variant, weight in spec.weights.items():
        checksum = [
            el("div", f"sha256 {weight.sha256}", class_="hash sha256") if weight.sha256 else None,
            el("div", f"md5 {weight.md5}", class_="hash") if weight.md5 else None,
        ]
        trust = weight.checksum_trust
        href = file_link(weight.file)
        download = [el("a", "from this mirror", href=href, class_="download") if href else None]
        download += [el("div", link(source, source)) for source in weight.sources]
        rows.append(
            el(
                "tr",
                el("td", variant),
                el("td", el("code", weight.file)),
                el("td", f"{weight.size / 1e6:.1f} MB" if weight.size else "-", class_="num"),
                el("td", checksum if weight.has_checksum else "none"),
                el("td", trust or "none (recorded on first pull)", class_=f"trust-{trust or 'none'}"),
                el("td", download or "-"),
                el("td", "yes" if cached.get(variant) else "no"),
                data_variant=variant,
            )
        )
    note = el(
        "p",
        "Trust: published — the weights' owner published the checksum; pinned — this registry pinned it "
        "from a copy; none — zoo records the sha256 on the first pull and warns.",
        class_="note",
    )
    return Markup(el("table", el("thead", head), el("tbody", rows), id="weights") + note)


def _commands(spec: ModelSpec, mirror: str) -> Markup:
    name = json.dumps(spec.name)
    if spec.bundle:  # a registered run: nothing to pull, the run directory holds the model
        return el("pre", el("code", f"zoo info {spec.name}\n\nimport zoo\nmodel = zoo.load({name})"))
    shell = [f"zoo pull {spec.name}", f"zoo info {spec.name}"]
    if mirror:
        shell.insert(1, f"ZOO_MIRROR={mirror} zoo pull {spec.name}")
    shell.append(f"zoo finetune {spec.name} DATA_DIR --out runs/{spec.name}-mine")
    python = f"import zoo\nmodel = zoo.load({name})\nbackbone = zoo.load({name}, include_top=False)"
    return Markup(el("pre", el("code", "\n".join(shell))) + el("pre", el("code", python)))
