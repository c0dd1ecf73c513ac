"""Subscription changes: priced by the engine, recorded as an event, applied, audited, at once.

:func:`change_subscription` is the one way a subscription changes mid-term (CLI, Slack,
the bill run's true-ups). In one transaction, with the subscription's period row locked,
it builds the change as the engine's event, prices the period with it (an impossible
change, such as removing more seats than held, is refused here with the engine's
reason), and when asked to apply: records the event, brings the subscription's rows to
the new state, audits it, and invoices the change at once when the contract type's
policy says so. Without ``apply`` it only previews and writes nothing.

A change of billing interval also moves the period's end and the billing anchor to
where the engine has them after the change (``anchor_on_change``: a new period at the
change, or the billing day kept), so the bill run renews on the day the engine does; one
that starts a period ending later than the current one is invoiced at once, whatever the
contract's ``change_invoicing``, since that period is billed in advance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.billing.invoicing import (
    Event,
    InvoiceLineDraft,
    InvoiceTerms,
    InvoicingError,
    schedule_after,
)
from activities.billing.money import ZERO
from activities.billing.pricebook import PriceBook, PriceBookError
from activities.billing.proration import Interval as EngineInterval
from activities.billing.proration import ProrationPolicy
from activities.billing.tax import TaxTable
from activities.ledger import audit
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.invoices import issue_invoice
from activities.ledger.models import (
    Interval,
    ItemKind,
    Subscription,
    SubscriptionEvent,
    SubscriptionEventKind,
    SubscriptionItem,
    SubscriptionPeriod,
    SubscriptionStatus,
)
from activities.recurring.addons import MOST
from activities.recurring.credits import available_credit, credit_net, spend_credit
from activities.recurring.history import (
    INTERVALS,
    HistoryError,
    PeriodDraft,
    cuts_period,
    draft_period,
    engine_event,
    engine_subscription,
    latest,
    part_of,
    period_events,
    state_interval,
    state_of,
    usage_lines,
)
from activities.recurring.policy import ContractPolicy, RecurringPolicy
from activities.recurring.taxes import customer_tax
from activities.recurring.usage import mark_invoiced, usage_charges

ChangeKind = Literal["seats", "plan", "addon", "interval", "pause", "resume", "cancel"]


class ChangeRequest(BaseModel):
    """One change to one subscription. ``at`` defaults to now (a cancellation: the period end)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subscription_id: str = Field(min_length=1, max_length=32)
    kind: ChangeKind
    seats: int | None = Field(default=None, ge=1, le=1_000_000, description="new seat count")
    plan: str | None = Field(default=None, min_length=1, max_length=64)
    addon: str | None = Field(default=None, min_length=1, max_length=64)
    addon_on: bool = True
    addon_quantity: int | None = Field(
        default=None,
        ge=0,
        le=MOST,
        description="CODE=N's N (recurring/addons.py); None: CODE=1 (or CODE=0: addon_on false)",
    )
    addon_own: bool = Field(
        default=False, description="an add-on added with its own quantity even at 1 unit"
    )
    interval: str | None = Field(
        default=None, max_length=16, description="new billing interval: month, quarter, year"
    )
    at: datetime | None = None
    actor: str = Field(min_length=1, max_length=120)
    reason: str | None = Field(default=None, max_length=2000)
    source: str = Field(default="cli", max_length=32)
    idempotency_key: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _complete(self) -> ChangeRequest:
        needs = {
            "seats": self.seats,
            "plan": self.plan,
            "addon": self.addon,
            "interval": self.interval,
        }
        if self.kind in needs and needs[self.kind] is None:
            raise ValueError(f"{self.kind}: a {self.kind} change needs the new {self.kind}")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at: give a timezone-aware time such as 2026-12-01T00:00:00Z")
        return self


class LineView(BaseModel):
    model_config = ConfigDict(frozen=True)

    description: str
    amount: Decimal
    tax_amount: Decimal


