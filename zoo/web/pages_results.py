"""The measured page (the results store per machine, with the accuracy-vs-speed plot) and the runs page."""

from __future__ import annotations

import json
from typing import Any

from zoo.web.data import MachineResults, Run
from zoo.web.html import Markup, el, number, page, percent, void

RECENT = 200  # records listed per machine and kind; the JSON API holds them all

_SUMMARY = (  # header, key, formatter
    ("img/s", "images_per_s_measured", number), ("ms / step", "ms_per_step_measured", number),
    ("batch", "measured_batch", number), ("runtime", "measured_runtime", str),
    ("top-1", "top1_measured", percent), ("top-5", "top5_measured", percent),
    ("images", "eval_images", number),
)  # fmt: skip
_BENCHMARK = (
    "time",
    "model",
    "backend",
    "runtime",
    "precision",
    "variant",  # e.g. onnxruntime's "spinning": two rows of one runtime and precision told apart
    "batch_size",
    "images_per_s",
    "latency_p50_ms",
    "status",
)
_EVALUATE = ("time", "model", "runtime", "precision", "images", "top1", "top5")


def measured_page(
    machines: list[tuple[MachineResults, dict[str, dict[str, Any]], str | None]], here: str
) -> bytes:
    """`machines`: each machine's records, its per-model summary (zoo.table's rule) and its plot's path."""
    if not machines:
        body = el(
            "p", "The results store is empty: `zoo benchmark` and `zoo evaluate` add to it.", class_="note"
        )
        return page("Measured", body, root="", current="measured.html")
    parts = [
        el(
            "p",
            f"{sum(len(m.records) for m, _, _ in machines)} results from {len(machines)} machines.",
            class_="note",
        )
    ]
    for group, summary, plot in machines:
        title = f"{group.label} (this machine)" if group.key == here else group.label
        parts.append(el("h2", title, id=f"machine-{group.key}"))
        if plot:
            parts.append(void("img", src=plot, alt=f"Accuracy vs speed on {group.label}", class_="plot"))
        parts.append(_summary_table(summary, group.key))
        for kind, columns in (("benchmark", _BENCHMARK), ("evaluate", _EVALUATE)):
            records = [r for r in group.records if r.get("kind") == kind]
            if records:
                parts.append(_records_table(kind, records, columns))
    return page("Measured", Markup("".join(parts)), root="", current="measured.html", script=True)


def _summary_table(summary: dict[str, dict[str, Any]], key: str) -> Markup:
    head = el("tr", el("th", "model"), [el("th", h, class_="num") for h, _, _ in _SUMMARY])
    rows = [
        el(
            "tr",
            el("td", el("a", model, href=f"models/{model}.html")),
            [_figure(row.get(k), fmt) for _, k, fmt in _SUMMARY],
        )
        for model, row in summary.items()
    ]
    return el("table", el("thead", head), el("tbody", rows), class_="sortable summary", id=f"summary-{key}")


def _figure(value: Any, fmt: Any) -> Markup:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    text = fmt(value) if value is not None else "-"
    return el("td", text, class_="num", data_value=value if numeric else "" if value is None else None)


def _records_table(kind: str, records: list[dict[str, Any]], columns: tuple[str, ...]) -> Markup:
    shown = records[-RECENT:][::-1]
    caption = f"{kind}: the latest {len(shown)} of {len(records)} records" if len(records) > RECENT else kind
    head = el("tr", [el("th", c) for c in columns])
    rows = [el("tr", [_raw(r.get(c)) for c in columns]) for r in shown]
    return el("table", el("caption", caption), el("thead", head), el("tbody", rows), class_="sortable")


def _raw(value: Any) -> Markup:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return el("td", number(value), class_="num", data_value=value)
    return el("td", "-" if value is None else value if isinstance(value, str) else json.dumps(value))


# --------------------------------------------------------------------------------------------- runs
def runs_page(runs: list[Run]) -> bytes:
    if not runs:
        body = el(
            "p",
            "No registered runs: `zoo register RUN_DIR --name NAME` adds a fine-tuning run.",
            class_="note",
        )
        return page("Runs", body, root="", current="runs.html")
    return page("Runs", Markup("".join(_run(run) for run in runs)), root="", current="runs.html")


def _run(run: Run) -> Markup:
    metrics = run.metrics or {}
    facts = [
        ("Run directory", str(run.run_dir)),
        ("Backbone", (run.config or {}).get("model", "-")),
        ("Classes", number(run.spec.num_classes)),
        ("Validation accuracy", percent(metrics.get("val_accuracy")) if "val_accuracy" in metrics else "-"),
        ("Validation loss", number(metrics.get("val_loss"))),
        ("Epochs run", number(metrics.get("epochs_run"))),
    ]
    parts = [
        el("h2", el("a", run.name, href=f"models/{run.name}.html"), id=f"run-{run.name}"),
        el("dl", [(el("dt", k), el("dd", v)) for k, v in facts], class_="facts"),
        [el("p", problem, class_="note problem") for problem in run.problems],
        [void("img", src=f"runs/{run.name}/{p}", alt=f"{run.name} {p}", class_="plot") for p in run.pictures],
    ]
    per_class = metrics.get("per_class")
    if isinstance(per_class, dict) and per_class:
        parts.append(_key_table("Per class", per_class))
    if run.history:
        columns = list(run.history[0])
        parts.append(
            el(
                "table",
                el("caption", "History"),
                el("thead", el("tr", [el("th", c) for c in columns])),
                el("tbody", [el("tr", [el("td", r.get(c)) for c in columns]) for r in run.history]),
            )
        )
    if run.config:
        rows = [
            el("tr", el("th", k), el("td", el("code", json.dumps(v, default=str))))
            for k, v in run.config.items()
        ]
        parts.append(el("table", el("caption", "Config"), el("tbody", rows)))
    return el("section", parts, class_="run")


def _key_table(caption: str, rows: dict[str, Any]) -> Markup:
    columns = sorted({k for v in rows.values() if isinstance(v, dict) for k in v})
    head = el("tr", el("th", "class"), [el("th", c) for c in columns])
    body = [
        el("tr", el("td", name), [_raw(v.get(c)) if isinstance(v, dict) else el("td", "-") for c in columns])
        for name, v in rows.items()
    ]
    return el("table", el("caption", caption), el("thead", head), el("tbody", body))


def not_found_page(what: str, root: str) -> bytes:
    body = el("p", what, " ", el("a", "Back to the models", href=f"{root}index.html"), class_="note")
    return page("Not found", body, root=root, current="")
