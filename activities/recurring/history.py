"""A subscription's billing period as the invoicing engine prices it, from the ledger's rows.

The engine takes the subscription as it stood at the start of its current period and
the changes since, in time order (activities/billing/invoicing.py). The ledger keeps
exactly that: ``subscription_periods`` holds the period and, once something changed,
the opening state; ``subscription_events`` holds the changes with their prices. Every
invoice of a period (a change invoiced at once, then the bill run) is the engine's draft
of the whole period so far, less the change lines already invoiced: the engine sees
the full history each time, so credits are limited by what was really billed, and
an invoice never bills a line twice.

The same rule covers items billed in arrears: the lines an earlier invoice of the period
billed in arrears (the used part of a plan replaced mid-period, say) are among the lines
it left out, so the engine's ``arrears_billed`` (what a caller holding only the state
after those invoices must give) is always empty here; the ledger needs no record of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from activities.billing import invoicing
from activities.billing.invoicing import (
    InvoiceDraft,
    InvoiceLineDraft,
    InvoiceTerms,
    draft_invoice,
    schedule_after,
)
from activities.billing.money import ZERO, round_money
from activities.billing.pricebook import PriceBook, SeatPrice
from activities.billing.proration import Interval as EngineInterval
from activities.billing.proration import ProrationPolicy, boundary_after
from activities.billing.usage import UsageCharge
from activities.ledger.models import (
    ContractType,
    Interval,
    ItemKind,
    SubscriptionEvent,
    SubscriptionEventKind,
    SubscriptionPeriod,
    SubscriptionStatus,
)

INTERVALS: dict[str, EngineInterval] = {"month": "month", "quarter": "quarter", "year": "year"}


class HistoryError(ValueError):
    """The ledger's record of a subscription cannot be priced; the message says what is wrong."""


# What pricing reads of the ledger's rows. A subscription billed alone is read as ORM
# objects; a bill run's batch reads the same columns as Core rows (recurring/batch.py),
# which costs a fraction of building ORM objects.


class ItemRow(Protocol):
    @property
    def item_code(self) -> str: ...
    @property
    def kind(self) -> ItemKind: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def in_arrears(self) -> bool: ...
    @property
    def own_quantity(self) -> bool: ...


