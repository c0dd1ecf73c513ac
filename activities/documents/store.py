"""Issued documents in the ledger: rendered once, stored with their hash, never changed.

``issue_invoice_documents`` renders an invoice's PDF (and, for a buyer in an
e-invoicing country, the checked EN 16931 XML embedded as Factur-X; for a
customer config/peppol.yaml names, the checked Peppol UBL) and stores the
bytes with their SHA-256; asking again returns what was stored.
Each row records what rendered it (``renderer.renderer_id``). Reading checks
the hash; :func:`check_rerender` renders again from the ledger row and
compares, which holds because rendering is deterministic, or, when the
renderer has changed since issue, says so instead of comparing.

Two workers issuing the same invoice's documents at once both render the
same bytes; the unique (invoice, kind) key keeps one, and the other reads it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from activities.billing.seller import load_seller
from activities.documents.peppol import PeppolConfig, load_peppol
from activities.documents.renderer import renderer_id
from activities.ledger import audit
from activities.ledger.errors import LedgerError
from activities.ledger.models import CreditNote, Document, DocumentKind, Invoice

PDF = "application/pdf"
XML = "application/xml"


def einvoice_due(invoice: Invoice) -> bool:
    """A buyer in a country where the seller issues EN 16931 e-invoices (config/seller.yaml)."""
    address = invoice.billing_address or {}
    return bool(invoice.seller) and address.get("country") in load_seller().einvoice_countries


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def render_invoice_documents(
    invoice: Invoice, peppol: PeppolConfig | None = None
) -> list[tuple[DocumentKind, str, str, bytes]]:
    """(kind, filename, media type, bytes) of the invoice's documents, rendered from the row;
    ``peppol`` (default ``config/peppol.yaml``) says who also receives UBL.

    Raises :class:`~activities.documents.einvoice.EInvoiceError` (the rule broken) or
    :class:`~activities.documents.pdf.GlyphError` when a document must not be issued.

    The renderers (fpdf2, fontTools, matplotlib's fonts, factur-x) load on the
    first document, not with this module: the worker and the command line import it
    for every process (bench/collections_scale.py, bench/cli_start.py).
    """
    from activities.documents.content import invoice_content
    from activities.documents.einvoice import XML_FILENAME, check_einvoice, cii_xml
    from activities.documents.pdf import render_pdf

    content = invoice_content(invoice)
    kind = (
        DocumentKind.CREDIT_NOTE_PDF if content.kind == "credit_note" else DocumentKind.INVOICE_PDF
    )
    ubl = _peppol_ubl(invoice, peppol or load_peppol())
    if not einvoice_due(invoice):
        return [(kind, content.filename, PDF, render_pdf(content)), *ubl]
    xml = cii_xml(invoice)
    check_einvoice(content.number, xml)
    pdf = render_pdf(content, einvoice=xml)
    return [
        (kind, content.filename, PDF, pdf),
        (DocumentKind.CII_XML, f"{content.number}-{XML_FILENAME}", XML, xml),
        *ubl,
    ]


def _peppol_ubl(
    invoice: Invoice, peppol: PeppolConfig
) -> list[tuple[DocumentKind, str, str, bytes]]:
    """The Peppol BIS Billing 3.0 UBL, checked, for a customer ``peppol`` names."""
    from activities.documents.ubl import UBL_FILENAME, check_ubl, ubl_xml

    endpoint = peppol.endpoint_of(invoice.customer_id)
    if endpoint is None or invoice.number is None:
        return []
    xml = ubl_xml(invoice, seller_endpoint=peppol.seller_endpoint, buyer_endpoint=endpoint)
    check_ubl(invoice.number, xml)
    return [(DocumentKind.UBL_XML, f"{invoice.number}-{UBL_FILENAME}", XML, xml)]


def invoice_documents(session: Session, invoice: Invoice) -> list[Document]:
    """The documents stored for the invoice, PDF first."""
    rows = session.scalars(
        select(Document).where(Document.invoice_id == invoice.id).order_by(Document.id)
    ).all()
    return sorted(rows, key=lambda row: row.kind in (DocumentKind.CII_XML, DocumentKind.UBL_XML))


def issue_invoice_documents(
    session: Session,
    invoice: Invoice,
    *,
    actor: str,
    now: datetime,
    peppol: PeppolConfig | None = None,
) -> list[Document]:
    """The invoice's documents: the stored ones, or rendered, checked and stored now."""
    if invoice.number is None:
        raise LedgerError(f"invoice {invoice.id}: a draft has no documents until it is finalized")
    stored = invoice_documents(session, invoice)
    if stored:
        return stored
    rendered = render_invoice_documents(invoice, peppol)
    rows = [
        Document(
            invoice_id=invoice.id,
            kind=kind,
            filename=filename,
            media_type=media_type,
            sha256=_digest(content),
            size=len(content),
            content=content,
            created_at=now,
            renderer=renderer_id(),
        )
        for kind, filename, media_type, content in rendered
    ]
    try:
        with session.begin_nested():
            session.add_all(rows)
    except IntegrityError:  # issued by a concurrent worker: same bytes, keep theirs
        return invoice_documents(session, invoice)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="invoice.documents_issued",
        subject_type="invoice",
        subject_id=invoice.number,
        after={row.filename: row.sha256 for row in rows},
    )
    return rows


