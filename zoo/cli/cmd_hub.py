"""`zoo pull`, `zoo serve` and `zoo cache ...`: thin wrappers over zoo.hub (no TensorFlow imported)."""

from __future__ import annotations

from pathlib import Path

import typer

from zoo.cli.common import print_json, stderr_console, stdout_console, usage_error
from zoo.cli.options import VARIANT_HELP, JsonOut, PullVariant, WeightVariant
from zoo.errors import ChecksumMismatch, ZooError

app = typer.Typer()
cache_app = typer.Typer(
    help="Inspect and manage the weight cache (ZOO_HOME/weights).\n\nExample: zoo cache ls",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _check_mirrors(mirrors: list[str]) -> list[str]:
    for url in mirrors:
        if not url.startswith(("http://", "https://")):
            usage_error(f"{url!r} is not an http:// or https:// URL", "--mirror")
    return mirrors


@app.command("pull")
def pull_command(
    names: list[str] = typer.Argument(..., metavar="NAME...", help="Model names or aliases."),
    variant: PullVariant = typer.Option(
        "top", "--variant", "-v", help=f"Which file: {VARIANT_HELP}, or all."
    ),
    mirror: list[str] = typer.Option([], "--mirror", "-m", help="Mirror base URL, tried first (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Download again even when cached."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
) -> None:
    """Download verified weights into the cache (cache -> mirrors -> the registry's sources).

    Prints `SHA256  PATH` per file on stdout; progress goes to stderr.

    Example: zoo pull resnet50 --variant notop --mirror http://10.0.0.5:8000
    """
    from zoo.hub.pull import pull_weights
    from zoo.registry import resolve

    mirrors = _check_mirrors(mirror)
    specs = [resolve(name) for name in names]  # unknown names fail before any download
    results = []
    for spec in specs:
        variants = list(spec.weights) if variant == "all" else [variant]
        for v in variants:
            results.append(pull_weights(spec, v, mirrors=mirrors, force=force, progress=not as_json))
    if as_json:
        print_json([r.to_dict() for r in results])
    else:
        for r in results:
            typer.echo(f"{r.sha256}  {r.path}")


@app.command("serve")
def serve_command(
    directory: Path | None = typer.Argument(
        None, exists=True, file_okay=False, help="Folder to serve (default: the zoo weight cache)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0: all networks)."),
    port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="Port (0 picks a free one)."),
    no_ui: bool = typer.Option(False, "--no-ui", help="Serve the files only, without the catalogue's pages."),
) -> None:
    """Serve weight files read-only over HTTP: a mirror for `zoo pull --mirror` / ZOO_MIRROR, with the
    catalogue's web pages at / (models, cards, measured results, runs; JSON under /api).

    Layout: /<file name>, /sha256/<hex>, /index.json. One log line per request on stderr.

    Example: zoo serve --host 0.0.0.0 --port 8000
    (then on another machine: ZOO_MIRROR=http://HOST:8000 zoo pull resnet50)
    """
    from zoo.hub.server import serve

    try:
        server = serve(directory, host=host, port=port)
    except OSError as exc:
        raise ZooError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                       hint="pick another --port (0 picks a free one)") from None  # fmt: skip
    if not no_ui:
        from zoo.web import serve_pages

        serve_pages(server)
    console = stderr_console()
    pages = "" if no_ui else f"; pages at {server.url}/"
    console.print(
        f"Serving {server.directory} at {server.url}{pages} (Ctrl-C to stop)", highlight=False, soft_wrap=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        server.httpd.server_close()


app.add_typer(cache_app, name="cache")


@cache_app.command("ls")
def cache_ls(
    names: list[str] = typer.Argument(None, metavar="[NAME...]", help="Only these models."),
    as_json: JsonOut = False,
) -> None:
    """List cached weight files.

    Example: zoo cache ls --json
    """
    from dataclasses import asdict

    from zoo.hub.manage import select
    from zoo.render import TextTable, rich_table

    manifests = select(names or ())
    if as_json:
        print_json([{**asdict(m), "path": str(m.blob)} for m in manifests])
        return
    if not manifests:
        stderr_console().print("The cache is empty.")
        return
    columns = ["model", "variant", "file", "MB", "sha256", "trust"]
    rows = [[m.model, m.variant, m.file, f"{m.size / 1e6:.1f}", m.sha256[:12], m.trust] for m in manifests]
    if any(m.revision for m in manifests):  # the Hub commit a file came from (hf:// sources)
        columns.insert(-1, "revision")
        for row, m in zip(rows, manifests, strict=True):
            row.insert(-1, (m.revision or "-")[:12])
    table = TextTable(tuple(columns), rows)
    stdout_console().print(rich_table(table, "fold", pad_edge=True))


@cache_app.command("path")
def cache_path(
    name: str | None = typer.Argument(None, help="A model (default: print the cache folder)."),
    variant: WeightVariant = typer.Option("top", "--variant", "-v", help=f"Which file: {VARIANT_HELP}."),
) -> None:
    """Print the cache folder, or the cached file of a model (exit 1 when not cached).

    Example: zoo cache path mobilenet --variant notop
    """
    from zoo.hub import cache
    from zoo.registry import resolve

    if name is None:
        typer.echo(str(cache.weights_root()))
        return
    spec = resolve(name)
    spec.weight(variant)  # a variant the model does not have says so, rather than "not in the cache"
    path = cache.cached_path(spec, variant)
    if path is None:
        raise ZooError(f"{spec.name} ({variant}) is not in the cache",
                       hint=f"zoo pull {spec.name} --variant {variant}")  # fmt: skip
    typer.echo(str(path))


@cache_app.command("rm")
def cache_rm(
    name: str = typer.Argument(..., help="Model whose cached files to delete."),
    variant: WeightVariant | None = typer.Option(
        None, "--variant", "-v", help=f"Only this file: {VARIANT_HELP}."
    ),
) -> None:
    """Delete a model's cached files.

    Example: zoo cache rm resnet50 --variant top
    """
    from zoo.hub.manage import remove

    removed = remove(name, variant)
    if not removed:
        raise ZooError(f"nothing cached for {name}", hint="zoo cache ls shows what is cached")
    for m in removed:
        typer.echo(f"removed {m.model} {m.variant} {m.blob}")


@cache_app.command("verify")
def cache_verify(
    names: list[str] = typer.Argument(None, metavar="[NAME...]", help="Only these models."),
    as_json: JsonOut = False,
) -> None:
    """Rehash every cached file; exit 1 listing the corrupted ones.

    Example: zoo cache verify
    """
    from zoo.hub.manage import verify

    results = verify(names or ())
    bad = [r for r in results if not r.ok]
    if as_json:
        print_json([{**r.__dict__, "path": str(r.path)} for r in results])
    else:
        for r in results:
            status = "ok" if r.ok else "CORRUPT"  # ok: who vouches for the checksum; CORRUPT: what is wrong
            typer.echo(f"{status}  {r.model} {r.variant}  {r.path}  ({r.problem or r.trust})")
    if bad:
        listing = "; ".join(f"{r.model} {r.variant}: {r.problem}" for r in bad)
        raise ChecksumMismatch(f"{len(bad)} of {len(results)} cached files are corrupted: {listing}",
                               hint="zoo pull NAME --force downloads them again")  # fmt: skip


@cache_app.command("import")
def cache_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The weight file to import."),
    name: str = typer.Option(..., "--name", "-n", help="The model it belongs to."),
    variant: WeightVariant = typer.Option("top", "--variant", "-v", help=f"Which file: {VARIANT_HELP}."),
    as_json: JsonOut = False,
) -> None:
    """Put a local file into the cache (checked against the published checksum when there is one).

    Example: zoo cache import ~/Downloads/mobilenet_1_0_224_tf.h5 --name mobilenet --variant top
    """
    from zoo.hub.manage import import_file

    result = import_file(file, name, variant)
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(f"{result.sha256}  {result.path}")


@cache_app.command("link-keras")
def cache_link_keras(
    names: list[str] = typer.Argument(None, metavar="[NAME...]", help="Only these models."),
    as_json: JsonOut = False,
) -> None:
    """Place cached files under Keras' names in $KERAS_HOME/models, so keras.applications finds them offline.

    Example: zoo cache link-keras resnet50
    """
    from zoo.hub.manage import link_keras

    linked = link_keras(names or ())
    if as_json:
        print_json([{"cached": str(a), "keras": str(b)} for a, b in linked])
    else:
        for _, target in linked:
            typer.echo(str(target))