class ChangeOutcome(BaseModel):
    """What the change does: the period's change lines not invoiced yet (this one included),
    what the next bill run's invoice will hold, and, once applied, any invoice issued now."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    currency: str
    description: str
    effective_at: datetime
    period_start: datetime
    period_end: datetime
    pending: list[LineView]
    pending_total: Decimal
    next_invoice_total: Decimal
    invoicing: str
    applied: bool
    already_recorded: bool = False
    invoice_number: str | None = None


def lock_subscription(
    session: Session, subscription_id: str
) -> tuple[Subscription, SubscriptionPeriod | None]:
    """The subscription and its period row, both locked until the transaction ends (the
    subscription first, always: the bill run takes them in the same order).

    ``FOR NO KEY UPDATE``, as in activities/ledger/locks.py: a usage event or an invoice
    that merely refers to the subscription takes a key-share lock through its foreign
    key, and must neither wait for a bill run nor deadlock with one."""
    subscription = session.scalar(
        select(Subscription)
        .where(Subscription.id == subscription_id)
        .with_for_update(key_share=True)
    )
    if subscription is None:
        raise NotFound(f"subscription {subscription_id!r} not found")
    period = session.scalar(
        select(SubscriptionPeriod)
        .where(SubscriptionPeriod.subscription_id == subscription_id)
        .with_for_update(key_share=True)
    )
    return subscription, period


def _plan_item(subscription: Subscription) -> SubscriptionItem:
    for item in subscription.items:
        if item.kind == ItemKind.PLAN:
            return item
    raise HistoryError(f"subscription {subscription.id}: has no plan item")


def _event(
    request: ChangeRequest, subscription: Subscription, at: datetime, book: PriceBook, now: datetime
) -> tuple[SubscriptionEvent, str]:
    """The change as an (unsaved) event row, with a sentence saying what it is."""
    row = SubscriptionEvent(
        subscription_id=subscription.id,
        effective_at=at,
        actor=request.actor,
        reason=request.reason,
        source=request.source,
        idempotency_key=request.idempotency_key,
        recorded_at=now,
    )
    if request.kind == "seats":
        assert request.seats is not None
        held = _plan_item(subscription).quantity
        if request.seats == held:
            raise LedgerError(f"seats: the subscription already has {held} seats")
        row.kind = (
            SubscriptionEventKind.SEATS_ADDED
            if request.seats > held
            else SubscriptionEventKind.SEATS_REMOVED
        )
        row.seats = abs(request.seats - held)
        return row, f"seats {held} → {request.seats}"
    if request.kind == "plan":
        assert request.plan is not None
        if request.plan == subscription.plan:
            raise LedgerError(f"plan: the subscription is already on {request.plan}")
        _book_interval(subscription, "plan")
        row.kind = SubscriptionEventKind.PLAN_CHANGED
        _price_in(row, subscription, book, request.plan, subscription.interval.value, "plan")
        return row, f"plan {subscription.plan} → {request.plan}"
    if request.kind == "interval":
        assert request.interval is not None
        return _interval_event(row, subscription, request.interval, book)
    if request.kind == "addon":
        return _addon_event(request, subscription, row, book)
    kinds = {
        "pause": SubscriptionEventKind.PAUSED,
        "resume": SubscriptionEventKind.RESUMED,
        "cancel": SubscriptionEventKind.CANCELLED,
    }
    row.kind = kinds[request.kind]
    return row, {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[request.kind]


def _addon_event(
    request: ChangeRequest, subscription: Subscription, row: SubscriptionEvent, book: PriceBook
) -> tuple[SubscriptionEvent, str]:
    """An add-on added (per seat, or with its own quantity), its own quantity set, or removed."""
    code = request.addon
    assert code is not None
    row.addon = code
    held = next((item for item in subscription.items if item.item_code == code), None)
    quantity = request.addon_quantity
    if not request.addon_on or quantity == 0:
        if held is None or held.kind != ItemKind.SEAT_ADDON:
            raise LedgerError(f"addon: {code!r} is not an add-on of the subscription")
        row.kind = SubscriptionEventKind.ADDON_REMOVED
        return row, f"add-on {code} removed"
    if held is not None and held.own_quantity:
        target = 1 if quantity is None else quantity
        if target == held.quantity:
            raise LedgerError(f"addon: {code!r} already has quantity {target}")
        row.kind = SubscriptionEventKind.ADDON_QUANTITY_CHANGED
        row.quantity = target
        return row, f"add-on {code} quantity {held.quantity} → {target}"
    own = request.addon_own or (quantity or 1) > 1
    if held is not None:
        if own:
            raise LedgerError(
                f"addon: {code!r} follows the seats; remove it ({code}=0) and add it back "
                "with its own quantity"
            )
        raise LedgerError(f"addon: {code!r} is already on the subscription")
    interval = _book_interval(subscription, "addon")
    try:
        price = book.addon_price(code, interval, subscription.currency, subscription.plan)
    except PriceBookError as error:
        raise LedgerError(f"addon: {error}") from None
    row.kind = SubscriptionEventKind.ADDON_ADDED
    row.unit_price = price.unit_amount
    if own:
        row.quantity = quantity or 1
        return row, f"add-on {code} added, quantity {row.quantity}"
    return row, f"add-on {code} added"


def _book_interval(subscription: Subscription, field: str) -> EngineInterval:
    """The price book's interval for a new price; it prices one month, quarter or year, not
    a period of several (the engine's rule: such a price is the contract's own)."""
    if subscription.interval_count != 1:
        raise LedgerError(
            f"{field}: the price book has no price for a period of "
            f"{subscription.interval_count} {subscription.interval.value}s; a subscription "
            "billed every several intervals changes price only by contract"
        )
    return INTERVALS[subscription.interval.value]


def _price_in(
    row: SubscriptionEvent,
    subscription: Subscription,
    book: PriceBook,
    plan: str,
    interval: str,
    field: str,
) -> None:
    """The plan's and seat add-ons' prices in ``interval``, kept on the event (a change of
    plan or interval is priced as it was recorded, whatever the price book says later); each
    item keeps how it is billed (in advance or in arrears) across the change."""
    try:
        price = book.plan_price(plan, INTERVALS[interval], subscription.currency)
        addons = [
            book.addon_price(item.item_code, INTERVALS[interval], subscription.currency, plan)
            for item in subscription.items
            if item.kind == ItemKind.SEAT_ADDON
        ]
    except PriceBookError as error:
        raise LedgerError(f"{field}: {error}") from None
    timing = {item.item_code: item.in_arrears for item in subscription.items}
    row.plan = plan
    row.unit_price = price.unit_amount
    row.details = {
        "interval": interval,
        "addons": [
            {"code": a.code, "unit_price": str(a.unit_amount)}
            | ({"in_arrears": True} if timing.get(a.code) else {})
            for a in addons
        ],
    } | ({"in_arrears": True} if _plan_item(subscription).in_arrears else {})


def _interval_event(
    row: SubscriptionEvent, subscription: Subscription, new: str, book: PriceBook
) -> tuple[SubscriptionEvent, str]:
    """A change of billing interval, at the plan's and add-ons' prices in the new interval
    (kept on the event, as a plan change keeps its prices)."""
    old = subscription.interval.value
    if new not in INTERVALS:
        raise LedgerError(f"interval: {new!r} is not a billing interval ({', '.join(INTERVALS)})")
    if new == old:
        raise LedgerError(f"interval: the subscription is already billed every {old}")
    if subscription.interval_count != 1:
        raise LedgerError(
            f"interval: a subscription billed every {subscription.interval_count} {old}s "
            "changes its interval only by contract"
        )
    row.kind = SubscriptionEventKind.INTERVAL_CHANGED
    _price_in(row, subscription, book, subscription.plan, new, "interval")
    return row, f"interval {old} → {new}"


def _apply_to_rows(subscription: Subscription, row: SubscriptionEvent) -> None:
    """Bring the subscription's own rows to the state after the change."""
    kind = row.kind
    if kind in (SubscriptionEventKind.SEATS_ADDED, SubscriptionEventKind.SEATS_REMOVED):
        assert row.seats is not None
        sign = 1 if kind == SubscriptionEventKind.SEATS_ADDED else -1
        seats = _plan_item(subscription).quantity + sign * row.seats
        for item in subscription.items:
            if item.kind in (ItemKind.PLAN, ItemKind.SEAT_ADDON) and not item.own_quantity:
                item.quantity = seats
    elif kind in (SubscriptionEventKind.PLAN_CHANGED, SubscriptionEventKind.INTERVAL_CHANGED):
        assert row.plan is not None and row.unit_price is not None
        plan = _plan_item(subscription)
        plan.item_code = row.plan
        plan.unit_price = row.unit_price
        subscription.plan = row.plan
        prices = {a["code"]: Decimal(a["unit_price"]) for a in (row.details or {})["addons"]}
        for item in subscription.items:
            if item.kind == ItemKind.SEAT_ADDON and item.item_code in prices:
                item.unit_price = prices[item.item_code]
        if kind == SubscriptionEventKind.INTERVAL_CHANGED:
            subscription.interval = Interval((row.details or {})["interval"])
    elif kind == SubscriptionEventKind.ADDON_ADDED:
        assert row.addon is not None and row.unit_price is not None
        subscription.items.append(
            SubscriptionItem(
                item_code=row.addon,
                kind=ItemKind.SEAT_ADDON,
                quantity=row.quantity or _plan_item(subscription).quantity,
                unit_price=row.unit_price,
                in_arrears=False,
                own_quantity=row.quantity is not None,
            )
        )
    elif kind == SubscriptionEventKind.ADDON_QUANTITY_CHANGED:
        assert row.quantity is not None
        for item in subscription.items:
            if item.item_code == row.addon:
                item.quantity = row.quantity
    elif kind == SubscriptionEventKind.ADDON_REMOVED:
        for item in list(subscription.items):
            if item.item_code == row.addon:
                subscription.items.remove(item)
    elif kind == SubscriptionEventKind.PAUSED:
        subscription.status = SubscriptionStatus.PAUSED
    elif kind == SubscriptionEventKind.RESUMED:
        subscription.status = SubscriptionStatus.ACTIVE
    elif kind == SubscriptionEventKind.CANCELLED:
        subscription.status = SubscriptionStatus.CANCELLED


