"""`zoo catalog build`: the catalogue's web pages as a static site (zoo.web; no back-end imported)."""

from __future__ import annotations

from pathlib import Path

import typer

from zoo.cli.common import stderr_console, usage_error

app = typer.Typer()
catalog_app = typer.Typer(
    help="The catalogue's web pages (those `zoo serve` shows) as files.\n\nExample: zoo catalog build site",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("build")
def catalog_build(
    out_dir: Path = typer.Argument(
        ..., file_okay=False, metavar="OUT_DIR", help="Folder to write the site into."
    ),
    mirror: str | None = typer.Option(
        None, "--mirror", "-m", help="A zoo mirror URL: the cards link each weight file there."
    ),
) -> None:
    """Write the models page, a card per model, the measured results with their plots, the registered runs
    and the JSON behind them (api/*.json) as a static site: every link relative, no CDN.

    Example: zoo catalog build site/ --mirror http://10.0.0.5:8000
    """
    from zoo.web import build_catalog

    if mirror is not None and not mirror.startswith(("http://", "https://")):
        usage_error(f"{mirror!r} is not an http:// or https:// URL", "--mirror")
    written = build_catalog(out_dir, mirror=mirror)
    stderr_console().print(f"wrote {len(written)} files to {out_dir}", highlight=False, soft_wrap=True)
    typer.echo(str(out_dir / "index.html"))
