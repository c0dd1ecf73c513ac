"""The billing ledger: SQLAlchemy 2 typed ORM, identical on SQLite and PostgreSQL.

Money columns are exact decimals with the currency beside them; timestamps
are timezone-aware UTC. Rules that must hold whatever code writes to the
database (unique numbers, non-negative balances, foreign keys) are database
constraints, not only Python checks.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from activities.billing.money import as_written
from activities.ledger.types import Money, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), Decimal: Money(), dict[str, Any]: JSON()}


def _enum(cls: type[StrEnum]) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint (no native PostgreSQL type)."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        name=cls.__name__.lower(),
    )


class ContractType(StrEnum):
    SELF_SERVE_MONTHLY = "self_serve_monthly"
    ANNUAL_INVOICED = "annual_invoiced"


class Interval(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class ItemKind(StrEnum):
    PLAN = "plan"
    SEAT_ADDON = "seat_addon"
    USAGE_ADDON = "usage_addon"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class LineKind(StrEnum):
    CHARGE = "charge"
    CREDIT = "credit"


class CreditNoteKind(StrEnum):
    """Where a credit note's money goes: against an invoice, to account credit, or refunded."""

    INVOICE = "invoice"
    ACCOUNT_CREDIT = "account_credit"
    REFUND = "refund"
    WRITE_OFF = "write_off"


class PromiseStatus(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"


class DisputeStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(
            "NOT tax_exempt OR tax_exemption_certificate IS NOT NULL",
            name="exempt_needs_certificate",
        ),
        CheckConstraint("payment_terms_days >= 0", name="terms_non_negative"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(8), comment="ISO 3166-2 subdivision")
    postal_code: Mapped[str | None] = mapped_column(String(20))
    tax_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    tax_exemption_certificate: Mapped[str | None] = mapped_column(String(100))
    po_required: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_dun: Mapped[bool] = mapped_column(Boolean, default=False)
    dunning_paused_until: Mapped[datetime | None]
    cadence: Mapped[str | None] = mapped_column(String(32), comment="custom cadence override")
    strategic: Mapped[bool] = mapped_column(Boolean, default=False)
    account_owner: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]

    contacts: Mapped[list[BillingContact]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="BillingContact.id"
    )
    tax_ids: Mapped[list[TaxId]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="TaxId.id"
    )
    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="customer")


class BillingContact(Base):
    __tablename__ = "billing_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)

    customer: Mapped[Customer] = relationship(back_populates="contacts")


