"""A bill run's batch in one transaction: price every subscription, then store the lot at once.

Storing an invoice at a time (an INSERT per invoice, line and audit row, and the series
row bumped per invoice) cost 40 to 70 times the computation (bench/README.md). Here a
batch's subscriptions and period rows are locked together, in id order (the order
:func:`~activities.recurring.changes.lock_subscription` and every other batch take
them), what pricing reads is read with one query per table, and the plain renewals
(one period ended, no true-up, no cancellation, no net credit, no account credit to
spend) are stored with bulk inserts under one block of invoice numbers. Anything else
is billed by
:func:`~activities.recurring.bill_run.bill_subscription` in a savepoint, exactly as a
lone subscription is.

A data problem with one subscription (found while pricing it, or raised by its
savepoint) is recorded as skipped and the rest of the batch goes on. Idempotency is
the lone path's: the period moves on in the same transaction as its invoice, keyed
``bill-run:<subscription>:<period start>``, and a second worker waits on the row locks,
then finds the period no longer due.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    DateTime,
    Row,
    String,
    Table,
    bindparam,
    column,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from activities.billing.invoicing import InvoiceDraft, InvoiceTerms
from activities.billing.money import ZERO
from activities.billing.seller import Seller
from activities.billing.tax import TaxTreatment
from activities.ledger import audit
from activities.ledger.bulk import any_of, insert_rows, on_postgres
from activities.ledger.errors import NotFound
from activities.ledger.invoices import TaxIdRow, ToIssue, check_draft, issue_invoices
from activities.ledger.models import (
    BillRunRecord,
    ContractType,
    CreditNote,
    Customer,
    Interval,
    Invoice,
    Subscription,
    SubscriptionEvent,
    SubscriptionEventKind,
    SubscriptionItem,
    SubscriptionPeriod,
    SubscriptionStatus,
    TaxId,
    UsageEvent,
    UsagePeriod,
)
from activities.recurring.bill_run import (
    DATA_ERRORS,
    Billing,
    Issued,
    Outcome,
    bill_subscription,
    cutoff,
    record_skip,
    true_up_dates,
)
from activities.recurring.commitments import commitments_ending
from activities.recurring.history import (
    EventRow,
    ItemRow,
    PeriodRow,
    draft_renewal,
    engine_event,
    next_period_end,
    state_interval,
    state_of,
    usage_periods,
)
from activities.recurring.taxes import customer_tax
from activities.recurring.usage import (
    UsageWindow,
    closed_periods,
    has_usage_addon,
    mark_invoiced,
    usage_charges,
)


@dataclass(slots=True)
class BatchOutcome:
    """What the batch did: one outcome per bill of each subscription, and the skipped."""

    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Subscription:
    """The subscription's columns pricing reads, and its items (history.SubscriptionRow)."""

    id: str
    customer_id: str
    plan: str
    interval: Interval
    interval_count: int
    contract_type: ContractType
    status: SubscriptionStatus
    currency: str
    term_start: datetime
    billing_anchor: datetime
    items: Sequence[ItemRow]


@dataclass(frozen=True, slots=True)
class _Customer:
    """The customer's columns an invoice reads, and its tax ids (ledger.invoices.Buyer)."""

    id: str
    legal_name: str
    currency: str
    payment_terms_days: int
    address_line1: str
    address_line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str
    tax_exempt: bool
    tax_ids: Sequence[TaxIdRow]


_SUBSCRIPTION = [getattr(Subscription, name) for name in _Subscription.__slots__ if name != "items"]
_CUSTOMER = [getattr(Customer, name) for name in _Customer.__slots__ if name != "tax_ids"]


@dataclass(frozen=True, slots=True)
class _Renewal:
    """A plain renewal, priced and checked, waiting to be stored."""

    subscription: _Subscription
    period: PeriodRow
    customer: _Customer
    draft: InvoiceDraft
    key: str
    usage: UsageWindow
    next_end: datetime
    closed: list[dict[str, object]]  # the usage periods it closes (usage.closed_periods)


