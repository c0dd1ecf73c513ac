"""The close workbook read as a spreadsheet tool reads it: every figure is a stored value (a
reader that does not calculate sees it), each check formula recomputes the figure beside it,
every cell of the previous release's workbook is still there, and the sheets open readable
(columns wide enough for their numbers, frozen headers, filters on the registers).

``fixtures/close-2026-1?-08db043.xlsx`` are the workbooks commit 08db043 wrote for the
hand-checked book (before the figures became values and the sheets got widths and filters);
they were written once with that commit's code and are compared cell by cell.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import range_boundaries
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session, sessionmaker

from activities.close.outputs import write_outputs
from activities.close.report import CloseReport
from activities.close.workbook import (
    AGING_SHEET,
    CHECK,
    RF_CLOSING_ROW,
    RF_DIFFERENCE_ROW,
    RF_FROM_INVOICES_ROW,
    RF_HEADER_ROW,
    ROLL_FORWARD_SHEET,
    TABLE_HEADER_ROW,
)
from tests.close.book import EXPECTED
from tests.close.formulas import value

Report = Callable[[sessionmaker[Session], str], CloseReport]
FIXTURES = Path(__file__).parent / "fixtures"


def _workbook(book: sessionmaker[Session], close_report: Report, period: str, tmp: Path) -> Path:
    return write_outputs(close_report(book, period), tmp / period)[0]


def _number(cell_value: object) -> Decimal:
    assert isinstance(cell_value, int | float | Decimal), cell_value
    return Decimal(str(cell_value))


@pytest.mark.parametrize("period", ["2026-10", "2026-11"])
def test_every_cell_of_the_previous_workbook_is_still_there(
    book: sessionmaker[Session], close_report: Report, tmp_path: Path, period: str
) -> None:
    """Same sheets, same cells; where 08db043 wrote a formula, its result is now the value."""
    before = openpyxl.load_workbook(FIXTURES / f"close-{period}-08db043.xlsx")
    after = openpyxl.load_workbook(_workbook(book, close_report, period, tmp_path), data_only=True)
    assert after.sheetnames == before.sheetnames
    compared = formulas = 0
    for old in before.worksheets:
        new = after[old.title]
        for row in old.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                where = f"{old.title}!{cell.coordinate}"
                got = new[cell.coordinate].value
                if cell.data_type == "f":
                    formulas += 1
                    assert _number(got) == value(old, cell.coordinate), where
                elif isinstance(cell.value, int | float):
                    assert _number(got) == _number(cell.value), where
                else:
                    assert got == cell.value, where
                compared += 1
    assert compared > 300 and formulas > 20  # the fixture is the whole workbook, totals and all


def test_a_reader_that_does_not_calculate_sees_every_figure(
    book: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    """openpyxl's ``data_only`` reads what pandas reads: the stored values, no formulas."""
    path = _workbook(book, close_report, "2026-11", tmp_path)
    stored = openpyxl.load_workbook(path, data_only=True)
    sheet = stored[ROLL_FORWARD_SHEET]
    expected = EXPECTED["2026-11"]
    currencies = {k: v for k, v in _header(sheet).items() if k in expected}
    assert sorted(currencies) == sorted(EXPECTED["2026-11"])
    for currency, column in currencies.items():
        closing = Decimal(EXPECTED["2026-11"][currency][-1])
        assert _number(sheet[f"{column}{RF_CLOSING_ROW}"].value) == closing, currency
        assert _number(sheet[f"{column}{RF_FROM_INVOICES_ROW}"].value) == closing, currency
        assert _number(sheet[f"{column}{RF_DIFFERENCE_ROW}"].value) == 0, currency
    for ws in stored.worksheets:
        for row in ws.iter_rows(min_row=TABLE_HEADER_ROW + 1):
            label = str(row[0].value or "")
            if label.startswith("Total ") and not label.startswith(CHECK):
                assert all(c.value is not None for c in row[1:] if c.number_format != "General")


