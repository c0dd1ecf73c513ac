"""`billing-ops invoices show` and `invoices pdf` through the real command line."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from activities.documents.ubl import CAC, CBC, ubl_rule_errors
from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import Invoice
from activities.paths import CONFIG_DIR
from activities.settings import settings
from tests.cli.conftest import CliResult
from tests.documents.kinds import issue_kind


def _issue(env: dict[str, str], *names: str) -> None:
    with transaction(session_factory(make_engine(env["DATABASE_URL"]))) as session:
        for name in names:
            issue_kind(session, name)


def test_show_prints_the_invoice_and_pdf_writes_the_stored_document(
    cli: Callable[..., CliResult], ledger_env: dict[str, str], tmp_path: Path
) -> None:
    assert cli("init-db")[0] == 0
    _issue(ledger_env, "reverse_charge_eu", "seat_increase")

    status, out, _ = cli("invoices", "show", "INV-000001")
    assert status == 0
    assert "Invoice INV-000001" in out and "Van der Berg B.V." in out
    assert "Reverse charge" in out and "NL000099998B57" in out and "PO-4711" in out
    assert "Amount due: € 186,00" in " ".join(out.replace("\xa0", " ").split())

    target = tmp_path / "copy.pdf"
    status, out, _ = cli("invoices", "pdf", "INV-000001", "-o", str(target))
    assert status == 0 and "INV-000001.pdf written" in out
    first = target.read_bytes()
    assert "INV-000001" in (PdfReader(BytesIO(first)).pages[0].extract_text() or "")
    assert cli("invoices", "pdf", "INV-000001", "-o", str(target))[0] == 0
    assert target.read_bytes() == first  # the stored document, byte for byte

    xml = tmp_path / "copy.xml"
    assert cli("invoices", "pdf", "INV-000001", "--xml", "-o", str(xml))[0] == 0
    assert b"urn:cen.eu:en16931:2017" in xml.read_bytes()


def test_user_errors_are_one_line_and_write_nothing(
    cli: Callable[..., CliResult],
    cli_process: Callable[..., subprocess.CompletedProcess[str]],
    ledger_env: dict[str, str],
    tmp_path: Path,
) -> None:
    assert cli("init-db")[0] == 0
    _issue(ledger_env, "seat_increase")
    status, _, err = cli("invoices", "pdf", "INV-999999", "-o", str(tmp_path / "x.pdf"))
    assert status == 1 and "INV-999999" in err and not (tmp_path / "x.pdf").exists()
    status, _, err = cli("invoices", "pdf", "INV-000001", "--xml", "-o", str(tmp_path / "x.xml"))
    assert status == 1 and "no e-invoice" in err and not (tmp_path / "x.xml").exists()
    done = cli_process("invoices", "pdf", "INV-000001", "-o", str(tmp_path / "no" / "x.pdf"))
    assert done.returncode == 1 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_xml_writes_the_peppol_ubl_for_a_peppol_customer(
    cli: Callable[..., CliResult],
    ledger_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    (config / "peppol.yaml").write_text(
        'seller_endpoint: "9935:IE6388047V"\n'
        'customers: {"CUS-US": "0088:4035811991014", "CUS-NL": "0106:12345678"}\n'
    )
    monkeypatch.setenv("CONFIG_DIR", str(config))
    settings.cache_clear()
    assert cli("init-db")[0] == 0
    # A US buyer on Peppol (UBL only) and an EU buyer on Peppol (CII inside the PDF, and UBL).
    _issue(ledger_env, "first_prorated_us_sales_tax", "reverse_charge_eu")
    engine = make_engine(ledger_env["DATABASE_URL"])
    for number, endpoint in (("INV-000001", "4035811991014"), ("INV-000002", "12345678")):
        target = tmp_path / f"{number}.xml"
        status, out, err = cli("invoices", "pdf", number, "--xml", "-o", str(target))
        assert status == 0, err
        assert f"{number}-ubl.xml written" in out
        xml = target.read_bytes()
        assert ubl_rule_errors(xml) == []
        document = etree.fromstring(xml)
        ns = {"cac": CAC, "cbc": CBC}
        assert document.findtext("cbc:ID", namespaces=ns) == number
        assert (
            document.findtext("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", namespaces=ns)
            == endpoint
        )
        with transaction(session_factory(engine)) as session:
            invoice = session.query(Invoice).filter_by(number=number).one()
            payable = document.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ns)
            assert Decimal(payable or "") == invoice.amount_due
        # The PDF is still the PDF.
        pdf = tmp_path / f"{number}.pdf"
        assert cli("invoices", "pdf", number, "-o", str(pdf))[0] == 0
        assert pdf.read_bytes().startswith(b"%PDF")