def bill_batch(
    session: Session,
    subscription_ids: Sequence[str],
    run_date: date,
    billing: Billing,
    seller: Seller,
    *,
    actor: str,
    now: datetime,
) -> BatchOutcome:
    """Bill every subscription of the batch that is due by the run's date. The caller
    commits (everything, skips included) or rolls back."""
    until = cutoff(run_date)
    ids = sorted(set(subscription_ids))
    subscriptions = _subscriptions(session, ids)
    postgres = on_postgres(session)
    periods: dict[str, PeriodRow] = {
        row.subscription_id: row for row in session.execute(_locked_periods(postgres), {"ids": ids})
    }
    customers = _customers(session, {s.customer_id for s in subscriptions.values()})
    due = [sid for sid in ids if sid in periods and periods[sid].period_end < until]
    # Customers with account credit take the lone path, which spends it under their lock
    # (activities/recurring/credits.py); a batch prices renewals without credit.
    in_credit: set[tuple[str, str]] = {
        (customer_id, currency)
        for customer_id, currency in session.execute(_in_credit(postgres), {"ids": list(customers)})
    }
    events = _events(session, [periods[sid] for sid in due])
    committed = commitments_ending(session, [periods[sid] for sid in due])
    metered = set(session.scalars(_metered(postgres), {"ids": due}))
    issued_keys = set(
        session.scalars(_issued_keys(postgres), {"ids": [_key(periods[s]) for s in due]})
    )
    done = BatchOutcome()
    lone: list[str] = []
    renewals: list[_Renewal] = []
    taxes: dict[str, TaxTreatment] = {}
    for sid in ids:
        subscription, period = subscriptions.get(sid), periods.get(sid)
        if subscription is None:
            done.skipped.append((sid, str(NotFound(f"subscription {sid!r} not found"))))
            continue
        if period is None or true_up_dates(subscription, period, until):
            lone.append(sid)  # nothing to bill (the lone path says so), or a true-up first
            continue
        if period.period_end >= until:
            done.outcomes.append(Outcome(sid, "not_due"))
            continue
        recorded = events.get(sid, [])
        next_end = next_period_end(subscription, period.period_end)
        if (
            _key(period) in issued_keys
            or (subscription.customer_id, subscription.currency) in in_credit
            or sid in committed  # a minimum-commitment true-up: the lone path's
            or next_end < until  # more than one period to catch up
            or subscription.status == SubscriptionStatus.CANCELLED
            or any(r.kind == SubscriptionEventKind.CANCELLED for r in recorded)
        ):
            lone.append(sid)
            continue
        try:
            customer = customers[subscription.customer_id]
            tax = taxes.get(customer.id) or taxes.setdefault(
                customer.id, customer_tax(customer, billing.taxes)
            )
            renewal = _price(
                session,
                subscription,
                period,
                customer,
                recorded,
                tax,
                sid in metered,
                run_date,
                billing,
                next_end,
            )
        except DATA_ERRORS as error:
            done.skipped.append((sid, str(error)))
            continue
        if renewal is None:
            lone.append(sid)  # a net credit: its credit note is the lone path's
        else:
            renewals.append(renewal)
    for sid in lone:
        try:
            with session.begin_nested():
                done.outcomes.extend(
                    bill_subscription(session, sid, run_date, billing, actor=actor, now=now)
                )
        except DATA_ERRORS as error:
            done.skipped.append((sid, str(error)))
    done.outcomes.extend(_store(session, renewals, run_date, seller, actor=actor, now=now))
    for sid, reason in done.skipped:
        record_skip(session, sid, run_date, reason, now)
    return done


# The batch's statements, built once per dialect (bulk.any_of): the ids are parameters.


