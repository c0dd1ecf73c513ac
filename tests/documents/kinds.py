"""Every kind of invoice the engine produces, issued into a ledger: the documents' test book.

Each kind is the engine's own result for a real subscription change, stored by
the ledger's ``issue_invoice`` for a customer in the country the kind is about,
so the documents are rendered from exactly what production stores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from activities.billing.invoicing import (
    Cancelled,
    Discount,
    InvoicedItem,
    InvoiceDraft,
    InvoiceTerms,
    PlanChanged,
    QuarterlyTrueUp,
    SeatsAdded,
    Started,
    Subscription,
    draft_invoice,
)
from activities.billing.pricebook import SeatPrice, load_pricebook
from activities.billing.proration import PRESETS
from activities.billing.tax import load_tax_table, tax_treatment
from activities.billing.usage import UsageCharge
from activities.ledger.invoices import issue_invoice
from activities.ledger.models import BillingContact, Customer, Invoice, TaxId

D = Decimal
NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 1, tzinfo=UTC)
BUSINESS = SeatPrice("business", "Business", D("25.00"))
ENTERPRISE = SeatPrice("enterprise", "Enterprise", D("45.00"))
SECURITY = SeatPrice("advanced_security", "Advanced Security", D("6.00"))


@dataclass(frozen=True, slots=True)
class Buyer:
    customer_id: str
    name: str
    country: str
    currency: str
    city: str
    region: str | None = None
    postal_code: str | None = None
    vat_id: str | None = None
    tax_exempt: bool = False


US = Buyer("CUS-US", "Acme Corp", "US", "USD", "New York", "US-NY", "10001")
DE = Buyer("CUS-DE", "Müller & Söhne GmbH", "DE", "EUR", "Berlin", None, "10115")
NL = Buyer(
    "CUS-NL",
    "Van der Berg B.V.",
    "NL",
    "EUR",
    "Amsterdam",
    None,
    "1012 AB",
    vat_id="NL000099998B57",
)
JP = Buyer("CUS-JP", "Sakura KK", "JP", "JPY", "Tokyo", None, "100-0005")
GR = Buyer("CUS-GR", "Ωμέγα Λογισμικό Α.Ε.", "DE", "EUR", "Berlin", None, "10115")
RU = Buyer("CUS-RU", "ООО «Ромашка»", "DE", "EUR", "Berlin", None, "10117")


def add_customer(session: Session, buyer: Buyer) -> Customer:
    customer = Customer(
        id=buyer.customer_id,
        legal_name=buyer.name,
        country=buyer.country,
        timezone="UTC",
        currency=buyer.currency,
        payment_terms_days=30,
        address_line1="1 Example Street",
        city=buyer.city,
        region=buyer.region,
        postal_code=buyer.postal_code,
        tax_exempt=buyer.tax_exempt,
        created_at=NOW,
        contacts=[BillingContact(name="AP team", email="ap@example.com", primary=True)],
        tax_ids=[TaxId(scheme="eu_vat", value=buyer.vat_id)] if buyer.vat_id else [],
    )
    session.add(customer)
    session.flush()
    return customer


def _terms(buyer: Buyer, issued: date, **extra: object) -> InvoiceTerms:
    tax = tax_treatment(
        load_tax_table(),
        buyer.region or buyer.country,
        exempt=buyer.tax_exempt,
        vat_id=buyer.vat_id,
    )
    return InvoiceTerms(issue_date=issued, payment_terms_days=30, tax=tax, **extra)  # type: ignore[arg-type]


def _sub(buyer: Buyer, plan: SeatPrice, seats: int, **extra: object) -> Subscription:
    return Subscription(buyer.currency, NOVEMBER, "month", plan, seats, **extra)  # type: ignore[arg-type]


def first_prorated(buyer: Buyer = US) -> InvoiceDraft:
    return draft_invoice(
        _sub(buyer, BUSINESS, 12, addons=(SECURITY,)),
        [Started(datetime(2026, 11, 16, tzinfo=UTC))],
        terms=_terms(buyer, date(2026, 11, 16), po_number="PO-4711"),
    )


def renewal(buyer: Buyer = DE) -> InvoiceDraft:
    return draft_invoice(
        _sub(buyer, BUSINESS, 10, period_start=NOVEMBER),
        [],
        terms=_terms(buyer, date(2026, 12, 1), discounts=(Discount("Partner 10 %", D("10")),)),
        renew=True,
    )


def seat_increase(buyer: Buyer = US) -> InvoiceDraft:
    return draft_invoice(
        _sub(buyer, BUSINESS, 10, period_start=NOVEMBER),
        [SeatsAdded(datetime(2026, 11, 20, tzinfo=UTC), 5)],
        terms=_terms(buyer, date(2026, 11, 20)),
    )


def upgrade(buyer: Buyer = DE) -> InvoiceDraft:
    return draft_invoice(
        _sub(buyer, BUSINESS, 10, period_start=NOVEMBER),
        [PlanChanged(datetime(2026, 11, 11, tzinfo=UTC), ENTERPRISE, "month")],
        terms=_terms(buyer, date(2026, 11, 11)),
    )


def usage_in_arrears(buyer: Buyer = US) -> InvoiceDraft:
    api = UsageCharge(
        "api_calls",
        "API calls",
        "call",
        datetime(2026, 10, 1, tzinfo=UTC),
        NOVEMBER,
        D(1_350_000),
        load_pricebook().usage_price("api_calls", "USD", "business"),
        D(400_000),
    )
    return draft_invoice(
        _sub(buyer, BUSINESS, 10, period_start=datetime(2026, 10, 1, tzinfo=UTC)),
        [],
        terms=_terms(buyer, date(2026, 11, 1)),
        renew=True,
        usage=[api],
    )


def true_up(buyer: Buyer = NL) -> InvoiceDraft:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return draft_invoice(
        Subscription(
            buyer.currency,
            start,
            "year",
            SeatPrice("business", "Business", D("300.00")),
            100,
            invoiced=(
                InvoicedItem(SeatPrice("business", "Business", D("300.00")), 100, D("30000.00")),
            ),
            quarterly_true_up=True,
        ),
        [
            SeatsAdded(datetime(2026, 2, 3, tzinfo=UTC), 10),
            QuarterlyTrueUp(datetime(2026, 4, 1, tzinfo=UTC)),
        ],
        terms=_terms(buyer, date(2026, 4, 1)),
    )


def cancellation(buyer: Buyer = DE) -> InvoiceDraft:
    return draft_invoice(
        _sub(buyer, BUSINESS, 10, period_start=NOVEMBER),
        [Cancelled(datetime(2026, 11, 16, tzinfo=UTC))],
        terms=_terms(buyer, date(2026, 11, 16)),
        policy=PRESETS["stripe_like"],
    )


def reverse_charge(buyer: Buyer = NL) -> InvoiceDraft:
    return first_prorated(buyer)


def yen(buyer: Buyer = JP) -> InvoiceDraft:
    plan = SeatPrice("business", "Business", D("3700"))
    return draft_invoice(
        _sub(buyer, plan, 10, period_start=NOVEMBER),
        [SeatsAdded(datetime(2026, 11, 9, tzinfo=UTC), 3)],
        terms=_terms(buyer, date(2026, 11, 9)),
    )


#: name -> (buyer, the engine's draft)
KINDS: dict[str, tuple[Buyer, Callable[[], InvoiceDraft]]] = {
    "first_prorated_us_sales_tax": (US, first_prorated),
    "renewal_with_discount_de": (DE, renewal),
    "seat_increase": (US, seat_increase),
    "upgrade_credit_and_charge": (DE, upgrade),
    "usage_in_arrears": (US, usage_in_arrears),
    "quarterly_true_up": (NL, true_up),
    "cancellation_credit_note": (DE, cancellation),
    "reverse_charge_eu": (NL, reverse_charge),
    "jpy_no_minor_unit": (JP, yen),
    "greek_buyer": (GR, lambda: first_prorated(GR)),
    "cyrillic_buyer": (RU, lambda: renewal(RU)),
}


def issue_kind(session: Session, name: str) -> Invoice:
    buyer, make = KINDS[name]
    if session.get(Customer, buyer.customer_id) is None:
        add_customer(session, buyer)
    draft = make()
    invoice = issue_invoice(
        session, buyer.customer_id, draft, source_key=f"kinds:{name}", actor="test", now=NOW
    )
    session.flush()
    return invoice