class TaxId(Base):
    __tablename__ = "tax_ids"
    __table_args__ = (UniqueConstraint("customer_id", "scheme", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(16), comment="e.g. eu_vat, gb_vat, us_ein")
    value: Mapped[str] = mapped_column(String(64))

    customer: Mapped[Customer] = relationship(back_populates="tax_ids")


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("term_end > term_start", name="term_ordered"),
        CheckConstraint("interval_count >= 1", name="interval_count_positive"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    plan: Mapped[str] = mapped_column(String(64))
    interval: Mapped[Interval] = mapped_column(_enum(Interval))
    interval_count: Mapped[int] = mapped_column(
        Integer,
        default=1,
        server_default="1",
        comment="intervals per billing period (2 with month: every two months)",
    )
    contract_type: Mapped[ContractType] = mapped_column(_enum(ContractType))
    status: Mapped[SubscriptionStatus] = mapped_column(_enum(SubscriptionStatus))
    currency: Mapped[str] = mapped_column(String(3))
    term_start: Mapped[datetime]
    term_end: Mapped[datetime]
    billing_anchor: Mapped[datetime]
    created_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")
    items: Mapped[list[SubscriptionItem]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan", order_by="SubscriptionItem.id"
    )


class SubscriptionItem(Base):
    __tablename__ = "subscription_items"
    __table_args__ = (
        UniqueConstraint("subscription_id", "item_code"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("unit_price >= 0", name="price_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[ItemKind] = mapped_column(_enum(ItemKind))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal]
    in_arrears: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        comment="billed at the period end for the time held (seat-days)",
    )
    own_quantity: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        comment="an add-on billed per unit of its quantity, not per seat",
    )

    subscription: Mapped[Subscription] = relationship(back_populates="items")


class InvoiceSeries(Base):
    """The next number of each invoice series; bumped in the invoice's own transaction.

    Because the bump and the invoice commit or roll back together, numbers are
    gapless within a series.
    """

    __tablename__ = "invoice_series"

    series: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer, default=1)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_non_negative"),
        CheckConstraint("balance <= amount_due", name="balance_within_due"),
        CheckConstraint("status = 'draft' OR number IS NOT NULL", name="issued_has_number"),
        CheckConstraint("due_date >= issue_date", name="due_after_issue"),
        Index("ix_invoices_customer_status", "customer_id", "status"),
        Index("ix_invoices_issue_date", "issue_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    source_key: Mapped[str | None] = mapped_column(
        String(200), unique=True, comment="idempotency key of whatever created the invoice"
    )
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[InvoiceStatus] = mapped_column(_enum(InvoiceStatus))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    po_number: Mapped[str | None] = mapped_column(String(64))
    subtotal: Mapped[Decimal]
    discount_total: Mapped[Decimal]
    tax_total: Mapped[Decimal]
    total: Mapped[Decimal]
    credit_applied: Mapped[Decimal]
    amount_due: Mapped[Decimal]
    balance: Mapped[Decimal] = mapped_column(comment="open balance still to collect")
    created_at: Mapped[datetime]
    # What the invoice says, as at issue (issue 17): printed on its documents and carried
    # into its e-invoice, never looked up again from the customer or config.
    seller: Mapped[dict[str, Any] | None] = mapped_column(comment="config/seller.yaml at issue")
    buyer_name: Mapped[str | None] = mapped_column(String(200))
    buyer_tax_scheme: Mapped[str | None] = mapped_column(String(16))
    buyer_tax_id: Mapped[str | None] = mapped_column(String(64))
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(comment="as at issue")
    locale: Mapped[str | None] = mapped_column(String(16), comment="dates and amounts")
    tax_category: Mapped[str | None] = mapped_column(String(2), comment="EN 16931 / UNCL5305")
    tax_label: Mapped[str | None] = mapped_column(String(64))
    tax_exemption_reason: Mapped[str | None] = mapped_column(Text)
    tax_exemption_code: Mapped[str | None] = mapped_column(String(32), comment="VATEX code")
    notes: Mapped[dict[str, Any] | None] = mapped_column(comment="{'notes': [legal notes]}")
    payment_terms: Mapped[str | None] = mapped_column(Text)
    payment_instructions: Mapped[dict[str, Any] | None] = mapped_column()

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.position"
    )
    customer: Mapped[Customer] = relationship()


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[LineKind] = mapped_column(_enum(LineKind))
    description: Mapped[str] = mapped_column(String(300))
    item_code: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    quantity: Mapped[Decimal] = mapped_column(Numeric(19, 6))
    unit_amount: Mapped[Decimal]
    proration_fraction: Mapped[Decimal] = mapped_column(Numeric(19, 12))
    amount: Mapped[Decimal]
    discount_amount: Mapped[Decimal]
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    tax_amount: Mapped[Decimal]
    tax_category: Mapped[str | None] = mapped_column(String(2), comment="EN 16931 / UNCL5305")

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("unapplied >= 0", name="unapplied_non_negative"),
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="refund_within_amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    processor_id: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    unapplied: Mapped[Decimal] = mapped_column(comment="cash received but not on any invoice")
    refunded: Mapped[Decimal]
    method: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]

    applications: Mapped[list[PaymentApplication]] = relationship(
        back_populates="payment", order_by="PaymentApplication.id"
    )


class PaymentApplication(Base):
    """Cash put on (positive) or taken back off (negative, by a refund) an invoice.

    Applications are never edited or deleted, so the ledger reads the same
    as of any past date (month-end close depends on it).
    """

    __tablename__ = "payment_applications"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_non_zero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal]
    applied_at: Mapped[datetime]

    payment: Mapped[Payment] = relationship(back_populates="applications")
    invoice: Mapped[Invoice] = relationship()