@cache
def _locked_periods(postgres: bool) -> Executable:
    return (
        select(
            SubscriptionPeriod.subscription_id,
            SubscriptionPeriod.period_start,
            SubscriptionPeriod.period_end,
            SubscriptionPeriod.opening,
            SubscriptionPeriod.lines_invoiced,
            SubscriptionPeriod.invoiced_through,
        )
        .where(any_of(SubscriptionPeriod.subscription_id, postgres))
        .order_by(SubscriptionPeriod.subscription_id)
        .with_for_update(key_share=True)
    )


@cache
def _in_credit(postgres: bool) -> Executable:
    return (
        select(CreditNote.customer_id, CreditNote.currency)
        .where(any_of(CreditNote.customer_id, postgres), CreditNote.unapplied > 0)
        .distinct()
    )


@cache
def _metered(postgres: bool) -> Executable:
    return (
        select(UsageEvent.subscription_id)
        .where(any_of(UsageEvent.subscription_id, postgres))
        .distinct()
    )


@cache
def _issued_keys(postgres: bool) -> Executable:
    return select(Invoice.source_key).where(any_of(Invoice.source_key, postgres))


@cache
def _locked_subscriptions(postgres: bool) -> Executable:
    return (
        select(*_SUBSCRIPTION)
        .where(any_of(Subscription.id, postgres))
        .order_by(Subscription.id)
        .with_for_update(key_share=True)  # as lock_subscription: usage events keep arriving
    )


@cache
def _items(postgres: bool) -> Executable:
    return (
        select(
            SubscriptionItem.subscription_id,
            SubscriptionItem.item_code,
            SubscriptionItem.kind,
            SubscriptionItem.quantity,
            SubscriptionItem.unit_price,
            SubscriptionItem.in_arrears,
            SubscriptionItem.own_quantity,
        )
        .where(any_of(SubscriptionItem.subscription_id, postgres))
        .order_by(SubscriptionItem.subscription_id, SubscriptionItem.id)
    )


@cache
def _tax_ids(postgres: bool) -> Executable:
    return (
        select(TaxId.customer_id, TaxId.scheme, TaxId.value)
        .where(any_of(TaxId.customer_id, postgres))
        .order_by(TaxId.id)
    )


@cache
def _customer_rows(postgres: bool) -> Executable:
    return select(*_CUSTOMER).where(any_of(Customer.id, postgres))


@cache
def _event_rows(postgres: bool) -> Executable:
    return (
        select(
            SubscriptionEvent.subscription_id,
            SubscriptionEvent.id,
            SubscriptionEvent.kind,
            SubscriptionEvent.effective_at,
            SubscriptionEvent.seats,
            SubscriptionEvent.plan,
            SubscriptionEvent.addon,
            SubscriptionEvent.quantity,
            SubscriptionEvent.unit_price,
            SubscriptionEvent.details,
        )
        .where(
            any_of(SubscriptionEvent.subscription_id, postgres),
            SubscriptionEvent.effective_at >= bindparam("since"),
        )
        .order_by(
            SubscriptionEvent.subscription_id, SubscriptionEvent.effective_at, SubscriptionEvent.id
        )
    )


def _key(period: PeriodRow) -> str:
    return f"bill-run:{period.subscription_id}:{period.period_start.isoformat()}"


def _subscriptions(session: Session, ids: list[str]) -> dict[str, _Subscription]:
    """The batch's subscriptions, locked in id order, with their items: Core rows, one
    query per table (ORM objects cost more to build than the invoice costs to price)."""
    postgres = on_postgres(session)
    locked = session.execute(_locked_subscriptions(postgres), {"ids": ids}).all()
    items: dict[str, list[ItemRow]] = {}
    # After the lock: a change holding it may replace items.
    for item in session.execute(_items(postgres), {"ids": ids}):
        items.setdefault(item.subscription_id, []).append(item)
    return {row.id: _Subscription(*_fields(row, items.get(row.id, []))) for row in locked}