class SubscriptionRow(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def plan(self) -> str: ...
    @property
    def interval(self) -> Interval: ...
    @property
    def interval_count(self) -> int: ...
    @property
    def contract_type(self) -> ContractType: ...
    @property
    def status(self) -> SubscriptionStatus: ...
    @property
    def currency(self) -> str: ...
    @property
    def term_start(self) -> datetime: ...
    @property
    def billing_anchor(self) -> datetime: ...
    @property
    def items(self) -> Sequence[ItemRow]: ...


class PeriodRow(Protocol):
    @property
    def subscription_id(self) -> str: ...
    @property
    def period_start(self) -> datetime: ...
    @property
    def period_end(self) -> datetime: ...
    @property
    def opening(self) -> dict[str, Any] | None: ...
    @property
    def lines_invoiced(self) -> int: ...
    @property
    def invoiced_through(self) -> datetime | None: ...


class EventRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> SubscriptionEventKind: ...
    @property
    def effective_at(self) -> datetime: ...
    @property
    def seats(self) -> int | None: ...
    @property
    def plan(self) -> str | None: ...
    @property
    def addon(self) -> str | None: ...
    @property
    def quantity(self) -> int | None: ...
    @property
    def unit_price(self) -> Decimal | None: ...
    @property
    def details(self) -> dict[str, Any] | None: ...


def state_of(subscription: SubscriptionRow) -> dict[str, Any]:
    """The subscription's current plan, seats, add-ons and pause, as JSON values.

    ``interval_count``, ``in_arrears`` and ``own_quantity`` are written only when they
    differ from the defaults an opening recorded before they existed stands for."""
    state: dict[str, Any] = {
        "plan": subscription.plan,
        "interval": subscription.interval.value,
        "paused": subscription.status == SubscriptionStatus.PAUSED,
        "items": [_item_state(item) for item in subscription.items],
    }
    if subscription.interval_count != 1:
        state["interval_count"] = subscription.interval_count
    return state


def _item_state(item: ItemRow) -> dict[str, Any]:
    state: dict[str, Any] = {
        "item_code": item.item_code,
        "kind": item.kind.value,
        "quantity": item.quantity,
        "unit_price": str(item.unit_price),
    }
    if item.in_arrears:
        state["in_arrears"] = True
    if item.own_quantity:
        state["own_quantity"] = True
    return state


def state_interval(state: dict[str, Any]) -> tuple[EngineInterval, int]:
    """The billing interval and intervals per period of a state from :func:`state_of`."""
    return INTERVALS[state["interval"]], int(state.get("interval_count", 1))


def next_period_end(subscription: SubscriptionRow, start: datetime) -> datetime:
    """The end of the billing period that starts at ``start`` (on the anchor's schedule)."""
    interval = INTERVALS[subscription.interval.value]
    return boundary_after(subscription.billing_anchor, interval, start, subscription.interval_count)


def quarterly_true_up(subscription: SubscriptionRow) -> bool:
    """Annual invoiced contracts bill added seats at quarterly true-ups."""
    return (
        subscription.contract_type == ContractType.ANNUAL_INVOICED
        and subscription.interval == Interval.YEAR
        and subscription.interval_count == 1
    )


def _name(book: PriceBook, code: str) -> str:
    for table in (book.plans, book.seat_addons):
        if code in table:
            return table[code].name
    return code.replace("_", " ").capitalize()


def seat_price(
    book: PriceBook, code: str, unit_price: Decimal | str, in_arrears: bool = False
) -> SeatPrice:
    return SeatPrice(code, _name(book, code), Decimal(unit_price), in_arrears)


def engine_subscription(
    subscription: SubscriptionRow, period: PeriodRow, book: PriceBook
) -> invoicing.Subscription:
    """The subscription at the start of its current period, everything paid for the period."""
    state = period.opening or state_of(subscription)
    items = state["items"]
    plan = next((item for item in items if item["kind"] == ItemKind.PLAN.value), None)
    if plan is None:
        raise HistoryError(f"subscription {subscription.id}: has no plan item")
    addons = [item for item in items if item["kind"] == ItemKind.SEAT_ADDON.value]
    interval, count = state_interval(state)
    # A change of interval moves the anchor; the opening keeps the one the period began with.
    anchor = state.get("anchor")
    return invoicing.Subscription(
        currency=subscription.currency,
        anchor=subscription.billing_anchor if anchor is None else datetime.fromisoformat(anchor),
        interval=interval,
        plan=seat_price(book, plan["item_code"], plan["unit_price"], plan.get("in_arrears", False)),
        seats=int(plan["quantity"]),
        addons=tuple(
            seat_price(book, item["item_code"], item["unit_price"], item.get("in_arrears", False))
            for item in addons
        ),
        period_start=period.period_start,
        paused=bool(state["paused"]),
        # The contract's rule; the engine applies it while the period is a whole year, so a
        # monthly contract moved to annual billing mid-period trues up from its new period.
        quarterly_true_up=subscription.contract_type == ContractType.ANNUAL_INVOICED,
        addon_quantities=tuple(
            (item["item_code"], int(item["quantity"]))
            for item in addons
            if item.get("own_quantity", False)
        ),
        interval_count=count,
    )


def period_events(session: Session, period: SubscriptionPeriod) -> Sequence[SubscriptionEvent]:
    """The changes of the current period in time order (a cancellation may fall on its end)."""
    query = (
        select(SubscriptionEvent)
        .where(
            SubscriptionEvent.subscription_id == period.subscription_id,
            or_(
                and_(
                    SubscriptionEvent.effective_at >= period.period_start,
                    SubscriptionEvent.effective_at < period.period_end,
                ),
                and_(
                    SubscriptionEvent.kind == SubscriptionEventKind.CANCELLED,
                    SubscriptionEvent.effective_at == period.period_end,
                ),
            ),
        )
        .order_by(SubscriptionEvent.effective_at, SubscriptionEvent.id)
    )
    return session.scalars(query).all()


def engine_event(
    row: EventRow, interval: EngineInterval, book: PriceBook, interval_count: int
) -> invoicing.Event:
    """One recorded change as the engine's event, at the prices recorded with it (a plan
    change keeps the period's ``interval`` of ``interval_count`` intervals)."""
    at = row.effective_at
    kind = row.kind
    if kind in (SubscriptionEventKind.SEATS_ADDED, SubscriptionEventKind.SEATS_REMOVED):
        if row.seats is None:
            raise HistoryError(f"subscription event {row.id}: {kind.value} without seats")
        if kind == SubscriptionEventKind.SEATS_ADDED:
            return invoicing.SeatsAdded(at, row.seats)
        return invoicing.SeatsRemoved(at, row.seats)
    if kind in (SubscriptionEventKind.PLAN_CHANGED, SubscriptionEventKind.INTERVAL_CHANGED):
        if row.plan is None or row.unit_price is None:
            raise HistoryError(f"subscription event {row.id}: a {kind.value} without its price")
        details = row.details or {}
        # The interval the prices are in: an interval change's new one, or (a plan change
        # after one in the same period) the interval then in force.
        return invoicing.PlanChanged(
            at,
            seat_price(book, row.plan, row.unit_price, details.get("in_arrears", False)),
            INTERVALS[details.get("interval", interval)],
            tuple(
                seat_price(book, a["code"], a["unit_price"], a.get("in_arrears", False))
                for a in details.get("addons", [])
            ),
            interval_count,
        )
    if kind == SubscriptionEventKind.ADDON_ADDED:
        if row.addon is None or row.unit_price is None:
            raise HistoryError(f"subscription event {row.id}: an add-on without its price")
        return invoicing.AddonAdded(at, seat_price(book, row.addon, row.unit_price), row.quantity)
    if kind == SubscriptionEventKind.ADDON_QUANTITY_CHANGED:
        if row.addon is None or row.quantity is None:
            raise HistoryError(f"subscription event {row.id}: a quantity change without both")
        return invoicing.AddonQuantityChanged(at, row.addon, row.quantity)
    if kind == SubscriptionEventKind.ADDON_REMOVED:
        if row.addon is None:
            raise HistoryError(f"subscription event {row.id}: which add-on is not recorded")
        return invoicing.AddonRemoved(at, row.addon)
    if kind == SubscriptionEventKind.PAUSED:
        return invoicing.Paused(at)
    if kind == SubscriptionEventKind.RESUMED:
        return invoicing.Resumed(at)
    if kind == SubscriptionEventKind.CANCELLED:
        return invoicing.Cancelled(at)
    return invoicing.QuarterlyTrueUp(at)


#: Changes that ``anchor_on_change: realign`` may start a period of their own at (Kill
#: Bill's resume after a pause, or a new plan applied at once).
_REALIGNING = frozenset({SubscriptionEventKind.RESUMED, SubscriptionEventKind.PLAN_CHANGED})


def cuts_period(kind: SubscriptionEventKind, policy: ProrationPolicy) -> bool:
    """Whether a change of ``kind`` may end the period where it falls and start another on
    the engine's schedule: a change of interval, or under ``realign`` a resume or a plan
    change. The ledger's period row must then follow the engine's (``schedule_after``), or
    the bill run renews on the old day and bills the months between the two days twice."""
    if kind == SubscriptionEventKind.INTERVAL_CHANGED:
        return True
    return policy.anchor_on_change == "realign" and kind in _REALIGNING


def usage_periods(
    subscription: SubscriptionRow,
    period: PeriodRow,
    rows: Sequence[EventRow],
    events: Sequence[invoicing.Event],
    *,
    book: PriceBook,
    policy: ProrationPolicy,
) -> tuple[tuple[datetime, datetime], ...]:
    """The usage periods of the current billing period: the period itself, or, when a
    change cut it (:func:`cuts_period`), the engine's periods (``Schedule.periods``): usage
    before a reset is the old period's and is billed when that period closes, not a year
    later.

    Priced only when the period holds such a change: a bill run reads every subscription,
    and nothing else cuts a period."""
    if not any(cuts_period(row.kind, policy) for row in rows):
        return ((period.period_start, period.period_end),)
    opening = engine_subscription(subscription, period, book)
    return schedule_after(opening, events, policy=policy).periods


def usage_lines(
    subscription: SubscriptionRow,
    period: PeriodRow,
    events: Sequence[invoicing.Event],
    *,
    book: PriceBook,
    terms: InvoiceTerms,
    policy: ProrationPolicy,
    usage: Sequence[UsageCharge],
    change_lines: int,
) -> tuple[InvoiceLineDraft, ...]:
    """The engine's lines for ``usage``, after the ``change_lines`` lines that price the
    period's changes (taxed and discounted as on any invoice of the period), for the
    invoice issued at a change."""
    if not usage:
        return ()
    opening = engine_subscription(subscription, period, book)
    draft = draft_invoice(opening, events, terms=terms, policy=policy, usage=usage)
    return draft.lines[change_lines:]


@dataclass(frozen=True, slots=True)
class PeriodDraft:
    """The engine's draft of the period so far, and the part not invoiced yet."""

    full: InvoiceDraft
    new: InvoiceDraft
    change_lines: int  # lines of ``full`` that price the period's changes


def draft_period(
    subscription: SubscriptionRow,
    period: PeriodRow,
    events: Sequence[invoicing.Event],
    *,
    book: PriceBook,
    terms: InvoiceTerms,
    policy: ProrationPolicy,
    usage: Sequence[UsageCharge] = (),
    renew: bool,
) -> PeriodDraft:
    """Price the whole period (changes, with ``renew`` the next period and usage) and keep,
    as ``new``, what earlier invoices of the period did not bill."""
    opening = engine_subscription(subscription, period, book)
    changes = draft_invoice(opening, events, terms=terms, policy=policy)
    full = (
        draft_invoice(opening, events, terms=terms, policy=policy, usage=usage, renew=True)
        if renew
        else changes
    )
    already = period.lines_invoiced
    if already > len(changes.lines):
        raise HistoryError(
            f"subscription {subscription.id}: {already} change lines were invoiced this period "
            f"but the recorded changes price only {len(changes.lines)}"
        )
    new = part_of(full, full.lines[already:], account_credit=terms.account_credit)
    return PeriodDraft(full, new, len(changes.lines))


def draft_renewal(
    subscription: SubscriptionRow,
    period: PeriodRow,
    events: Sequence[invoicing.Event],
    *,
    book: PriceBook,
    terms: InvoiceTerms,
    policy: ProrationPolicy,
    usage: Sequence[UsageCharge] = (),
) -> InvoiceDraft:
    """The invoice that ends the period: :func:`draft_period`'s ``new`` with ``renew``.

    Priced once while no change of the period was invoiced at once (the usual case):
    the draft of the changes alone only counts the lines to leave out, and there are
    none. A bill run prices every subscription, so the second pricing was half its work.
    """
    if period.lines_invoiced:
        return draft_period(
            subscription,
            period,
            events,
            book=book,
            terms=terms,
            policy=policy,
            usage=usage,
            renew=True,
        ).new
    opening = engine_subscription(subscription, period, book)
    full = draft_invoice(opening, events, terms=terms, policy=policy, usage=usage, renew=True)
    return part_of(full, full.lines, account_credit=terms.account_credit)


def part_of(
    draft: InvoiceDraft, lines: Sequence[InvoiceLineDraft], *, account_credit: Decimal = ZERO
) -> InvoiceDraft:
    """An invoice of some of ``draft``'s lines: totals are the sums of those rounded lines,
    less as much of ``account_credit`` as the total takes (the engine's rule)."""
    currency = draft.currency
    zero = round_money(ZERO, currency)
    subtotal = sum((line.amount for line in lines), zero)
    discount = sum((line.discount_amount for line in lines), zero)
    tax = sum((line.tax_amount for line in lines), zero)
    total = subtotal - discount + tax
    owed_back = -total if total < zero else zero
    refund = draft.refund_due > zero
    credit = min(round_money(account_credit, currency), total) if total > zero else zero
    return InvoiceDraft(
        currency=currency,
        lines=tuple(lines),
        subtotal=subtotal,
        discount_total=discount,
        tax_total=tax,
        total=total,
        credit_applied=credit,
        amount_due=total - credit if total > zero else zero,
        po_number=draft.po_number,
        issue_date=draft.issue_date,
        due_date=draft.due_date,
        period_start=min((line.period_start for line in lines), default=None),
        period_end=max((line.period_end for line in lines), default=None),
        credit_to_balance=zero if refund else owed_back,
        refund_due=owed_back if refund else zero,
        notes=draft.notes,
        tax=draft.tax,
    )


def latest(events: Sequence[SubscriptionEvent]) -> datetime | None:
    return max((row.effective_at for row in events), default=None)
