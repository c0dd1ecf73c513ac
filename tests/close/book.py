"""Three months of hand-checked activity (September to November 2026, company time New York),
written in date order through the ledger's own payment and refund code.

The figures in EXPECTED are worked out by hand in the comments below, so the
roll-forward tests compare the close with arithmetic, not with itself.

USD: A (New York, needs a PO), B (New York). EUR: C (Germany, VAT id: reverse
charge). JPY: D (Tokyo).

September   A1 USD 1,040.00 (1,000 + 4 % tax, PO-1)      P1 A pays 400.00 on A1
            C1 EUR 500.00                                  dispute on C opened 20 Sep
            D1 JPY 110,000 (100,000 + 10 %)
October     A2 USD 208.00 (200 + tax, no PO: exception)   R1 refund 200.00 of P1 (28 Oct)
            B1 USD 100.00, no tax (exception), 25.00      P2 A pays 1,150.00 at 22:00 on
              account credit applied, 75.00 due              31 Oct New York (1 Nov UTC):
            C2 EUR 800.00                                    840 on A1, 208 on A2, 102 unapplied
            CN-1 EUR 100.00 credit note on C1 (15 Oct)   P3 D pays 110,000 on D1
November    A3 USD 324.00 (PO-3)                          P5 B pays 20.00 (lands on B1)
            draft for B dated 20 Nov (exception)          P4 C pays 500.00 on C2
            WO-1 EUR 400.00 write-off of C1 (10 Nov)      P6 D pays 5,000, no open invoice
            CN-2 USD 25.00 account credit for A           P7 A pays 100.00 on A3 on 2 Dec
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from activities.ledger.models import (
    CreditNote,
    CreditNoteKind,
    Dispute,
    DisputeStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    TaxId,
)
from activities.ledger.numbering import next_number
from activities.ledger.payments import PaymentIn, RefundIn, record_payment, refund_payment
from tests.ledger import factories

TIMEZONE = "America/New_York"
ACTOR = "test:close-book"

#: Roll-forward per month and currency: opening, invoiced, account credit, cash, reversals,
#: credit notes, write-offs, closing.
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "2026-09": {
        "USD": ("0.00", "1040.00", "0.00", "-400.00", "0.00", "0.00", "0.00", "640.00"),
        "EUR": ("0.00", "500.00", "0.00", "0.00", "0.00", "0.00", "0.00", "500.00"),
        "JPY": ("0", "110000", "0", "0", "0", "0", "0", "110000"),
    },
    "2026-10": {
        "USD": ("640.00", "308.00", "-25.00", "-1048.00", "200.00", "0.00", "0.00", "75.00"),
        "EUR": ("500.00", "800.00", "0.00", "0.00", "0.00", "-100.00", "0.00", "1200.00"),
        "JPY": ("110000", "0", "0", "-110000", "0", "0", "0", "0"),
    },
    "2026-11": {
        "USD": ("75.00", "324.00", "0.00", "-20.00", "0.00", "0.00", "0.00", "379.00"),
        "EUR": ("1200.00", "0.00", "0.00", "-500.00", "0.00", "0.00", "-400.00", "300.00"),
        "JPY": ("0", "0", "0", "0", "0", "0", "0", "0"),
    },
}


def at(day: str, hour: int = 15) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def invoice(
    session: Session,
    customer_id: str,
    currency: str,
    issued: str,
    subtotal: str,
    tax: str = "0",
    *,
    po: str | None = None,
    credit_applied: str = "0",
    draft: bool = False,
) -> Invoice:
    """An invoice of one line, written as the ledger stores an issued one."""
    net, tax_amount = Decimal(subtotal), Decimal(tax)
    total = net + tax_amount
    due = total - Decimal(credit_applied)
    issue_date = date.fromisoformat(issued)
    record = Invoice(
        number=None if draft else next_number(session, "INV"),
        customer_id=customer_id,
        currency=currency,
        status=InvoiceStatus.DRAFT if draft else InvoiceStatus.OPEN,
        issue_date=issue_date,
        due_date=date.fromordinal(issue_date.toordinal() + 30),
        po_number=po,
        subtotal=net,
        discount_total=Decimal(0),
        tax_total=tax_amount,
        total=total,
        credit_applied=Decimal(credit_applied),
        amount_due=due,
        balance=due,
        created_at=at(issued),
        lines=[
            InvoiceLine(
                position=1,
                kind=LineKind.CHARGE,
                description="Seats",
                item_code="plus",
                quantity=Decimal(1),
                unit_amount=net,
                proration_fraction=Decimal(1),
                amount=net,
                discount_amount=Decimal(0),
                tax_rate=(tax_amount / net).quantize(Decimal("0.0001")),
                tax_amount=tax_amount,
            )
        ],
    )
    session.add(record)
    session.flush()
    return record


def credit_note(
    session: Session,
    number: str,
    customer_id: str,
    currency: str,
    amount: str,
    issued_at: datetime,
    *,
    on: Invoice | None = None,
    kind: CreditNoteKind = CreditNoteKind.INVOICE,
) -> CreditNote:
    """A credit note; on an invoice it lowers the invoice's balance by its amount."""
    value = Decimal(amount)
    note = CreditNote(
        number=number,
        idempotency_key=f"book:{number}",
        customer_id=customer_id,
        invoice_id=on.id if on else None,
        kind=kind,
        currency=currency,
        amount=value,
        unapplied=Decimal(0) if on else value,
        reason="book",
        issued_at=issued_at,
    )
    session.add(note)
    if on is not None:
        on.balance -= value
        if on.balance == 0:
            on.status = InvoiceStatus.PAID
    session.flush()
    return note