class Refund(Base):
    """Cash paid back on a payment; a negative row is a refund that failed and came back.

    Never edited or deleted: a failed refund is its own row dated when it failed, so the
    month the refund left stays as signed off and every sum of ``amount`` is net.
    """

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    processor_id: Mapped[str] = mapped_column(String(100), unique=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    reason: Mapped[str] = mapped_column(Text)
    refunded_at: Mapped[datetime]


class CreditNote(Base):
    __tablename__ = "credit_notes"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("unapplied >= 0 AND unapplied <= amount", name="unapplied_within_amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    kind: Mapped[CreditNoteKind] = mapped_column(_enum(CreditNoteKind))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    unapplied: Mapped[Decimal] = mapped_column(comment="account credit still available")
    reason: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime]


class CreditNoteApplication(Base):
    """Account credit of a credit note spent on an invoice (the invoice's ``credit_applied``).

    Never edited or deleted; one row per note and invoice, so a retried bill run cannot
    spend the same note on the same invoice twice.
    """

    __tablename__ = "credit_note_applications"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("credit_note_id", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    credit_note_id: Mapped[int] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal]
    applied_at: Mapped[datetime]


class PromiseToPay(Base):
    __tablename__ = "promises_to_pay"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("grace_days >= 0", name="grace_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    promised_date: Mapped[date] = mapped_column(Date)
    grace_days: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[PromiseStatus] = mapped_column(_enum(PromiseStatus))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime]


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[DisputeStatus] = mapped_column(_enum(DisputeStatus))
    category: Mapped[str | None] = mapped_column(String(32))
    claim: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class DisputedInvoice(Base):
    __tablename__ = "disputed_invoices"

    dispute_id: Mapped[str] = mapped_column(ForeignKey("disputes.id"), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)


class CustomerNote(Base):
    __tablename__ = "customer_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only: database triggers refuse UPDATE and DELETE (see the migrations)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120), comment="slack:U123, workflow:<id>, cli:<user>")
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)