def _fields(row: Row[Any], last: object) -> tuple[Any, ...]:
    """A row's values in the order they were selected, and ``last`` after them: a row
    data class's fields, positionally (its mapping cost more than the rest of building it)."""
    return (*row, last)


def _customers(session: Session, ids: Collection[str]) -> dict[str, _Customer]:
    postgres, listed = on_postgres(session), {"ids": list(ids)}
    tax_ids: dict[str, list[TaxIdRow]] = {}
    for row in session.execute(_tax_ids(postgres), listed):
        tax_ids.setdefault(row.customer_id, []).append(row)
    return {
        row.id: _Customer(*_fields(row, tax_ids.get(row.id, [])))
        for row in session.execute(_customer_rows(postgres), listed)
    }


def _events(session: Session, periods: list[PeriodRow]) -> dict[str, list[EventRow]]:
    """Each period's changes in time order, as ``history.period_events`` reads them one by
    one (a cancellation may fall on the period's end), with one query for the batch."""
    if not periods:
        return {}
    bounds = {p.subscription_id: (p.period_start, p.period_end) for p in periods}
    rows = session.execute(
        _event_rows(on_postgres(session)),
        {"ids": list(bounds), "since": min(start for start, _ in bounds.values())},
    )
    found: dict[str, list[EventRow]] = {}
    for row in rows:
        start, end = bounds[row.subscription_id]
        if start <= row.effective_at < end or (
            row.kind == SubscriptionEventKind.CANCELLED and row.effective_at == end
        ):
            found.setdefault(row.subscription_id, []).append(row)
    return found


def _price(
    session: Session,
    subscription: _Subscription,
    period: PeriodRow,
    customer: _Customer,
    recorded: list[EventRow],
    tax: TaxTreatment,
    metered: bool,
    run_date: date,
    billing: Billing,
    next_end: datetime,
) -> _Renewal | None:
    """The renewal's draft, checked as ``issue_invoice`` checks it; ``None`` for a net credit."""
    state = period.opening or state_of(subscription)
    interval, count = state_interval(state)
    contract = billing.policy.for_contract(subscription.contract_type.value)
    events = [engine_event(r, interval, billing.book, count) for r in recorded]
    periods = (
        usage_periods(
            subscription, period, recorded, events, book=billing.book, policy=contract.proration
        )
        if metered or has_usage_addon(subscription)
        else ()
    )
    window = (
        usage_charges(session, subscription, period, state["plan"], billing.book, periods)
        if metered
        else UsageWindow((), 0)
    )
    draft = draft_renewal(
        subscription,
        period,
        events,
        book=billing.book,
        terms=InvoiceTerms(
            issue_date=run_date, payment_terms_days=customer.payment_terms_days, tax=tax
        ),
        policy=contract.proration,
        usage=window.charges,
    )
    if draft.credit_to_balance + draft.refund_due > ZERO:
        return None
    if draft.lines:
        check_draft(customer, draft)
    return _Renewal(
        subscription,
        period,
        customer,
        draft,
        _key(period),
        window,
        next_end,
        closed_periods(subscription, periods, state["plan"]),
    )


