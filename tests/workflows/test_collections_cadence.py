"""The collections cadence end to end on the time-skipping server: real worker, real
activities, a SQLite ledger, emails read back from the outbox."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.collections.messages import (
    APPROVAL_DECIDED,
    PAYMENT_RECEIVED,
    ApprovalDecision,
    PaymentReceived,
)
from activities.ledger.models import Entitlement, EntitlementStatus
from activities.ledger.payments import PaymentIn, record_payment
from tests.collections.factories import account, invoice
from tests.workflows.harness import sent_emails, start_cadence, worker

NEW_YORK = ZoneInfo("America/New_York")
US_HOLIDAYS = holidays.country_holidays("US", years=range(2024, 2032))


def business_day_on_or_after(day: date) -> date:
    while day.weekday() >= 5 or day in US_HOLIDAYS:
        day += timedelta(days=1)
    return day


async def local_today(env: WorkflowEnvironment, tz: ZoneInfo = NEW_YORK) -> date:
    return (await env.get_current_time()).astimezone(tz).date()


async def early_morning(env: WorkflowEnvironment, tz: ZoneInfo = NEW_YORK) -> date:
    """Skip the server's clock to 06:00 local (when the daily sweep runs); return that day."""
    now = await env.get_current_time()
    target = datetime.combine(now.astimezone(tz).date() + timedelta(days=1), time(6), tz)
    await env.sleep(target - now)
    return target.date()


def pay(sessions: sessionmaker[Session], customer_id: str, amount: str, at: datetime, ref: str):
    with sessions.begin() as session:
        return record_payment(
            session,
            PaymentIn(
                customer_id=customer_id,
                processor_id=ref,
                amount=Decimal(amount),
                currency="USD",
                received_at=at,
            ),
            actor="test:payments",
        )


async def test_ninety_day_enterprise_cadence_sends_each_email_on_its_day(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=7)
    now = await env.get_current_time()
    customer_id = account(sqlite_sessions, now, account_owner="U0OWNER")
    number = invoice(sqlite_sessions, customer_id, "1200.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        for step in ("suspension", "write_off_review"):  # decided ahead; asked for all the same
            await handle.signal(
                APPROVAL_DECIDED, ApprovalDecision(step=step, approved=True, approver="slack:U0LEAD")
            )
        outcome = await handle.result()

    assert outcome.reason == "handed to write-off review"
    emails = sent_emails(sqlite_sessions, customer_id)
    expected = [
        ("courtesy", -7),
        ("due_today", 0),
        ("reminder_1", 7),
        ("reminder_2", 14),
        ("reminder_3", 30),
        ("final_notice", 45),
        ("suspension", 60),
    ]
    assert [e.step for e in emails] == [name for name, _ in expected]
    for email, (name, offset) in zip(emails, expected, strict=True):
        local = email.at.astimezone(NEW_YORK)
        assert local.date() == business_day_on_or_after(due + timedelta(days=offset)), name
        assert (local.hour, local.minute) == (9, 0), name
        assert number in email.body and "$1,200.00" in email.body, name
        assert f"https://billing.example.com/pay/{customer_id}" in email.body, name
        days = (local.date() - due).days
        if days > 0:
            assert f"{days} days overdue" in email.body, name
        if name.startswith(("reminder", "final")):
            assert f"{days} days past due" in email.subject, name
    assert emails[0].subject == f"{customer_id} Ltd: $1,200.00 due on {due.isoformat()}"
    assert emails[-1].subject.startswith("Service suspended")

    team = sorted(p.name for p in (tmp_path / "outbox" / "team").iterdir())
    assert any(name.endswith("escalation.txt") for name in team)
    escalation = next(p for p in (tmp_path / "outbox" / "team").iterdir() if "escalation" in p.name)
    assert "<@U0OWNER>" in escalation.read_text()
    with sqlite_sessions() as session:
        entitlement = session.query(Entitlement).filter_by(customer_id=customer_id).one()
        assert entitlement.status == EntitlementStatus.SUSPENDED


async def test_full_payment_mid_cadence_stops_it(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    now = await env.get_current_time()
    customer_id = account(sqlite_sessions, now)
    invoice(sqlite_sessions, customer_id, "500.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await env.sleep(timedelta(days=12))  # past due_today (day 0) and reminder_1 (day 7)
        paid_at = await env.get_current_time()
        pay(sqlite_sessions, customer_id, "500.00", paid_at, "pay-1")
        await handle.signal(
            PAYMENT_RECEIVED,
            PaymentReceived(
                processor_id="pay-1", amount=Decimal("500.00"), currency="USD", received_at=paid_at
            ),
        )
        outcome = await handle.result()

    assert outcome.reason == "nothing left to collect"
    assert [e.step for e in sent_emails(sqlite_sessions, customer_id)] == [
        "courtesy",
        "due_today",
        "reminder_1",
    ]