class OutboxEmail(Base):
    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    to_addresses: Mapped[str] = mapped_column(Text, comment="comma-separated")
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    transport: Mapped[str | None] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(200))
    sending_at: Mapped[datetime | None] = mapped_column(
        comment="last handed to the transport; with no sent_at, it may have gone out"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class IdempotencyKey(Base):
    """A side effect already done: its key, what it was, and the result to return on retry."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]


class OrderStatus(StrEnum):
    RECEIVED = "received"
    EXCEPTION = "exception"
    PENDING_APPROVAL = "pending_approval"
    PROVISIONED = "provisioned"
    REJECTED = "rejected"


class Order(Base):
    """A sales order as received, and how far provisioning got with it."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus))
    payload: Mapped[dict[str, Any]] = mapped_column(comment="the order as last corrected")
    problems: Mapped[dict[str, Any] | None] = mapped_column(comment="last validation result")
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    opportunity_id: Mapped[str | None] = mapped_column(String(64), comment="the CRM's")
    content_hash: Mapped[str | None] = mapped_column(
        String(64), comment="sha256 of the order as first submitted, canonical JSON"
    )


class EntitlementStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class Entitlement(Base):
    """What a customer may use: the local entitlement store (the default adapter)."""

    __tablename__ = "entitlements"
    __table_args__ = (
        UniqueConstraint("customer_id", "product"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    product: Mapped[str] = mapped_column(String(64), comment="plan or add-on code")
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[EntitlementStatus] = mapped_column(_enum(EntitlementStatus))
    active_from: Mapped[datetime]
    active_to: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    WITHDRAWN = "withdrawn"


class ApprovalRequest(Base):
    """An approval a workflow waits for; the decision itself is a Temporal update.

    This row lets people find what waits for them (CLI, Slack App Home) and
    keeps the Slack message to update in place.
    """

    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_status_role", "status", "required_role"),)

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(32), comment="credit_note, refund, write_off, ...")
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    amount: Mapped[Decimal | None]
    summary: Mapped[str] = mapped_column(Text)
    preview: Mapped[str | None] = mapped_column(
        Text, comment="the exact text the approved step sends, as the approver saw it"
    )
    requested_by: Mapped[str] = mapped_column(String(120))
    required_role: Mapped[str] = mapped_column(String(32))
    status: Mapped[ApprovalStatus] = mapped_column(_enum(ApprovalStatus))
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    slack_channel: Mapped[str | None] = mapped_column(String(40))
    slack_ts: Mapped[str | None] = mapped_column(String(40))


@event.listens_for(Base, "load", propagate=True)
@event.listens_for(Base, "refresh", propagate=True)
def _amounts_in_their_currency(target: Base, *_: object) -> None:
    """Amounts come back from the database at its scale (``12.5000``); give them the
    precision of the row's currency (``12.50``, ``¥1250``) so that what the ledger
    hands out reads like what was written. Never drops a non-zero digit."""
    currency = getattr(target, "currency", None)
    if not isinstance(currency, str):
        return
    state = target.__dict__
    for name in _money_columns(type(target)):
        value = state.get(name)
        if isinstance(value, Decimal):
            state[name] = as_written(value, currency)


@cache
def _money_columns(cls: type[Base]) -> tuple[str, ...]:
    return tuple(column.key for column in inspect(cls).columns if isinstance(column.type, Money))


class ClosedPeriod(Base):
    """A month the controller signed off: records dated inside it can no longer change.

    activities/ledger/periods.py refuses such changes on every session; the rows
    themselves are append-only (database triggers, migration 0003). The bounds
    and the closing AR are kept as signed, so a later change of the company's
    timezone or of history cannot move them.
    """

    __tablename__ = "closed_periods"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="bounds_ordered"),)

    period: Mapped[str] = mapped_column(String(7), primary_key=True, comment="YYYY-MM")
    timezone: Mapped[str] = mapped_column(String(64), comment="timezone of the cut-off")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(comment="the cut-off: first instant after it")
    closing_ar: Mapped[dict[str, Any]] = mapped_column(comment="currency -> decimal string")
    signed_off_by: Mapped[str] = mapped_column(String(120))
    signed_off_at: Mapped[datetime]
    workflow_id: Mapped[str] = mapped_column(String(200))


class ReopenedPeriod(Base):
    """A month before the last signed-off one that was never signed, opened again for writes.

    Signing a month closes every earlier month too (activities/ledger/periods.py);
    the controller reopens one that was never signed with a reason, audited.
    Append-only (triggers, migration 0004): signing the month later closes it again.
    """

    __tablename__ = "reopened_periods"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="bounds_ordered"),)

    period: Mapped[str] = mapped_column(String(7), primary_key=True, comment="YYYY-MM")
    timezone: Mapped[str] = mapped_column(String(64), comment="timezone of the bounds")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reopened_by: Mapped[str] = mapped_column(String(120))
    reopened_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)


class StatementLineStatus(StrEnum):
    REVIEW = "review"
    APPLIED = "applied"
    UNAPPLIED = "unapplied"
    RETURNED = "returned"


class BankStatementLine(Base):
    """A credit on one of our bank accounts, as the bank reported it (activities/cash).

    The bank's reference is unique: importing the same statement again, or an
    overlapping one, adds nothing. ``status`` moves once, from ``review`` (or
    straight at import) to a decision, by a conditional UPDATE.
    """

    __tablename__ = "bank_statement_lines"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_bank_statement_lines_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bank_reference: Mapped[str] = mapped_column(String(140), unique=True)
    statement_id: Mapped[str] = mapped_column(String(140))
    account: Mapped[str] = mapped_column(String(64), comment="our account the cash arrived on")
    booked_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    payer_name: Mapped[str] = mapped_column(Text, comment="untrusted: as the bank passed it on")
    payer_account: Mapped[str] = mapped_column(String(64))
    remittance: Mapped[str] = mapped_column(Text, comment="untrusted: the payer's text")
    status: Mapped[StatementLineStatus] = mapped_column(_enum(StatementLineStatus))
    proposals: Mapped[dict[str, Any] | None] = mapped_column(comment="the matcher's candidates")
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None]
    decision: Mapped[dict[str, Any] | None] = mapped_column(comment="what was applied, and why")
    imported_at: Mapped[datetime]