def issue_credit_note_document(
    session: Session, note: CreditNote, *, actor: str, now: datetime
) -> Document:
    """A ledger credit note's PDF (dispute credits, overpayments), stored once."""
    existing = session.scalar(select(Document).where(Document.credit_note_id == note.id))
    if existing is not None:
        return existing
    from activities.documents.content import credit_note_content
    from activities.documents.pdf import render_pdf

    invoice = session.get(Invoice, note.invoice_id) if note.invoice_id is not None else None
    content = credit_note_content(note, invoice)
    pdf = render_pdf(content)
    row = Document(
        credit_note_id=note.id,
        kind=DocumentKind.CREDIT_NOTE_PDF,
        filename=content.filename,
        media_type=PDF,
        sha256=_digest(pdf),
        size=len(pdf),
        content=pdf,
        created_at=now,
        renderer=renderer_id(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = session.scalar(select(Document).where(Document.credit_note_id == note.id))
        assert found is not None
        return found
    audit.record(
        session,
        at=now,
        actor=actor,
        action="credit_note.document_issued",
        subject_type="credit_note",
        subject_id=note.number,
        after={row.filename: row.sha256},
    )
    return row


def document_bytes(document: Document) -> bytes:
    """The stored bytes, after checking them against the hash stored beside them."""
    if _digest(document.content) != document.sha256:
        raise LedgerError(
            f"document {document.filename}: stored bytes do not match their SHA-256; "
            "the document was altered after issue"
        )
    return document.content


class RendererChanged(LedgerError):
    """The stored document was rendered by another renderer than this process's: a re-rendering
    would not be the document that was issued. The stored bytes are the document."""


def check_rerender(invoice: Invoice, stored: Sequence[Document]) -> None:
    """Render the invoice again and check it gives exactly the stored documents.

    Raises :class:`RendererChanged` naming both renderers when a stored document
    was rendered by another one (or before renderers were recorded), and
    :class:`LedgerError` naming the document when the same renderer now gives
    other bytes (the ledger row changed after issue, or rendering is not deterministic).
    """
    current = renderer_id()
    for row in stored:
        if row.renderer != current:
            issued_by = row.renderer or "a renderer not recorded (issued before migration 0017)"
            raise RendererChanged(
                f"document {row.filename}: issued by {issued_by}; this is {current}. "
                "The renderer has changed since issue, so a re-rendering is not the document "
                "sent: use the stored bytes"
            )
    fresh = {kind: (name, content) for kind, name, _, content in render_invoice_documents(invoice)}
    for row in stored:
        _, content = fresh.pop(row.kind, (row.filename, b""))
        if _digest(content) != row.sha256:
            raise LedgerError(
                f"document {row.filename}: re-rendered by the same renderer it no longer "
                f"matches its SHA-256 {row.sha256[:12]}: the invoice's ledger row changed "
                "after issue"
            )
    if fresh:
        names = ", ".join(name for name, _ in fresh.values())
        raise LedgerError(f"invoice {invoice.number}: a re-rendering adds {names}, not issued")


def _starting_with(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def settlement_documents(
    session: Session, key: str, *, actor: str, now: datetime
) -> list[Document]:
    """The documents of what a dispute's settlement issued under ``key``: each credit
    note's PDF and each re-issued invoice's documents, issued now if not yet."""
    pattern = _starting_with(f"{key}:")
    notes = session.scalars(
        select(CreditNote)
        .where(CreditNote.idempotency_key.like(pattern, escape="\\"))
        .order_by(CreditNote.id)
    ).all()
    reissued = session.scalars(
        select(Invoice).where(Invoice.source_key.like(pattern, escape="\\")).order_by(Invoice.id)
    ).all()
    documents = [issue_credit_note_document(session, note, actor=actor, now=now) for note in notes]
    for invoice in reissued:
        documents.extend(issue_invoice_documents(session, invoice, actor=actor, now=now))
    return documents
