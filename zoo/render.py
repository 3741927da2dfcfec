"""Tables as text: the one renderer behind `zoo list`, `zoo info`, `zoo cache ls`, `zoo benchmark`,
`zoo evaluate` and `zoo table`.

A `TextTable` holds cells already formatted by whoever knows what they mean (the listing keeps a
source's figure text verbatim; benchmarks round rates); this module only lays them out: Markdown,
CSV, or a rich table for the terminal. A ground-floor module: stdlib only (rich is imported when a
terminal table is drawn).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.table import Table

# "grid": boxed (measurements); "plain": no box, cells kept on one line (lists, published figures);
# "fold": no box, long cells wrapped instead of cut (file names, paths, checksums).
Style = Literal["grid", "plain", "fold"]


@dataclass(frozen=True)
class TextTable:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: Sequence[bool] = field(default=())  # right-aligned columns; empty: none
    title: str | None = None

    def is_numeric(self, column: int) -> bool:
        return bool(self.numeric) and self.numeric[column]


def markdown(table: TextTable, *, align_numbers: bool = True) -> str:
    """A GitHub-flavoured Markdown table; `align_numbers` right-aligns the numeric columns (`---:`)."""
    header = "| " + " | ".join(table.headers) + " |"
    rule = "|" + "".join(
        "---:|" if align_numbers and table.is_numeric(i) else "---|" for i in range(len(table.headers))
    )
    body = ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join([header, rule, *body]) + "\n"


def csv_text(table: TextTable) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.headers)
    writer.writerows(table.rows)
    return out.getvalue()


def rich_table(table: TextTable, style: Style = "grid", *, pad_edge: bool = False) -> Table:
    """The table as a rich renderable for the terminal, in one of the three house styles (`pad_edge`:
    a space before the first column of a box-less table)."""
    from rich.table import Table

    if style == "grid":
        grid = Table(title=table.title, title_justify="left")
    else:
        grid = Table(title=table.title, title_justify="left", box=None, pad_edge=pad_edge)
    for i, header in enumerate(table.headers):
        justify = "right" if table.is_numeric(i) else "left"
        if style == "fold":
            grid.add_column(header, justify=justify, overflow="fold")
        else:
            grid.add_column(header, justify=justify, no_wrap=style == "plain" or table.is_numeric(i))
    for row in table.rows:
        grid.add_row(*row)
    return grid