def _store(
    session: Session,
    renewals: list[_Renewal],
    run_date: date,
    seller: Seller,
    *,
    actor: str,
    now: datetime,
) -> list[Outcome]:
    """Invoices, lines, their audit, usage marks, the run's records and the periods moved
    on: a statement per table for the whole batch (usage marks: per metered renewal)."""
    billed = [r for r in renewals if r.draft.lines]
    # The invoices' audit entries, then the renewals': appended together, in that order.
    entries: list[dict[str, Any]] = []
    stored = issue_invoices(
        session,
        [ToIssue(r.customer, r.draft, r.key, r.subscription.id) for r in billed],
        actor=actor,
        now=now,
        seller=seller,
        entries=entries,
    )
    invoices = {r.subscription.id: ids for r, ids in zip(billed, stored, strict=True)}
    outcomes: list[Outcome] = []
    records: list[dict[str, object]] = []
    moved: list[tuple[str, datetime, datetime]] = []
    for renewal in renewals:
        sid, period, draft = renewal.subscription.id, renewal.period, renewal.draft
        issued: Issued | None = None
        invoice_id: int | None = None
        outcome = "nothing"
        if sid in invoices:
            invoice_id, number = invoices[sid]
            if renewal.usage.charges:
                mark_invoiced(session, sid, period.period_end, renewal.usage.last_id, invoice_id)
            issued = Issued(
                sid,
                renewal.subscription.customer_id,
                number,
                draft.currency,
                draft.total,
                draft.amount_due,
                draft.due_date,
            )
            outcome = "credited" if draft.total < ZERO else "invoiced"
        records.append(
            {
                "run_date": run_date,
                "subscription_id": sid,
                "period_start": period.period_start,
                "outcome": outcome,
                "invoice_id": invoice_id,
                "currency": renewal.subscription.currency,
                "amount": issued.total if issued else ZERO,
                "reason": None if issued else "; ".join(draft.notes) or "nothing to bill",
                "recorded_at": now,
            }
        )
        entries.append(
            audit.values(
                at=now,
                actor=actor,
                action="subscription.billed",
                subject_type="subscription",
                subject_id=sid,
                before={"period_start": period.period_start, "period_end": period.period_end},
                after={
                    "period_start": period.period_end,
                    "period_end": renewal.next_end,
                    "invoice": issued.number if issued else None,
                    "outcome": outcome,
                },
            )
        )
        moved.append((sid, period.period_end, renewal.next_end))
        outcomes.append(Outcome(sid, outcome, period.period_start, issued))
    if renewals:
        insert_rows(session, BillRunRecord, records)
        insert_rows(session, UsagePeriod, [row for r in renewals for row in r.closed])
        audit.append(session, entries)
        _move_on(session, moved, now)
    return outcomes


def _move_on(session: Session, moved: list[tuple[str, datetime, datetime]], now: datetime) -> None:
    """Open the next period of each renewal (subscription, start, end): on PostgreSQL one
    ``UPDATE ... FROM unnest(arrays)`` for the batch, elsewhere one UPDATE run per row (the
    ORM's bulk update by primary key cost more than the rest of the batch's bookkeeping)."""
    periods: Table = SubscriptionPeriod.__table__  # type: ignore[assignment]
    reset = {"opening": None, "lines_invoiced": 0, "invoiced_through": None, "updated_at": now}
    if session.get_bind().dialect.name != "postgresql":
        session.execute(
            update(periods)
            .where(periods.c.subscription_id == bindparam("id"))
            .values(period_start=bindparam("start"), period_end=bindparam("end"), **reset),
            [{"id": sid, "start": start, "end": end} for sid, start, end in moved],
        )
        return
    ids, starts, ends = zip(*moved, strict=True)
    session.execute(
        _moved_on(), {"ids": list(ids), "starts": list(starts), "ends": list(ends), "now": now}
    )


@cache
def _moved_on() -> Executable:
    """PostgreSQL: the periods of a batch moved on, from three arrays (built once)."""
    periods: Table = SubscriptionPeriod.__table__  # type: ignore[assignment]
    instant = DateTime(timezone=True)
    rows = (
        func.unnest(
            bindparam("ids", type_=ARRAY(String())),
            bindparam("starts", type_=ARRAY(instant)),
            bindparam("ends", type_=ARRAY(instant)),
        )
        .table_valued(column("id", String()), column("starts", instant), column("ends", instant))
        .render_derived()
    )
    return (
        update(periods)
        .where(periods.c.subscription_id == rows.c.id)
        .values(
            period_start=rows.c.starts,
            period_end=rows.c.ends,
            opening=None,
            lines_invoiced=0,
            invoiced_through=None,
            updated_at=bindparam("now"),
        )
    )