class PayerMappingKind(StrEnum):
    ACCOUNT = "account"
    NAME = "name"
    STRIPE_CUSTOMER = "stripe_customer"


class PayerMapping(Base):
    """Who pays from where: a bank account or payer name learned from a confirmed match,
    or a Stripe customer id, mapped to our customer."""

    __tablename__ = "payer_mappings"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[PayerMappingKind] = mapped_column(_enum(PayerMappingKind))
    key: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    learned_by: Mapped[str] = mapped_column(String(120))
    learned_at: Mapped[datetime]


class StripeEventStatus(StrEnum):
    APPLIED = "applied"
    RECORDED = "recorded"
    PARKED = "parked"
    IGNORED = "ignored"


class StripeEvent(Base):
    """A Stripe event as received: the event id makes every delivery after the first a no-op;
    a parked event (a refund before its payment) is applied when its payment arrives."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(100), index=True)
    waits_for: Mapped[str | None] = mapped_column(
        String(100), index=True, comment="the payment a parked event waits for"
    )
    status: Mapped[StripeEventStatus] = mapped_column(_enum(StripeEventStatus))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    outcome: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(comment="the event's data.object")
    created_at: Mapped[datetime] = mapped_column(comment="when Stripe created the event")
    received_at: Mapped[datetime]


class DocumentKind(StrEnum):
    INVOICE_PDF = "invoice_pdf"
    CREDIT_NOTE_PDF = "credit_note_pdf"
    CII_XML = "cii_xml"
    UBL_XML = "ubl_xml"


class Document(Base):
    """An issued document (PDF, e-invoice XML), kept as sent: it never changes once stored.

    Exactly one of ``invoice_id`` and ``credit_note_id`` is set; one document of
    each kind per invoice or credit note. ``sha256`` is checked whenever the
    bytes are read back, and a re-rendering must reproduce it.
    """

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("invoice_id", "kind"),
        UniqueConstraint("credit_note_id", "kind"),
        CheckConstraint("(invoice_id IS NULL) <> (credit_note_id IS NULL)", name="one_subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(_enum(DocumentKind))
    filename: Mapped[str] = mapped_column(String(120))
    media_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    #: What rendered it (``documents.renderer.renderer_id``); NULL for documents issued
    #: before renderers were recorded (migration 0017), which are never re-rendered as theirs.
    renderer: Mapped[str | None] = mapped_column(String(255))


class OutboxAttachment(Base):
    """A stored document attached to an outbox email; the email is rebuilt from these on retry."""

    __tablename__ = "email_attachments"
    __table_args__ = (UniqueConstraint("email_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("email_outbox.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))


class SubscriptionEventKind(StrEnum):
    SEATS_ADDED = "seats_added"
    SEATS_REMOVED = "seats_removed"
    PLAN_CHANGED = "plan_changed"
    ADDON_ADDED = "addon_added"
    ADDON_REMOVED = "addon_removed"
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    QUARTERLY_TRUE_UP = "quarterly_true_up"
    ADDON_QUANTITY_CHANGED = "addon_quantity_changed"
    INTERVAL_CHANGED = "interval_changed"


class SubscriptionPeriod(Base):
    """Where a subscription's billing stands: its current period and what it held at its start.

    ``opening`` is the subscription as it stood when the period began, taken when the
    period's first change is recorded (``None`` while nothing changed: the subscription's
    own rows are then the opening state). ``lines_invoiced`` counts the change lines of
    the period already invoiced at once (changes up to ``invoiced_through``), so the
    next invoice of the period bills only the rest. One row per subscription, locked
    ``FOR UPDATE`` by every change and by the bill run, so the two never interleave.
    """

    __tablename__ = "subscription_periods"
    __table_args__ = (
        CheckConstraint("period_end > period_start", name="period_ordered"),
        CheckConstraint("lines_invoiced >= 0", name="lines_non_negative"),
        Index("ix_subscription_periods_period_end", "period_end"),
    )

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), primary_key=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    opening: Mapped[dict[str, Any] | None] = mapped_column(comment="state at the period start")
    lines_invoiced: Mapped[int] = mapped_column(Integer, default=0)
    invoiced_through: Mapped[datetime | None] = mapped_column(
        comment="the latest change already invoiced at once"
    )
    updated_at: Mapped[datetime]


class SubscriptionEvent(Base):
    """One change to a subscription, as the invoicing engine prices it: append-only history.

    Prices are kept on the event (``unit_price``, ``details``) so a later price book
    never reprices a past change.
    """

    __tablename__ = "subscription_events"
    __table_args__ = (
        Index("ix_subscription_events_subscription_effective", "subscription_id", "effective_at"),
        CheckConstraint("seats IS NULL OR seats >= 1", name="seats_positive"),
        CheckConstraint("quantity IS NULL OR quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    kind: Mapped[SubscriptionEventKind] = mapped_column(_enum(SubscriptionEventKind))
    effective_at: Mapped[datetime]
    seats: Mapped[int | None] = mapped_column(Integer, comment="seats added or removed")
    plan: Mapped[str | None] = mapped_column(String(64))
    addon: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int | None] = mapped_column(Integer, comment="an add-on's own quantity")
    unit_price: Mapped[Decimal | None]
    details: Mapped[dict[str, Any] | None] = mapped_column(comment="prices of a plan change")
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32), comment="cli, slack, bill-run, api")
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    recorded_at: Mapped[datetime]


class UsageEvent(Base):
    """A metered quantity reported for a subscription; the sender's event id makes it once."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        Index("ix_usage_events_subscription_occurred", "subscription_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    event_id: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(Numeric(19, 6))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id"), comment="the invoice that billed it"
    )


