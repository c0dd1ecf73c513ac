"""Screenshots of the close pack as an analyst opens it: headless LibreOffice renders sheets of
the workbook to PNG, beside the aging chart, into ``docs/close/``.

The ledger is the demo book (``seed-demo``: 300 customers, seed 7, as of 3 December 2026) in a
throwaway SQLite file, closed for November 2026, so anyone can rerun this and get the same
pictures. Needs LibreOffice and poppler (``apt-get install -y libreoffice-calc poppler-utils``;
this LibreOffice has no PNG export for spreadsheets, so it prints to PDF); the tests do not.

    .venv/bin/python scripts/close_screenshots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import openpyxl
from openpyxl.worksheet.properties import PageSetupProperties
from PIL import Image, ImageOps

from activities.approvals.matrix import load_matrix
from activities.billing.tax import load_tax_table
from activities.close.checklist import load_checklist
from activities.close.outputs import CHART_FILE, write_outputs
from activities.close.report import build_report
from activities.ledger.db import make_engine, migrate, session_factory
from activities.ledger.periods import Period
from activities.ledger.seed import seed_demo_book
from activities.paths import REPO_ROOT

PERIOD = Period(2026, 11)
AS_OF = date(2026, 12, 3)
TIMEZONE = "America/New_York"
#: The sheets shown, and the file each becomes.
SHEETS = {
    "Roll-forward": "workbook-roll-forward.png",
    "Invoice register": "workbook-invoice-register.png",
    "Cash applications": "workbook-cash-applications.png",
    "AR aging 12 months": "workbook-aging.png",
}
OUT = REPO_ROOT / "docs" / "close"
#: White pixels kept around the drawn part of a page.
MARGIN = 12


def close_pack(scratch: Path) -> Path:
    """Seed the demo book, close the period; returns the folder of outputs."""
    engine = make_engine(f"sqlite:///{scratch / 'ledger.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        seed_demo_book(session, count=300, seed=7, today=AS_OF)
    config = REPO_ROOT / "config"
    thresholds = load_checklist(config, load_matrix(config)).thresholds
    tax_table = load_tax_table(config / "tax_rates.yaml")
    with sessions() as session:
        report = build_report(session, PERIOD, TIMEZONE, thresholds, tax_table)
    directory = scratch / str(PERIOD)
    write_outputs(report, directory)
    engine.dispose()
    return directory


def render(workbook: Path, sheet: str, scratch: Path) -> Image.Image:
    """LibreOffice prints the sheet (alone, landscape, one page wide) to PDF; poppler turns
    the first page into pixels, cropped to what is drawn."""
    book = openpyxl.load_workbook(workbook)
    for other in [ws for ws in book.worksheets if ws.title != sheet]:
        book.remove(other)
    only = book[sheet]
    only.page_setup.orientation = "landscape"
    only.page_setup.fitToWidth = 1
    only.page_setup.fitToHeight = 0
    only.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    copy = scratch / "shot" / "sheet.xlsx"
    pdf_to_png = [str(copy.with_suffix(".pdf")), str(copy.with_suffix(""))]
    copy.parent.mkdir(exist_ok=True)
    book.save(copy)
    for command in (
        ["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(copy.parent), str(copy)],
        ["pdftoppm", "-f", "1", "-l", "1", "-r", "110", "-png", "-singlefile", *pdf_to_png],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=180)
    page = Image.open(copy.with_suffix(".png")).convert("RGB")
    drawn = ImageOps.invert(page).getbbox() or (0, 0, *page.size)
    left, top, right, bottom = drawn
    return page.crop((max(left - MARGIN, 0), max(top - MARGIN, 0), right + MARGIN, bottom + MARGIN))


#: The tools this script runs, each with the Debian package that has it.
TOOLS = {"soffice": "libreoffice-calc", "pdftoppm": "poppler-utils"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    out: Path = parser.parse_args().out
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: apt-get install -y {package}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="close-screenshots-") as name:
        scratch = Path(name)
        directory = close_pack(scratch)
        workbook = directory / f"close-{PERIOD}.xlsx"
        for sheet, file in SHEETS.items():
            render(workbook, sheet, scratch).save(out / file)
            print(out / file)
        shutil.copy(directory / CHART_FILE, out / CHART_FILE)
        print(out / CHART_FILE)


if __name__ == "__main__":
    main()
