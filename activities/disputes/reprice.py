"""Re-pricing a disputed invoice's seat charges through the invoicing engine.

Pure. A seat-count, price or tax dispute is settled by pricing the
invoice's period again, with the one fact corrected, through the very
engine that bills (:func:`activities.billing.invoicing.draft_invoice`), and
crediting the difference. Before trusting the correction, the engine must
reproduce what the invoice actually billed from the same facts; when it
cannot (a discount, several changes in the period, a period the
subscription's anchor does not explain), the proposal is refused with the
reason, and the analyst proposes a goodwill credit by hand instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from activities.billing.invoicing import (
    InvoiceDraft,
    InvoiceTerms,
    Started,
    Subscription,
    draft_invoice,
)
from activities.billing.money import ZERO, format_money
from activities.billing.pricebook import SeatPrice
from activities.billing.proration import DEFAULT_POLICY, Interval
from activities.billing.tax import TaxTreatment


class RepriceError(ValueError):
    """The invoice cannot be re-priced automatically; the message says why."""


@dataclass(frozen=True, slots=True)
class BilledLine:
    item_code: str
    kind: str
    quantity: Decimal
    unit_amount: Decimal
    amount: Decimal
    discount_amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal


@dataclass(frozen=True, slots=True)
class BilledSubscription:
    """The subscription an invoice billed: its anchor, interval, plan and per-seat add-ons."""

    anchor: datetime
    interval: Interval
    plan: str
    seat_addons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """A disputed invoice as the ledger holds it."""

    number: str
    customer_id: str
    currency: str
    issue_date: date
    period_start: datetime | None
    period_end: datetime | None
    lines: tuple[BilledLine, ...]
    subscription: BilledSubscription | None


@dataclass(frozen=True, slots=True)
class Correction:
    """The one fact the customer says was wrong; ``None`` keeps what was billed."""

    seats: int | None = None
    unit_amount: Decimal | None = None
    tax_rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Repriced:
    invoice: str
    billed: Decimal
    corrected: Decimal
    draft: InvoiceDraft

    @property
    def credit(self) -> Decimal:
        return self.billed - self.corrected


def reprice(invoice: InvoiceFacts, correction: Correction) -> Repriced:
    """The credit owed on ``invoice``'s seat charges (tax included) under ``correction``."""
    subscription = invoice.subscription
    if subscription is None or invoice.period_start is None:
        raise RepriceError(f"invoice {invoice.number} bills no subscription period to re-price")
    seat_items = (subscription.plan, *subscription.seat_addons)
    lines = [line for line in invoice.lines if line.item_code in seat_items]
    plan_lines = [line for line in lines if line.item_code == subscription.plan]
    if len(plan_lines) != 1 or len({line.item_code for line in lines}) != len(lines):
        raise RepriceError(
            f"invoice {invoice.number} has {len(plan_lines)} {subscription.plan} lines and "
            "changes within the period; re-price it by hand"
        )
    if any(line.kind != "charge" or line.discount_amount for line in lines):
        raise RepriceError(
            f"invoice {invoice.number} has discounts or credits on its seat lines; "
            "re-price it by hand"
        )
    if len({line.tax_rate for line in lines}) != 1:
        raise RepriceError(f"invoice {invoice.number} taxes its seat lines at different rates")
    plan_line = plan_lines[0]
    seats = int(plan_line.quantity)
    rate = plan_line.tax_rate
    unit = {line.item_code: line.unit_amount for line in lines}

    def draft(seats: int, plan_unit: Decimal, rate: Decimal) -> InvoiceDraft:
        return draft_invoice(
            Subscription(
                currency=invoice.currency,
                anchor=subscription.anchor,
                interval=subscription.interval,
                plan=SeatPrice(subscription.plan, subscription.plan, plan_unit),
                seats=seats,
                addons=tuple(
                    SeatPrice(code, code, unit[code])
                    for code in subscription.seat_addons
                    if code in unit
                ),
            ),
            [Started(at=invoice.period_start or subscription.anchor)],
            terms=InvoiceTerms(
                issue_date=invoice.issue_date, tax=TaxTreatment(rate, "as invoiced")
            ),
            policy=DEFAULT_POLICY,
        )

    as_billed = draft(seats, plan_line.unit_amount, rate)
    billed = sum((line.amount + line.tax_amount for line in lines), ZERO)
    if as_billed.total != billed or as_billed.period_end != invoice.period_end:
        raise RepriceError(
            f"invoice {invoice.number}: the engine prices its seat lines at "
            f"{format_money(as_billed.total, invoice.currency)} to "
            f"{as_billed.period_end:%Y-%m-%d}, the invoice billed "
            f"{format_money(billed, invoice.currency)}; re-price it by hand"
        )
    corrected = draft(
        seats if correction.seats is None else correction.seats,
        plan_line.unit_amount if correction.unit_amount is None else correction.unit_amount,
        rate if correction.tax_rate is None else correction.tax_rate,
    )
    result = Repriced(invoice.number, billed, corrected.total, corrected)
    if result.credit <= ZERO:
        raise RepriceError(
            f"invoice {invoice.number}: corrected, it would bill "
            f"{format_money(corrected.total, invoice.currency)}, not less than the "
            f"{format_money(billed, invoice.currency)} billed; nothing to credit"
        )
    return result
