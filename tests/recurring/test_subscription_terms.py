"""The ledger carries what the engine prices beyond seats in advance (issue 15's items 7,
9 and 10 end to end): a period of several months, a plan billed in arrears by seat-days,
an add-on with its own quantity. Each scenario is billed twice, by the bill run's batch
and by the lone path, and every invoice is checked to the cent against the engine's
preview of the same events; a second run of a day bills nothing more. SQLite, and
PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing import invoicing
from activities.billing.invoicing import InvoiceDraft
from activities.billing.pricebook import SeatPrice, load_pricebook
from activities.billing.seller import load_seller
from activities.billing.tax import load_tax_table, tax_treatment
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import (
    ContractType,
    Invoice,
    InvoiceLine,
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionPeriod,
)
from activities.recurring.batch import bill_batch
from activities.recurring.bill_run import bill_subscription
from activities.recurring.changes import ChangeRequest, change_subscription
from tests.recurring.factories import billing, subscription

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
BOOK = load_pricebook()
TX = tax_treatment(load_tax_table(), "US-TX")
PATHS = ("L", "B")  # each scenario billed alone (L) and in a batch (B)


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def change(
    sessions: sessionmaker[Session], sub: str, kind: str, when: datetime, **values: Any
) -> None:
    b = billing()
    with transaction(sessions) as session:
        change_subscription(
            session,
            ChangeRequest(
                subscription_id=sub,
                kind=kind,
                at=when,
                actor="cli:test",
                idempotency_key=f"{sub}:{kind}:{when.isoformat()}",
                **values,
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=when,
            apply=True,
        )


def both(
    sessions: sessionmaker[Session], sub: str, kind: str, when: datetime, **values: Any
) -> None:
    for path in PATHS:
        change(sessions, f"{sub}-{path}", kind, when, **values)


def run(sessions: sessionmaker[Session], day: date, subs: Sequence[str]) -> list[str]:
    """The day's bill run: the lone path for the -L copies, one batch for the -B copies;
    the outcomes of both, skipped ones as 'skipped: reason'."""
    done: list[str] = []
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=1)
    with transaction(sessions) as session:
        for sub in subs:
            outcomes = bill_subscription(
                session, f"{sub}-L", day, billing(), actor="workflow:t", now=now
            )
            done += [o.outcome for o in outcomes]
        batch = bill_batch(
            session,
            [f"{sub}-B" for sub in subs],
            day,
            billing(),
            load_seller(),
            actor="workflow:t",
            now=now,
        )
    done += [o.outcome for o in batch.outcomes]
    done += [f"skipped: {reason}" for _, reason in batch.skipped]
    return done


def invoices(sessions: sessionmaker[Session], sub: str) -> list[tuple[Invoice, list[Decimal]]]:
    with sessions() as session:
        rows = session.scalars(
            select(Invoice).where(Invoice.subscription_id == sub).order_by(Invoice.id)
        )
        return [(row, [line.amount for line in row.lines]) for row in rows]


def engine(
    opening: invoicing.Subscription,
    events: Sequence[invoicing.Event],
    day: date,
    *,
    renew: bool = True,
) -> InvoiceDraft:
    """The engine's preview of the same events, as `billing-ops preview` would price them."""
    policy = billing().policy.for_contract("self_serve_monthly").proration
    return invoicing.draft_invoice(
        opening,
        events,
        terms=invoicing.InvoiceTerms(issue_date=day, payment_terms_days=30, tax=TX),
        policy=policy,
        renew=renew,
    )


def assert_billed(
    sessions: sessionmaker[Session], sub: str, expected: Sequence[InvoiceDraft]
) -> None:
    """Both copies hold exactly these invoices, line by line and in total, each once,
    keyed by the period it renews."""
    for path in PATHS:
        stored = invoices(sessions, f"{sub}-{path}")
        assert [inv.total for inv, _ in stored] == [draft.total for draft in expected], path
        assert [lines for _, lines in stored] == [
            [line.amount for line in draft.lines] for draft in expected
        ], path
        assert [inv.tax_total for inv, _ in stored] == [d.tax_total for d in expected], path


