"""The bill run: every subscription whose billing period ends by the run's date is invoiced.

One subscription at a time, each in its own transaction with its rows locked, so a
problem with one never holds up the others, and a crash loses at most the one in
hand. The invoice of a period is keyed ``bill-run:<subscription>:<period start>``
(a unique key in the ledger) and the period moves on in the same transaction, so a
retried batch, a re-run of the day or a second worker never invoices a period twice.

What one invoice holds is the engine's: the period's changes not invoiced yet, the
next period in advance (nothing while paused, nothing after a cancellation), the
period's usage in arrears and late usage of earlier periods, less the customer's
account credit (drawn down from its credit notes in the same transaction). Annual invoiced
contracts also get their quarterly seat true-up on each quarter boundary of the term, and
a minimum commitment ending with the period (or cut short by a cancellation in it) is
trued up on the period's invoice and settled with it (activities/recurring/commitments.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache

from sqlalchemy import and_, bindparam, delete, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from activities.billing.invoicing import InvoiceDraft, InvoiceTerms, InvoicingError
from activities.billing.money import ZERO, quantum
from activities.billing.pricebook import PriceBook
from activities.billing.proration import period_containing, shift_months, shift_months_back
from activities.billing.tax import TaxTable
from activities.ledger import audit
from activities.ledger.bulk import any_of, insert_rows, on_postgres
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError
from activities.ledger.invoices import issue_invoice
from activities.ledger.models import (
    BillRunRecord,
    ContractType,
    Interval,
    Invoice,
    Subscription,
    SubscriptionCommitment,
    SubscriptionEvent,
    SubscriptionEventKind,
    SubscriptionPeriod,
    SubscriptionStatus,
    UsagePeriod,
)
from activities.recurring.changes import invoice_pending_changes, lock_subscription
from activities.recurring.commitments import (
    active_until,
    billed_toward,
    counts_toward,
    due_commitment,
    settle,
    true_up_line,
)
from activities.recurring.credits import available_credit, credit_net, spend_credit
from activities.recurring.history import (
    INTERVALS,
    HistoryError,
    PeriodRow,
    SubscriptionRow,
    draft_period,
    draft_renewal,
    engine_event,
    engine_subscription,
    next_period_end,
    part_of,
    period_events,
    quarterly_true_up,
    state_interval,
    state_of,
    usage_periods,
)
from activities.recurring.policy import RecurringPolicy
from activities.recurring.taxes import customer_tax
from activities.recurring.usage import closed_periods, mark_invoiced, usage_charges

#: Data problems: the subscription is reported and skipped, never retried.
DATA_ERRORS = (LedgerError, InvoicingError, HistoryError, ValueError)


@dataclass(frozen=True, slots=True)
class Billing:
    """What pricing needs besides the ledger: the price book, tax table and policy."""

    book: PriceBook
    taxes: TaxTable
    policy: RecurringPolicy


@dataclass(frozen=True, slots=True)
class Issued:
    """One invoice the run issued, for delivery and collections."""

    subscription_id: str
    customer_id: str
    number: str
    currency: str
    total: Decimal
    amount_due: Decimal
    due_date: date


def cutoff(run_date: date) -> datetime:
    """Periods ending before this instant (the end of the run's day, UTC) are due."""
    return datetime.combine(run_date + timedelta(days=1), time(), tzinfo=UTC)


def true_up_dates(
    subscription: SubscriptionRow,
    period: PeriodRow,
    until: datetime,
    cuts: Sequence[datetime] | None = None,
) -> list[datetime]:
    """Quarter boundaries of an annual contract's term inside its current period, before
    ``until``, not yet trued up.

    A change that starts a period of its own (a resume or a plan change under
    ``anchor_on_change: realign``, a change of interval) moves the anchor, and with it
    the term: before the change the engine counts quarters from the term the period
    opened with, after it from the new one (``Schedule.periods``). ``cuts`` are where
    the period's changes started new pieces; without them (the caller has not read the
    events) both terms' boundaries are given, a superset that only says the period may
    have a true-up due (:func:`bill_subscription` reads the events and bills the right
    ones). Counted from today's anchor alone, a resume on 10 Jun 2026 that realigned a
    term from 15 Jan to 15 Jun put a true-up on 15 Mar 2026, a date the engine refuses
    (the old term's quarters are 15 Apr, 15 Jul and 15 Oct): the bill run skipped it."""
    if not quarterly_true_up(subscription):
        return []
    interval = INTERVALS[subscription.interval.value]
    holding = shift_months_back(subscription.billing_anchor, interval, period.period_end)
    after = period.invoiced_through or period.period_start
    last = min(until, period.period_end)
    current = [shift_months(holding, 3 * quarter) for quarter in (1, 2, 3)]
    opened = _opening_term(subscription, period)
    if opened is None:
        candidates = current
    elif cuts is None:
        candidates = sorted({*opened, *current})
    else:
        first, final = (cuts[0], cuts[-1]) if cuts else (last, last)
        candidates = [b for b in opened if b < first] + [b for b in current if b > final]
    return [
        boundary
        for boundary in candidates
        if after < boundary < last and boundary > period.period_start
    ]


def _opening_term(subscription: SubscriptionRow, period: PeriodRow) -> list[datetime] | None:
    """The quarter boundaries of the annual term the period opened with, when a change in
    the period has moved the anchor since (``None`` otherwise)."""
    opening = period.opening
    if not opening or "anchor" not in opening:
        return None
    anchor = datetime.fromisoformat(opening["anchor"])
    if anchor == subscription.billing_anchor or state_interval(opening) != ("year", 1):
        return None
    holding, _ = period_containing(anchor, "year", period.period_start)
    return [shift_months(holding, 3 * quarter) for quarter in (1, 2, 3)]


def term_cuts(
    session: Session, subscription: Subscription, period: SubscriptionPeriod, billing: Billing
) -> list[datetime] | None:
    """Where the period's changes started pieces of their own (the engine's
    ``Schedule.periods``), read only when a change moved the anchor (``None`` otherwise:
    the term is the one the period opened with)."""
    if _opening_term(subscription, period) is None:
        return None
    recorded = list(period_events(session, period))
    interval, count = state_interval(period.opening or state_of(subscription))
    events = [engine_event(r, interval, billing.book, count) for r in recorded]
    contract = billing.policy.for_contract(subscription.contract_type.value)
    pieces = usage_periods(
        subscription, period, recorded, events, book=billing.book, policy=contract.proration
    )
    return [start for start, _ in pieces[1:]]


def due_subscriptions(
    session: Session, run_date: date, *, after: str = "", limit: int = 100
) -> list[str]:
    """The next ``limit`` subscriptions (by id, after ``after``) with a period ending or a
    quarterly true-up falling by the run's date."""
    until = cutoff(run_date)
    found: list[str] = []
    cursor = after
    while len(found) < limit:
        rows = session.execute(
            _due_page(), {"cursor": cursor, "until": until, "limit": limit}
        ).all()
        if not rows:
            break
        for row in rows:
            if row.period_end < until or true_up_dates(row, row, until):
                found.append(row.subscription_id)
                if len(found) == limit:
                    break
        cursor = rows[-1].subscription_id
    return found


@cache
def _due_page() -> Executable:
    """A page of periods that may be due: Core rows, each with the period's and the
    subscription's columns true_up_dates reads (ORM objects of both cost more than the rest
    of the page); built once, the cursor, cut-off and page size are parameters."""
    return (
        select(
            SubscriptionPeriod.subscription_id,
            SubscriptionPeriod.period_start,
            SubscriptionPeriod.period_end,
            SubscriptionPeriod.invoiced_through,
            SubscriptionPeriod.opening,
            Subscription.contract_type,
            Subscription.interval,
            Subscription.interval_count,
            Subscription.billing_anchor,
        )
        .join(Subscription, Subscription.id == SubscriptionPeriod.subscription_id)
        .where(
            SubscriptionPeriod.subscription_id > bindparam("cursor"),
            or_(  # ended, or a contract that may have a true-up due (checked below)
                SubscriptionPeriod.period_end < bindparam("until"),
                and_(
                    Subscription.contract_type == ContractType.ANNUAL_INVOICED,
                    Subscription.interval == Interval.YEAR,
                ),
            ),
        )
        .order_by(SubscriptionPeriod.subscription_id)
        .limit(bindparam("limit"))
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    subscription_id: str
    outcome: str  # invoiced, credited, nothing, skipped, not_due
    period_start: datetime | None = None
    invoice: Issued | None = None
    reason: str | None = None
    true_up: Decimal | None = None  # the minimum-commitment shortfall the invoice bills


def bill_subscription(
    session: Session,
    subscription_id: str,
    run_date: date,
    billing: Billing,
    *,
    actor: str,
    now: datetime,
) -> list[Outcome]:
    """Invoice everything due for one subscription by the run's date: quarterly true-ups,
    then each period that ended (usually one). The caller commits or rolls back."""
    until = cutoff(run_date)
    subscription, period = lock_subscription(session, subscription_id)
    outcomes: list[Outcome] = []
    while period is not None:
        cuts = term_cuts(session, subscription, period, billing)
        for boundary in true_up_dates(subscription, period, until, cuts):
            trued = _true_up(session, subscription, period, boundary, run_date, billing, actor, now)
            if trued is not None:
                outcomes.append(trued)
        if period.period_end >= until:
            break
        outcome, period = _renew(session, subscription, period, run_date, billing, actor, now)
        outcomes.append(outcome)
    return outcomes or [Outcome(subscription_id, "not_due")]


def _terms(
    session: Session, subscription: Subscription, billing: Billing, issue: date
) -> InvoiceTerms:
    customer = get_customer(session, subscription.customer_id)
    return InvoiceTerms(
        issue_date=issue,
        payment_terms_days=customer.payment_terms_days,
        tax=customer_tax(customer, billing.taxes),
    )


def _issued(subscription: Subscription, invoice: Invoice) -> Issued:
    assert invoice.number is not None
    return Issued(
        subscription.id,
        subscription.customer_id,
        invoice.number,
        invoice.currency,
        invoice.total,
        invoice.amount_due,
        invoice.due_date,
    )


def _true_up(
    session: Session,
    subscription: Subscription,
    period: SubscriptionPeriod,
    boundary: datetime,
    run_date: date,
    billing: Billing,
    actor: str,
    now: datetime,
) -> Outcome | None:
    """The quarter's true-up invoice; ``None`` when no seats were held above those paid."""
    key = f"true-up:{subscription.id}:{boundary.isoformat()}"
    recorded = list(period_events(session, period))
    if not any(r.idempotency_key == key for r in recorded):
        row = SubscriptionEvent(
            subscription_id=subscription.id,
            kind=SubscriptionEventKind.QUARTERLY_TRUE_UP,
            effective_at=boundary,
            actor=actor,
            source="bill-run",
            reason="quarterly seat true-up of the annual contract",
            idempotency_key=key,
            recorded_at=now,
        )
        if period.opening is None:
            period.opening = state_of(subscription)
        session.add(row)
        session.flush()
        recorded = list(period_events(session, period))
    interval, count = state_interval(period.opening or state_of(subscription))
    contract = billing.policy.for_contract(subscription.contract_type.value)
    priced = draft_period(
        subscription,
        period,
        [
            engine_event(r, interval, billing.book, count)
            for r in recorded
            if r.effective_at <= boundary
        ],
        book=billing.book,
        terms=_terms(session, subscription, billing, boundary.date()),
        policy=contract.proration,
        renew=False,
    )
    pending = priced.full.lines[period.lines_invoiced : priced.change_lines]
    if not pending:
        period.invoiced_through = boundary
        return None
    number = invoice_pending_changes(
        session, subscription, period, priced, key=key, actor=actor, now=now, through=boundary
    )
    invoice = session.scalar(select(Invoice).where(Invoice.number == number))
    assert invoice is not None
    session.add(
        BillRunRecord(
            run_date=run_date,
            subscription_id=subscription.id,
            period_start=boundary,
            outcome="credited" if invoice.total < ZERO else "invoiced",
            invoice_id=invoice.id,
            currency=invoice.currency,
            amount=invoice.total,
            reason="quarterly seat true-up",
            recorded_at=now,
        )
    )
    return Outcome(subscription.id, "invoiced", boundary, _issued(subscription, invoice))


def _renew(
    session: Session,
    subscription: Subscription,
    period: SubscriptionPeriod,
    run_date: date,
    billing: Billing,
    actor: str,
    now: datetime,
) -> tuple[Outcome, SubscriptionPeriod | None]:
    """Invoice the period that ended and open the next (none after a cancellation)."""
    key = f"bill-run:{subscription.id}:{period.period_start.isoformat()}"
    recorded = list(period_events(session, period))
    state = period.opening or state_of(subscription)
    interval, count = state_interval(state)
    contract = billing.policy.for_contract(subscription.contract_type.value)
    events = [engine_event(r, interval, billing.book, count) for r in recorded]
    periods = usage_periods(
        subscription, period, recorded, events, book=billing.book, policy=contract.proration
    )
    window = usage_charges(session, subscription, period, state["plan"], billing.book, periods)
    credit = available_credit(session, subscription.customer_id, subscription.currency)
    draft = draft_renewal(
        subscription,
        period,
        events,
        book=billing.book,
        terms=replace(_terms(session, subscription, billing, run_date), account_credit=credit),
        policy=contract.proration,
        usage=window.charges,
    )
    cancelled_at = next(
        (r.effective_at for r in recorded if r.kind == SubscriptionEventKind.CANCELLED), None
    )
    commitment = due_commitment(session, period, cancelled_at=cancelled_at)
    shortfall: Decimal | None = None
    if commitment is not None:
        draft, shortfall = _with_true_up(
            session, subscription, period, draft, commitment, billing, cancelled_at, credit
        )
    issued: Issued | None = None
    outcome = "nothing"
    if draft.lines:
        invoice = issue_invoice(
            session,
            subscription.customer_id,
            draft,
            source_key=key,
            actor=actor,
            now=now,
            subscription_id=subscription.id,
        )
        session.flush()  # the invoice's id, for the usage it bills and the run's record
        credit_net(session, invoice, draft, key=key, actor=actor, now=now)
        spend_credit(session, invoice, actor=actor, now=now)
        if window.charges:
            mark_invoiced(session, subscription.id, period.period_end, window.last_id, invoice.id)
        issued = _issued(subscription, invoice)
        outcome = "credited" if invoice.total < ZERO else "invoiced"
    if commitment is not None:
        settle(commitment, invoice if shortfall else None, now=now)
    insert_rows(session, UsagePeriod, closed_periods(subscription, periods, state["plan"]))
    cancelled = cancelled_at is not None
    record = BillRunRecord(
        run_date=run_date,
        subscription_id=subscription.id,
        period_start=period.period_start,
        outcome=outcome,
        invoice_id=None if issued is None else invoice.id,
        currency=subscription.currency,
        amount=issued.total if issued else ZERO,
        reason=None if issued else "; ".join(draft.notes) or "nothing to bill",
        recorded_at=now,
    )
    session.add(record)
    before = {"period_start": period.period_start, "period_end": period.period_end}
    next_period: SubscriptionPeriod | None
    if cancelled or subscription.status == SubscriptionStatus.CANCELLED:
        session.execute(
            delete(SubscriptionPeriod).where(SubscriptionPeriod.subscription_id == subscription.id)
        )
        session.expunge(period)
        subscription.status = SubscriptionStatus.CANCELLED
        next_period = None
        after: dict[str, object] = {"ended": True}
    else:
        start = period.period_end
        period.period_start = start
        period.period_end = next_period_end(subscription, start)
        period.opening = None
        period.lines_invoiced = 0
        period.invoiced_through = None
        period.updated_at = now
        next_period = period
        after = {"period_start": period.period_start, "period_end": period.period_end}
    audit.record(
        session,
        at=now,
        actor=actor,
        action="subscription.billed",
        subject_type="subscription",
        subject_id=subscription.id,
        before=before,
        after={**after, "invoice": issued.number if issued else None, "outcome": outcome},
    )
    session.flush()
    return Outcome(
        subscription.id, outcome, record.period_start, issued, true_up=shortfall
    ), next_period


def _with_true_up(
    session: Session,
    subscription: Subscription,
    period: SubscriptionPeriod,
    draft: InvoiceDraft,
    commitment: SubscriptionCommitment,
    billing: Billing,
    cancelled_at: datetime | None,
    credit: Decimal,
) -> tuple[InvoiceDraft, Decimal | None]:
    """The renewal's draft with the commitment's true-up line added when short (see
    activities/recurring/commitments.py), and the shortfall."""
    billed = billed_toward(session, commitment) + counts_toward(commitment, draft.lines)
    started = subscription.term_start
    line = true_up_line(
        commitment,
        billed,
        engine_subscription(subscription, period, billing.book),
        terms=_terms(session, subscription, billing, draft.issue_date),
        active_from=started if started > commitment.period_start else None,
        active_until=active_until(commitment, cancelled_at),
    )
    if line is None:
        return draft, None
    return part_of(draft, [*draft.lines, line], account_credit=credit), line.amount


def issued_in_run(session: Session, run_date: date, subscription_ids: list[str]) -> list[Issued]:
    """The invoices the run of ``run_date`` issued to these subscriptions, from its records
    (a batch's worth of rows: read as Core rows, amounts at their currency's precision as
    the ORM gives them)."""
    rows = session.execute(
        _issued_rows(on_postgres(session)), {"run_date": run_date, "ids": list(subscription_ids)}
    )
    return [
        Issued(
            row.subscription_id,
            row.customer_id,
            row.number or "",
            row.currency,
            _at_scale(row.total, row.currency),
            _at_scale(row.amount_due, row.currency),
            row.due_date,
        )
        for row in rows
    ]


@cache
def _issued_rows(postgres: bool) -> Executable:
    """The run's records of a batch and their invoices (built once per dialect, bulk.any_of)."""
    return (
        select(
            BillRunRecord.subscription_id,
            Invoice.customer_id,
            Invoice.number,
            Invoice.currency,
            Invoice.total,
            Invoice.amount_due,
            Invoice.due_date,
        )
        .join(Invoice, Invoice.id == BillRunRecord.invoice_id)
        .where(
            BillRunRecord.run_date == bindparam("run_date"),
            any_of(BillRunRecord.subscription_id, postgres),
        )
        .order_by(BillRunRecord.id)
    )


def _at_scale(amount: Decimal, currency: str) -> Decimal:
    """``12.5000`` (the ledger's four places) as ``12.50``; a digit below the minor unit stays."""
    written = amount.quantize(quantum(currency))
    return written if written == amount else amount


def record_skip(
    session: Session, subscription_id: str, run_date: date, reason: str, now: datetime
) -> None:
    """Report a subscription the run could not bill (once per run date and period)."""
    period = session.get(SubscriptionPeriod, subscription_id)
    start = period.period_start if period is not None else now
    existing = session.scalar(
        select(BillRunRecord).where(
            BillRunRecord.run_date == run_date,
            BillRunRecord.subscription_id == subscription_id,
            BillRunRecord.period_start == start,
        )
    )
    if existing is not None:
        existing.reason = reason
        return
    session.add(
        BillRunRecord(
            run_date=run_date,
            subscription_id=subscription_id,
            period_start=start,
            outcome="skipped",
            reason=reason[:2000],
            recorded_at=now,
        )
    )


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_date: date
    invoiced: int
    credited: int
    nothing: int
    skipped: list[tuple[str, str]]
    totals: dict[str, Decimal]

    def text(self) -> str:
        from activities.billing.money import format_money

        totals = ", ".join(
            f"{currency} {format_money(amount, currency)}"
            for currency, amount in sorted(self.totals.items())
        )
        lines = [
            f"Bill run {self.run_date.isoformat()}: {self.invoiced} invoice"
            f"{'' if self.invoiced == 1 else 's'} ({totals or 'nothing billed'}), "
            f"{self.credited} net credit{'' if self.credited == 1 else 's'}, "
            f"{self.nothing} with nothing to bill, {len(self.skipped)} skipped."
        ]
        lines.extend(f"  skipped {sub}: {reason}" for sub, reason in self.skipped)
        return "\n".join(lines)


def run_summary(session: Session, run_date: date) -> RunSummary:
    """What the run of ``run_date`` did, from its records (all runs of that date together)."""
    rows: Sequence[BillRunRecord] = session.scalars(
        select(BillRunRecord)
        .where(BillRunRecord.run_date == run_date)
        .order_by(BillRunRecord.subscription_id, BillRunRecord.id)
    ).all()
    totals: dict[str, Decimal] = {}
    counts = {"invoiced": 0, "credited": 0, "nothing": 0}
    skipped = []
    billed = {(r.subscription_id, r.period_start) for r in rows if r.outcome != "skipped"}
    for row in rows:
        if row.outcome == "skipped":
            if (row.subscription_id, row.period_start) not in billed:
                skipped.append((row.subscription_id, row.reason or ""))
            continue
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
        if row.currency and row.amount is not None and row.outcome != "nothing":
            totals[row.currency] = totals.get(row.currency, ZERO) + row.amount
    return RunSummary(
        run_date, counts["invoiced"], counts["credited"], counts["nothing"], skipped, totals
    )
