"""The close workbook stays the same, cell for cell, whatever writes it.

``fixtures/close-seeded-acafa4c.xlsx`` is the workbook commit acafa4c's code wrote
(openpyxl, one cell at a time) for the bench's seeded ledger (``bench/close.py``,
4,000 invoices, seed 7), made by running this module:

    .venv/bin/python -m tests.close.test_workbook_cells \
        tests/close/fixtures/close-seeded-acafa4c.xlsx

The test rebuilds the same ledger on each backend and compares every cell's value,
formula, number format, bold and alignment, the column widths, the frozen panes and
the filters with that file. Numbers compare as decimals: an amount written ``1200.00``
by one writer and ``1200`` by another is the same figure to a spreadsheet.
"""

from __future__ import annotations

import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Engine

from activities.approvals.matrix import load_matrix
from activities.billing.tax import load_tax_table
from activities.close.checklist import load_checklist
from activities.close.outputs import workbook_name, write_outputs
from activities.close.report import build_report, snapshot
from activities.ledger.db import make_engine, migrate, session_factory
from activities.paths import REPO_ROOT
from bench.close import PERIOD, TIMEZONE, load

FIXTURE = Path(__file__).parent / "fixtures" / "close-seeded-acafa4c.xlsx"
INVOICES, SEED = 4_000, 7


def seeded_workbook(engine: Engine, directory: Path) -> Path:
    """Load the bench's seeded ledger into ``engine`` and write its close's outputs."""
    load(engine, INVOICES, SEED)
    config = REPO_ROOT / "config"
    thresholds = load_checklist(config, load_matrix(config)).thresholds
    tax_table = load_tax_table(config / "tax_rates.yaml")
    with session_factory(engine)() as session, session.begin():
        snapshot(session)
        report = build_report(session, PERIOD, TIMEZONE, thresholds, tax_table)
    write_outputs(report, directory)
    return directory / workbook_name(str(PERIOD))


def _same(value: Any) -> Any:
    return Decimal(str(value)) if isinstance(value, int | float) else value


def _look(sheet: Worksheet) -> dict[str, Any]:
    """Widths per column (a writer may store a run of equal widths as one range)."""
    widths = {
        column: d.width
        for d in sheet.column_dimensions.values()
        if d.width
        for column in range(d.min or 0, (d.max or 0) + 1)
    }
    return {"widths": widths, "freeze": sheet.freeze_panes, "filter": sheet.auto_filter.ref}


def test_the_workbook_is_the_same_cell_for_cell(engine: Engine, tmp_path: Path) -> None:
    before = openpyxl.load_workbook(FIXTURE)
    after = openpyxl.load_workbook(seeded_workbook(engine, tmp_path / "close"))
    assert after.sheetnames == before.sheetnames
    compared = formulas = 0
    for old in before.worksheets:
        new = after[old.title]
        assert _look(new) == _look(old), old.title
        rows = max(old.max_row, new.max_row)
        columns = max(old.max_column, new.max_column)
        for row in range(1, rows + 1):
            for column in range(1, columns + 1):
                was, now = old.cell(row, column), new.cell(row, column)
                where = f"{old.title}!{was.coordinate}"
                assert _same(now.value) == _same(was.value), where
                if was.value is None:
                    continue
                assert now.number_format == was.number_format, where
                assert bool(now.font.b) == bool(was.font.b), where
                assert now.alignment.horizontal == was.alignment.horizontal, where
                compared += 1
                formulas += was.data_type == "f"
    # The fixture is a whole close: registers of a few hundred rows, totals and checks.
    assert compared > 5_000 and formulas > 30


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        ledger = make_engine(f"sqlite:///{scratch}/ledger.sqlite")
        migrate(ledger)
        seeded_workbook(ledger, Path(scratch) / "close").replace(sys.argv[1])
