"""Invoice documents read as a customer reads them: the PDF's text against the ledger, the
e-invoice against the EN 16931 XSD and rules, stored bytes against their hash."""

from __future__ import annotations

import email
import hashlib
import re
import shutil
import socket
from collections.abc import Iterator
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import facturx
import pytest
from aiosmtpd.controller import Controller
from lxml import etree
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.money import format_money
from activities.documents.content import invoice_content
from activities.documents.einvoice import arithmetic_errors, cii_xml
from activities.documents.errors import EInvoiceError, GlyphError
from activities.documents.renderer import renderer_id
from activities.documents.store import (
    RendererChanged,
    check_rerender,
    document_bytes,
    issue_invoice_documents,
    render_invoice_documents,
)
from activities.ledger.errors import LedgerError
from activities.ledger.models import AuditEntry, Document, DocumentKind, Invoice
from activities.outbox import Email, Outbox, SmtpTransport
from tests.documents.kinds import KINDS, NOW, Buyer, add_customer, first_prorated, issue_kind

NS = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
}


def pdf_text(data: bytes) -> str:
    reader = PdfReader(BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())


def printed(value: str) -> str:
    return " ".join(value.replace("\xa0", " ").replace("\u202f", " ").split())


def money(invoice: Invoice, amount: Decimal) -> str:
    """An amount as the document prints it: in the invoice's locale, via babel."""
    from unicodedata import normalize

    return printed(normalize("NFKC", format_money(amount, invoice.currency, invoice.locale or "")))


def issued(session: Session, name: str) -> tuple[Invoice, list[Document]]:
    invoice = issue_kind(session, name)
    return invoice, issue_invoice_documents(session, invoice, actor="test", now=NOW)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_figure_on_the_pdf_is_the_ledgers(sessions: sessionmaker[Session], name: str) -> None:
    with sessions.begin() as session:
        invoice, documents = issued(session, name)
        text = pdf_text(document_bytes(documents[0]))
        credit = invoice.total < 0
        sign = -1 if credit else 1
        assert ("Credit note" if credit else "Invoice") in text
        assert invoice.number and invoice.number in text
        assert printed(invoice.buyer_name or "") in text
        for line in invoice.lines:
            assert money(invoice, sign * line.amount) in text, line.description
            assert money(invoice, sign * (line.amount - line.discount_amount)) in text
            if line.discount_amount:
                assert money(invoice, sign * line.discount_amount) in text
            assert printed(line.description) in text or line.description[:40] in text
        for figure in (invoice.subtotal, invoice.tax_total, invoice.total):
            assert money(invoice, sign * figure) in text
        if invoice.discount_total:
            assert money(invoice, -sign * invoice.discount_total) in text
        due_label = "Total credited" if credit else "Amount due"
        due = -invoice.total if credit else invoice.amount_due
        assert f"{due_label} {money(invoice, due)}" in text
        if invoice.po_number:
            assert invoice.po_number in text
        for note in (invoice.notes or {})["notes"]:
            assert printed(note)[:60] in text
        if not credit:
            assert invoice.payment_terms and printed(invoice.payment_terms) in text


