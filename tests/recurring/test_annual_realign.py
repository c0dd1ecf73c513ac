"""An annual invoiced contract (quarterly seat true-ups) under ``anchor_on_change: realign``
whose resume shortens its term, through the ledger (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set), by the bill run alone and in a batch.

Billed from 15 Jan 2026, paused on 1 Feb and resumed on 10 Jun: Kill Bill's realign
starts a period at the resume that runs to the billing day in its month, 15 Jun 2026, so
the term that was to end on 15 Jan 2027 ends on 15 Jun and the next runs from there.
Before the resume the engine counts the term's quarters from 15 Jan (15 Apr, 15 Jul,
15 Oct), after it from 15 Jun 2025 (the new term's year holding the stub). The bill run
counted them from the new anchor only, put a true-up on 15 Mar 2026, which the engine
refuses, and skipped the subscription on 15 Jun instead of invoicing it.

The check is every line the ledger invoiced, in order, against the engine's own drafts of
the same events period after period (the true-ups on the quarters it accepts), to the cent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from activities.billing import invoicing
from activities.billing.seller import load_seller
from activities.ledger.db import transaction
from activities.ledger.invariants import violations
from activities.ledger.models import BillRunRecord, ContractType, Invoice
from activities.recurring.batch import bill_batch
from activities.recurring.bill_run import Billing, bill_subscription
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.policy import ChangeInvoicing, ContractPolicy, RecurringPolicy
from tests.recurring.factories import billing, subscription
from tests.recurring.test_pause_resume import Line, at

SUB = "SUB-AR"
ANCHOR = at(2026, 1, 15)
SEATS = 10


def _billing(change_invoicing: ChangeInvoicing) -> Billing:
    base = billing()
    contract = ContractPolicy(
        proration_policy="daily", change_invoicing=change_invoicing, anchor_on_change="realign"
    )
    return Billing(
        base.book, base.taxes, RecurringPolicy(contract_types={"annual_invoiced": contract})
    )


def _change(sessions: sessionmaker[Session], b: Billing, kind: str, when: datetime) -> None:
    with transaction(sessions) as session:
        change_subscription(
            session,
            ChangeRequest(
                subscription_id=SUB,
                kind=kind,
                at=when,
                seats=SEATS + 4 if kind == "seats" else None,
                actor="cli:test",
                idempotency_key=f"{SUB}:{kind}",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=when,
            apply=True,
        )


def _bill(sessions: sessionmaker[Session], b: Billing, day: date, batch: bool) -> None:
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    with transaction(sessions) as session:
        if batch:
            done = bill_batch(session, [SUB], day, b, load_seller(), actor="t", now=now)
            assert done.skipped == []
        else:
            bill_subscription(session, SUB, day, b, actor="t", now=now)


def _engine(b: Billing) -> list[Line]:
    """The engine alone: the first term with the pause, its quarter and the resume; the
    term the resume started with the seats added and its three quarters."""
    plan = b.book.plan_price("business", "year", "USD")
    opening = invoicing.Subscription(
        "USD", ANCHOR, "year", plan, SEATS, period_start=ANCHOR, quarterly_true_up=True
    )
    first: list[invoicing.Event] = [
        invoicing.Paused(at(2026, 2, 1, 9)),
        invoicing.QuarterlyTrueUp(at(2026, 4, 15)),
        invoicing.Resumed(at(2026, 6, 10, 9)),
    ]
    policy = b.policy.for_contract("annual_invoiced").proration
    schedule = invoicing.schedule_after(opening, first, policy=policy)
    assert (schedule.start, schedule.end) == (at(2026, 6, 10), at(2026, 6, 15))
    second = invoicing.Subscription(
        "USD",
        schedule.anchor,
        "year",
        plan,
        SEATS,
        period_start=schedule.end,
        quarterly_true_up=True,
    )
    later: list[invoicing.Event] = [
        invoicing.SeatsAdded(at(2026, 8, 3, 9), 4),
        invoicing.QuarterlyTrueUp(at(2026, 9, 15)),
        invoicing.QuarterlyTrueUp(at(2026, 12, 15)),
        invoicing.QuarterlyTrueUp(at(2027, 3, 15)),
    ]
    lines: list[Line] = []
    for subscription_, events, issue in (
        (opening, first, date(2026, 6, 15)),
        (second, later, date(2027, 6, 15)),
    ):
        draft = invoicing.draft_invoice(
            subscription_,
            events,
            terms=invoicing.InvoiceTerms(issue_date=issue),
            policy=policy,
            renew=True,
        )
        lines += [(x.kind, x.period_start, x.period_end, x.amount) for x in draft.lines]
    return lines


@pytest.mark.parametrize("change_invoicing", ["next_bill_run", "immediately"])
@pytest.mark.parametrize("batch", [False, True], ids=["alone", "batch"])
def test_a_resume_that_shortens_the_term_is_invoiced_as_the_engine_prices_it(
    sessions: sessionmaker[Session], batch: bool, change_invoicing: ChangeInvoicing
) -> None:
    b = _billing(change_invoicing)
    with transaction(sessions) as session:
        subscription(
            session,
            SUB,
            anchor=ANCHOR,
            now=at(2026, 1, 20),
            interval="year",
            contract=ContractType.ANNUAL_INVOICED,
        )
    _change(sessions, b, "pause", at(2026, 2, 1, 9))
    _change(sessions, b, "resume", at(2026, 6, 10, 9))
    _bill(sessions, b, date(2026, 6, 15), batch)
    _change(sessions, b, "seats", at(2026, 8, 3, 9))
    _bill(sessions, b, date(2026, 9, 15), batch)
    _bill(sessions, b, date(2027, 6, 15), batch)
    with sessions() as session:
        assert violations(session) == []
        outcomes = session.execute(
            select(BillRunRecord.run_date, BillRunRecord.outcome, BillRunRecord.reason).order_by(
                BillRunRecord.id
            )
        ).all()
        assert [o for o in outcomes if o.outcome == "skipped"] == []
        billed = [
            (line.kind.value, line.period_start, line.period_end, line.amount)
            for invoice in session.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == SUB)
                .order_by(Invoice.id)
                .options(selectinload(Invoice.lines))
            )
            for line in invoice.lines
            if line.period_start is not None and line.period_end is not None
        ]
    assert billed == _engine(b)