class UsagePeriod(Base):
    """A usage period the bill run closed: where it began and ended, and the plan its usage
    was priced with (the included units and tiers of that plan).

    Written with the renewal that invoices it. Usage of the period that arrives after that
    invoice is priced in this window, whatever schedule the subscription has since: a
    change of interval moves the anchor and cuts the period it falls in, so the window
    cannot be counted again from the subscription's anchor (activities/recurring/usage.py).
    """

    __tablename__ = "usage_periods"
    __table_args__ = (CheckConstraint("period_end > period_start", name="period_ordered"),)

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    period_end: Mapped[datetime]
    plan: Mapped[str] = mapped_column(String(64), comment="the plan its usage was priced with")


class BillRunRecord(Base):
    """One bill run's outcome per subscription: invoiced, skipped (with why) or failed."""

    __tablename__ = "bill_run_items"
    __table_args__ = (
        UniqueConstraint("run_date", "subscription_id", "period_start"),
        Index("ix_bill_run_items_run_date", "run_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_date: Mapped[date] = mapped_column(Date)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    period_start: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16), comment="invoiced, credited, skipped")
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    currency: Mapped[str | None] = mapped_column(String(3))
    amount: Mapped[Decimal | None]
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class SubscriptionCommitment(Base):
    """A minimum spend agreed for a contract period of a subscription (usually its term).

    What counts is what the subscription's issued invoices billed for service inside the
    period (lines before discounts and tax, of ``item_codes`` only when given). The bill
    run that invoices the billing period holding the commitment's end (or the
    subscription's cancellation) adds the shortfall as a true-up line and marks the
    commitment settled in the same transaction, so it is trued up once
    (activities/recurring/commitments.py).
    """

    __tablename__ = "subscription_commitments"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("period_end > period_start", name="period_ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(comment="minimum spend before discounts and tax")
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    item_codes: Mapped[list[str] | None] = mapped_column(
        JSON, comment="the items whose lines count; all when empty"
    )
    settled_at: Mapped[datetime | None] = mapped_column(comment="when the bill run trued it up")
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id"), comment="the invoice with the true-up line (none: no shortfall)"
    )
    created_at: Mapped[datetime]
