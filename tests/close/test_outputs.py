"""The workbook opens with openpyxl, its totals (formulas) equal the ledger's, the CSVs say the
same, and a re-run replaces the outputs."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.close.outputs import CHART_FILE, write_outputs
from activities.close.report import CloseReport
from activities.close.workbook import (
    AGING_SHEET,
    CHECK,
    RF_CLOSING_ROW,
    RF_DIFFERENCE_ROW,
    RF_FROM_INVOICES_ROW,
    RF_HEADER_ROW,
    ROLL_FORWARD_SHEET,
)
from activities.ledger.models import Invoice, InvoiceStatus, PaymentApplication
from tests.close.book import EXPECTED
from tests.close.formulas import value

Report = Callable[[sessionmaker[Session], str], CloseReport]

NOVEMBER_STARTS = datetime(2026, 11, 1, 4, tzinfo=UTC)
NOVEMBER_CUT_OFF = datetime(2026, 12, 1, 5, tzinfo=UTC)


def _columns(sheet: Worksheet, row: int) -> dict[str, str]:
    return {
        str(cell.value): get_column_letter(index)
        for index, cell in enumerate(sheet[row], 1)
        if cell.value
    }


def _totals(sheet: Worksheet, column: str) -> dict[str, Decimal]:
    """The per-currency total rows of a register sheet, formulas evaluated."""
    return {
        str(row[0].value).removeprefix("Total "): value(sheet, f"{column}{row[0].row}")
        for row in sheet.iter_rows(min_row=5)
        if str(row[0].value or "").startswith("Total ")
    }


def test_the_workbook_totals_equal_the_ledger(
    book: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    files = write_outputs(close_report(book, "2026-11"), tmp_path / "2026-11")
    assert files[0].name == "close-2026-11.xlsx"
    workbook = openpyxl.load_workbook(files[0])
    assert workbook.sheetnames == [
        ROLL_FORWARD_SHEET,
        "Exceptions",
        "Invoice register",
        "Invoice lines",
        "Cash receipts",
        "Cash applications",
        "Credit notes & write-offs",
        "Refunds",
        "Unapplied cash",
        "Usage not yet billed",
        AGING_SHEET,
    ]

    sheet = workbook[ROLL_FORWARD_SHEET]
    for currency, column in _columns(sheet, RF_HEADER_ROW).items():
        if currency.startswith(CHECK):
            continue  # the check columns: tests/close/test_workbook.py
        closing = Decimal(EXPECTED["2026-11"][currency][-1])
        assert value(sheet, f"{column}{RF_CLOSING_ROW}") == closing, currency
        assert value(sheet, f"{column}{RF_FROM_INVOICES_ROW}") == closing, currency
        assert value(sheet, f"{column}{RF_DIFFERENCE_ROW}") == 0, currency

    with book() as session:
        issued = dict(
            session.execute(
                select(Invoice.currency, func.sum(Invoice.amount_due))
                .where(
                    Invoice.issue_date.between(date(2026, 11, 1), date(2026, 11, 30)),
                    Invoice.status.not_in([InvoiceStatus.DRAFT, InvoiceStatus.VOID]),
                )
                .group_by(Invoice.currency)
            ).all()
        )
        applied = dict(
            session.execute(
                select(Invoice.currency, func.sum(PaymentApplication.amount))
                .join(Invoice, Invoice.id == PaymentApplication.invoice_id)
                .where(
                    PaymentApplication.applied_at >= NOVEMBER_STARTS,
                    PaymentApplication.applied_at < NOVEMBER_CUT_OFF,
                )
                .group_by(Invoice.currency)
            ).all()
        )
    register = workbook["Invoice register"]
    assert (
        _totals(register, _columns(register, 4)["Amount due"])
        == issued
        == {"USD": Decimal("324.00")}
    )
    applications = workbook["Cash applications"]
    assert (
        _totals(applications, _columns(applications, 4)["Amount"])
        == applied
        == {
            "USD": Decimal("20.00"),
            "EUR": Decimal("500.00"),
        }
    )

    aging = workbook[AGING_SHEET]
    total = _columns(aging, 4)["Total"]
    last = {r[1].value: r[0].row for r in aging.iter_rows(min_row=5) if r[0].value == "2026-11"}
    assert {c: value(aging, f"{total}{row}") for c, row in last.items()} == {
        "USD": Decimal("379.00"),
        "EUR": Decimal("300.00"),
    }


def test_the_csvs_say_what_the_workbook_says(
    book: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    directory = tmp_path / "2026-10"
    write_outputs(close_report(book, "2026-10"), directory)
    with (directory / "roll-forward.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    currencies = rows[0][1:]
    assert rows[0][0] == "line" and sorted(currencies) == sorted(EXPECTED["2026-10"])
    for index, currency in enumerate(currencies, 1):
        expected = EXPECTED["2026-10"][currency]
        assert [r[index] for r in rows[1:9]] == list(expected)
        assert rows[-1][0] == "Difference" and Decimal(rows[-1][index]) == 0
    with (directory / "invoice-register.csv").open(newline="") as handle:
        register = list(csv.reader(handle))
    totals = {row[0]: row for row in register if row[0].startswith("Total ")}
    assert totals["Total USD"][13] == "283.00"  # A2 208 + B1 75
    assert totals["Total EUR"][13] == "800.00"
    assert (directory / CHART_FILE).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_rerun_replaces_the_outputs(
    sqlite_book: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    directory = tmp_path / "2026-11"
    first = write_outputs(close_report(sqlite_book, "2026-11"), directory)
    (directory / "notes-from-last-run.txt").write_text("stale")
    second = write_outputs(close_report(sqlite_book, "2026-11"), directory)
    assert [p.name for p in first] == [p.name for p in second]
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in second)
    assert [p.name for p in tmp_path.iterdir()] == ["2026-11"]  # no staging folder left


def test_an_empty_report_says_so(
    sqlite_sessions: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    files = write_outputs(close_report(sqlite_sessions, "2026-11"), tmp_path / "2026-11")
    workbook = openpyxl.load_workbook(files[0])
    usage = workbook["Usage not yet billed"]
    assert "Nothing to report yet" in str(usage["A2"].value)
    assert workbook["Exceptions"]["A2"].value.startswith("No exceptions")
