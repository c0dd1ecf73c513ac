"""Write the example documents under docs/examples/documents: `python -m tests.documents.examples`.

Issues a few of the test book's invoices into a throwaway SQLite ledger,
writes their PDFs (and e-invoice XML) and renders the first page of each PDF
to PNG with pdftoppm (Debian's poppler-utils), so a reader can look at them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from activities.documents.store import issue_invoice_documents
from activities.ledger.db import make_engine, migrate
from activities.ledger.invoices import issue_invoice
from activities.paths import REPO_ROOT
from tests.documents.kinds import JP, NOW, add_customer, issue_kind, yen

EXAMPLES = (
    "renewal_with_discount_de",
    "upgrade_credit_and_charge",
    "reverse_charge_eu",
    "cancellation_credit_note",
    "jpy_no_minor_unit",
    "first_prorated_us_sales_tax",
)
TARGET = REPO_ROOT / "docs" / "examples" / "documents"
#: A buyer whose legal name and address are in Japanese: printed in the CJK face.
KANJI = replace(
    JP, customer_id="CUS-JP-KANJI", name="株式会社さくら商事", city="東京都千代田区丸の内"
)


def to_png(pdf: Path, dpi: int = 80) -> Path:
    """The first page of ``pdf`` as ``<pdf>.png`` (pdftoppm names it; we rename)."""
    stem = pdf.with_suffix("")
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            str(dpi),
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(stem),
        ],
        check=True,
        timeout=60,
    )
    return stem.with_suffix(".png")


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/ledger.sqlite")
        migrate(engine)
        with sessionmaker(engine).begin() as session:
            for name in EXAMPLES:
                invoice = issue_kind(session, name)
                for document in issue_invoice_documents(session, invoice, actor="docs", now=NOW):
                    suffix = Path(document.filename).suffix
                    path = TARGET / f"{name}{'-factur-x' if suffix == '.xml' else ''}{suffix}"
                    path.write_bytes(document.content)
                    if suffix == ".pdf":
                        print(to_png(path).relative_to(REPO_ROOT))
            add_customer(session, KANJI)
            invoice = issue_invoice(
                session, KANJI.customer_id, yen(KANJI), source_key="kanji", actor="docs", now=NOW
            )
            (document,) = issue_invoice_documents(session, invoice, actor="docs", now=NOW)
            path = TARGET / "japanese_buyer_cjk.pdf"
            path.write_bytes(document.content)
            print(to_png(path).relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
