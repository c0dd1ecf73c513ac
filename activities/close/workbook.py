"""The close workbook (XLSX) and the same reports as CSV files.

One sheet per report. Every figure is written as the value we computed, so
a reader that does not calculate (pandas, ``openpyxl`` with ``data_only``,
a preview pane) sees it; each computed total also has a check formula beside
it that a spreadsheet recomputes from the rows (the roll-forward's check
columns, the registers' check rows below their last block, the aging sheet's
formula column), stored with the figure as its cached result. Amounts are
exact decimals with their currency's decimals; times are UTC (Excel has no
timezones). Columns are as wide as their content, headers are frozen and the
registers have filters, so the sheets open readable.

The writer is xlsxwriter in constant-memory mode: each row goes to the file as
soon as the next one starts, and every cell is written by its type (text is
always written as text, never parsed as a formula, a number or a link). It
writes a register's cells about twice as fast as openpyxl's write-only mode
(bench/README.md, "Month-end close").
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_cell_to_rowcol, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from activities.billing.money import minor_digits
from activities.close.report import CloseReport
from activities.close.rollforward import MOVEMENT_LINES
from activities.close.tables import Column, Table
from activities.spreadsheet_text import Formula, spreadsheet_text

ROLL_FORWARD_SHEET = "Roll-forward"
AGING_SHEET = "AR aging 12 months"

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
#: How dates and UTC times are shown (the formats openpyxl gave them before).
DATE_FORMAT, DATETIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd h:mm:ss"
#: xlsxwriter adds Excel's cell padding (5 pixels of a 7-pixel digit) to a width it is
#: given; taking it off keeps the widths the file stores what they were with openpyxl.
CELL_PADDING = 5 / 7


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


#: The workbook's cell formats by look: number format, bold, right-aligned.
Formats = dict[tuple[str | None, bool, bool], Format]


class _Sheet:
    """One worksheet and the workbook's formats: cells written by type, row by row."""

    def __init__(self, book: Workbook, formats: Formats, title: str) -> None:
        self.book = book
        self.formats = formats
        self.sheet: Worksheet = book.add_worksheet(title)

    def style(
        self, fmt: str | None = None, bold: bool = False, right: bool = False
    ) -> Format | None:
        """The workbook's format for this look, made the first time it is asked for."""
        if fmt is None and not bold and not right:
            return None
        key = (fmt, bold, right)
        if key not in self.formats:
            properties: dict[str, Any] = {"bold": bold}
            if fmt is not None:
                properties["num_format"] = fmt
            if right:
                properties["align"] = "right"
            self.formats[key] = self.book.add_format(properties)
        return self.formats[key]

    def cell(
        self,
        row: int,
        column: int,
        value: Any,
        fmt: str | None = None,
        bold: bool = False,
        right: bool = False,
        cached: Any = None,
    ) -> None:
        """Write ``value`` at the 1-based ``row``, 0-based ``column`` by its type; a
        :class:`Formula` stores ``cached`` as its result."""
        value = _plain(value)
        style = self.style(fmt, bold, right)
        row -= 1
        if value is None or value == "":
            if style is not None:
                self.sheet.write_blank(row, column, None, style)
        elif isinstance(value, Formula):
            self.sheet.write_formula(row, column, value, style, cached)
        elif isinstance(value, str):
            self.sheet.write_string(row, column, value, style)
        elif isinstance(value, datetime | date):
            kind = DATETIME_FORMAT if isinstance(value, datetime) else DATE_FORMAT
            self.sheet.write_datetime(row, column, value, self.style(kind, bold, right))
        else:
            self.sheet.write_number(row, column, value, style)

    def line(self, row: int, values: Iterable[Any]) -> None:
        for column, value in enumerate(values):
            self.cell(row, column, value)

    def widths(self, widths: Iterable[int]) -> None:
        for column, width in enumerate(widths):
            shown = min(max(width + PADDING, MIN_WIDTH), MAX_WIDTH)
            self.sheet.set_column(column, column, shown - CELL_PADDING)

    def freeze(self, cell: str) -> None:
        self.sheet.freeze_panes(*xl_cell_to_rowcol(cell))

    def filter(self, ref: str) -> None:
        self.sheet.autofilter(ref)


def write_workbook(report: CloseReport, path: Path) -> None:
    book = Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    formats: Formats = {}
    _roll_forward_sheet(_Sheet(book, formats, ROLL_FORWARD_SHEET), report)
    for table in report.tables:
        _table_sheet(_Sheet(book, formats, table.title), table)
    _aging_sheet(_Sheet(book, formats, AGING_SHEET), report)
    book.close()


