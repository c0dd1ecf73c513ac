"""The official EN 16931 rules (the CEN schematron for CII, run by Saxon) on the Factur-X XML:
every kind passes them with nothing to warn about; a document breaking one is refused naming the
rule, id and text, and nothing is stored. (UBL and Peppol's rules: test_ubl.py.)"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.documents.business_rules import RuleSet, blocking_breaks, rule_breaks
from activities.documents.einvoice import check_einvoice, cii_xml
from activities.documents.errors import EInvoiceError
from activities.documents.store import einvoice_due, issue_invoice_documents
from activities.ledger.models import Document, DocumentKind
from tests.documents.kinds import KINDS, NOW, issue_kind

EINVOICED = [
    "renewal_with_discount_de",
    "upgrade_credit_and_charge",
    "quarterly_true_up",
    "cancellation_credit_note",
    "reverse_charge_eu",
    "greek_buyer",
    "cyrillic_buyer",
]


def test_the_kinds_that_get_an_einvoice_are_the_seven_eu_buyers(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    with sqlite_sessions.begin() as session:
        due = {name for name in KINDS if einvoice_due(issue_kind(session, name))}
    assert due == set(EINVOICED)


@pytest.mark.parametrize("name", EINVOICED)
def test_every_einvoice_kind_passes_the_official_rules_without_a_warning(
    sqlite_sessions: sessionmaker[Session], name: str
) -> None:
    with sqlite_sessions.begin() as session:
        documents = issue_invoice_documents(
            session, issue_kind(session, name), actor="test", now=NOW
        )
        (xml,) = [d.content for d in documents if d.kind == DocumentKind.CII_XML]
    assert rule_breaks(xml, RuleSet.EN16931_CII) == []


def test_line_amounts_that_do_not_sum_to_the_invoice_total_break_br_co_10(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    with sqlite_sessions.begin() as session:
        invoice = issue_kind(session, "renewal_with_discount_de")
        invoice.subtotal += Decimal("1.00")  # every line still adds up; their sum does not
        with pytest.raises(EInvoiceError, match=r"BR-CO-10: Sum of Invoice line net amount"):
            issue_invoice_documents(session, invoice, actor="test", now=NOW)
        assert session.scalars(select(Document)).all() == []


def test_a_changed_line_amount_is_named_by_the_official_rule(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    with_line = _renewal_xml(sqlite_sessions)
    broken = with_line.replace(b"<ram:LineTotalAmount>225.00<", b"<ram:LineTotalAmount>226.00<", 1)
    assert broken != with_line
    rules = [found.rule for found in rule_breaks(broken, RuleSet.EN16931_CII) if found.blocking]
    assert "BR-CO-10" in rules, rules
    with pytest.raises(EInvoiceError, match="BR-CO-10"):
        check_einvoice("INV-X", broken)


def test_reverse_charge_without_the_sellers_vat_id_breaks_br_ae_02(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    with sqlite_sessions.begin() as session:
        invoice = issue_kind(session, "reverse_charge_eu")
        assert invoice.seller is not None
        invoice.seller = {**invoice.seller, "vat_id": None}
        with pytest.raises(EInvoiceError, match=r"BR-AE-02: An Invoice that contains"):
            issue_invoice_documents(session, invoice, actor="test", now=NOW)
        assert session.scalars(select(Document)).all() == []


def test_a_currency_outside_iso_4217_breaks_br_cl_04(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    """The Factur-X XSD takes any three letters; the ledger refuses such a currency, so the
    XML is changed after it was built."""
    xml = _renewal_xml(sqlite_sessions).replace(
        b"<ram:InvoiceCurrencyCode>EUR<", b"<ram:InvoiceCurrencyCode>EUX<"
    )
    with pytest.raises(EInvoiceError, match=r"BR-CL-04: Invoice currency code MUST be coded"):
        check_einvoice("INV-X", xml)


def test_a_warning_is_logged_and_does_not_stop_the_document(
    sqlite_sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """The CEN warnings for CII name what the Factur-X XSD already refuses, so the XML
    is run through the rules alone: a warning is logged, not returned as blocking."""
    xml = _renewal_xml(sqlite_sessions).replace(
        b"<ram:CategoryCode>S<", b'<ram:CategoryCode listID="UNCL5305">S<', 1
    )
    (found,) = rule_breaks(xml, RuleSet.EN16931_CII)
    assert (found.rule, found.flag, found.blocking) == ("CII-DT-045", "warning", False)
    with caplog.at_level(logging.WARNING, logger="billing_ops.documents"):
        assert blocking_breaks("INV-W", xml, RuleSet.EN16931_CII) == []
    assert "invoice INV-W: e-invoice warning CII-DT-045: @listID should not be present" in (
        caplog.text
    )


def test_an_element_out_of_place_fails_the_facturx_xsd_by_name(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    """The XSD (compiled once per process) runs on the very tree the other checks read."""
    xml = _renewal_xml(sqlite_sessions).replace(
        b"<ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>",
        b"<ram:InvoiceCurrency>EUR</ram:InvoiceCurrency>",
    )
    with pytest.raises(
        EInvoiceError, match=r"INV-X: e-invoice fails the EN 16931 XSD: .*InvoiceCurrency\b"
    ):
        check_einvoice("INV-X", xml)
    with pytest.raises(EInvoiceError, match=r"INV-X: e-invoice is not well-formed XML"):
        check_einvoice("INV-X", xml[:-40])


def _renewal_xml(sessions: sessionmaker[Session]) -> bytes:
    with sessions.begin() as session:
        return cii_xml(issue_kind(session, "renewal_with_discount_de"))
