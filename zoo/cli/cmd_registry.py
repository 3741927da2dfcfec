"""`zoo list` and `zoo info`: the registry on the terminal. Neither imports TensorFlow nor pandas."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from zoo import config
from zoo.choices import LIST_FORMATS
from zoo.cli.common import print_json, stdout_console, usage_error
from zoo.cli.options import PATTERN_HELP, Family, MaxParams, Tag
from zoo.errors import InvalidSetting
from zoo.listing import SORT_KEYS
from zoo.registry import LOADER_KERAS_HUB

SortKey = StrEnum("SortKey", {key: key for key in SORT_KEYS})
OutputFormat = StrEnum("OutputFormat", {fmt: fmt for fmt in LIST_FORMATS})

app = typer.Typer()

REGISTRY_HELP = "An extra registry YAML file (user entries, validated like the built-in one)."


def _registry_option() -> typer.models.OptionInfo:
    return typer.Option(
        None, "--registry", exists=True, dir_okay=False, readable=True, metavar="PATH", help=REGISTRY_HELP
    )


@app.command("list")
def list_command(
    patterns: list[str] | None = typer.Argument(
        None,
        metavar="PATTERN",
        help=PATTERN_HELP,
    ),
    family: Family = None,
    tag: Tag = None,
    min_top1: float | None = typer.Option(
        None, "--min-top1", min=0.0, max=100.0, help="Minimum published top-1, as 0.8 or 80."
    ),
    max_params: MaxParams = None,
    max_size: float | None = typer.Option(None, "--max-size", min=0.0, help="Largest published size in MB."),
    pulled: bool | None = typer.Option(
        None, "--pulled/--not-pulled", help="Only models whose weights are (or are not) in the cache."
    ),
    sort: SortKey | None = typer.Option(None, "--sort", help="Sort by this column."),
    desc: bool = typer.Option(False, "--desc", help="Sort in descending order."),
    source: str | None = typer.Option(
        None,
        "--source",
        metavar="SOURCE",
        help="Show one source's table as it was published: keras.io, classic, paper, keras-docs, timm. "
        "Without it: every model, with its home source's figures (keras.io for keras.applications, "
        "timm for the timm catalogue).",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Output format."),
    as_json: bool = typer.Option(False, "--json", help="Shorthand for --format json."),
    registry: Path | None = _registry_option(),
) -> None:
    """List registered models with their published figures and whether their weights are cached.

    Examples:

        zoo list

        zoo list 'efficientnet*' --min-top1 0.8 --sort top1 --desc

        zoo list --tag mobile --max-params 5M --format md

        zoo list --source classic --format md

        zoo list --source timm --family resnet
    """
    from zoo import listing, render
    from zoo.registry import load_registry

    try:
        max_params_value = listing.parse_param_limit(max_params)
    except InvalidSetting as exc:
        usage_error(str(exc), "--max-params")
    reg = load_registry([registry] if registry else [])
    if source is not None and source not in listing.known_sources(reg):
        usage_error(f"unknown source {source!r}; known: {', '.join(listing.known_sources(reg))}", "--source")
    rows = listing.model_rows(
        patterns or (),
        family=family,
        tag=tag,
        min_top1=min_top1,
        max_params=max_params_value,
        max_size=max_size,
        pulled=pulled,
        sort=sort.value if sort else None,
        desc=desc,
        source=source,
        registry=reg,
    )
    fmt = "json" if as_json else fmt.value
    if fmt == "json":
        print_json(rows)
        return
    table = listing.text_table(rows, listing.columns_for(source))
    if fmt == "md":  # the sources' own tables have no column alignment
        typer.echo(render.markdown(table, align_numbers=False), nl=False)
    elif fmt == "csv":
        typer.echo(render.csv_text(table), nl=False)
    else:
        stdout_console().print(render.rich_table(table, "plain"))
        if not rows:
            typer.echo("No model matches these filters.", err=True)


@app.command("info")
def info_command(
    name: str = typer.Argument(..., help="A model name or alias, e.g. resnet50 or mobilenet."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
    registry: Path | None = _registry_option(),
) -> None:
    """Show everything the registry knows about a model: every source's figures, weight files, cache status.

    Examples:

        zoo info resnet50

        zoo info mobilenet_v1_025_224 --json

        zoo info resnet50.a1_in1k
    """
    from zoo.listing import describe
    from zoo.registry import load_registry

    spec = load_registry([registry] if registry else []).get(name)
    data = {**describe(spec), "keras_backend": config.keras_backend()}
    if as_json:
        print_json(data)
        return
    _print_info(data)


def _print_info(data: dict) -> None:
    from rich.table import Table

    from zoo import render
    from zoo.render import TextTable

    console = stdout_console()
    console.print(f"[bold]{data['name']}[/bold]  ({data['arch']}, {data['family']})")
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(style="dim")
    facts.add_column()
    paper = data["paper"]
    for label, value in (
        ("aliases", ", ".join(data["aliases"]) or "-"),
        ("tags", ", ".join(data["tags"]) or "-"),
        *_builder_facts(data),
        ("parameters", f"{data['params']:,}" if data["params"] is not None else "-"),
        ("input size", f"{data['input_size']} x {data['input_size']}"),
        ("preprocess", _preprocess_text(data)),
        ("resize", f"{data['interpolation']}, crop_pct {data['crop_pct']}"),
        ("classes", str(data["num_classes"])),
        ("license", data["license"] or "-"),
        ("paper", " ".join(p for p in (paper.get("title"), paper.get("url")) if p) or "-"),
        ("defined in", data["origin"]),
        ("pulled", "yes" if data["pulled"] else "no (zoo pull " + data["name"] + ")"),
        ("Keras back-end", data["keras_backend"] + " (KERAS_BACKEND, keras.json or zoo --backend)"),
    ):
        facts.add_row(label, value)
    console.print(facts)

    if data["published"]:
        keys = ("source", "label", "size_mb", "top1", "top5", "params", "depth", "cpu_ms", "gpu_ms")
        figures = TextTable(
            ("source", "as", "size (MB)", "top-1", "top-5", "params", "depth", "CPU ms", "GPU ms"),
            [[f.get(k) or "-" for k in keys] for f in data["published"]],
            title="Published figures",
        )
        console.print(render.rich_table(figures, "plain"))

    weights = TextTable(
        ("variant", "file", "size", "checksum", "cached at", "sources"),
        [
            [
                variant,
                w["file"],
                f"{w['size'] / 1e6:.1f} MB" if w["size"] else "-",
                _checksum_cell(w),
                data["cached"].get(variant) or "-",
                "\n".join(w["sources"]),
            ]
            for variant, w in data["weights"].items()
        ],
        title="Weight files",
    )
    console.print(render.rich_table(weights, "fold"))


def _builder_facts(data: dict) -> list[tuple[str, str]]:
    """How the model is built: a keras.applications constructor, or keras-hub's converter of a checkpoint."""
    if data["loader"] == LOADER_KERAS_HUB:
        return [
            ("loader", f"keras-hub, from a {data['layout']} checkpoint (config.json + model.safetensors)"),
            ("architecture", data["arch"]),
            ("hf repo", data["hf_repo"] or "-"),
        ]
    return [
        ("constructor", f"keras.applications.{data['arch']}({_kwargs(data['args'])})"),
        ("module", f"keras.applications.{data['module']}" if data["module"] else "-"),
    ]


def _preprocess_text(data: dict) -> str:
    if data["mean"] is None or data["std"] is None:
        return data["preprocess"]
    mean, std = (", ".join(f"{v:g}" for v in data[key]) for key in ("mean", "std"))
    return f"{data['preprocess']}: x / 255, minus mean ({mean}), over std ({std})"


def _checksum_cell(weight: dict) -> str:
    """The checksum and who vouches for it: published by the weights' owner, or pinned by this registry."""
    if not (weight["sha256"] or weight["md5"]):
        if any(src.startswith("hf://") for src in weight["sources"]):
            return "the Hub's sha256, pinned at the first pull"
        return "none (trust on first use)"
    digest = f"sha256:{weight['sha256']}" if weight["sha256"] else f"md5:{weight['md5']}"
    return f"{digest} ({weight['checksum_source'] or 'pinned'})"


def _kwargs(args: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())