def _shown_width(value: Any) -> int:
    """Characters a value takes on screen: money with its thousands separators."""
    if isinstance(value, Decimal):
        return len(f"{value:,}")
    if isinstance(value, datetime | date):
        return KIND_WIDTH["datetime" if isinstance(value, datetime) else "date"]
    return len(str(value))


def _widest(values: Iterable[Any]) -> int:
    return max((_shown_width(v) for v in values if v is not None), default=0)


def _letter(index: int) -> str:
    """The letter of the 1-based column ``index``."""
    return str(xl_col_to_name(index - 1))


def _roll_forward_sheet(sheet: _Sheet, report: CloseReport) -> None:
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
    letters = [_letter(2 + i) for i in range(len(figures))]
    column_width = max((_widest(a) for a in amounts), default=0)
    check_title = [f"{CHECK} {f.currency}" for f in figures]
    sheet.widths(
        [
            _widest(labels),
            *([column_width] * len(figures)),
            0,
            *(max(column_width, len(t)) for t in check_title),
        ]
    )
    sheet.freeze(f"B{RF_OPENING_ROW}")
    sheet.cell(1, 0, f"AR roll-forward, {report.period}", bold=True)
    sheet.cell(
        2,
        0,
        f"From {cut_offs.starts_at:%Y-%m-%d %H:%M} to {cut_offs.cut_off:%Y-%m-%d %H:%M} "
        f"UTC (the month in {cut_offs.timezone}); one column per currency, never mixed.",
    )
    sheet.cell(RF_HEADER_ROW, 0, "", bold=True)
    for index, f in enumerate(figures, 1):
        sheet.cell(RF_HEADER_ROW, index, f.currency, bold=True, right=True)
    checks_from = len(figures) + 2
    for index, title in enumerate(check_title, checks_from):
        sheet.cell(RF_HEADER_ROW, index, title, bold=True, right=True)
    last_movement = RF_CLOSING_ROW - 1
    check_formulas: dict[int, Callable[[str], Formula]] = {
        RF_CLOSING_ROW: lambda c: Formula(f"=SUM({c}{RF_OPENING_ROW}:{c}{last_movement})"),
        RF_DIFFERENCE_ROW: lambda c: Formula(f"={c}{RF_FROM_INVOICES_ROW}-{c}{RF_CLOSING_ROW}"),
    }
    for number, label in enumerate(labels, RF_OPENING_ROW):
        bold = number in check_formulas
        formula = check_formulas.get(number)
        sheet.cell(number, 0, label, bold=bold)
        for index, (f, a) in enumerate(zip(figures, amounts, strict=True), 1):
            sheet.cell(number, index, a[number - RF_OPENING_ROW], money_format(f.currency), bold)
        if formula is None:
            continue
        for index, (f, a, c) in enumerate(zip(figures, amounts, letters, strict=True)):
            figure = a[number - RF_OPENING_ROW]
            sheet.cell(
                number, checks_from + index, formula(c), money_format(f.currency), cached=figure
            )
    notes = RF_DIFFERENCE_ROW + 2
    sheet.cell(
        notes,
        0,
        "Closing AR (open invoices at cut-off) is computed independently: each booked "
        "invoice's open balance today, wound back by the cash and credit notes dated after "
        "the cut-off. A difference is a blocking exception; the Exceptions sheet lists the "
        "records behind it.",
    )
    sheet.cell(
        notes + 1,
        0,
        f"The {CHECK} columns recompute the closing AR and the difference from the lines "
        "above with spreadsheet formulas; each matches the figure in its currency's column.",
    )


def _table_sheet(sheet: _Sheet, table: Table) -> None:
    headers = [_header(c) for c in table.columns]
    totals = table.totals() if table.currency_column is not None else {}
    sheet.widths(_table_widths(table, headers, totals))
    sheet.freeze(f"A{TABLE_HEADER_ROW + 1}")
    sheet.cell(1, 0, table.title, bold=True)
    sheet.cell(2, 0, table.note or "")
    for index, (h, c) in enumerate(zip(headers, table.columns, strict=True)):
        sheet.cell(TABLE_HEADER_ROW, index, h, bold=True, right=c.kind != "text")
    last_column = _letter(len(table.columns))
    if table.currency_column is None:
        for number, row in enumerate(table.rows, TABLE_HEADER_ROW + 1):
            sheet.line(number, row)
        if table.rows:
            last_row = TABLE_HEADER_ROW + len(table.rows)
            sheet.filter(f"A{TABLE_HEADER_ROW}:{last_column}{last_row}")
        return
    row_number = TABLE_HEADER_ROW
    ranges: list[tuple[str, int, int]] = []
    for currency, rows in table.currency_blocks():
        first = row_number + 1
        write = _row_writer(sheet, table.columns, money_format(currency))
        for row_number, row in enumerate(rows, first):
            write(row_number - 1, row)
        row_number = first + len(rows) - 1
        _total_row(sheet, row_number + 1, table, currency, totals[currency])
        ranges.append((currency, first, row_number))
        row_number += 1
    if ranges:
        sheet.filter(f"A{TABLE_HEADER_ROW}:{last_column}{row_number}")
        for number, (currency, first, last) in enumerate(ranges, row_number + 2):
            _check_row(sheet, number, table, currency, totals[currency], first, last)