def test_each_kind_prints_what_makes_it_that_kind(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        texts = {name: pdf_text(issued(session, name)[1][0].content) for name in KINDS}
        invoices = {i.source_key: i for i in session.scalars(select(Invoice))}
    assert "prorated" in texts["first_prorated_us_sales_tax"]
    assert "Sales tax" in texts["first_prorated_us_sales_tax"]
    assert "Unused time" in texts["upgrade_credit_and_charge"]
    assert "API calls" in texts["usage_in_arrears"]
    assert "Quarterly true-up" in texts["quarterly_true_up"]
    assert "Reverse charge" in texts["reverse_charge_eu"]
    assert "Article 196, Council Directive 2006/112/EC" in texts["reverse_charge_eu"]
    assert "NL000099998B57" in texts["reverse_charge_eu"]
    assert "Credit note" in texts["cancellation_credit_note"]
    assert "Ωμέγα Λογισμικό Α.Ε." in texts["greek_buyer"]
    assert "ООО «Ромашка»" in texts["cyrillic_buyer"]
    yen = invoices["kinds:jpy_no_minor_unit"]
    assert yen.total == yen.total.to_integral_value()
    assert "¥8,954" in texts["jpy_no_minor_unit"] and "8954.00" not in texts["jpy_no_minor_unit"]
    # German locale: comma decimals and day.month.year dates.
    assert "267,75 €" in texts["renewal_with_discount_de"]
    assert "01.12.2026" in texts["renewal_with_discount_de"]
    assert "Partner" not in texts["renewal_with_discount_de"]  # discounts print as amounts


EU_KINDS = sorted(n for n, (buyer, _) in KINDS.items() if buyer.currency == "EUR")


@pytest.mark.parametrize("name", EU_KINDS)
def test_eu_buyers_get_a_valid_en16931_einvoice_inside_the_pdf(
    sessions: sessionmaker[Session], name: str
) -> None:
    with sessions.begin() as session:
        invoice, documents = issued(session, name)
        kinds = [d.kind for d in documents]
        assert kinds[-1] == DocumentKind.CII_XML and len(kinds) == 2
        xml = document_bytes(documents[1])
        assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
        assert arithmetic_errors(xml) == []
        _, embedded = facturx.get_xml_from_pdf(documents[0].content, check_xsd=True)
        assert embedded == xml
        root = etree.fromstring(xml)
        credit = invoice.total < 0
        sign = -1 if credit else 1
        assert root.findtext(".//ram:TypeCode", namespaces=NS) == ("381" if credit else "380")
        grand = root.findtext(".//ram:GrandTotalAmount", namespaces=NS)
        assert Decimal(grand or "") == sign * invoice.total
        tax = root.findtext(".//ram:TaxTotalAmount", namespaces=NS)
        assert Decimal(tax or "") == sign * invoice.tax_total
        if not credit:
            due = root.findtext(".//ram:DuePayableAmount", namespaces=NS)
            assert Decimal(due or "") == invoice.amount_due
        lines = root.findall(".//ram:IncludedSupplyChainTradeLineItem", NS)
        assert [
            Decimal(x.findtext(".//ram:LineTotalAmount", namespaces=NS) or "") for x in lines
        ] == [sign * (line.amount - line.discount_amount) for line in invoice.lines]


def test_reverse_charge_einvoice_carries_category_ae_with_its_reason(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        invoice, documents = issued(session, "reverse_charge_eu")
        root = etree.fromstring(documents[1].content)
    header_tax = root.find(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
    assert header_tax is not None
    assert header_tax.findtext("ram:CategoryCode", namespaces=NS) == "AE"
    assert header_tax.findtext("ram:ExemptionReasonCode", namespaces=NS) == "VATEX-EU-AE"
    assert "Article 196" in (header_tax.findtext("ram:ExemptionReason", namespaces=NS) or "")
    assert invoice.tax_category == "AE" and all(line.tax_category == "AE" for line in invoice.lines)
    assert invoice.buyer_tax_id == "NL000099998B57"


def test_non_eu_buyers_get_the_pdf_alone(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for name in ("first_prorated_us_sales_tax", "jpy_no_minor_unit"):
            _, documents = issued(session, name)
            assert [d.kind for d in documents] == [DocumentKind.INVOICE_PDF]


def test_documents_are_issued_once_and_re_render_to_the_same_bytes(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        invoice, first = issued(session, "renewal_with_discount_de")
        again = issue_invoice_documents(session, invoice, actor="test", now=NOW)
        assert [d.id for d in again] == [d.id for d in first]
        check_rerender(invoice, first)  # raises unless the same bytes come out
        assert all(d.renderer == renderer_id() for d in first)
        # The PDF's own metadata carries the invoice's date, not the clock's.
        info = PdfReader(BytesIO(first[0].content)).metadata
        assert info is not None and "20261201" in str(info.get("/CreationDate"))
        issued_audits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "invoice.documents_issued")
        ).all()
        assert len(issued_audits) == 1


def test_a_re_rendering_reproduces_the_hash_or_says_the_renderer_changed(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        invoice, documents = issued(session, "reverse_charge_eu")
        assert len(documents) == 2  # the PDF and the CII XML
        check_rerender(invoice, documents)
        fresh = {kind: content for kind, _, _, content in render_invoice_documents(invoice)}
        assert {d.kind: d.sha256 for d in documents} == {
            kind: hashlib.sha256(content).hexdigest() for kind, content in fresh.items()
        }
        # Issued by an older renderer: said, with both renderers, and nothing compared.
        documents[0].renderer = "documents 1; fpdf2 2.8.4"
        with pytest.raises(
            RendererChanged, match=re.escape("issued by documents 1; fpdf2 2.8.4; this is ")
        ):
            check_rerender(invoice, documents)
        documents[0].renderer = None  # issued before renderers were recorded
        with pytest.raises(
            RendererChanged, match=re.escape("not recorded (issued before migration 0017)")
        ):
            check_rerender(invoice, documents)
        # The same renderer giving other bytes is never passed off as the issued document.
        documents[0].renderer = renderer_id()
        invoice.buyer_name = "Someone Else B.V."
        with pytest.raises(
            LedgerError, match=re.escape(f"{invoice.number}.pdf: re-rendered by the same")
        ):
            check_rerender(invoice, documents)


def test_altered_stored_bytes_are_refused(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _, documents = issued(session, "seat_increase")
        documents[0].content = documents[0].content + b"%altered\n"
        with pytest.raises(LedgerError, match="do not match their SHA-256"):
            document_bytes(documents[0])


def test_an_invalid_einvoice_is_never_issued_and_names_the_rule(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        invoice = issue_kind(session, "reverse_charge_eu")
        invoice.buyer_tax_id = None  # reverse charge without the buyer's VAT id: BR-AE-02
        invoice.buyer_tax_scheme = None
        with pytest.raises(EInvoiceError, match="BR-AE-02"):
            issue_invoice_documents(session, invoice, actor="test", now=NOW)
        invoice.buyer_tax_id, invoice.buyer_tax_scheme = "NL000099998B57", "eu_vat"
        invoice.tax_total += Decimal("1.00")  # totals that do not add up: BR-CO-14 / BR-CO-15
        with pytest.raises(EInvoiceError, match=r"BR-CO-1[45]"):
            issue_invoice_documents(session, invoice, actor="test", now=NOW)
        assert session.scalars(select(Document)).all() == []


def test_business_rules_catch_a_line_that_does_not_add_up(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        invoice = issue_kind(session, "renewal_with_discount_de")
        xml = cii_xml(invoice).replace(
            b"<ram:LineTotalAmount>225.00<", b"<ram:LineTotalAmount>226.00<"
        )
    errors = arithmetic_errors(xml)
    assert any(error.startswith("BR-LIN: line 1") for error in errors), errors


def _issue_for(session: Session, buyer: Buyer) -> Invoice:
    from activities.ledger.invoices import issue_invoice

    add_customer(session, buyer)
    return issue_invoice(
        session,
        buyer.customer_id,
        first_prorated(buyer),
        source_key=buyer.customer_id,
        actor="t",
        now=NOW,
    )


def test_a_japanese_name_prints_in_the_cjk_face_and_reads_back(
    sessions: sessionmaker[Session],
) -> None:
    name = "株式会社さくら商事"
    buyer = Buyer("CUS-CJK", name, "US", "USD", "東京都千代田区丸の内", "US-NY", "10001")
    with sessions.begin() as session:
        invoice = _issue_for(session, buyer)
        documents = issue_invoice_documents(session, invoice, actor="test", now=NOW)
        data = document_bytes(documents[0])
        check_rerender(invoice, documents)
    reader = PdfReader(BytesIO(data))
    fonts = {
        str(font["/BaseFont"])
        for font in reader.pages[0]["/Resources"]["/Font"].values()  # type: ignore[index]
    }
    assert any("NotoSansJP" in font for font in fonts), fonts
    # fpdf2 writes a CID-keyed CFF font with its own 2-byte encoding CMap; pypdf reads the
    # codes a byte at a time, so each character it maps through ToUnicode follows a NUL.
    packed = "".join(pdf_text(data).replace("\x00", "").split())
    assert name in packed and "東京都千代田区丸の内" in packed
    assert money(invoice, invoice.total).replace(" ", "") in packed


def test_a_korean_name_prints_in_the_hangul_face_and_reads_back(
    sessions: sessionmaker[Session],
) -> None:
    name = "주식회사 한빛소프트"
    city = "서울특별시 강남구"
    buyer = Buyer("CUS-KR", name, "US", "USD", city, "US-NY", "10001")
    with sessions.begin() as session:
        invoice = _issue_for(session, buyer)
        documents = issue_invoice_documents(session, invoice, actor="test", now=NOW)
        data = document_bytes(documents[0])
        check_rerender(invoice, documents)
    reader = PdfReader(BytesIO(data))
    fonts = {
        str(font["/BaseFont"])
        for font in reader.pages[0]["/Resources"]["/Font"].values()  # type: ignore[index]
    }
    assert any("NotoSansKR" in font for font in fonts), fonts
    packed = "".join(pdf_text(data).replace("\x00", "").split())
    assert "".join(name.split()) in packed and "".join(city.split()) in packed
    assert money(invoice, invoice.total).replace(" ", "") in packed
    assert money(invoice, invoice.amount_due).replace(" ", "") in packed


def test_a_latin_invoice_embeds_the_small_face_only(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _, documents = issued(session, "renewal_with_discount_de")
        reader = PdfReader(BytesIO(documents[0].content))
        fonts = reader.pages[0]["/Resources"]["/Font"].values()  # type: ignore[index]
        assert all("DejaVuSans" in str(font["/BaseFont"]) for font in fonts)


def test_a_name_no_font_can_draw_is_refused_with_the_characters(
    sessions: sessionmaker[Session],
) -> None:
    # Thai beside kanji: the CJK faces have the kanji, no face has the Thai.
    buyer = Buyer("CUS-TH", "สยาม 株式会社", "US", "USD", "New York", "US-NY", "10001")
    with sessions.begin() as session:
        invoice = _issue_for(session, buyer)
        with pytest.raises(GlyphError, match="ส") as refused:
            issue_invoice_documents(session, invoice, actor="test", now=NOW)
        assert "株" not in str(refused.value).split("draw")[1]
        assert session.scalars(select(Document)).all() == []


def test_the_invoice_snapshot_is_kept_as_at_issue(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        invoice = issue_kind(session, "reverse_charge_eu")
        before = invoice_content(invoice)
        invoice.customer.address_line1 = "99 Moved Street"
        invoice.customer.legal_name = "Renamed B.V."
        session.flush()
        after = invoice_content(invoice)
    assert before == after
    assert "1 Example Street" in after.buyer.lines and after.buyer.name == "Van der Berg B.V."
    assert invoice.seller and invoice.seller["vat_id"] == "IE6388047V"
    assert invoice.payment_instructions and invoice.payment_instructions["iban"].startswith("IE")
    assert invoice.locale == "nl_NL"


# --- Delivery -----------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_the_email_carries_the_pdf_and_the_xml_over_smtp_once(
    smtp_server: tuple[Inbox, int], sqlite_sessions: sessionmaker[Session]
) -> None:
    inbox, port = smtp_server
    with sqlite_sessions.begin() as session:
        invoice, documents = issued(session, "renewal_with_discount_de")
        ids = tuple(d.id for d in documents)
        stored = {d.filename: d.content for d in documents}
        number = invoice.number
    outbox = Outbox(
        sqlite_sessions, SmtpTransport("127.0.0.1", port, starttls=False), "billing@example.com"
    )
    message = Email(("ap@example.com",), f"Invoice {number}", "Attached.\n", documents=ids)
    first = outbox.send(f"invoice:{number}", "CUS-DE", message, NOW)
    again = outbox.send(f"invoice:{number}", "CUS-DE", message, NOW)
    assert not first.already_sent and again.already_sent
    assert len(inbox.messages) == 1
    received = email.message_from_bytes(inbox.messages[0].content)
    attachments = {
        part.get_filename(): part.get_payload(decode=True)
        for part in received.walk()
        if part.get_filename()
    }
    assert attachments == stored
    assert set(attachments) == {f"{number}.pdf", f"{number}-factur-x.xml"}


def test_a_dispute_credit_note_has_its_own_pdf_with_the_tax_split(
    sessions: sessionmaker[Session],
) -> None:
    from activities.disputes.store import issue_credit_note
    from activities.documents.store import settlement_documents

    with sessions.begin() as session:
        invoice = issue_kind(session, "renewal_with_discount_de")  # 225.00 net + 19 % VAT
        note = issue_credit_note(
            session,
            key="wf-1:settle:credit_note:INV",
            invoice_number=invoice.number or "",
            amount=Decimal("119.00"),
            reason="two seats billed after they were removed",
            actor="test",
            at=NOW,
        )
        documents = settlement_documents(session, "wf-1:settle", actor="test", now=NOW)
        assert [d.kind for d in documents] == [DocumentKind.CREDIT_NOTE_PDF]
        assert documents[0].credit_note_id == note.id
        text = pdf_text(document_bytes(documents[0]))
        # Nothing from another settlement's key prefix ("wf-10:...") is picked up.
        assert settlement_documents(session, "wf-", actor="test", now=NOW) == []
    assert "Credit note" in text and (note.number or "") in text
    assert f"Credit against invoice {invoice.number}" in text
    assert "100,00 €" in text and "19,00 €" in text and "119,00 €" in text  # net, VAT, total
    assert "Left as account credit 0,00 €" in text


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) missing; .ci/run installs it"
)
def test_the_pdf_renders_to_a_page_a_person_can_read(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """What a customer's viewer shows: poppler draws an A4 page with ink in the header,
    the lines table and the totals (a broken font or an empty page would not)."""
    from PIL import Image

    from tests.documents.examples import to_png

    with sqlite_sessions.begin() as session:
        _, documents = issued(session, "reverse_charge_eu")
        pdf = tmp_path / "invoice.pdf"
        pdf.write_bytes(documents[0].content)
    image = Image.open(to_png(pdf, dpi=40)).convert("L")
    width, height = image.size
    assert abs(height / width - 297 / 210) < 0.01  # A4 portrait

    def inked(top: float, bottom: float) -> int:
        band = image.crop((0, int(height * top), width, int(height * bottom)))
        return sum(band.histogram()[:128])

    assert inked(0.04, 0.12) > 50  # title and invoice facts
    assert inked(0.30, 0.45) > 50  # the lines table
    assert inked(0.6, 0.9) < inked(0.04, 0.6)  # one short invoice: the foot of the page is empty


def test_two_workers_issuing_the_same_documents_at_once_keep_one_set(
    sessions: sessionmaker[Session],
) -> None:
    """A retried activity racing its first attempt: both render the same bytes, the unique
    key keeps one set, and the loser returns the winner's rows instead of failing."""
    import threading

    if sessions.kw["bind"].dialect.name == "sqlite":
        pytest.skip(
            "SQLite starts every ledger transaction with BEGIN IMMEDIATE: two writers are "
            "never inside at once, so there is no race to hold them to"
        )
    with sessions.begin() as session:
        invoice_id = issue_kind(session, "renewal_with_discount_de").id
    barrier = threading.Barrier(2)
    results: list[list[tuple[str, str]]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with sessions.begin() as session:
                invoice = session.get(Invoice, invoice_id)
                assert invoice is not None
                list(invoice.lines)
                barrier.wait(timeout=30)
                rows = issue_invoice_documents(session, invoice, actor="worker", now=NOW)
                results.append([(row.kind.value, row.sha256) for row in rows])
        except BaseException as error:  # reported below with the other thread's result
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 2
    assert results[0] == results[1]
    with sessions() as session:
        assert len(session.scalars(select(Document)).all()) == 2
