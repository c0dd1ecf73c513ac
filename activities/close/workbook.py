"""The close workbook (XLSX) and the same reports as CSV files.

One sheet per report. Totals are spreadsheet formulas (``=SUM(...)``), so an
accountant who edits or filters a sheet sees them follow; the roll-forward's
closing line and its difference are formulas over the lines above them.
Amounts are written as exact decimals with their currency's decimals; times
are UTC (Excel has no timezones).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from activities.billing.money import minor_digits
from activities.close.report import CloseReport
from activities.close.rollforward import MOVEMENT_LINES
from activities.close.tables import Column, Table
from activities.spreadsheet_text import Formula, spreadsheet_text

ROLL_FORWARD_SHEET = "Roll-forward"
AGING_SHEET = "AR aging 12 months"
BOLD = Font(bold=True)

#: Where the roll-forward's rows sit (1-based), so tests and formulas agree.
RF_HEADER_ROW = 4
RF_OPENING_ROW = 5
RF_CLOSING_ROW = RF_OPENING_ROW + len(MOVEMENT_LINES) + 1
RF_FROM_INVOICES_ROW = RF_CLOSING_ROW + 1
RF_DIFFERENCE_ROW = RF_CLOSING_ROW + 2
TABLE_HEADER_ROW = 4


def money_format(currency: str) -> str:
    digits = minor_digits(currency)
    return "#,##0" + ("." + "0" * digits if digits else "")


def _plain(value: Any) -> Any:
    """What a cell or CSV field holds: UTC without tzinfo for times, typed text that can
    never run as a formula (only a :class:`Formula` we wrote does)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, str):
        return spreadsheet_text(value)
    return value


def _header(column: Column) -> str:
    return f"{column.title} (UTC)" if column.kind == "datetime" else column.title


def write_workbook(report: CloseReport, path: Path) -> None:
    book = Workbook(write_only=True)
    _roll_forward_sheet(book.create_sheet(ROLL_FORWARD_SHEET), report)
    for table in report.tables:
        _table_sheet(book.create_sheet(table.title), table)
    _aging_sheet(book.create_sheet(AGING_SHEET), report)
    book.save(path)


def _cell(sheet: WriteOnlyWorksheet, value: Any, fmt: str | None = None, bold: bool = False) -> Any:
    cell = WriteOnlyCell(sheet, value=_plain(value))
    if fmt:
        cell.number_format = fmt
    if bold:
        cell.font = BOLD
    return cell


def _roll_forward_sheet(sheet: WriteOnlyWorksheet, report: CloseReport) -> None:
    cut_offs = report.cut_offs
    figures = report.roll_forward
    sheet.append([_cell(sheet, f"AR roll-forward, {report.period}", bold=True)])
    sheet.append(
        [
            _plain(
                f"From {cut_offs.starts_at:%Y-%m-%d %H:%M} to {cut_offs.cut_off:%Y-%m-%d %H:%M} "
                f"UTC (the month in {cut_offs.timezone}); one column per currency, never mixed."
            )
        ]
    )
    sheet.append([])
    sheet.append(
        [_cell(sheet, "", bold=True), *(_cell(sheet, f.currency, bold=True) for f in figures)]
    )

    def line(label: str, values: Sequence[Any], bold: bool = False) -> None:
        sheet.append(
            [
                _cell(sheet, label, bold=bold),
                *(
                    _cell(sheet, v, money_format(f.currency), bold)
                    for f, v in zip(figures, values, strict=True)
                ),
            ]
        )

    letters = [get_column_letter(2 + i) for i in range(len(figures))]
    line("Opening AR", [f.opening for f in figures])
    for kind, label in MOVEMENT_LINES:
        line(label, [f.movement(kind) for f in figures])
    last_movement = RF_CLOSING_ROW - 1
    line(
        "Closing AR (roll-forward)",
        [Formula(f"=SUM({c}{RF_OPENING_ROW}:{c}{last_movement})") for c in letters],
        bold=True,
    )
    line("Closing AR (open invoices at cut-off)", [f.closing_from_invoices for f in figures])
    line(
        "Difference",
        [Formula(f"={c}{RF_FROM_INVOICES_ROW}-{c}{RF_CLOSING_ROW}") for c in letters],
        bold=True,
    )
    sheet.append([])
    sheet.append(
        [
            "Closing AR (open invoices at cut-off) is computed independently: each booked "
            "invoice's open balance today, wound back by the cash and credit notes dated after "
            "the cut-off. A difference is a blocking exception; the Exceptions sheet lists the "
            "records behind it."
        ]
    )