def test_a_period_of_two_months_is_billed_every_two_months_with_its_seat_changes(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        for path in PATHS:
            subscription(session, f"BI-{path}", anchor=ANCHOR, now=NOW, seats=10, interval_count=2)
    with sessions() as session:
        period = session.get(SubscriptionPeriod, "BI-L")
        assert period is not None
        assert (period.period_start, period.period_end) == (at(2026, 11, 15), at(2027, 1, 15))
    both(sessions, "BI", "seats", at(2026, 12, 1), seats=14)
    # Not due at the month's end: the period is two months long.
    assert run(sessions, date(2026, 12, 15), ["BI"]) == ["not_due", "not_due"]
    assert run(sessions, date(2027, 1, 15), ["BI"]) == ["invoiced", "invoiced"]
    both(sessions, "BI", "seats", at(2027, 2, 10), seats=17)
    assert run(sessions, date(2027, 3, 15), ["BI"]) == ["invoiced", "invoiced"]
    assert run(sessions, date(2027, 5, 15), ["BI"]) == ["invoiced", "invoiced"]
    # The same day again (a retry, a second worker): nothing more.
    assert run(sessions, date(2027, 5, 15), ["BI"]) == ["not_due", "not_due"]

    plan = SeatPrice("business", "Business", Decimal("50.00"))  # 2 × 25.00

    def sub(seats: int, start: datetime) -> invoicing.Subscription:
        return invoicing.Subscription(
            "USD", ANCHOR, "month", plan, seats, period_start=start, interval_count=2
        )

    expected = [
        engine(
            sub(10, at(2026, 11, 15)), [invoicing.SeatsAdded(at(2026, 12, 1), 4)], date(2027, 1, 15)
        ),
        engine(
            sub(14, at(2027, 1, 15)), [invoicing.SeatsAdded(at(2027, 2, 10), 3)], date(2027, 3, 15)
        ),
        engine(sub(17, at(2027, 3, 15)), [], date(2027, 5, 15)),
    ]
    assert expected[2].total == Decimal("17") * Decimal("50.00") + expected[2].tax_total
    assert_billed(sessions, "BI", expected)
    with sessions() as session:
        keys = session.scalars(
            select(Invoice.source_key).where(Invoice.subscription_id == "BI-B").order_by(Invoice.id)
        ).all()
        assert keys == [
            "bill-run:BI-B:2026-11-15T00:00:00+00:00",
            "bill-run:BI-B:2027-01-15T00:00:00+00:00",
            "bill-run:BI-B:2027-03-15T00:00:00+00:00",
        ]
        for path in PATHS:
            period = session.get(SubscriptionPeriod, f"BI-{path}")
            assert period is not None
            assert (period.period_start, period.period_end) == (at(2027, 5, 15), at(2027, 7, 15))


def test_seats_billed_in_arrears_are_billed_by_seat_days_at_the_period_end(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        for path in PATHS:
            subscription(session, f"AR-{path}", anchor=ANCHOR, now=NOW, seats=10, in_arrears=True)
    both(sessions, "AR", "seats", at(2026, 11, 25), seats=14)
    both(sessions, "AR", "seats", at(2026, 12, 5), seats=8)
    assert run(sessions, date(2026, 12, 15), ["AR"]) == ["invoiced", "invoiced"]
    assert run(sessions, date(2026, 12, 15), ["AR"]) == ["not_due", "not_due"]
    both(sessions, "AR", "seats", at(2026, 12, 20), seats=9)
    assert run(sessions, date(2027, 1, 15), ["AR"]) == ["invoiced", "invoiced"]

    plan = SeatPrice("business", "Business", Decimal("25.00"), in_arrears=True)
    first = engine(
        invoicing.Subscription("USD", ANCHOR, "month", plan, 10, period_start=at(2026, 11, 15)),
        [invoicing.SeatsAdded(at(2026, 11, 25), 4), invoicing.SeatsRemoved(at(2026, 12, 5), 6)],
        date(2026, 12, 15),
    )
    # Seat-days: 10 seats for 10 of 30 days, 14 for 10, 8 for 10; nothing in advance.
    assert [line.amount for line in first.lines] == [
        Decimal("83.33"),
        Decimal("116.67"),
        Decimal("66.67"),
    ]
    second = engine(
        invoicing.Subscription("USD", ANCHOR, "month", plan, 8, period_start=at(2026, 12, 15)),
        [invoicing.SeatsAdded(at(2026, 12, 20), 1)],
        date(2027, 1, 15),
    )
    assert_billed(sessions, "AR", [first, second])


def test_an_add_on_with_its_own_quantity_is_billed_per_unit_and_its_changes_prorated(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        for path in PATHS:
            subscription(session, f"AQ-{path}", anchor=ANCHOR, now=NOW, seats=10)
    # --addon advanced_security=3: added with its own quantity, then 3 → 5, then seats.
    both(sessions, "AQ", "addon", at(2026, 11, 20), addon="advanced_security", addon_quantity=3)
    both(sessions, "AQ", "addon", at(2026, 12, 1), addon="advanced_security", addon_quantity=5)
    both(sessions, "AQ", "seats", at(2026, 12, 5), seats=12)
    with sessions() as session:
        items = {
            i.item_code: (i.quantity, i.own_quantity)
            for i in session.scalars(
                select(SubscriptionItem).where(SubscriptionItem.subscription_id == "AQ-L")
            )
        }
        assert items == {"business": (12, False), "advanced_security": (5, True)}
        kinds = session.scalars(
            select(SubscriptionEvent.kind)
            .where(SubscriptionEvent.subscription_id == "AQ-L")
            .order_by(SubscriptionEvent.id)
        ).all()
        assert [k.value for k in kinds] == ["addon_added", "addon_quantity_changed", "seats_added"]
    assert run(sessions, date(2026, 12, 15), ["AQ"]) == ["invoiced", "invoiced"]
    both(sessions, "AQ", "addon", at(2026, 12, 20), addon="advanced_security", addon_quantity=7)
    assert run(sessions, date(2027, 1, 15), ["AQ"]) == ["invoiced", "invoiced"]
    assert run(sessions, date(2027, 1, 15), ["AQ"]) == ["not_due", "not_due"]

    plan = BOOK.plan_price("business", "month", "USD")
    addon = BOOK.addon_price("advanced_security", "month", "USD", "business")
    first = engine(
        invoicing.Subscription("USD", ANCHOR, "month", plan, 10, period_start=at(2026, 11, 15)),
        [
            invoicing.AddonAdded(at(2026, 11, 20), addon, 3),
            invoicing.AddonQuantityChanged(at(2026, 12, 1), "advanced_security", 5),
            invoicing.SeatsAdded(at(2026, 12, 5), 2),
        ],
        date(2026, 12, 15),
    )
    # The renewal bills the add-on for its 5 units, not the 12 seats.
    assert (Decimal(5), addon.unit_amount) in [
        (line.quantity, line.unit_amount) for line in first.lines if line.item_code == addon.code
    ]
    second = engine(
        invoicing.Subscription(
            "USD",
            ANCHOR,
            "month",
            plan,
            12,
            (addon,),
            period_start=at(2026, 12, 15),
            addon_quantities=(("advanced_security", 5),),
        ),
        [invoicing.AddonQuantityChanged(at(2026, 12, 20), "advanced_security", 7)],
        date(2027, 1, 15),
    )
    assert_billed(sessions, "AQ", [first, second])


def test_a_plan_in_arrears_replaced_mid_period_is_billed_once(
    sessions: sessionmaker[Session],
) -> None:
    """An annual contract invoices a change at once: the upgrade bills the old plan's used
    part in arrears then, and the bill run the new plan's part, never the old one again.
    The engine's preview of that second invoice is given what the first billed in arrears
    (``arrears_billed``, read from the stored invoice's lines); the ledger gets the same
    total by leaving out the lines already invoiced."""
    with transaction(sessions) as session:
        for path in PATHS:
            subscription(
                session,
                f"AU-{path}",
                anchor=ANCHOR,
                now=NOW,
                seats=30,
                in_arrears=True,
                contract=ContractType.ANNUAL_INVOICED,
            )
    both(sessions, "AU", "plan", at(2026, 12, 1), plan="enterprise")
    old = SeatPrice("business", "Business", Decimal("25.00"), in_arrears=True)
    new = SeatPrice("enterprise", "Enterprise", Decimal("45.00"), in_arrears=True)
    opening = invoicing.Subscription("USD", ANCHOR, "month", old, 30, period_start=at(2026, 11, 15))
    events = [invoicing.PlanChanged(at(2026, 12, 1), new, "month", ())]
    at_once = engine(opening, events, date(2026, 12, 1), renew=False)
    for path in PATHS:
        [(invoice, lines)] = invoices(sessions, f"AU-{path}")
        assert invoice.total == at_once.total and lines == [x.amount for x in at_once.lines]
    assert run(sessions, date(2026, 12, 15), ["AU"]) == ["invoiced", "invoiced"]
    for path in PATHS:
        with sessions() as session:
            first = session.scalars(
                select(Invoice).where(Invoice.subscription_id == f"AU-{path}").order_by(Invoice.id)
            ).first()
            assert first is not None
            billed = sum(
                (line.amount for line in first.lines if line.item_code == "business"), Decimal(0)
            )
        preview = engine(
            replace(opening, arrears_billed=(("business", billed),)), events, date(2026, 12, 15)
        )
        stored = invoices(sessions, f"AU-{path}")
        assert [inv.total for inv, _ in stored] == [at_once.total, preview.total]
        # The old plan is billed once over both invoices.
        assert (
            sum((a for (inv, lines) in stored for a in lines), Decimal(0))
            == at_once.subtotal + preview.subtotal
        )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"addon": "no_such_addon", "addon_quantity": 2},
            "addon: unknown seat add-on 'no_such_addon'",
        ),
        (
            {"addon": "advanced_security", "addon_quantity": 3},
            "addon: 'advanced_security' follows the seats",
        ),
        (
            {"addon": "premium_support", "addon_quantity": 0},
            "addon: 'premium_support' is not an add-on",
        ),
    ],
)
def test_bad_add_on_changes_are_refused_naming_the_field_and_nothing_is_written(
    sessions: sessionmaker[Session], values: dict[str, Any], message: str
) -> None:
    with transaction(sessions) as session:
        subscription(
            session, "BAD", anchor=ANCHOR, now=NOW, seats=10, addons=("advanced_security",)
        )
    with pytest.raises(LedgerError) as error:
        change(sessions, "BAD", "addon", at(2026, 11, 25), **values)
    assert message in str(error.value) and "\n" not in str(error.value)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 0
    with pytest.raises(ValueError, match="addon_quantity"):
        ChangeRequest(
            subscription_id="BAD",
            kind="addon",
            addon="x",
            addon_quantity=-1,
            actor="cli:t",
            idempotency_key="k",
        )


def test_an_interval_count_out_of_range_is_refused(sessions: sessionmaker[Session]) -> None:
    """The ledger refuses 0 intervals per period (a CHECK, named in one line); a count the
    engine cannot price (more than three years) is skipped by the bill run with the rule
    named, nothing billed."""
    with (
        pytest.raises(LedgerError, match="interval_count_positive"),
        transaction(sessions) as session,
    ):
        subscription(session, "IC-0", anchor=ANCHOR, now=NOW, interval_count=0)
    with transaction(sessions) as session:
        subscription(session, "IC-B", anchor=ANCHOR, now=NOW)
        row = session.get(Subscription, "IC-B")
        assert row is not None
        row.interval_count = 40
    with transaction(sessions) as session:
        done = bill_batch(
            session, ["IC-B"], date(2026, 12, 15), billing(), load_seller(), actor="t", now=NOW
        )
    [(sub, reason)] = done.skipped
    assert sub == "IC-B" and reason.startswith(
        "subscription.interval_count: 40 must be from 1 to 36"
    )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 0
        assert session.scalar(select(func.count()).select_from(InvoiceLine)) == 0
