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
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from activities.billing.money import quantum
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
    __table_args__ = (CheckConstraint("term_end > term_start", name="term_ordered"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    plan: Mapped[str] = mapped_column(String(64))
    interval: Mapped[Interval] = mapped_column(_enum(Interval))
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
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

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
    step = quantum(currency)
    state = target.__dict__
    for name in _money_columns(type(target)):
        value = state.get(name)
        if isinstance(value, Decimal) and value == (rounded := value.quantize(step)):
            state[name] = rounded


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
