"""Late usage of periods the bill run closed before migration 0023 recorded usage periods:
a real ledger (SQLite, and PostgreSQL when TEST_DATABASE_URL is set) billed as before,
taken back to 0022 (its usage periods unrecorded, as a ledger of then), upgraded, and then
late usage arriving after a plan change or a change of interval.

Migration 0024 records the periods from the ledger's history; without it the late usage
was windowed from the anchor and plan the subscription has now (priced with the new
plan's included units, or in a window of the new annual schedule holding other months'
calls). The expected figures are the engine's, as in test_late_usage_after_interval_change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.pricebook import load_pricebook
from activities.billing.usage import UsageCharge, price_usage
from activities.ledger.db import _alembic_config, transaction
from activities.ledger.models import UsagePeriod
from activities.recurring.changes import ChangeRequest, change_subscription
from tests.recurring.factories import subscription
from tests.recurring.test_late_usage_after_interval_change import (
    ANCHOR,
    CHANGE_AT,
    CUT,
    SUB,
    _bill,
    _billing,
    _calls,
    _last_invoice,
)

BOOK = load_pricebook()
OCTOBER = (datetime(2026, 10, 15, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC))


def _as_before_0023(engine: Engine) -> None:
    """The ledger as a billing-ops of 0022 left it (no usage period recorded), upgraded."""
    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0022")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _change(sessions: sessionmaker[Session], kind: str, at: datetime, **values: str) -> None:
    b = _billing("reset")
    with transaction(sessions) as session:
        change_subscription(
            session,
            ChangeRequest(
                subscription_id=SUB,
                kind=kind,
                at=at,
                actor="cli:test",
                idempotency_key=f"{SUB}:{kind}",
                **values,
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=at,
            apply=True,
        )


def _start(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        subscription(
            session,
            SUB,
            anchor=ANCHOR,
            now=datetime(2026, 10, 20, tzinfo=UTC),
            usage=("api_calls",),
        )


def _expected(window: tuple[datetime, datetime], units: int, already: int) -> list[Decimal]:
    addon = BOOK.usage_addon("api_calls")
    price = BOOK.usage_price("api_calls", "USD", "business")
    charge = UsageCharge(
        "api_calls", addon.name, addon.unit, *window, Decimal(units), price, Decimal(already)
    )
    return [line.amount for line in price_usage(charge, "USD")]


@pytest.mark.parametrize("batch", [False, True], ids=["alone", "batch"])
def test_late_usage_after_a_plan_change_is_priced_with_the_plan_then(
    engine: Engine, sessions: sessionmaker[Session], batch: bool
) -> None:
    """October on Business (100,000 calls included) billed before 0023; a change to Plus
    (10,000 included); October's late calls are priced with Business."""
    b = _billing("reset")
    _start(sessions)
    _calls(sessions, "oct", datetime(2026, 10, 20, 12, tzinfo=UTC), 50_000)
    assert _bill(sessions, b, date(2026, 11, 15), batch) == ["invoiced"]
    _change(sessions, "plan", datetime(2026, 11, 20, 9, tzinfo=UTC), plan="plus")
    assert _bill(sessions, b, date(2026, 12, 15), batch) in (["invoiced"], ["credited"])
    _as_before_0023(engine)
    with sessions() as session:
        recorded = session.execute(
            select(UsagePeriod.period_start, UsagePeriod.period_end, UsagePeriod.plan).order_by(
                UsagePeriod.period_start
            )
        ).all()

    _calls(sessions, "oct-late", datetime(2026, 10, 21, 12, tzinfo=UTC), 70_000)
    assert _bill(sessions, b, date(2027, 1, 15), batch) == ["invoiced"]
    late = [
        line
        for line in _last_invoice(sessions).lines
        if line.item_code == "api_calls" and line.period_start == OCTOBER[0]
    ]
    assert sum(line.amount for line in late) == Decimal("20.00")
    assert [line.amount for line in late] == _expected(OCTOBER, 120_000, 50_000)
    # November holds the plan change (which cuts a period under a realigning policy) and
    # no usage line showing its pieces: left to the fallback.
    assert [tuple(row) for row in recorded] == [(*OCTOBER, "business")]


@pytest.mark.parametrize("batch", [False, True], ids=["alone", "batch"])
def test_late_usage_after_a_change_of_interval_is_priced_in_its_month(
    engine: Engine, sessions: sessionmaker[Session], batch: bool
) -> None:
    """A month cut by a change to annual billing (new period at the change), billed before
    0023; its late calls are priced in the cut month, not in a year-long window of the new
    schedule that holds October's 200,000 calls as well."""
    b = _billing("reset")
    _start(sessions)
    _calls(sessions, "oct", datetime(2026, 10, 20, 12, tzinfo=UTC), 200_000)
    assert _bill(sessions, b, date(2026, 11, 15), batch) == ["invoiced"]
    _calls(sessions, "nov", datetime(2026, 11, 16, 12, tzinfo=UTC), 60_000)
    _change(sessions, "interval", CHANGE_AT, interval="year")
    assert _bill(sessions, b, date(2027, 11, 25), batch) in (["invoiced"], ["credited"])
    _as_before_0023(engine)

    _calls(sessions, "nov-late", datetime(2026, 11, 20, 12, tzinfo=UTC), 50_000)
    assert _bill(sessions, b, date(2028, 11, 25), batch) == ["invoiced"]
    late = [
        line
        for line in _last_invoice(sessions).lines
        if line.item_code == "api_calls" and line.period_start and line.period_start < CUT[1]
    ]
    assert [(line.period_start, line.period_end) for line in late] == [CUT] * len(late)
    assert [line.amount for line in late] == _expected(CUT, 110_000, 60_000)
    assert sum(line.amount for line in late) == Decimal("10.00")
