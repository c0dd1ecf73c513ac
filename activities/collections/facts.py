"""The facts a collections cadence acts on: one account's open invoices, overrides and promise.

Loaded from the ledger by an activity and handed to the workflow, which
decides from them alone; amounts stay exact decimals in their currency.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from activities.collections.cadence import Cadence


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True)


class InvoiceFact(_Fact):
    number: str
    currency: str
    due_date: date
    balance: Decimal
    disputed: bool = False


class PromiseFact(_Fact):
    """An open promise to pay: the cadence pauses until ``promised_date`` plus grace."""

    id: int
    amount: Decimal
    currency: str
    promised_date: date
    grace_days: int
    recorded_at: datetime


class AccountSnapshot(_Fact):
    customer_id: str
    legal_name: str
    timezone: str
    country: str
    strategic: bool
    account_owner: str | None
    do_not_dun: bool
    paused_until: datetime | None
    cadence: Cadence
    invoices: tuple[InvoiceFact, ...]
    open_promise: PromiseFact | None
    as_of: datetime
    #: Public holidays of the account's country this year and next (for the send window).
    public_holidays: frozenset[date] = frozenset()
    #: Decimal places of each invoice currency's minor unit (USD 2, JPY 0): amounts in
    #: minor units without babel inside the workflow sandbox.
    minor_digits: dict[str, int] = {}

    def minor_units(self, amount: Decimal, currency: str) -> int | None:
        """``amount`` in ``currency``'s minor unit (cents), exactly; ``None`` when unknown."""
        digits = self.minor_digits.get(currency)
        return None if digits is None else int(amount.scaleb(digits).to_integral_exact())

    @property
    def collectible(self) -> tuple[InvoiceFact, ...]:
        """Open invoices the cadence may ask for: everything not held by an open dispute."""
        return tuple(i for i in self.invoices if not i.disputed)

    @property
    def held(self) -> tuple[InvoiceFact, ...]:
        return tuple(i for i in self.invoices if i.disputed)


def past_due(invoices: tuple[InvoiceFact, ...], today: date) -> tuple[InvoiceFact, ...]:
    """Invoices whose due date has passed: only these may be called overdue or past due."""
    return tuple(i for i in invoices if i.due_date < today)


def due_today(invoices: tuple[InvoiceFact, ...], today: date) -> tuple[InvoiceFact, ...]:
    return tuple(i for i in invoices if i.due_date == today)


def due_later(invoices: tuple[InvoiceFact, ...], today: date) -> tuple[InvoiceFact, ...]:
    """Invoices not yet due: owed, but a notice must not count them as past due."""
    return tuple(i for i in invoices if i.due_date > today)


def oldest_days_past_due(invoices: tuple[InvoiceFact, ...], today: date) -> int:
    """How long the oldest past-due invoice has been past due (0 when none is)."""
    return max((0, *((today - i.due_date).days for i in invoices)))


def totals(invoices: tuple[InvoiceFact, ...]) -> dict[str, Decimal]:
    """Balances summed per currency, never across currencies."""
    result: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in invoices:
        result[invoice.currency] += invoice.balance
    return dict(sorted(result.items()))
