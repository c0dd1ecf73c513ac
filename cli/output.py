"""How every command prints: data is text, lists say what they left out, nothing is cut.

Ids, names, claims and remittance lines are data: a customer id ``[/x]`` must
print as ``[/x]``, not be read as Rich markup (``MarkupError``) nor have its
digits coloured as numbers. So both consoles here have markup and highlighting
off, and styling is added only as :class:`rich.text.Text` spans we write.

Every list goes through :func:`print_list`: one table, CSV or JSON writer; a
footer that says "showing 50 of 109" when the limit stopped it early; ids and
amounts never cut with "…". A narrow terminal wraps the text columns and then
drops the columns marked droppable; output that is not a terminal gets the
full width of every value.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from activities.billing.money import format_money, quantum
from activities.spreadsheet_text import spreadsheet_text

console = Console(markup=False, highlight=False, soft_wrap=True)
errors = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="table for people; csv or json for tools")
]
LimitOption = Annotated[int, typer.Option(min=1, max=100_000, help="At most this many rows")]
AllOption = Annotated[bool, typer.Option("--all", help="Every row, however many")]


@dataclass(frozen=True, slots=True)
class Amount:
    """Money in a list: ``$1,200.00`` in a table, ``1200.00`` in CSV and JSON."""

    value: Decimal
    currency: str


Cell = str | Amount | int | None
#: A detail view's field: a cell, or a list or object of them (``--format json``).
Field = Cell | bool | Sequence["Field"] | Mapping[str, "Field"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a list.

    ``kind`` ``id`` and ``amount`` never wrap (the analyst types the id next);
    ``text`` wraps on a narrow terminal. ``drop`` > 0 marks a column a narrow
    terminal may leave out, the highest number first (CSV and JSON keep it).
    """

    name: str
    kind: Literal["id", "text", "amount", "number"] = "text"
    drop: int = 0


def say(*parts: str | tuple[str, str]) -> None:
    """One message line; plain strings are data, ``(text, style)`` pairs are ours."""
    console.print(Text.assemble(*parts), soft_wrap=True)


def limit_of(limit: int, every: bool) -> int | None:
    """The row limit a list query takes: ``None`` with ``--all``."""
    return None if every else limit


def print_list(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    noun: str,
    output: OutputFormat = OutputFormat.TABLE,
    total: int | None = None,
    title: str | None = None,
) -> None:
    """Print ``rows`` as a table, CSV or JSON, then say how many (of how many) were shown.

    ``total`` is how many rows match before the limit; when more match than were
    printed, the footer says so and how to see them. For CSV and JSON the footer
    goes to stderr, so the data on stdout stays machine-readable.
    """
    if output is OutputFormat.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(column.name for column in columns)
        writer.writerows([_machine(cell, csv_text=True) for cell in row] for row in rows)
    elif output is OutputFormat.JSON:
        records = [
            {c.name: _machine(cell, csv_text=False) for c, cell in zip(columns, row, strict=True)}
            for row in rows
        ]
        sys.stdout.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    else:
        print_table(columns, rows, title=title)
    sys.stdout.flush()
    footer = _footer(len(rows), total, noun)
    if output is OutputFormat.TABLE:
        console.print(footer, soft_wrap=True)
    elif total is not None and len(rows) < total:
        errors.print(footer, soft_wrap=True)


def print_record(
    record: Mapping[str, Field],
    output: OutputFormat,
    *,
    table: tuple[Sequence[Column], Sequence[Sequence[Cell]]] | None = None,
) -> None:
    """A detail view's ``--format json`` (one object) or ``csv`` (its ``table``, as a list's).

    Amounts are decimal strings at the currency's minor unit, as in lists. A view that
    shows no table has no CSV: asking for one is an error naming the option.
    """
    if output is OutputFormat.JSON:
        sys.stdout.write(json.dumps(_plain(record), indent=2, ensure_ascii=False) + "\n")
    elif table is None:
        raise ValueError("--format csv: this view shows no table; use --format json")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(column.name for column in table[0])
        writer.writerows([_machine(cell, csv_text=True) for cell in row] for row in table[1])
    sys.stdout.flush()


def _plain(value: Field) -> object:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return _machine(value, csv_text=False)  # a bool (an int) passes through as JSON's own


def print_json(report: object) -> None:
    """A whole report as JSON on stdout (pydantic models and dataclasses as plain JSON,
    amounts as decimal strings): what ``--format json`` of a report prints."""
    from pydantic_core import to_json

    sys.stdout.write(to_json(report, indent=2).decode() + "\n")
    sys.stdout.flush()


def _footer(shown: int, total: int | None, noun: str) -> str:
    if total is not None and shown < total:
        return f"showing {shown} of {total} {noun}; --limit N / --all for more"
    return f"{shown} {noun}"


def _machine(cell: Cell, *, csv_text: bool) -> str | int | None:
    if isinstance(cell, Amount):
        # At the currency's minor unit: the ledger's rounded amounts may come back from the
        # database with more places ("120.1000"); the value is the same.
        return str(cell.value.quantize(quantum(cell.currency)))
    if isinstance(cell, str) and csv_text:
        return spreadsheet_text(cell)
    return cell


def _text(cell: Cell) -> Text:
    if cell is None:
        return Text("")
    if isinstance(cell, Amount):
        return Text(format_money(cell.value, cell.currency))
    return Text(str(cell))


def print_table(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *, title: str | None = None
) -> None:
    """A Rich table that never cuts a value: see the module docstring."""
    shown = list(range(len(columns)))
    droppable = sorted(
        (i for i, column in enumerate(columns) if column.drop), key=lambda i: -columns[i].drop
    )
    while True:
        table = _build(
            [columns[i] for i in shown], [[row[i] for i in shown] for row in rows], title
        )
        needed = Measurement.get(console, console.options.update(max_width=100_000), table)
        if not console.is_terminal:
            _print_at_least(table, needed.maximum)
            return
        if needed.minimum <= console.width or not droppable:
            _print_at_least(table, needed.minimum)
            return
        shown.remove(droppable.pop(0))


def _build(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], title: str | None) -> Table:
    cells = [[_text(cell) for cell in row] for row in rows]
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        whole = column.kind != "text"
        widest = max((cell_len(row[index].plain) for row in cells), default=0)
        table.add_column(
            column.name,
            justify="right" if column.kind in ("amount", "number") else "left",
            no_wrap=whole,
            overflow="fold",
            min_width=max(widest, cell_len(column.name)) if whole else None,
        )
    for row in cells:
        table.add_row(*row)
    return table


def _print_at_least(table: Table, width: int) -> None:
    """Print at the console's width, or wider when a value would otherwise be cut."""
    if width <= console.width:
        console.print(table)
        return
    before = console.width
    console.width = width
    try:
        console.print(table)
    finally:
        console.width = before