def test_each_check_formula_recomputes_the_figure_beside_it(
    book: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    path = _workbook(book, close_report, "2026-11", tmp_path)
    workbook = openpyxl.load_workbook(path)
    checked = 0

    sheet = workbook[ROLL_FORWARD_SHEET]
    header = _header(sheet)
    for title, check in header.items():
        if not title.startswith(CHECK):
            continue
        figure = header[title.removeprefix(f"{CHECK} ")]
        for line in (RF_CLOSING_ROW, RF_DIFFERENCE_ROW):
            assert str(sheet[f"{check}{line}"].value).startswith("=")
            assert value(sheet, f"{check}{line}") == value(sheet, f"{figure}{line}")
            checked += 1
    assert checked == 2 * len(EXPECTED["2026-11"])

    for ws in workbook.worksheets:
        totals = {str(r[0].value): r for r in ws.iter_rows() if _is_total(r[0].value)}
        for row in ws.iter_rows():
            label = str(row[0].value or "")
            if not label.startswith(f"{CHECK}: total "):
                continue
            total = totals[f"Total {label.removeprefix(f'{CHECK}: total ')}"]
            for cell, shown in zip(row[1:], total[1:], strict=True):
                if cell.data_type == "f":
                    assert value(ws, cell.coordinate) == _number(shown.value), cell.coordinate
                    checked += 1
    aging = workbook[AGING_SHEET]
    columns = _header(aging)
    for number in range(TABLE_HEADER_ROW + 1, aging.max_row + 1):
        formula = f"{columns[f'Total: {CHECK}']}{number}"
        assert value(aging, formula) == _number(aging[f"{columns['Total']}{number}"].value)
        checked += 1
    assert checked > 20


def _shown(cell_value: object, number_format: str) -> int:
    """Characters the cell needs on screen in its format (money with separators)."""
    if isinstance(cell_value, int | float) and number_format != "General":
        digits = number_format.count("0") - 1 if "." in number_format else 0
        return len(f"{cell_value:,.{digits}f}")
    return len(str(cell_value))


def test_the_sheets_open_readable(
    book: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    """No ``###``: every number fits its column; headers frozen; filters on the registers."""
    workbook = openpyxl.load_workbook(_workbook(book, close_report, "2026-11", tmp_path))
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes is not None and int(sheet.freeze_panes[1:]) > TABLE_HEADER_ROW
        for row in sheet.iter_rows(min_row=TABLE_HEADER_ROW):
            for index, cell in enumerate(row, 1):
                if isinstance(cell.value, int | float) or cell.row == TABLE_HEADER_ROW:
                    width = _width(sheet, index)
                    shown = _shown(cell.value, cell.number_format)
                    assert width >= shown, f"{sheet.title}!{cell.coordinate}: {width} < {shown}"
    register = workbook["Invoice register"]
    assert _filter_rows(register) == (TABLE_HEADER_ROW, _last_total_row(register))
    assert workbook["Usage not yet billed"].auto_filter.ref is None  # no rows, nothing to filter


def _width(sheet: Worksheet, index: int) -> float:
    """The width a spreadsheet shows for column ``index``: a writer may store a run of
    columns of one width as a single range, which openpyxl keys by its first column."""
    for dimension in sheet.column_dimensions.values():
        if (dimension.min or 0) <= index <= (dimension.max or 0):
            return float(dimension.width)
    return float(sheet.column_dimensions[get_column_letter(index)].width)


def _last_total_row(sheet: Worksheet) -> int:
    return max(n for n, r in enumerate(sheet.iter_rows(), 1) if _is_total(r[0].value))


def _is_total(label: object) -> bool:
    return str(label).startswith("Total ")


def _header(sheet: Worksheet) -> dict[str, str]:
    """Column letters by title, from the header row (the roll-forward's and the tables' row 4)."""
    assert RF_HEADER_ROW == TABLE_HEADER_ROW
    row = sheet[TABLE_HEADER_ROW]
    return {str(c.value): get_column_letter(i) for i, c in enumerate(row, 1) if c.value}


def _filter_rows(sheet: Worksheet) -> tuple[int, int]:
    """The rows the filter covers; it spans every column of the header."""
    first_column, first, last_column, last = range_boundaries(str(sheet.auto_filter.ref))
    assert (first_column, last_column) == (1, len([c for c in sheet[TABLE_HEADER_ROW] if c.value]))
    assert first is not None and last is not None
    return first, last


def test_each_check_formula_stores_the_figure_as_its_result(
    book: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    """A reader that does not calculate sees, in a check formula's cell, what the formula
    gives (xlsxwriter would store 0 unless told the result)."""
    path = _workbook(book, close_report, "2026-11", tmp_path)
    formulas = openpyxl.load_workbook(path)
    stored = openpyxl.load_workbook(path, data_only=True)
    checked = 0
    for sheet in formulas.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type != "f":
                    continue
                where = f"{sheet.title}!{cell.coordinate}"
                result = stored[sheet.title][cell.coordinate].value
                assert _number(result) == value(sheet, cell.coordinate), where
                checked += 1
    assert checked > 20
