"""Late usage of a period that a change of interval cut, arriving after the following
renewal, against a real ledger (SQLite, and PostgreSQL when TEST_DATABASE_URL is set).

A monthly subscription with metered API calls (Business includes 100,000 calls a
period, then graduated tiers) changes to annual billing mid-month, under both anchor
rules. The bill runs bill the month before, the cut month and the renewal after the
change; then a call of the cut month arrives. The next bill run must price it in the
cut month as that month was (its start, end and 100,000 included calls), not in a window
of the annual schedule the subscription has now, which would hold other months' calls
and charge the late ones in full. The expected figure is the engine's price of the cut
month's calls, written out here, less what the cut month was already billed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from activities.billing.pricebook import load_pricebook
from activities.billing.seller import load_seller
from activities.billing.usage import UsageCharge, price_usage
from activities.ledger.db import transaction
from activities.ledger.models import Invoice, UsageEvent
from activities.recurring.batch import bill_batch
from activities.recurring.bill_run import Billing, bill_subscription
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.policy import AnchorOnChange, ContractPolicy, RecurringPolicy
from tests.recurring.factories import billing, subscription

BOOK = load_pricebook()
SUB = "SUB-LATE"
ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
CHANGE_AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
#: The cut month: from its billing day to the day of the change (by the day, the
#: change's day belongs to the new period under both rules).
CUT = (datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))


@dataclass(frozen=True)
class Case:
    rule: AnchorOnChange
    first_renewal: date  # the bill run that closes the cut month's billing period
    second_renewal: date  # the next one: the late call is billed there


CASES = [
    Case("reset", date(2027, 11, 25), date(2028, 11, 25)),
    Case("keep", date(2026, 12, 15), date(2027, 12, 15)),
]


def _billing(rule: AnchorOnChange) -> Billing:
    base = billing()
    contract = ContractPolicy(
        proration_policy="daily", change_invoicing="next_bill_run", anchor_on_change=rule
    )
    return Billing(
        base.book, base.taxes, RecurringPolicy(contract_types={"self_serve_monthly": contract})
    )


def _calls(sessions: sessionmaker[Session], name: str, at: datetime, units: int) -> None:
    with transaction(sessions) as session:
        session.add(
            UsageEvent(
                subscription_id=SUB,
                event_id=name,
                metric="api_calls",
                quantity=Decimal(units),
                occurred_at=at,
                received_at=at,
            )
        )


def _bill(sessions: sessionmaker[Session], b: Billing, day: date, batch: bool) -> list[str]:
    """The bill run of ``day`` for the subscription: alone, or as a batch of one (where
    plain renewals are priced and stored together)."""
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    with transaction(sessions) as session:
        if batch:
            done = bill_batch(session, [SUB], day, b, load_seller(), actor="t", now=now)
            assert done.skipped == []
            return [o.outcome for o in done.outcomes]
        return [o.outcome for o in bill_subscription(session, SUB, day, b, actor="t", now=now)]


def _last_invoice(sessions: sessionmaker[Session]) -> Invoice:
    with sessions() as session:
        invoice = session.scalars(
            select(Invoice)
            .where(Invoice.subscription_id == SUB)
            .order_by(Invoice.id.desc())
            .options(selectinload(Invoice.lines))
        ).first()
        assert invoice is not None
        return invoice


@pytest.mark.parametrize("batch", [False, True], ids=["alone", "batch"])
@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_late_usage_is_priced_in_the_cut_month(
    sessions: sessionmaker[Session], case: Case, batch: bool
) -> None:
    b = _billing(case.rule)
    with transaction(sessions) as session:
        subscription(
            session,
            SUB,
            anchor=ANCHOR,
            now=datetime(2026, 10, 20, tzinfo=UTC),
            usage=("api_calls",),
        )
    # October: 200,000 calls, 100,000 above the included ones, billed on 15 November.
    _calls(sessions, "oct", datetime(2026, 10, 20, 12, tzinfo=UTC), 200_000)
    assert _bill(sessions, b, date(2026, 11, 15), batch) == ["invoiced"]
    # The cut month: 60,000 calls before the change, within the 100,000 included.
    _calls(sessions, "nov", datetime(2026, 11, 16, 12, tzinfo=UTC), 60_000)
    with transaction(sessions) as session:
        change_subscription(
            session,
            ChangeRequest(
                subscription_id=SUB,
                kind="interval",
                interval="year",
                at=CHANGE_AT,
                actor="cli:test",
                idempotency_key=f"{SUB}:interval",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=CHANGE_AT,
            apply=True,
        )
    assert _bill(sessions, b, case.first_renewal, batch) in (["invoiced"], ["credited"])

    # 50,000 calls of the cut month arrive after that renewal: 110,000 in the month,
    # 10,000 above the included ones.
    _calls(sessions, "nov-late", datetime(2026, 11, 20, 12, tzinfo=UTC), 50_000)
    assert _bill(sessions, b, case.second_renewal, batch) == ["invoiced"]

    price = BOOK.usage_price("api_calls", "USD", "business")
    addon = BOOK.usage_addon("api_calls")
    expected = price_usage(
        UsageCharge(
            "api_calls", addon.name, addon.unit, *CUT, Decimal(110_000), price, Decimal(60_000)
        ),
        "USD",
    )
    late = [
        line
        for line in _last_invoice(sessions).lines
        if line.item_code == "api_calls" and line.period_start and line.period_start < CUT[1]
    ]
    assert sum(line.amount for line in late) == Decimal("10.00")
    assert [line.amount for line in late] == [line.amount for line in expected]
    assert [(line.period_start, line.period_end) for line in late] == [CUT] * len(expected)


@pytest.mark.parametrize("batch", [False, True], ids=["alone", "batch"])
def test_late_usage_is_priced_with_the_plan_of_its_period(
    sessions: sessionmaker[Session], batch: bool
) -> None:
    """A month on Business (100,000 calls included) whose calls arrive late, after a change
    to Plus (10,000 included): they are priced with the month's plan, not today's."""
    b = _billing("reset")
    with transaction(sessions) as session:
        subscription(
            session,
            SUB,
            anchor=ANCHOR,
            now=datetime(2026, 10, 20, tzinfo=UTC),
            usage=("api_calls",),
        )
    _calls(sessions, "oct", datetime(2026, 10, 20, 12, tzinfo=UTC), 50_000)
    assert _bill(sessions, b, date(2026, 11, 15), batch) == ["invoiced"]
    with transaction(sessions) as session:
        at = datetime(2026, 11, 20, 9, tzinfo=UTC)
        change_subscription(
            session,
            ChangeRequest(
                subscription_id=SUB,
                kind="plan",
                plan="plus",
                at=at,
                actor="cli:test",
                idempotency_key=f"{SUB}:plan",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=at,
            apply=True,
        )
    assert _bill(sessions, b, date(2026, 12, 15), batch) in (["invoiced"], ["credited"])
    # 70,000 calls of October arrive: 120,000 in the month, 20,000 above Business's 100,000.
    _calls(sessions, "oct-late", datetime(2026, 10, 21, 12, tzinfo=UTC), 70_000)
    assert _bill(sessions, b, date(2027, 1, 15), batch) == ["invoiced"]

    october = (datetime(2026, 10, 15, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC))
    addon = BOOK.usage_addon("api_calls")
    expected = price_usage(
        UsageCharge(
            "api_calls",
            addon.name,
            addon.unit,
            *october,
            Decimal(120_000),
            BOOK.usage_price("api_calls", "USD", "business"),
            Decimal(50_000),
        ),
        "USD",
    )
    late = [
        line
        for line in _last_invoice(sessions).lines
        if line.item_code == "api_calls" and line.period_start == october[0]
    ]
    assert sum(line.amount for line in late) == Decimal("20.00")
    assert [line.amount for line in late] == [line.amount for line in expected]
    assert [(line.period_start, line.period_end) for line in late] == [october] * len(expected)