def _row_writer(
    sheet: _Sheet, columns: Sequence[Column], money: str
) -> Callable[[int, Sequence[Any]], None]:
    """A register row's writer: one xlsxwriter call per cell, chosen once per column (the
    close writes some 1.7 million register cells at a million invoices)."""
    ws = sheet.sheet
    amount = sheet.style(money)
    date_style = sheet.style(DATE_FORMAT)
    datetime_style = sheet.style(DATETIME_FORMAT)

    def text(row: int, column: int, value: Any) -> None:
        if value:
            ws.write_string(row, column, spreadsheet_text(value))

    def number(row: int, column: int, value: Any) -> None:
        ws.write_number(row, column, value)

    def money_cell(row: int, column: int, value: Any) -> None:
        ws.write_number(row, column, value, amount)

    def day(row: int, column: int, value: Any) -> None:
        ws.write_datetime(row, column, value, date_style)

    def time(row: int, column: int, value: Any) -> None:
        ws.write_datetime(row, column, value.astimezone(UTC).replace(tzinfo=None), datetime_style)

    kinds = {"text": text, "number": number, "money": money_cell, "date": day, "datetime": time}
    writers = [(index, kinds[c.kind]) for index, c in enumerate(columns)]

    def write(row: int, values: Sequence[Any]) -> None:
        for column, writer in writers:
            value = values[column]
            if value is not None:
                writer(row, column, value)

    return write


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
    sheet: _Sheet, number: int, table: Table, currency: str, totals: dict[int, Decimal]
) -> None:
    fmt = money_format(currency)
    sheet.cell(number, 0, f"Total {currency}", bold=True)
    for index, column in enumerate(table.columns[1:], 1):
        if column.kind == "money":
            sheet.cell(number, index, totals[index], fmt, bold=True)
        elif index == table.currency_column:
            sheet.cell(number, index, currency, bold=True)


def _check_row(
    sheet: _Sheet,
    number: int,
    table: Table,
    currency: str,
    totals: dict[int, Decimal],
    first: int,
    last: int,
) -> None:
    """The currency's totals again, as formulas over its rows: a spreadsheet recomputes them."""
    fmt = money_format(currency)
    sheet.cell(number, 0, f"{CHECK}: total {currency}")
    for index, column in enumerate(table.columns[1:], 1):
        letter = _letter(index + 1)
        if column.kind == "money":
            formula = Formula(f"=SUM({letter}{first}:{letter}{last})")
            sheet.cell(number, index, formula, fmt, cached=totals[index])
        elif index == table.currency_column:
            sheet.cell(number, index, currency)


def _aging_sheet(sheet: _Sheet, report: CloseReport) -> None:
    labels = [b.label for b in report.aging.at_cut_off.buckets]
    headers = ("Month", "Currency", *labels, "Total", f"Total: {CHECK}")
    rows = list(_aging_rows(report))
    amounts = [a for _, r in rows for a in (*r.amounts.values(), r.total)]
    money_width = _widest(amounts)
    sheet.widths([max(len(h), 7 if i < 2 else money_width) for i, h in enumerate(headers)])
    sheet.freeze(f"C{TABLE_HEADER_ROW + 1}")
    sheet.cell(1, 0, "AR by aging bucket at each month-end", bold=True)
    sheet.cell(2, 0, "Days past due at each month's last day; one row per currency, never mixed.")
    for index, h in enumerate(headers):
        sheet.cell(TABLE_HEADER_ROW, index, h, bold=True, right=index >= 2)
    first_bucket = _letter(3)
    last_bucket = _letter(2 + len(labels))
    for number, (month, row) in enumerate(rows, TABLE_HEADER_ROW + 1):
        fmt = money_format(row.currency)
        sheet.line(number, (month, row.currency))
        for index, label in enumerate(labels, 2):
            sheet.cell(number, index, row.amounts[label], fmt)
        total = 2 + len(labels)
        sheet.cell(number, total, row.total, fmt, bold=True)
        formula = Formula(f"=SUM({first_bucket}{number}:{last_bucket}{number})")
        sheet.cell(number, total + 1, formula, fmt, cached=row.total)
    if rows:
        last = _letter(len(headers))
        sheet.filter(f"A{TABLE_HEADER_ROW}:{last}{TABLE_HEADER_ROW + len(rows)}")


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
