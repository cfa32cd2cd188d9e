"""Any rich Table laid out to a terminal's width without cutting a value.

Rich squeezes a table that is too wide by cutting its cells to ``1…``. :func:`fit`
instead tries, in order:

1. the table as it is, when its natural width fits;
2. the same columns narrowed no further than their longest word (headers and text
   cells wrap between words; a number is one word and is never split);
3. the columns split into several tables stacked vertically, each repeating the first
   (key) column, packed greedily in their order;
4. a vertical layout: one small ``column | value`` table per row.

It reads only the table's columns and cells, so a row or column added later needs no
change here. :class:`FittingConsole` applies it to every Table it prints.
"""

from __future__ import annotations

import copy
import dataclasses

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text


class FittingConsole(Console):
    """A Console whose ``print`` lays out every Table with :func:`fit`."""

    def print(self, *objects, **kwargs) -> None:  # noqa: A003 - rich's name
        fitted = [Group(*fit(o, self)) if isinstance(o, Table) else o for o in objects]
        super().print(*fitted, **kwargs)


def fit(table: Table, console: Console, width: int | None = None) -> list[RenderableType]:
    """Tables that show every cell of ``table`` whole within ``width`` (default: the
    console's) columns; see the module docstring."""
    width = width or console.width
    if not table.columns or _measure(console, table) <= width:
        return [table]
    texts = [[_text(console, c) for c in col._cells] for col in table.columns]
    heads = [_text(console, col.header) for col in table.columns]
    lo = [max([_longest_word(h)] + [_longest_word(t) for t in ts]) for h, ts in zip(heads, texts)]
    hi = [max([h.cell_len] + [t.cell_len for t in ts]) for h, ts in zip(heads, texts)]
    whole = _narrowed(console, table, list(range(len(lo))), lo, hi, width)
    if whole is not None:
        return [whole]
    groups, current = [], []
    for i in range(1, len(lo)):
        if _narrowed(console, table, [0, *current, i], lo, hi, width) is None:
            if not current:
                return _vertical(table, texts, heads)
            groups.append(current)
            current = [i]
        else:
            current.append(i)
    groups.append(current)
    if _narrowed(console, table, [0, *groups[-1]], lo, hi, width) is None:
        return _vertical(table, texts, heads)
    out = []
    for n, g in enumerate(groups):
        part = _narrowed(console, table, [0, *g], lo, hi, width)
        if n:
            part.title = None if table.title is None else f"{table.title} (continued)"
        out.append(part)
    return out


def _narrowed(console: Console, table: Table, keep: list[int], lo: list[int], hi: list[int],
              width: int) -> Table | None:
    """``table`` with only the columns ``keep``, each at least its longest word wide and
    the widest narrowed first so that the table fits ``width``; None if it cannot."""
    sub = _subset(table, keep, [1] * len(keep))
    room = width - (_measure(console, sub) - len(keep))        # width left for the cells
    mins, maxs = [lo[i] for i in keep], [hi[i] for i in keep]
    if sum(mins) > room:
        return None
    widths = list(maxs)
    while sum(widths) > room:                                   # narrow the widest column
        k = max(range(len(widths)), key=lambda j: (widths[j] - mins[j] > 0, widths[j]))
        widths[k] -= 1
    return _subset(table, keep, widths)


def _subset(table: Table, keep: list[int], widths: list[int]) -> Table:
    sub = copy.copy(table)
    sub.columns = [dataclasses.replace(table.columns[i], width=w, min_width=None, max_width=None, _index=n,
                                       overflow="fold", no_wrap=False, _cells=list(table.columns[i]._cells))
                   for n, (i, w) in enumerate(zip(keep, widths))]
    sub.rows = list(table.rows)
    sub.expand = False
    sub.width = None
    return sub


def _vertical(table: Table, texts: list[list[Text]], heads: list[Text]) -> list[RenderableType]:
    """One ``column | value`` table per row, titled by the row's first cell."""
    out = []
    for r in range(len(texts[0])):
        part = Table(Column(overflow="fold"), Column(justify="right", overflow="fold"), show_header=False,
                     title=Text.assemble(table.title or "", " - " if table.title else "", heads[0], " ", texts[0][r]))
        for head, col in zip(heads[1:], texts[1:]):
            part.add_row(head, col[r])
        out.append(part)
    return out


def _measure(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update(width=10_000), table).maximum


def _text(console: Console, cell) -> Text:
    if isinstance(cell, Text):
        return cell
    if isinstance(cell, str):
        return console.render_str(cell)
    return Text(str(cell))


def _longest_word(text: Text) -> int:
    return max((len(w) for w in text.plain.split()), default=0)
