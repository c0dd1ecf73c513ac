"""Minimum-commitment true-ups: the shortfall of a contract period, billed by the bill run.

A commitment (``subscription_commitments``) is a minimum spend for a contract period,
usually the term of an annual contract. What counts toward it is what the
subscription's issued invoices billed for service inside the period: every line
whose service starts inside it, before discounts and tax, credits netted, of the
commitment's items only when it names some. The next period billed in advance does
not count (its service starts after the period), nor does a later true-up.

The bill run that invoices the billing period holding the commitment's end adds the
shortfall as its own line, priced by the engine's rule (``Commitment`` in
activities/billing/invoicing.py), and marks the commitment settled in the same
transaction, under the invoice's own idempotency key. A subscription cancelled inside
the commitment period is trued up on its final invoice for the share of the period it
was active, by the day, as the engine prorates a commitment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from activities.billing import invoicing
from activities.billing.invoicing import (
    Commitment,
    InvoiceLineDraft,
    InvoiceTerms,
    draft_invoice,
)
from activities.billing.money import ZERO, round_money
from activities.ledger.bulk import any_of, on_postgres
from activities.ledger.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    SubscriptionCommitment,
    SubscriptionPeriod,
)
from activities.recurring.history import PeriodRow

#: The engine's item code for the true-up line; never counts toward a commitment.
TRUE_UP_CODE = "minimum_commitment"


@dataclass(frozen=True, slots=True)
class CommitmentStatus:
    """Where a commitment stands: committed (prorated when cut short), billed so far."""

    row: SubscriptionCommitment
    billed: Decimal

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.row.item_codes or ())


def due_commitment(
    session: Session, period: SubscriptionPeriod, *, cancelled_at: datetime | None
) -> SubscriptionCommitment | None:
    """The unsettled commitment the invoice of ``period`` trues up: the one whose period
    ends by the billing period's end, or, with a cancellation, the one it cuts short."""
    rows = session.scalars(
        select(SubscriptionCommitment)
        .where(
            SubscriptionCommitment.subscription_id == period.subscription_id,
            SubscriptionCommitment.settled_at.is_(None),
            SubscriptionCommitment.period_start < (cancelled_at or period.period_end),
        )
        .order_by(SubscriptionCommitment.period_start)
    ).all()
    for row in rows:
        if row.period_end <= period.period_end or cancelled_at is not None:
            return row
    return None


def commitments_ending(session: Session, periods: Sequence[PeriodRow]) -> set[str]:
    """The subscriptions among ``periods`` whose current invoice has a commitment to true up
    (the bill run's batch leaves them to the one-by-one path)."""
    if not periods:
        return set()
    ends = {p.subscription_id: p.period_end for p in periods}
    rows = session.execute(_unsettled(on_postgres(session)), {"ids": list(ends)}).all()
    return {sid for sid, end in rows if end <= ends[sid]}


@cache
def _unsettled(postgres: bool) -> Executable:
    """The batch's commitments not settled yet (built once per dialect, bulk.any_of)."""
    return select(SubscriptionCommitment.subscription_id, SubscriptionCommitment.period_end).where(
        any_of(SubscriptionCommitment.subscription_id, postgres),
        SubscriptionCommitment.settled_at.is_(None),
    )


def billed_toward(session: Session, commitment: SubscriptionCommitment) -> Decimal:
    """What the subscription's issued invoices billed toward the commitment so far."""
    codes = commitment.item_codes or []
    query = (
        select(func.coalesce(func.sum(InvoiceLine.amount), ZERO))
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            Invoice.subscription_id == commitment.subscription_id,
            Invoice.status.not_in([InvoiceStatus.DRAFT, InvoiceStatus.VOID]),
            InvoiceLine.period_start >= commitment.period_start,
            InvoiceLine.period_start < commitment.period_end,
            InvoiceLine.item_code != TRUE_UP_CODE,
        )
    )
    if codes:
        query = query.where(InvoiceLine.item_code.in_(codes))
    # A sum of amounts in minor units, at the database's scale: read back at the currency's.
    return round_money(Decimal(session.scalar(query) or ZERO), commitment.currency)


def counts_toward(commitment: SubscriptionCommitment, lines: Sequence[InvoiceLineDraft]) -> Decimal:
    """What the lines of an invoice not issued yet bill toward the commitment."""
    codes = frozenset(commitment.item_codes or ())
    return sum(
        (
            line.amount
            for line in lines
            if commitment.period_start <= line.period_start < commitment.period_end
            and line.item_code != TRUE_UP_CODE
            and (not codes or line.item_code in codes)
        ),
        ZERO,
    )


def status(session: Session, commitment: SubscriptionCommitment) -> CommitmentStatus:
    return CommitmentStatus(commitment, billed_toward(session, commitment))


def true_up_line(
    commitment: SubscriptionCommitment,
    billed: Decimal,
    opening: invoicing.Subscription,
    *,
    terms: InvoiceTerms,
    active_from: datetime | None = None,
    active_until: datetime | None = None,
) -> InvoiceLineDraft | None:
    """The engine's true-up line for ``billed`` toward the commitment (with tax on
    ``terms``), or ``None`` when nothing is short. ``opening`` only gives the currency:
    no change or renewal is priced here, so the line is the draft's only one."""
    draft = draft_invoice(
        opening,
        (),
        terms=terms,
        commitment=Commitment(
            commitment.amount,
            commitment.period_start,
            commitment.period_end,
            billed_to_date=billed,
            item_codes=frozenset(commitment.item_codes or ()),
            active_from=active_from,
            active_until=active_until,
        ),
    )
    trued = [line for line in draft.lines if line.item_code == TRUE_UP_CODE]
    return trued[0] if trued else None


def active_until(
    commitment: SubscriptionCommitment, cancelled_at: datetime | None
) -> datetime | None:
    """A cancellation inside the commitment period cuts it short there (prorated)."""
    if cancelled_at is not None and cancelled_at < commitment.period_end:
        return cancelled_at
    return None


def settle(commitment: SubscriptionCommitment, invoice: Invoice | None, *, now: datetime) -> None:
    commitment.settled_at = now
    commitment.invoice_id = None if invoice is None else invoice.id
