"""The docs stay true: the generated CLI reference is current, every command's --help has an example,
every relative link (and #anchor) resolves, the README starts with the two set-up commands, every `zoo`
command line in the docs uses commands and options that exist, every public function is documented with
its real signature, docs/index.md links every page, and shell completion works."""

from __future__ import annotations

import ast
import difflib
import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from support.cli import invoke, run_zoo

import zoo
from zoo.cli import docgen

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKDOWN = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The Markdown without its fenced code blocks (links and headings there are not links)."""
    return FENCE.sub("", text)


def _github_anchor(heading: str) -> str:
    text = re.sub(r"[`*]|<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_github_anchor(h) for h in HEADING.findall(_prose(path.read_text(encoding="utf-8")))}


def _commands() -> dict[str, object]:
    return dict(docgen.iter_commands(docgen.root_command()))


def test_cli_reference_is_current() -> None:
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    rendered = docgen.render()
    if current != rendered:
        diff = list(difflib.unified_diff(current.splitlines(), rendered.splitlines(), "cli.md", "app", n=1))
        pytest.fail(f"docs/cli.md is stale; regenerate it: {docgen.REGENERATE}\n" + "\n".join(diff[:30]))


def test_cli_reference_covers_every_command_and_option() -> None:
    reference = (DOCS / "cli.md").read_text(encoding="utf-8")
    for path, command in _commands().items():
        assert f"`{path}`" in reference
        for param in command.params:
            if param.param_type_name != "option" or param.name in ("install_completion", "show_completion"):
                continue
            for opt in [*param.opts, *param.secondary_opts]:
                assert f"`{opt}`" in reference, f"{path}: {opt} missing from docs/cli.md"


@pytest.mark.parametrize("path", list(_commands()))
def test_every_command_help_shows_an_example(path: str) -> None:
    result = invoke(*path.split()[1:], "--help", prog_name="zoo", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    example = re.search(r"Examples?:(.*)", result.output, re.S)
    assert example, f"`{path} --help` has no example"
    assert path in example.group(1), f"`{path} --help`: the example does not run {path}"


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(doc.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and linked.suffix == ".md" and fragment not in _anchors(linked):
            broken.append(f"{target} (no heading #{fragment} in {linked.name})")
    assert not broken, f"{doc.name}: broken links: {broken}"


def test_readme_starts_with_make_demo_then_make_test() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = FENCE.search(readme)
    assert first_block and first_block.start() < readme.index("\n## "), "the set-up block comes first"
    commands = [
        line.split("#")[0].strip()
        for line in first_block.group(0).splitlines()[1:-1]
        if line.split("#")[0].strip()
    ]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


SHOWN_COMMAND = re.compile(r"^(?:\S*\$\s+)?(?:[A-Z_]+=\S+\s+)*(zoo\s.*)$")


def _shown_commands() -> list[tuple[str, str]]:
    """Every `zoo ...` command line in the docs' code blocks (after a prompt and variables, if any)."""
    shown = []
    for doc in MARKDOWN:
        for block in FENCE.findall(doc.read_text(encoding="utf-8")):
            for line in block.splitlines():
                command = SHOWN_COMMAND.match(line.strip())
                if command and "[OPTIONS]" not in line:  # usage lines of the CLI reference
                    shown.append((doc.name, command.group(1).split(" #")[0].strip()))
    return shown


def _without_root_options(words: list[str], root: Any) -> list[str]:
    """The words after `zoo`'s own options (`zoo --backend jax info ...` -> `info ...`)."""
    flags = {opt for p in root.params if getattr(p, "is_flag", False) for opt in p.opts}
    takes_value = {opt for p in root.params if not getattr(p, "is_flag", False) for opt in p.opts}
    while words and words[0] in flags | takes_value:  # an unknown one stays: "unknown command"
        words = words[2:] if words[0] in takes_value else words[1:]
    return words


def test_commands_shown_in_the_docs_exist_with_their_options() -> None:
    commands = _commands()
    shown = _shown_commands()
    assert len(shown) >= 15, "the README tour shows the commands with their output"
    wrong = []
    for doc, line in shown:
        words = _without_root_options(shlex.split(line)[1:], commands["zoo"])
        path = "zoo"
        for word in words:
            if f"{path} {word}" not in commands:
                break
            path = f"{path} {word}"
        options = {opt for p in commands[path].params for opt in [*getattr(p, "opts", []), *p.secondary_opts]}
        options |= {"--help", "-h"}
        unknown = [w.split("=")[0] for w in words if w.startswith("-") and w.split("=")[0] not in options]
        if path == "zoo" or unknown:
            wrong.append(f"{doc}: `{line}` ({'unknown command' if path == 'zoo' else unknown})")
    assert not wrong, wrong


def test_every_public_function_is_documented() -> None:
    api_doc = (DOCS / "python-api.md").read_text(encoding="utf-8")
    missing = [name for name in zoo.__all__ if not re.search(rf"^#+ `zoo\.{name}\(", api_doc, re.M)]
    assert not missing, f"docs/python-api.md lacks a section for: {missing}"


def _documented_parameters(api_doc: str, name: str) -> list[tuple[str, str]]:
    """(name, kind) of each parameter in the signature block under `## zoo.NAME(...)`."""
    section = re.search(rf"^#+ `zoo\.{name}\(.*?^```python\n(.*?)^```", api_doc, re.S | re.M)
    assert section, f"docs/python-api.md: no signature block for zoo.{name}"
    call = re.split(r"\)\s*->", section.group(1))[0].split(f"zoo.{name}(", 1)[1]
    args = ast.parse(f"def f({call}): pass").body[0].args
    return [
        *((a.arg, "POSITIONAL_OR_KEYWORD") for a in args.args),
        *(((args.vararg.arg, "VAR_POSITIONAL"),) if args.vararg else ()),
        *((a.arg, "KEYWORD_ONLY") for a in args.kwonlyargs),
        *(((args.kwarg.arg, "VAR_KEYWORD"),) if args.kwarg else ()),
    ]


@pytest.mark.parametrize("name", zoo.__all__)
def test_documented_signatures_match_the_code(name: str) -> None:
    api_doc = (DOCS / "python-api.md").read_text(encoding="utf-8")
    actual = [(p.name, p.kind.name) for p in inspect.signature(getattr(zoo, name)).parameters.values()]
    documented = _documented_parameters(api_doc, name)
    assert documented == actual, f"docs/python-api.md: the signature of zoo.{name} drifted"


def test_docs_index_lists_every_doc() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    unlisted = [p.name for p in DOCS.glob("*.md") if p.name != "index.md" and f"]({p.name})" not in index]
    assert not unlisted, f"docs/index.md does not link: {unlisted}"


def test_shell_completion_script_for_bash() -> None:
    # what `zoo --show-completion` prints in bash, asked for by name: that option detects the shell from
    # the process tree, and a test may run under sh (make runs a quoted command line through /bin/sh)
    result = run_zoo(env={"_ZOO_COMPLETE": "source_bash"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "_zoo_completion" in result.stdout and "complete " in result.stdout


def _complete(words: str) -> list[str]:
    """What bash completion offers for the last of `words` (Typer's completion protocol, as bash calls it)."""
    cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    result = run_zoo(
        env={"_ZOO_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_shell_completion_completes_subcommands_and_option_values() -> None:
    assert _complete("zoo cache l") == ["ls", "link-keras"]
    assert _complete("zoo pull x --variant ") == ["top", "notop", "config", "all"]