def change_subscription(
    session: Session,
    request: ChangeRequest,
    *,
    book: PriceBook,
    taxes: TaxTable,
    policy: RecurringPolicy,
    now: datetime,
    apply: bool,
) -> ChangeOutcome:
    """Preview the change, and with ``apply`` record it (see the module's docstring).

    The same idempotency key again returns the recorded change without doing it twice.
    Raises :class:`LedgerError` (or the engine's ``ValueError``) naming what is wrong;
    nothing is written then.
    """
    subscription, period = lock_subscription(session, request.subscription_id)
    if period is None:
        raise LedgerError(
            f"subscription {subscription.id}: has no current billing period "
            "(cancelled, or never invoiced)"
        )
    contract = policy.for_contract(subscription.contract_type.value)
    existing = session.scalar(
        select(SubscriptionEvent).where(
            SubscriptionEvent.idempotency_key == request.idempotency_key
        )
    )
    if existing is not None and existing.subscription_id != subscription.id:
        raise LedgerError(f"idempotency key {request.idempotency_key!r}: used for another change")
    recorded = list(period_events(session, period))
    if existing is None:
        if subscription.status == SubscriptionStatus.CANCELLED:
            raise LedgerError(f"subscription {subscription.id}: is cancelled")
        at = request.at or (period.period_end if request.kind == "cancel" else now)
        _check_time(at, request, period)
        row, description = _event(request, subscription, at, book, now)
        events = [*recorded, row]
    else:
        row, description, events = existing, f"{existing.kind.value} (already recorded)", recorded
    interval, count = state_interval(period.opening or state_of(subscription))
    customer = get_customer(session, subscription.customer_id)
    terms = InvoiceTerms(
        issue_date=now.date(),
        payment_terms_days=customer.payment_terms_days,
        tax=customer_tax(customer, taxes),
    )
    try:
        engine = [engine_event(event, interval, book, count) for event in events]
        priced = draft_period(
            subscription,
            period,
            engine,
            book=book,
            terms=terms,
            policy=contract.proration,
            renew=True,
        )
        moved = (
            _moved(subscription, period, engine, contract.proration, row, book)
            if existing is None and cuts_period(row.kind, contract.proration)
            else None
        )
    except (InvoicingError, HistoryError, ValueError) as error:
        raise LedgerError(f"{request.kind}: {error}") from None
    pending = priced.full.lines[period.lines_invoiced : priced.change_lines]
    invoicing = contract.change_invoicing
    if moved is not None and moved.end > period.period_end:
        # The new period is billed in advance from its start: waiting for its renewal
        # would leave it unbilled for up to an interval.
        invoicing = "immediately"
    elif (
        existing is not None
        and period.invoiced_through is not None
        and existing.effective_at <= period.invoiced_through
    ):
        invoicing = "immediately"  # the recorded change, as it was: invoiced at once
    closed: ClosedUsage | None = None
    if invoicing == "immediately" and moved is not None and len(moved.periods) > 1:
        # The usage periods the change closes are billed now, on its invoice.
        try:
            closed = _closed_usage(
                session, subscription, period, engine, moved, priced, book, terms, contract
            )
        except (InvoicingError, HistoryError, ValueError) as error:
            raise LedgerError(f"{request.kind}: {error}") from None
        pending = (*pending, *closed.lines)
    outcome = ChangeOutcome(
        subscription_id=subscription.id,
        currency=subscription.currency,
        description=description,
        effective_at=row.effective_at,
        period_start=period.period_start if moved is None else moved.start,
        period_end=period.period_end if moved is None else moved.end,
        pending=[
            LineView(description=line.description, amount=line.amount, tax_amount=line.tax_amount)
            for line in pending
        ],
        pending_total=sum(
            (line.amount - line.discount_amount + line.tax_amount for line in pending), ZERO
        ),
        # Invoiced at once, the change's lines leave the bill run's invoice.
        next_invoice_total=(
            part_of(priced.full, priced.full.lines[priced.change_lines :]).total
            if invoicing == "immediately" and pending
            else priced.new.total
        ),
        invoicing=invoicing,
        applied=apply or existing is not None,
        already_recorded=existing is not None,
    )
    if not apply or existing is not None:
        return outcome
    if period.opening is None:
        period.opening = state_of(subscription)
    if "anchor" not in period.opening:
        # The anchor the period began with: a change of interval may move the subscription's.
        period.opening = {**period.opening, "anchor": subscription.billing_anchor.isoformat()}
    before = _audited(subscription, period)
    session.add(row)
    _apply_to_rows(subscription, row)
    if moved is not None:
        subscription.billing_anchor = moved.anchor
        period.period_end = moved.end
    period.updated_at = now
    session.flush()
    audit.record(
        session,
        at=now,
        actor=request.actor,
        action=f"subscription.{row.kind.value}",
        subject_type="subscription",
        subject_id=subscription.id,
        before=before,
        after={**_audited(subscription, period), "effective_at": row.effective_at},
        reason=request.reason,
    )
    number = None
    if invoicing == "immediately" and pending:
        number = invoice_pending_changes(
            session,
            subscription,
            period,
            priced,
            key=f"change:{request.idempotency_key}",
            actor=request.actor,
            now=now,
            through=latest([*recorded, row]),
            usage=closed,
        )
    return outcome.model_copy(update={"invoice_number": number})