def pay(
    session: Session,
    customer_id: str,
    processor_id: str,
    amount: str,
    currency: str,
    received_at: datetime,
    invoice_number: str | None = None,
) -> None:
    record_payment(
        session,
        PaymentIn(
            customer_id,
            processor_id,
            Decimal(amount),
            currency,
            received_at,
            invoice_number=invoice_number,
        ),
        ACTOR,
    )


def write_book(session: Session) -> dict[str, Invoice]:
    """Write the book (see the module docstring); returns the invoices by their short name."""
    factories.customer(session, "CUS-A", "USD", region="US-NY", po_required=True)
    factories.customer(session, "CUS-B", "USD", region="US-NY")
    factories.customer(session, "CUS-C", "EUR", country="DE", region=None, timezone="Europe/Berlin")
    session.add(TaxId(customer_id="CUS-C", scheme="eu_vat", value="DE136695976"))
    factories.customer(session, "CUS-D", "JPY", country="JP", region="JP-13", timezone="Asia/Tokyo")
    inv: dict[str, Invoice] = {}

    # September: A1 1,040.00 (1,000 + 40 tax), C1 500, D1 110,000; A pays 400 on A1.
    inv["A1"] = invoice(session, "CUS-A", "USD", "2026-09-05", "1000.00", "40.00", po="PO-1")
    inv["C1"] = invoice(session, "CUS-C", "EUR", "2026-09-10", "500.00")
    inv["D1"] = invoice(session, "CUS-D", "JPY", "2026-09-15", "100000", "10000")
    pay(session, "CUS-A", "P1", "400.00", "USD", at("2026-09-20"), inv["A1"].number)
    session.add(
        Dispute(
            id="DSP-1",
            customer_id="CUS-C",
            status=DisputeStatus.OPEN,
            category="pricing",
            claim="seat count",
            opened_by="test",
            opened_at=at("2026-09-20"),
        )
    )

    # October: A2 208 (no PO), B1 100 untaxed with 25 account credit (75 due), C2 800;
    # credit note 100 on C1; refund 200 of P1 re-opens A1 (640 + 200 = 840 open);
    # P2 1,150 at 22:00 New York on 31 Oct: 840 on A1, 208 on A2, 102 unapplied;
    # D pays D1.  USD: 640 + 308 - 25 - (840 + 208) + 200 = 75 = B1.  Cash is 1,048.
    inv["A2"] = invoice(session, "CUS-A", "USD", "2026-10-05", "200.00", "8.00")
    inv["C2"] = invoice(session, "CUS-C", "EUR", "2026-10-12", "800.00")
    credit_note(session, "CN-1", "CUS-C", "EUR", "100.00", at("2026-10-15"), on=inv["C1"])
    inv["B1"] = invoice(session, "CUS-B", "USD", "2026-10-20", "100.00", credit_applied="25.00")
    pay(session, "CUS-D", "P3", "110000", "JPY", at("2026-10-25"), inv["D1"].number)
    refund_payment(
        session, RefundIn("R1", "P1", Decimal("200.00"), "double charge", at("2026-10-28")), ACTOR
    )
    pay(
        session,
        "CUS-A",
        "P2",
        "1150.00",
        "USD",
        datetime(2026, 11, 1, 2, 0, tzinfo=UTC),
        inv["A1"].number,
    )

    # November: A3 324; a draft for B; write-off of C1's 400; 25 account credit for A;
    # B pays 20 (B1); C pays 500 on C2; D pays 5,000 with nothing open.
    inv["A3"] = invoice(session, "CUS-A", "USD", "2026-11-03", "300.00", "24.00", po="PO-3")
    pay(session, "CUS-B", "P5", "20.00", "USD", at("2026-11-02"))
    credit_note(
        session,
        "CN-2",
        "CUS-A",
        "USD",
        "25.00",
        at("2026-11-05"),
        kind=CreditNoteKind.ACCOUNT_CREDIT,
    )
    credit_note(
        session,
        "WO-1",
        "CUS-C",
        "EUR",
        "400.00",
        at("2026-11-10"),
        on=inv["C1"],
        kind=CreditNoteKind.WRITE_OFF,
    )
    pay(session, "CUS-D", "P6", "5000", "JPY", at("2026-11-10"))
    pay(session, "CUS-C", "P4", "500.00", "EUR", at("2026-11-15"), inv["C2"].number)
    inv["draft"] = invoice(session, "CUS-B", "USD", "2026-11-20", "50.00", draft=True)

    # After the November cut-off: the close must wind this back.
    pay(session, "CUS-A", "P7", "100.00", "USD", at("2026-12-02"), inv["A3"].number)
    return inv
