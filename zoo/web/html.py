"""A small HTML builder that escapes by default: every string becomes text unless it is `Markup`.

Registry strings (labels, licences, paper titles, user entries) are data, so nothing here ever pastes
them into a page raw: `el("td", spec.license)` escapes, only markup this package builds is `Markup`.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources


class Markup(str):
    """HTML that is already safe (built by `el` or read from the package's own templates)."""


def escape(value: object) -> Markup:
    """`value` as HTML text (quotes too, so it is safe inside an attribute)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def _children(children: Iterable[object]) -> str:
    parts = []
    for child in children:
        if child is None:
            continue
        if isinstance(child, str | int | float):
            parts.append(escape(child))
        else:  # a nested sequence of children (a row's cells, a list's items)
            parts.append(_children(child))  # type: ignore[arg-type]
    return "".join(parts)


def el(tag: str, *children: object, **attrs: object) -> Markup:
    """<tag attrs>children</tag>; attribute names use `_` for `-` and a trailing `_` for keywords
    (`class_`, `data_value`); an attribute whose value is None or False is left out, True is bare."""
    rendered = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        rendered.append(f" {name}" if value is True else f' {name}="{escape(value)}"')
    return Markup(f"<{tag}{''.join(rendered)}>{_children(children)}</{tag}>")


def void(tag: str, **attrs: object) -> Markup:
    """An element without content (<img>, <input>, <meta>)."""
    return Markup(el(tag, **attrs).removesuffix(f"</{tag}>"))


def safe_href(url: str | None) -> str | None:
    """A link target only for http(s) URLs: a registry's `javascript:` URL is shown as text, never linked."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def link(url: str | None, text: object) -> Markup:
    href = safe_href(url)
    return el("a", text, href=href) if href else escape(text)


@lru_cache(maxsize=1)
def _layout() -> string.Template:
    text = (resources.files("zoo.web") / "templates" / "layout.html").read_text(encoding="utf-8")
    return string.Template(text)


NAV = (("index.html", "Models"), ("measured.html", "Measured"), ("runs.html", "Runs"))


def page(title: str, body: Markup, *, root: str, current: str, script: bool = False) -> bytes:
    """A whole page: the shared layout, `root` the relative way back to the site's top ("" or "../")."""
    nav = el(
        "nav",
        [el("a", text, href=root + href, class_="here" if href == current else None) for href, text in NAV],
    )
    js = el("script", src=f"{root}static/zoo.js", defer=True) if script else Markup("")
    return (
        _layout()
        .substitute(title=escape(title), root=escape(root), nav=nav, body=body, script=js)
        .encode("utf-8")
    )


def number(value: object, digits: int = 4) -> str:
    """A figure as text: floats to `digits` significant digits, counts with separators, None as "-"."""
    if value is None or isinstance(value, bool):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def percent(value: object) -> str:
    """A fraction (0.749) as "74.9%"; anything that is not a number as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value * 100:.1f}%"
    return "-" if value is None else str(value)
