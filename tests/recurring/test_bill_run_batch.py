"""The bill run's batch (recurring/batch.py) stores exactly what billing each subscription
alone stores: the same invoices to the cent, records, periods, usage marks and audit
entries, numbers as one gapless block, a bad subscription skipped with its reason while
the rest are stored, and nothing more on a second run. SQLite, and PostgreSQL when
TEST_DATABASE_URL is set; the reference ledger is always a SQLite file."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.billing.seller import load_seller
from activities.drafting.compose import Drafter
from activities.ledger.db import make_engine, migrate, session_factory, transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import (
    AuditEntry,
    BillRunRecord,
    ContractType,
    Invoice,
    Subscription,
    SubscriptionPeriod,
    UsageEvent,
)
from activities.ledger.periods import Period, lock_period
from activities.outbox import FileTransport, Outbox
from activities.recurring.activities import RecurringActivities
from activities.recurring.batch import bill_batch
from activities.recurring.bill_run import bill_subscription, record_skip
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.model import BatchRequest
from tests.recurring.factories import billing, subscription

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
DAY = date(2026, 12, 15)
RUN_AT = datetime(2026, 12, 15, 1, tzinfo=UTC)
IDS = [f"SUB-{n:02d}" for n in range(1, 10)]


def _change(session: Session, sub: str, kind: str, at: datetime, **values: Any) -> None:
    b = billing()
    change_subscription(
        session,
        ChangeRequest(
            subscription_id=sub,
            kind=kind,
            at=at,
            actor="cli:ana",
            idempotency_key=f"{sub}:{kind}",
            **values,
        ),
        book=b.book,
        taxes=b.taxes,
        policy=b.policy,
        now=at,
        apply=True,
    )


def build(sessions: sessionmaker[Session]) -> None:
    """Plain renewals, a seat change, usage (some late), a cancellation, an annual contract
    with quarterly true-ups, a broken subscription, one not due, an add-on and a removal."""
    with transaction(sessions) as session:
        for sub in IDS:
            anchor = datetime(2026, 1, 20, tzinfo=UTC) if sub == "SUB-07" else ANCHOR
            if sub == "SUB-05":
                subscription(
                    session,
                    sub,
                    anchor=datetime(2026, 3, 1, tzinfo=UTC),
                    now=NOW,
                    seats=20,
                    interval="year",
                    contract=ContractType.ANNUAL_INVOICED,
                )
            else:
                subscription(
                    session,
                    sub,
                    anchor=anchor,
                    now=NOW,
                    seats=10 + int(sub[-1]),
                    usage=("api_calls",) if sub == "SUB-03" else (),
                    addons=("advanced_security",) if sub == "SUB-08" else (),
                )
        broken = session.get(Subscription, "SUB-06")
        assert broken is not None
        broken.currency = "EUR"  # the customer is billed in USD
        for n, (at, units) in enumerate(
            [
                (datetime(2026, 10, 20, tzinfo=UTC), "1200000"),  # a late arrival, last period
                (datetime(2026, 11, 16, tzinfo=UTC), "2500000"),
                (datetime(2026, 12, 1, tzinfo=UTC), "300000"),
            ]
        ):
            session.add(
                UsageEvent(
                    subscription_id="SUB-03",
                    event_id=f"e{n}",
                    metric="api_calls",
                    quantity=Decimal(units),
                    occurred_at=at,
                    received_at=NOW,
                )
            )
    with transaction(sessions) as session:
        _change(session, "SUB-02", "seats", datetime(2026, 11, 25, tzinfo=UTC), seats=19)
        _change(session, "SUB-04", "cancel", datetime(2026, 11, 30, tzinfo=UTC))
        _change(session, "SUB-05", "seats", datetime(2026, 7, 1, tzinfo=UTC), seats=26)
        _change(session, "SUB-09", "seats", datetime(2026, 11, 22, tzinfo=UTC), seats=3)


def snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """What the ledger holds after the run, without ids and numbers (they may differ in
    order between the two paths; the numbers are checked for gaps separately)."""
    with sessions() as session:
        invoices = session.scalars(select(Invoice).order_by(Invoice.source_key)).all()
        return {
            "invoices": [
                (
                    i.source_key,
                    i.subscription_id,
                    i.status,
                    i.total,
                    i.amount_due,
                    i.issue_date,
                    i.due_date,
                    i.buyer_name,
                    i.seller,
                    i.payment_instructions,
                    [(line.description, line.amount, line.tax_amount) for line in i.lines],
                )
                for i in invoices
            ],
            "records": sorted(
                (r.subscription_id, r.period_start, r.outcome, r.amount, r.currency, r.reason)
                for r in session.scalars(select(BillRunRecord))
            ),
            "periods": sorted(
                (p.subscription_id, p.period_start, p.period_end, p.lines_invoiced, p.opening)
                for p in session.scalars(select(SubscriptionPeriod))
            ),
            "usage": sorted(
                (u.event_id, u.invoice_id is not None) for u in session.scalars(select(UsageEvent))
            ),
            "audit": Counter((a.action, a.actor) for a in session.scalars(select(AuditEntry))),
        }


def test_a_batch_stores_what_billing_each_alone_stores(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    reference = session_factory(make_engine(f"sqlite:///{tmp_path / 'alone.sqlite'}"))
    migrate(reference.kw["bind"])
    build(reference)
    for sub in IDS:  # the lone path: a transaction each, a data error skipped
        try:
            with transaction(reference) as session:
                bill_subscription(session, sub, DAY, billing(), actor="workflow:w", now=RUN_AT)
        except LedgerError as error:
            with transaction(reference) as session:
                record_skip(session, sub, DAY, str(error), RUN_AT)

    build(sessions)
    with transaction(sessions) as session:
        done = bill_batch(
            session,
            list(reversed(IDS)),
            DAY,
            billing(),
            load_seller(),
            actor="workflow:w",
            now=RUN_AT,
        )
    assert [sub for sub, _ in done.skipped] == ["SUB-06"]
    assert "currency" in done.skipped[0][1]
    outcomes = {o.subscription_id: o.outcome for o in done.outcomes}
    assert outcomes["SUB-07"] == "not_due" and outcomes["SUB-04"] == "credited"
    assert outcomes["SUB-01"] == outcomes["SUB-03"] == "invoiced"

    alone, batched = snapshot(reference), snapshot(sessions)
    assert batched == alone
    # Six renewals (SUB-06 skipped, SUB-07 not due) and SUB-05's quarterly true-up.
    assert len(batched["invoices"]) == 7
    assert batched["usage"] == [("e0", True), ("e1", True), ("e2", True)]
    assert ("subscription.billed", "workflow:w") in batched["audit"]
    with sessions() as session:
        numbers = sorted(n or "" for n in session.scalars(select(Invoice.number)))
    assert numbers == [f"INV-{n:06d}" for n in range(1, len(numbers) + 1)]

    # A retry, a re-run or a second worker: nothing more is invoiced.
    with transaction(sessions) as session:
        again = bill_batch(
            session, IDS, DAY, billing(), load_seller(), actor="workflow:w2", now=RUN_AT
        )
    assert {o.outcome for o in again.outcomes} == {"not_due"}
    assert [sub for sub, _ in again.skipped] == ["SUB-06"]
    assert snapshot(sessions)["invoices"] == batched["invoices"]


def test_a_batch_the_database_refuses_is_billed_one_by_one_and_each_refusal_reported(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """December is signed off: the batch's COPY meets the database's period-lock trigger
    and the whole transaction is refused. The activity then bills each subscription
    alone, so each is reported skipped with the reason (instead of the batch failing)."""
    with transaction(sessions) as session:
        for sub in ("SUB-L1", "SUB-L2"):
            subscription(session, sub, anchor=ANCHOR, now=NOW)
    with transaction(sessions) as session:
        lock_period(
            session,
            Period(2026, 12),
            timezone="UTC",
            closing_ar={},
            signed_off_by="chen",
            signed_off_at=datetime(2027, 1, 5, tzinfo=UTC),
            workflow_id="close-2026-12",
        )
    recurring = RecurringActivities(
        sessions,
        billing(),
        Outbox(sessions, FileTransport(tmp_path), "billing@example.com"),
        Drafter(sessions),
    )
    request = BatchRequest(
        run_date=DAY, subscription_ids=["SUB-L1", "SUB-L2"], workflow_id="w", now=RUN_AT
    )
    result = ActivityEnvironment().run(recurring.invoice_batch, request)
    assert result.issued == []
    assert [s.subscription_id for s in result.skipped] == ["SUB-L1", "SUB-L2"]
    assert all("2026-12" in s.reason for s in result.skipped), result.skipped
    with sessions() as session:
        assert session.scalars(select(Invoice)).all() == []
        outcomes = session.scalars(select(BillRunRecord.outcome)).all()
    assert outcomes == ["skipped", "skipped"]
