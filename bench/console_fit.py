"""Console output that fits the terminal (80 columns in a plain CI log) without breaking names.

A scenario, fault, driver, tag or check name is something a user copies into the next
command, so it is never wrapped mid-word: name columns are `no_wrap`, lists are joined
with ", " (rich wraps between the names), and a table whose names cannot fit the width
at all is printed as indented lines instead (`fits`).
"""
from __future__ import annotations

import textwrap

from rich import box
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

INDENT = 4


def compact_table(**kwargs) -> Table:
    """A table with a rule under the header and no vertical borders: 2 columns of padding per column."""
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, **kwargs)


def fits(console: Console, renderable: RenderableType) -> bool:
    """Whether `renderable` can be drawn in the console's width without folding a word."""
    unbounded = console.options.update_width(10_000)  # a measurement is capped at the width it is given
    return Measurement.get(console, unbounded, renderable).minimum <= console.width


def print_wrapped(console: Console, text: str, indent: int = 0, more: int = INDENT, style: str = "") -> None:
    """`text` wrapped at spaces to the console's width, its first line indented by `indent`, the
    others by `indent + more`; a word longer than a line stays whole (a long line beats a broken name)."""
    lines = textwrap.wrap(text, width=max(console.width, 20), initial_indent=" " * indent,
                          subsequent_indent=" " * (indent + more), break_long_words=False, break_on_hyphens=False)
    for line in lines:
        console.print(Text(line, style=style), soft_wrap=True)


def names(items) -> str:
    """Names joined so that a line breaks between them, never inside one."""
    return ", ".join(items)
