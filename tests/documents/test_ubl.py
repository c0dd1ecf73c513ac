"""Peppol BIS Billing 3.0 UBL: every invoice kind validates against the official UBL 2.1 XSD with
the ledger's figures; an invalid one is refused naming the rule, and nothing is stored."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.documents.errors import EInvoiceError
from activities.documents.peppol import PeppolConfig, PeppolConfigError, load_peppol
from activities.documents.store import issue_invoice_documents
from activities.documents.ubl import CAC, CBC, check_ubl, ubl_rule_errors, ubl_xml
from activities.ledger.models import Document, DocumentKind
from tests.documents.kinds import KINDS, NOW, issue_kind

NS = {"cac": CAC, "cbc": CBC}
SELLER, BUYER = "9935:IE6388047V", "0208:0123456749"


def _peppol(*customers: str) -> PeppolConfig:
    return PeppolConfig(seller_endpoint=SELLER, customers={c: BUYER for c in customers})


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_is_valid_ubl_with_the_ledgers_totals(
    sessions: sessionmaker[Session], name: str
) -> None:
    with sessions.begin() as session:
        invoice = issue_kind(session, name)
        xml = ubl_xml(invoice, seller_endpoint=SELLER, buyer_endpoint=BUYER)
        assert ubl_rule_errors(xml) == []
        document = etree.fromstring(xml)
        credit = invoice.total < 0
        assert etree.QName(document).localname == ("CreditNote" if credit else "Invoice")
        payable = Decimal(
            document.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) or ""
        )
        assert payable == (-invoice.total if credit else invoice.amount_due)
        tax = Decimal(document.findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=NS) or "")
        assert tax == abs(invoice.tax_total)
        line_tag = "cac:CreditNoteLine" if credit else "cac:InvoiceLine"
        assert len(document.findall(line_tag, NS)) == len(invoice.lines)
        endpoint = document.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
        assert endpoint is not None and (endpoint.get("schemeID"), endpoint.text) == (
            "0208",
            "0123456749",
        )


def test_a_customer_configured_for_peppol_gets_the_ubl_stored_beside_the_pdf(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        invoice = issue_kind(session, "reverse_charge_eu")
        documents = issue_invoice_documents(
            session, invoice, actor="test", now=NOW, peppol=_peppol(invoice.customer_id)
        )
        kinds = [d.kind for d in documents]
        assert kinds[0] == DocumentKind.INVOICE_PDF and DocumentKind.UBL_XML in kinds
        ubl = next(d for d in documents if d.kind == DocumentKind.UBL_XML)
        assert ubl.filename == f"{invoice.number}-ubl.xml"
        assert ubl_rule_errors(ubl.content) == []
        other = issue_kind(session, "renewal_with_discount_de")
        plain = issue_invoice_documents(session, other, actor="test", now=NOW, peppol=_peppol())
        assert DocumentKind.UBL_XML not in [d.kind for d in plain]


def test_ubl_that_breaks_a_rule_is_never_issued_and_names_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        invoice = issue_kind(session, "first_prorated_us_sales_tax")  # no CII: only UBL checks
        invoice.total += Decimal("1.00")  # the total no longer adds up
        with pytest.raises(EInvoiceError, match="Peppol UBL breaks BR-CO-15"):
            issue_invoice_documents(
                session, invoice, actor="test", now=NOW, peppol=_peppol(invoice.customer_id)
            )
        assert session.scalars(select(Document)).all() == []


def _seat_increase_ubl(sessions: sessionmaker[Session], buyer: str = BUYER) -> bytes:
    with sessions.begin() as session:
        invoice = issue_kind(session, "seat_increase")
        return ubl_xml(invoice, seller_endpoint=SELLER, buyer_endpoint=buyer)


def test_a_line_total_or_identifier_that_does_not_hold_is_named(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    document = etree.fromstring(_seat_increase_ubl(sqlite_sessions))
    line = document.find("cac:InvoiceLine/cbc:LineExtensionAmount", NS)
    assert line is not None and line.text
    line.text = str(Decimal(line.text) + 1)
    profile = document.find("cbc:ProfileID", NS)
    assert profile is not None
    profile.text = "urn:fdc:peppol.eu:2017:poacc:billing:1.0"
    rules = {error.split(":")[0] for error in ubl_rule_errors(etree.tostring(document))}
    # EN 16931: the lines no longer sum to the total; Peppol: the line is not quantity ×
    # price (R120) and the profile is not one of Peppol's (R007).
    assert {"BR-CO-10", "PEPPOL-EN16931-R120", "PEPPOL-EN16931-R007"} <= rules, rules


def test_a_currency_outside_iso_4217_is_named_by_the_en16931_code_list(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    """The UBL 2.1 XSD takes any currency code; EN 16931's code list rule does not."""
    xml = (
        _seat_increase_ubl(sqlite_sessions).replace(b'"USD"', b'"USX"').replace(b">USD<", b">USX<")
    )
    with pytest.raises(EInvoiceError, match=r"Peppol UBL breaks .*BR-CL-04: Invoice currency"):
        check_ubl("INV-X", xml)


def test_a_buyer_endpoint_scheme_peppol_does_not_know_is_refused(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    """config/peppol.yaml checks the shape of an id (four digits, a colon, an identifier);
    Peppol's code list of schemes (EAS) is checked by its rules."""
    xml = _seat_increase_ubl(sqlite_sessions, buyer="9999:0123456749")
    with pytest.raises(EInvoiceError, match=r"PEPPOL-EN16931-CL008: Electronic address"):
        check_ubl("INV-X", xml)


def test_the_xsd_names_an_element_out_of_place() -> None:
    xml = (
        f'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
        f'xmlns:cbc="{CBC}"><cbc:IssueDate>2026-12-01</cbc:IssueDate><cbc:ID>X</cbc:ID></Invoice>'
    ).encode()
    with pytest.raises(EInvoiceError, match=r"UBL 2\.1 XSD: .*ID"):
        check_ubl("INV-X", xml)


def test_a_bad_peppol_id_in_config_is_named(tmp_path: Path) -> None:
    path = tmp_path / "peppol.yaml"
    path.write_text('seller_endpoint: "9935:IE6388047V"\ncustomers:\n  CUS-1: "BE0123"\n')
    with pytest.raises(PeppolConfigError, match=r"customers: .*CUS-1: 'BE0123' is not a Peppol id"):
        load_peppol(path)


def test_the_shipped_config_names_nobody_yet() -> None:
    assert load_peppol().customers == {}