@dataclass(frozen=True, slots=True)
class _Moved:
    """Where a change of interval leaves the billing: the anchor, the period running, and
    the usage periods of the period row (the engine's ``Schedule.periods``)."""

    anchor: datetime
    start: datetime
    end: datetime
    periods: tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True, slots=True)
class ClosedUsage:
    """Usage of the periods a change of interval closed: the engine's lines for it, the
    events they bill (up to ``last_id``, from ``since`` to before ``until``: an earlier
    period's late events are left for the bill run, which bills them)."""

    lines: tuple[InvoiceLineDraft, ...]
    since: datetime
    until: datetime
    last_id: int
    metered: bool  # the periods had usage not invoiced yet (lines may still be nil)


def _closed_usage(
    session: Session,
    subscription: Subscription,
    period: SubscriptionPeriod,
    events: list[Event],
    moved: _Moved,
    priced: PeriodDraft,
    book: PriceBook,
    terms: InvoiceTerms,
    contract: ContractPolicy,
) -> ClosedUsage:
    """What the invoice issued at a change of interval bills of the usage periods it
    closes (all but the last of ``moved.periods``), less what was invoiced before."""
    closed = moved.periods[:-1]
    state = period.opening or state_of(subscription)
    window = usage_charges(session, subscription, period, state["plan"], book, closed, late=False)
    lines = usage_lines(
        subscription,
        period,
        events,
        book=book,
        terms=terms,
        policy=contract.proration,
        usage=window.charges,
        change_lines=priced.change_lines,
    )
    return ClosedUsage(lines, closed[0][0], closed[-1][1], window.last_id, bool(window.charges))


