"""The close workbook (XLSX) and the same reports as CSV files.

One sheet per report. Every figure is written as the value we computed, so
a reader that does not calculate (pandas, ``openpyxl`` with ``data_only``,
a preview pane) sees it; openpyxl cannot store a formula's cached result, so
each computed total has a check formula beside it that a spreadsheet
recomputes from the rows (the roll-forward's check columns, the registers'
check rows below their last block, the aging sheet's formula column).
Amounts are exact decimals with their currency's decimals; times are UTC
(Excel has no timezones). Columns are as wide as their content, headers are
frozen and the registers have filters, so the sheets open readable.

Sheets are streamed (openpyxl's write-only mode): a register's rows go to the
file as they are written, and styled cells are made only for money and headers.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
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
RIGHT = Alignment(horizontal="right")

#: Where the roll-forward's rows sit (1-based), so tests and formulas agree.
RF_HEADER_ROW = 4
RF_OPENING_ROW = 5
RF_CLOSING_ROW = RF_OPENING_ROW + len(MOVEMENT_LINES) + 1
RF_FROM_INVOICES_ROW = RF_CLOSING_ROW + 1
RF_DIFFERENCE_ROW = RF_CLOSING_ROW + 2
TABLE_HEADER_ROW = 4
#: The heading of a roll-forward check column and of a register's check row.
CHECK = "Check (formula)"

#: Column widths in characters: never so narrow that a number shows ``###``, never wider
#: than a screen's share (long text stays whole in the cell; the column just shows less).
MIN_WIDTH, MAX_WIDTH = 8, 60
#: Characters a date or a UTC time shows in the workbook's default formats.
KIND_WIDTH = {"date": 10, "datetime": 19}
#: Room beside the widest value: LibreOffice's default font runs wider than Excel's.
PADDING = 3


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


def _heading(sheet: WriteOnlyWorksheet, title: str, over_numbers: bool) -> Any:
    """A column's title, right-aligned over numbers so it sits above them."""
    cell = _cell(sheet, title, bold=True)
    if over_numbers:
        cell.alignment = RIGHT
    return cell


def _shown_width(value: Any) -> int:
    """Characters a value takes on screen: money with its thousands separators."""
    if isinstance(value, Decimal):
        return len(f"{value:,}")
    if isinstance(value, datetime | date):
        return KIND_WIDTH["datetime" if isinstance(value, datetime) else "date"]
    return len(str(value))


def _set_widths(sheet: WriteOnlyWorksheet, widths: Iterable[int]) -> None:
    """Column widths, set before the first row (a streamed sheet writes them first)."""
    # A write-only sheet has the column dimensions and the filter of a full one (openpyxl
    # sets them up alike), but its type stubs leave them out.
    dimensions = sheet.column_dimensions  # type: ignore[attr-defined]
    for index, width in enumerate(widths, 1):
        dimensions[get_column_letter(index)].width = min(max(width + PADDING, MIN_WIDTH), MAX_WIDTH)


def _set_filter(sheet: WriteOnlyWorksheet, ref: str) -> None:
    """Filter buttons on the header row (a streamed sheet writes them after its rows)."""
    sheet.auto_filter.ref = ref  # type: ignore[attr-defined]


def _widest(values: Iterable[Any]) -> int:
    return max((_shown_width(v) for v in values if v is not None), default=0)


