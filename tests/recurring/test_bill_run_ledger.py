"""Subscription changes and the bill run against a real ledger (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set): every invoice to the cent against the engine given the same
history, each period invoiced once, a bad subscription skipped while the rest are billed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing import invoicing
from activities.billing.pricebook import load_pricebook
from activities.billing.tax import load_tax_table, tax_treatment
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import (
    AuditEntry,
    ContractType,
    CreditNote,
    Invoice,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionPeriod,
)
from activities.recurring.bill_run import Outcome, bill_subscription, due_subscriptions, run_summary
from activities.recurring.changes import ChangeOutcome, ChangeRequest, change_subscription
from tests.recurring.factories import billing, subscription

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BOOK = load_pricebook()
TX = tax_treatment(load_tax_table(), "US-TX")


def change(
    sessions: sessionmaker[Session],
    sub: str,
    kind: str,
    *,
    at: datetime,
    apply: bool = True,
    key: str | None = None,
    **values: object,
) -> ChangeOutcome:
    b = billing()
    with transaction(sessions) as session:
        return change_subscription(
            session,
            ChangeRequest(
                subscription_id=sub,
                kind=kind,
                at=at,
                actor="cli:test",
                idempotency_key=key or f"{sub}:{kind}:{at.isoformat()}",
                **values,
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=at,
            apply=apply,
        )


def run(sessions: sessionmaker[Session], day: date, sub: str) -> list[Outcome]:
    with transaction(sessions) as session:
        return bill_subscription(session, sub, day, billing(), actor="workflow:test", now=NOW)


def due(sessions: sessionmaker[Session], day: date) -> list[str]:
    with sessions() as session:
        return due_subscriptions(session, day)


def invoices(sessions: sessionmaker[Session], sub: str) -> list[Invoice]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Invoice).where(Invoice.subscription_id == sub).order_by(Invoice.id)
            )
        )


def test_a_seat_change_is_billed_at_the_renewal_exactly_as_the_engine_prices_it(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        subscription(session, "SUB-A", anchor=ANCHOR, now=NOW, seats=10)
    preview = change(
        sessions, "SUB-A", "seats", at=datetime(2026, 11, 25, tzinfo=UTC), seats=14, apply=False
    )
    with sessions() as session:  # a preview writes nothing
        assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 0
        assert session.get(SubscriptionPeriod, "SUB-A").opening is None  # type: ignore[union-attr]
    applied = change(sessions, "SUB-A", "seats", at=datetime(2026, 11, 25, tzinfo=UTC), seats=14)
    assert applied.pending_total == preview.pending_total > 0
    assert applied.invoice_number is None  # self-serve: the change waits for the bill run
    again = change(sessions, "SUB-A", "seats", at=datetime(2026, 11, 25, tzinfo=UTC), seats=14)
    assert again.already_recorded  # same idempotency key: recorded once

    assert due(sessions, date(2026, 12, 14)) == []
    assert due(sessions, date(2026, 12, 15)) == ["SUB-A"]
    outcomes = run(sessions, date(2026, 12, 15), "SUB-A")
    assert [o.outcome for o in outcomes] == ["invoiced"]

    plan = BOOK.plan_price("business", "month", "USD")
    expected = invoicing.draft_invoice(
        invoicing.Subscription(
            "USD", ANCHOR, "month", plan, 10, period_start=datetime(2026, 11, 15, tzinfo=UTC)
        ),
        [invoicing.SeatsAdded(datetime(2026, 11, 25, tzinfo=UTC), 4)],
        terms=invoicing.InvoiceTerms(issue_date=date(2026, 12, 15), tax=TX),
        renew=True,
    )
    [invoice] = invoices(sessions, "SUB-A")
    assert invoice.source_key == "bill-run:SUB-A:2026-11-15T00:00:00+00:00"
    assert invoice.total == expected.total
    assert invoice.issue_date == date(2026, 12, 15)
    # The invoice says how it is taxed (documents and e-invoices print it), not "No tax".
    assert (invoice.tax_category, invoice.tax_label) == (TX.category, TX.label)
    with sessions() as session:
        lines = session.get(Invoice, invoice.id).lines  # type: ignore[union-attr]
        assert [line.amount for line in lines] == [line.amount for line in expected.lines]
        period = session.get(SubscriptionPeriod, "SUB-A")
        assert period is not None
        assert (period.period_start, period.period_end) == (
            datetime(2026, 12, 15, tzinfo=UTC),
            datetime(2027, 1, 15, tzinfo=UTC),
        )
        assert period.opening is None
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert "subscription.seats_added" in actions and "subscription.billed" in actions

    # The same day again (a retry, a re-run, a second worker): nothing more.
    assert [o.outcome for o in run(sessions, date(2026, 12, 15), "SUB-A")] == ["not_due"]
    assert len(invoices(sessions, "SUB-A")) == 1
    with sessions() as session:
        summary = run_summary(session, date(2026, 12, 15))
    assert summary.invoiced == 1 and summary.totals == {"USD": expected.total}


def test_an_annual_contracts_upgrade_is_invoiced_at_once_and_never_again(
    sessions: sessionmaker[Session],
) -> None:
    anchor = datetime(2026, 3, 1, tzinfo=UTC)
    with transaction(sessions) as session:
        subscription(
            session,
            "SUB-Y",
            anchor=anchor,
            now=NOW,
            plan="business",
            seats=20,
            interval="year",
            contract=ContractType.ANNUAL_INVOICED,
        )
    at = datetime(2026, 11, 20, tzinfo=UTC)
    outcome = change(sessions, "SUB-Y", "plan", at=at, plan="enterprise")
    assert outcome.invoice_number is not None
    [now_invoice] = invoices(sessions, "SUB-Y")
    # Seat true-ups on 1 Jun and 1 Sep were due before the change: the bill run of 1 Mar
    # 2027 does the renewal; nothing of the upgrade is billed twice.
    outcomes = run(sessions, date(2027, 3, 1), "SUB-Y")
    assert outcomes[-1].outcome == "invoiced"
    opening = invoicing.Subscription(
        "USD",
        anchor,
        "year",
        BOOK.plan_price("business", "year", "USD"),
        20,
        period_start=anchor,
        quarterly_true_up=True,
    )
    events = [invoicing.PlanChanged(at, BOOK.plan_price("enterprise", "year", "USD"), "year", ())]
    whole = invoicing.draft_invoice(
        opening,
        [*events, invoicing.QuarterlyTrueUp(datetime(2026, 12, 1, tzinfo=UTC))],
        terms=invoicing.InvoiceTerms(issue_date=date(2027, 3, 1), tax=TX),
        renew=True,
    )
    billed = invoices(sessions, "SUB-Y")
    assert billed[0].id == now_invoice.id
    assert sum((i.total for i in billed), Decimal(0)) == whole.total


def test_a_bad_subscription_is_skipped_with_its_reason_and_the_others_are_billed(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        subscription(session, "SUB-1", anchor=ANCHOR, now=NOW)
        subscription(session, "SUB-2", anchor=ANCHOR, now=NOW)
        subscription(session, "SUB-3", anchor=ANCHOR, now=NOW)
        # A plan item no price book knows, with a currency the customer is not billed in.
        broken = session.scalar(
            select(SubscriptionItem).where(SubscriptionItem.subscription_id == "SUB-2")
        )
        assert broken is not None
        broken.subscription.currency = "EUR"
    day = date(2026, 12, 15)
    assert due(sessions, day) == ["SUB-1", "SUB-2", "SUB-3"]
    assert [o.outcome for o in run(sessions, day, "SUB-1")] == ["invoiced"]
    with pytest.raises(LedgerError, match="currency"):
        run(sessions, day, "SUB-2")
    assert [o.outcome for o in run(sessions, day, "SUB-3")] == ["invoiced"]
    assert invoices(sessions, "SUB-2") == []


def test_a_cancellation_credits_the_unused_time_and_ends_billing(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        subscription(session, "SUB-C", anchor=ANCHOR, now=NOW, seats=5)
    with pytest.raises(LedgerError, match="not paused"):
        change(sessions, "SUB-C", "resume", at=datetime(2026, 11, 21, tzinfo=UTC))
    change(sessions, "SUB-C", "cancel", at=datetime(2026, 11, 30, tzinfo=UTC))
    with pytest.raises(LedgerError, match="cancelled"):
        change(sessions, "SUB-C", "seats", at=datetime(2026, 12, 1, tzinfo=UTC), seats=9)
    [outcome] = run(sessions, date(2026, 12, 15), "SUB-C")
    assert outcome.outcome == "credited"
    [invoice] = invoices(sessions, "SUB-C")
    assert invoice.total < 0 and invoice.amount_due == 0
    with sessions() as session:
        note = session.scalar(select(CreditNote))
        assert note is not None and note.amount == -invoice.total
        assert session.get(SubscriptionPeriod, "SUB-C") is None
    assert due(sessions, date(2027, 6, 1)) == []