def _moved(
    subscription: Subscription,
    period: SubscriptionPeriod,
    events: list[Event],
    proration: ProrationPolicy,
    row: SubscriptionEvent,
    book: PriceBook,
) -> _Moved | None:
    """The engine's period and anchor after the period's changes, this one among them
    (``anchor_on_change``: ``reset`` starts a new period at a change of interval, ``keep``
    runs to the next billing day, ``realign`` runs a change of interval, a resume or a new
    plan to the first billing day on or after it, ``anniversary`` to the anchor's next
    renewal in the new interval). A change of interval the policy defers to the renewal (a
    shorter interval under ``decrease: at_period_end``) leaves the period alone and anchors
    the new interval on the renewal (under ``anniversary`` keeps the anchor), as the
    engine's renewal does; a
    resume or plan change that does not realign leaves it alone too (``None``)."""
    schedule = schedule_after(
        engine_subscription(subscription, period, book),
        events,
        policy=proration,
    )
    if row.kind != SubscriptionEventKind.INTERVAL_CHANGED:
        if (schedule.anchor, schedule.end) == (subscription.billing_anchor, period.period_end):
            return None
    elif schedule.interval != (row.details or {})["interval"]:
        whole = ((period.period_start, period.period_end),)
        # The engine's renewal anchors the new interval there, or keeps the anniversary.
        anchor = period.period_end
        if proration.anchor_on_change == "anniversary":
            anchor = subscription.billing_anchor
        return _Moved(anchor, period.period_start, period.period_end, whole)
    return _Moved(schedule.anchor, schedule.start, schedule.end, schedule.periods)