def _table_sheet(sheet: WriteOnlyWorksheet, table: Table) -> None:
    sheet.append([_cell(sheet, table.title, bold=True)])
    sheet.append([_plain(table.note or "")])
    sheet.append([])
    sheet.append([_cell(sheet, _header(c), bold=True) for c in table.columns])
    if table.currency_column is None:
        for row in table.rows:
            sheet.append([_plain(v) for v in row])
        return
    row_number = TABLE_HEADER_ROW
    for currency, rows in table.currency_blocks():
        fmt = money_format(currency)
        first = row_number + 1
        for row in rows:
            sheet.append(
                [
                    _cell(sheet, v, fmt) if c.kind == "money" else _plain(v)
                    for c, v in zip(table.columns, row, strict=True)
                ]
            )
        row_number += len(rows)
        total: list[Any] = [_cell(sheet, f"Total {currency}", bold=True)]
        for index, column in enumerate(table.columns[1:], 1):
            letter = get_column_letter(index + 1)
            if column.kind == "money":
                total.append(
                    _cell(sheet, Formula(f"=SUM({letter}{first}:{letter}{row_number})"), fmt, True)
                )
            elif index == table.currency_column:
                total.append(_cell(sheet, currency, bold=True))
            else:
                total.append(None)
        sheet.append(total)
        row_number += 1


def _aging_sheet(sheet: WriteOnlyWorksheet, report: CloseReport) -> None:
    labels = [b.label for b in report.aging.at_cut_off.buckets]
    sheet.append([_cell(sheet, "AR by aging bucket at each month-end", bold=True)])
    sheet.append(["Days past due at each month's last day; one row per currency, never mixed."])
    sheet.append([])
    sheet.append([_cell(sheet, h, bold=True) for h in ("Month", "Currency", *labels, "Total")])
    first_bucket = get_column_letter(3)
    last_bucket = get_column_letter(2 + len(labels))
    for number, (month, row) in enumerate(_aging_rows(report), TABLE_HEADER_ROW + 1):
        fmt = money_format(row.currency)
        sheet.append(
            [
                _plain(month),
                _plain(row.currency),
                *(_cell(sheet, row.amounts[label], fmt) for label in labels),
                _cell(
                    sheet, Formula(f"=SUM({first_bucket}{number}:{last_bucket}{number})"), fmt, True
                ),
            ]
        )


def _aging_rows(report: CloseReport) -> Iterator[tuple[str, Any]]:
    for period, aged in zip(report.cut_offs.periods, report.aging.reports, strict=True):
        for row in aged.totals:
            yield str(period), row


# --- CSV ----------------------------------------------------------------------------------------


def write_csvs(report: CloseReport, directory: Path) -> list[Path]:
    """The same reports as the workbook, one CSV each, totals as computed values."""
    written = [_write_csv(directory / "roll-forward.csv", _roll_forward_rows(report))]
    for table in report.tables:
        written.append(_write_csv(directory / f"{table.name}.csv", _table_rows(table)))
    written.append(_write_csv(directory / "ar-aging-12-months.csv", _aging_csv_rows(report)))
    return written


def _write_csv(path: Path, rows: Iterator[Sequence[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow([_csv_value(v) for v in row])
    return path


def _csv_value(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return "" if value is None else value


def _roll_forward_rows(report: CloseReport) -> Iterator[Sequence[Any]]:
    yield ["line", *(f.currency for f in report.roll_forward)]
    yield ["Opening AR", *(f.opening for f in report.roll_forward)]
    for kind, label in MOVEMENT_LINES:
        yield [label, *(f.movement(kind) for f in report.roll_forward)]
    yield ["Closing AR (roll-forward)", *(f.closing for f in report.roll_forward)]
    yield [
        "Closing AR (open invoices at cut-off)",
        *(f.closing_from_invoices for f in report.roll_forward),
    ]
    yield ["Difference", *(f.difference for f in report.roll_forward)]


def _table_rows(table: Table) -> Iterator[Sequence[Any]]:
    yield [_header(c) for c in table.columns]
    if table.currency_column is None:
        yield from table.rows
        return
    totals = table.totals()
    for currency, rows in table.currency_blocks():
        yield from rows
        yield [
            f"Total {currency}"
            if index == 0
            else totals[currency][index]
            if column.kind == "money"
            else currency
            if index == table.currency_column
            else None
            for index, column in enumerate(table.columns)
        ]


def _aging_csv_rows(report: CloseReport) -> Iterator[Sequence[Any]]:
    labels = [b.label for b in report.aging.at_cut_off.buckets]
    yield ["month", "currency", *labels, "total"]
    for month, row in _aging_rows(report):
        yield [month, row.currency, *(row.amounts[label] for label in labels), row.total]