def _roll_forward_sheet(sheet: WriteOnlyWorksheet, report: CloseReport) -> None:
    cut_offs = report.cut_offs
    figures = report.roll_forward
    labels = ["Opening AR", *(label for _, label in MOVEMENT_LINES)]
    labels += ["Closing AR (roll-forward)", "Closing AR (open invoices at cut-off)", "Difference"]
    amounts = [
        [
            f.opening,
            *(f.movement(k) for k, _ in MOVEMENT_LINES),
            f.closing,
            f.closing_from_invoices,
            f.difference,
        ]
        for f in figures
    ]
    letters = [get_column_letter(2 + i) for i in range(len(figures))]
    column_width = max((_widest(a) for a in amounts), default=0)
    check_title = [f"{CHECK} {f.currency}" for f in figures]
    _set_widths(
        sheet,
        [
            _widest(labels),
            *([column_width] * len(figures)),
            0,
            *(max(column_width, len(t)) for t in check_title),
        ],
    )
    sheet.freeze_panes = f"B{RF_OPENING_ROW}"
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
        [
            _cell(sheet, "", bold=True),
            *(_heading(sheet, f.currency, True) for f in figures),
            None,
            *(_heading(sheet, title, True) for title in check_title),
        ]
    )
    last_movement = RF_CLOSING_ROW - 1
    check_formulas: dict[int, Callable[[str], Formula]] = {
        RF_CLOSING_ROW: lambda c: Formula(f"=SUM({c}{RF_OPENING_ROW}:{c}{last_movement})"),
        RF_DIFFERENCE_ROW: lambda c: Formula(f"={c}{RF_FROM_INVOICES_ROW}-{c}{RF_CLOSING_ROW}"),
    }
    for number, label in enumerate(labels, RF_OPENING_ROW):
        bold = number in check_formulas
        formula = check_formulas.get(number)
        row: list[Any] = [_cell(sheet, label, bold=bold)]
        row += [
            _cell(sheet, a[number - RF_OPENING_ROW], money_format(f.currency), bold)
            for f, a in zip(figures, amounts, strict=True)
        ]
        if formula is not None:
            row.append(None)
            row += [
                _cell(sheet, formula(c), money_format(f.currency))
                for f, c in zip(figures, letters, strict=True)
            ]
        sheet.append(row)
    sheet.append([])
    sheet.append(
        [
            "Closing AR (open invoices at cut-off) is computed independently: each booked "
            "invoice's open balance today, wound back by the cash and credit notes dated after "
            "the cut-off. A difference is a blocking exception; the Exceptions sheet lists the "
            "records behind it."
        ]
    )
    sheet.append(
        [
            f"The {CHECK} columns recompute the closing AR and the difference from the lines "
            "above with spreadsheet formulas; each matches the figure in its currency's column."
        ]
    )


def _table_sheet(sheet: WriteOnlyWorksheet, table: Table) -> None:
    headers = [_header(c) for c in table.columns]
    totals = table.totals() if table.currency_column is not None else {}
    _set_widths(sheet, _table_widths(table, headers, totals))
    sheet.freeze_panes = f"A{TABLE_HEADER_ROW + 1}"
    sheet.append([_cell(sheet, table.title, bold=True)])
    sheet.append([_plain(table.note or "")])
    sheet.append([])
    sheet.append(
        [_heading(sheet, h, c.kind != "text") for h, c in zip(headers, table.columns, strict=True)]
    )
    last_column = get_column_letter(len(table.columns))
    if table.currency_column is None:
        for row in table.rows:
            sheet.append([_plain(v) for v in row])
        if table.rows:
            last_row = TABLE_HEADER_ROW + len(table.rows)
            _set_filter(sheet, f"A{TABLE_HEADER_ROW}:{last_column}{last_row}")
        return
    row_number = TABLE_HEADER_ROW
    ranges: list[tuple[str, int, int]] = []
    kinds = [c.kind for c in table.columns]
    for currency, rows in table.currency_blocks():
        fmt = money_format(currency)
        first = row_number + 1
        for row in rows:
            sheet.append(
                [
                    _cell(sheet, v, fmt) if kind == "money" else _plain(v)
                    for kind, v in zip(kinds, row, strict=True)
                ]
            )
        row_number += len(rows)
        sheet.append(_total_row(sheet, table, currency, totals[currency]))
        ranges.append((currency, first, row_number))
        row_number += 1
    if ranges:
        _set_filter(sheet, f"A{TABLE_HEADER_ROW}:{last_column}{row_number}")
        sheet.append([])
        for currency, first, last in ranges:
            sheet.append(_check_row(sheet, table, currency, first, last))