def _audited(subscription: Subscription, period: SubscriptionPeriod) -> dict[str, object]:
    """The state an audit entry shows: the items, and where billing stands."""
    return {
        **state_of(subscription),
        "billing_anchor": subscription.billing_anchor,
        "period_end": period.period_end,
    }


def _check_time(at: datetime, request: ChangeRequest, period: SubscriptionPeriod) -> None:
    stamp = at.isoformat()
    if at < period.period_start:
        raise LedgerError(
            f"at: {stamp} is before the current period started "
            f"({period.period_start.isoformat()}); past periods are invoiced"
        )
    if at > period.period_end or (at == period.period_end and request.kind != "cancel"):
        raise LedgerError(
            f"at: {stamp} is after the current period ends ({period.period_end.isoformat()}); "
            "make the change once the bill run has renewed it"
        )
    if period.invoiced_through is not None and at <= period.invoiced_through:
        raise LedgerError(
            f"at: {stamp} is not after the last change already invoiced "
            f"({period.invoiced_through.isoformat()}); record changes in time order"
        )


def invoice_pending_changes(
    session: Session,
    subscription: Subscription,
    period: SubscriptionPeriod,
    priced: PeriodDraft,
    *,
    key: str,
    actor: str,
    now: datetime,
    through: datetime | None,
    usage: ClosedUsage | None = None,
) -> str | None:
    """Invoice the period's change lines not invoiced yet, and the usage of the periods a
    change of interval closed, less the customer's account credit (spent as the bill run
    spends it: activities/recurring/credits.py)."""
    lines = priced.full.lines[period.lines_invoiced : priced.change_lines]
    if usage is not None:
        lines = (*lines, *usage.lines)
    credit = available_credit(session, subscription.customer_id, subscription.currency)
    draft = part_of(priced.full, lines, account_credit=credit)
    invoice = issue_invoice(
        session,
        subscription.customer_id,
        draft,
        source_key=key,
        actor=actor,
        now=now,
        subscription_id=subscription.id,
    )
    session.flush()
    credit_net(session, invoice, draft, key=key, actor=actor, now=now)
    spend_credit(session, invoice, actor=actor, now=now)
    if usage is not None and usage.metered:
        mark_invoiced(session, subscription.id, usage.until, usage.last_id, invoice.id, usage.since)
    period.lines_invoiced = priced.change_lines
    period.invoiced_through = through
    return invoice.number
