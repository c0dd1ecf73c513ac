"""history.draft_renewal prices a renewal once and gives exactly draft_period's ``new``
(which prices the changes alone as well): with nothing of the period invoiced yet, with a
change line invoiced at once, and refusing a count of invoiced lines the changes do not
price. The rows are plain objects of the columns pricing reads, as a batch's Core rows are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from activities.billing import invoicing
from activities.billing.invoicing import InvoiceTerms
from activities.billing.pricebook import load_pricebook
from activities.billing.proration import DEFAULT_POLICY
from activities.billing.tax import load_tax_table, tax_treatment
from activities.ledger.models import ContractType, Interval, ItemKind, SubscriptionStatus
from activities.recurring.history import HistoryError, draft_period, draft_renewal

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    item_code: str
    kind: ItemKind
    quantity: int
    unit_price: Decimal
    in_arrears: bool = False
    own_quantity: bool = False


@dataclass(frozen=True)
class Sub:
    id: str
    plan: str
    interval: Interval
    contract_type: ContractType
    status: SubscriptionStatus
    currency: str
    term_start: datetime
    billing_anchor: datetime
    items: tuple[Item, ...]
    interval_count: int = 1


@dataclass(frozen=True)
class Period:
    subscription_id: str
    period_start: datetime
    period_end: datetime
    opening: dict[str, Any] | None
    lines_invoiced: int
    invoiced_through: datetime | None


def _both(lines_invoiced: int) -> tuple[invoicing.InvoiceDraft, invoicing.InvoiceDraft]:
    book = load_pricebook()
    price = book.plan_price("business", "month", "USD").unit_amount
    sub = Sub(
        "SUB-H",
        "business",
        Interval.MONTH,
        ContractType.SELF_SERVE_MONTHLY,
        SubscriptionStatus.ACTIVE,
        "USD",
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        (Item("business", ItemKind.PLAN, 14, price),),
    )
    opening = {
        "plan": "business",
        "interval": "month",
        "paused": False,
        "items": [
            {"item_code": "business", "kind": "plan", "quantity": 10, "unit_price": str(price)}
        ],
    }
    period = Period("SUB-H", START, END, opening, lines_invoiced, None)
    events = [invoicing.SeatsAdded(datetime(2026, 11, 16, tzinfo=UTC), 4)]
    terms = InvoiceTerms(issue_date=date(2026, 12, 1), tax=tax_treatment(load_tax_table(), "US-TX"))
    once = draft_renewal(sub, period, events, book=book, terms=terms, policy=DEFAULT_POLICY)
    twice = draft_period(
        sub, period, events, book=book, terms=terms, policy=DEFAULT_POLICY, renew=True
    ).new
    return once, twice


def test_a_renewal_priced_once_is_what_the_period_draft_leaves_to_invoice() -> None:
    fresh, fresh_reference = _both(0)
    assert fresh == fresh_reference
    after_change, after_change_reference = _both(1)  # the seat change was invoiced at once
    assert after_change == after_change_reference
    assert len(fresh.lines) == len(after_change.lines) + 1
    assert fresh.total > after_change.total > 0


def test_more_invoiced_lines_than_the_changes_price_is_refused() -> None:
    with pytest.raises(HistoryError, match="change lines were invoiced"):
        _both(2)
