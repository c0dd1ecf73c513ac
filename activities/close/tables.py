"""A close report as a plain table: one sheet of the workbook and one CSV file each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from activities.billing.money import ZERO, quantum

ColumnKind = Literal["text", "date", "datetime", "money", "number"]


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    kind: ColumnKind = "text"


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of one report.

    With a ``currency_column`` the rows are sorted by currency and every
    money column gets a total per currency (never across currencies). A
    ``note`` says what the report covers, or why it is empty.
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: Sequence[tuple[Any, ...]]
    currency_column: int | None = None
    note: str | None = None

    @property
    def money_columns(self) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.columns) if c.kind == "money")

    def currency_blocks(self) -> list[tuple[str, Sequence[tuple[Any, ...]]]]:
        """The rows split into consecutive runs of one currency."""
        if self.currency_column is None:
            raise ValueError(f"{self.name}: has no currency column")
        blocks: list[tuple[str, list[tuple[Any, ...]]]] = []
        for row in self.rows:
            currency = row[self.currency_column]
            if not blocks or blocks[-1][0] != currency:
                blocks.append((currency, []))
            blocks[-1][1].append(row)
        if len({currency for currency, _ in blocks}) != len(blocks):
            raise ValueError(f"{self.name}: rows must be sorted by currency")
        return list(blocks)

    def totals(self) -> dict[str, dict[int, Decimal]]:
        """Per currency, the sum of each money column."""
        return {
            currency: {
                column: sum((row[column] for row in rows if row[column] is not None), ZERO)
                for column in self.money_columns
            }
            for currency, rows in self.currency_blocks()
        }


def in_currency(
    columns: Sequence[Column], rows: Iterable[Sequence[Any]], currency_column: int
) -> list[tuple[Any, ...]]:
    """Rows with their money written at the currency's precision (see :func:`in_its_currency`)."""
    money = [i for i, c in enumerate(columns) if c.kind == "money"]
    result = []
    for row in rows:
        values = list(row)
        for index in money:
            if values[index] is not None:
                values[index] = in_its_currency(values[index], values[currency_column])
        result.append(tuple(values))
    return result


def in_its_currency(amount: Decimal, currency: str) -> Decimal:
    """``12.5000`` (SQL sums carry the ledger's four places) written as ``12.50``.

    Only trailing zeros go: an amount with digits below the minor unit (a
    hand-edited row) keeps them, so the close shows it rather than rounding it away.
    """
    step = quantum(currency)
    written = amount.quantize(step)
    return written if written == amount else amount