def _table_widths(
    table: Table, headers: Sequence[str], totals: dict[str, dict[int, Decimal]]
) -> list[int]:
    """Each column as wide as its header, its widest value and its totals (with builtins
    over whole columns: a register has some 40,000 rows at a million invoices)."""
    widths = [len(h) for h in headers]
    for index, column in enumerate(table.columns):
        present = [v for row in table.rows if (v := row[index]) is not None]
        if not present:
            continue
        if column.kind in KIND_WIDTH:
            widest = KIND_WIDTH[column.kind]
        elif column.kind == "money":  # the widest amount is the largest either side of zero
            widest = max(_shown_width(max(present)), _shown_width(min(present)))
        else:
            widest = max(map(len, map(str, present)))
        widths[index] = max(widths[index], widest)
    for by_column in totals.values():
        for index, amount in by_column.items():
            widths[index] = max(widths[index], _shown_width(amount))
    if totals:
        widths[0] = max(widths[0], len(f"{CHECK}: total XXX"))
    return widths


def _total_row(
    sheet: WriteOnlyWorksheet, table: Table, currency: str, totals: dict[int, Decimal]
) -> list[Any]:
    fmt = money_format(currency)
    row: list[Any] = [_cell(sheet, f"Total {currency}", bold=True)]
    for index, column in enumerate(table.columns[1:], 1):
        if column.kind == "money":
            row.append(_cell(sheet, totals[index], fmt, True))
        elif index == table.currency_column:
            row.append(_cell(sheet, currency, bold=True))
        else:
            row.append(None)
    return row


def _check_row(
    sheet: WriteOnlyWorksheet, table: Table, currency: str, first: int, last: int
) -> list[Any]:
    """The currency's totals again, as formulas over its rows: a spreadsheet recomputes them."""
    fmt = money_format(currency)
    row: list[Any] = [_cell(sheet, f"{CHECK}: total {currency}")]
    for index, column in enumerate(table.columns[1:], 1):
        letter = get_column_letter(index + 1)
        if column.kind == "money":
            row.append(_cell(sheet, Formula(f"=SUM({letter}{first}:{letter}{last})"), fmt))
        elif index == table.currency_column:
            row.append(currency)
        else:
            row.append(None)
    return row


def _aging_sheet(sheet: WriteOnlyWorksheet, report: CloseReport) -> None:
    labels = [b.label for b in report.aging.at_cut_off.buckets]
    headers = ("Month", "Currency", *labels, "Total", f"Total: {CHECK}")
    rows = list(_aging_rows(report))
    amounts = [a for _, r in rows for a in (*r.amounts.values(), r.total)]
    money_width = _widest(amounts)
    _set_widths(sheet, [max(len(h), 7 if i < 2 else money_width) for i, h in enumerate(headers)])
    sheet.freeze_panes = f"C{TABLE_HEADER_ROW + 1}"
    sheet.append([_cell(sheet, "AR by aging bucket at each month-end", bold=True)])
    sheet.append(["Days past due at each month's last day; one row per currency, never mixed."])
    sheet.append([])
    sheet.append([_heading(sheet, h, index >= 2) for index, h in enumerate(headers)])
    first_bucket = get_column_letter(3)
    last_bucket = get_column_letter(2 + len(labels))
    for number, (month, row) in enumerate(rows, TABLE_HEADER_ROW + 1):
        fmt = money_format(row.currency)
        sheet.append(
            [
                _plain(month),
                _plain(row.currency),
                *(_cell(sheet, row.amounts[label], fmt) for label in labels),
                _cell(sheet, row.total, fmt, True),
                _cell(sheet, Formula(f"=SUM({first_bucket}{number}:{last_bucket}{number})"), fmt),
            ]
        )
    if rows:
        last = get_column_letter(len(headers))
        _set_filter(sheet, f"A{TABLE_HEADER_ROW}:{last}{TABLE_HEADER_ROW + len(rows)}")


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
