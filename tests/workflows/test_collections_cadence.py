"""The collections cadence end to end on the time-skipping server: real worker, real
activities, a SQLite ledger, emails read back from the outbox."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.collections.facts import PromiseFact
from activities.collections.messages import (
    ACCOUNT_CHANGED,
    PAYMENT_RECEIVED,
    AccountChanged,
    CollectionsOutcome,
    PaymentReceived,
)
from activities.collections.store import record_promise
from activities.ledger.models import (
    ApprovalRequest,
    ApprovalStatus,
    ContractType,
    Customer,
    Dispute,
    DisputeStatus,
    Entitlement,
    EntitlementStatus,
    PromiseStatus,
    PromiseToPay,
)
from activities.ledger.payments import PaymentIn, PaymentResult, record_payment
from tests.collections.factories import account, dispute, invoice
from tests.workflows.harness import (
    BILLING_MANAGER,
    CONTROLLER,
    decide,
    pending_approval,
    sent_emails,
    start_cadence,
    worker,
)
from workflows.approval import ApprovalState
from workflows.collections import CollectionsWorkflow

NEW_YORK = ZoneInfo("America/New_York")
US_HOLIDAYS = holidays.country_holidays("US")  # grows to whatever year the test server reaches


def business_day_on_or_after(day: date) -> date:
    while day.weekday() >= 5 or day in US_HOLIDAYS:
        day += timedelta(days=1)
    return day


async def local_today(env: WorkflowEnvironment, tz: ZoneInfo = NEW_YORK) -> date:
    return (await env.get_current_time()).astimezone(tz).date()


async def skip_to(
    env: WorkflowEnvironment, day: date, hour: int = 12, tz: ZoneInfo = NEW_YORK
) -> None:
    """Skip the server's clock to ``hour`` o'clock local on ``day``."""
    await env.sleep(datetime.combine(day, time(hour), tz) - await env.get_current_time())


async def early_morning(env: WorkflowEnvironment, tz: ZoneInfo = NEW_YORK) -> date:
    """Skip the server's clock to 06:00 local (when the daily sweep runs); return that day."""
    now = await env.get_current_time()
    target = datetime.combine(now.astimezone(tz).date() + timedelta(days=1), time(6), tz)
    await env.sleep(target - now)
    return target.date()


def pay(
    sessions: sessionmaker[Session], customer_id: str, amount: str, at: datetime, ref: str
) -> PaymentResult:
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


async def pending_approval_on(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[CollectionsWorkflow, CollectionsOutcome],
    due: date,
    offset: int,
    action: str,
) -> ApprovalState:
    """Skip to the opening of the send window on the step's day; the cadence asks then."""
    await skip_to(env, business_day_on_or_after(due + timedelta(days=offset)), hour=9)
    return await pending_approval(handle, action)


async def approve_on(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[CollectionsWorkflow, CollectionsOutcome],
    due: date,
    offset: int,
    action: str,
    approver: str,
) -> None:
    await pending_approval_on(env, handle, due, offset, action)
    await decide(handle, action, approver)


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
        await approve_on(env, handle, due, 60, "suspension", BILLING_MANAGER)
        write_off = await pending_approval_on(env, handle, due, 90, "write_off")
        await decide(handle, "write_off", CONTROLLER)
        outcome = await handle.result()

    assert outcome.reason == "handed to write-off review"
    # The write-off asks for the overdue total: 1,200 USD is the controller's band.
    assert (write_off.amount, write_off.currency) == (Decimal("1200.00"), "USD")
    assert write_off.waiting_for == ("controller",)
    with sqlite_sessions() as session:
        requests = session.query(ApprovalRequest).filter_by(customer_id=customer_id).all()
        assert sorted((r.action, r.status, r.decided_by) for r in requests) == [
            ("suspension", ApprovalStatus.APPROVED, BILLING_MANAGER),
            ("write_off", ApprovalStatus.APPROVED, CONTROLLER),
        ]
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
            assert f"the oldest invoice {days} days" in email.subject, name
    assert emails[0].subject == f"\u201c{customer_id} Ltd\u201d: $1,200.00 due on {due.isoformat()}"
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


async def nudge(
    handle: WorkflowHandle[CollectionsWorkflow, CollectionsOutcome],
    reason: str = "test changed the account",
) -> None:
    await handle.signal(ACCOUNT_CHANGED, AccountChanged(reason=reason))


async def test_partial_payment_lowers_the_amounts_in_the_next_email(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(sqlite_sessions, await env.get_current_time())
    first = invoice(sqlite_sessions, customer_id, "1000.00", due)
    second = invoice(sqlite_sessions, customer_id, "500.00", due + timedelta(days=5))

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await skip_to(env, business_day_on_or_after(due + timedelta(days=7)))  # reminder_1 sent
        pay(sqlite_sessions, customer_id, "400.00", await env.get_current_time(), "pay-part")
        await handle.signal(
            PAYMENT_RECEIVED,
            PaymentReceived(
                processor_id="pay-part",
                amount=Decimal("400.00"),
                currency="USD",
                received_at=await env.get_current_time(),
            ),
        )
        await skip_to(env, business_day_on_or_after(due + timedelta(days=14)))
        status = await handle.query(CollectionsWorkflow.status)
        await handle.terminate("test over")

    emails = {e.step: e for e in sent_emails(sqlite_sessions, customer_id)}
    assert "$1,500.00" in emails["reminder_1"].body
    reminder_2 = emails["reminder_2"].body
    assert "Total outstanding: $1,100.00" in reminder_2
    assert f"{first}  due {due.isoformat()}" in reminder_2 and "$600.00" in reminder_2
    assert second in reminder_2
    assert status.stage == "reminder_2" and status.cycle == due


async def test_paying_the_oldest_invoice_restarts_the_count_from_the_next_one(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(sqlite_sessions, await env.get_current_time())
    first = invoice(sqlite_sessions, customer_id, "1000.00", due)
    later = due + timedelta(days=5)
    second = invoice(sqlite_sessions, customer_id, "500.00", later)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await skip_to(env, business_day_on_or_after(due + timedelta(days=7)))
        now = await env.get_current_time()
        pay(sqlite_sessions, customer_id, "1000.00", now, "pay-oldest")
        await handle.signal(
            PAYMENT_RECEIVED,
            PaymentReceived(
                processor_id="pay-oldest",
                amount=Decimal("1000.00"),
                currency="USD",
                received_at=now,
            ),
        )
        await env.sleep(timedelta(hours=1))
        status = await handle.query(CollectionsWorkflow.status)
        await skip_to(env, business_day_on_or_after(later + timedelta(days=7)))
        await handle.terminate("test over")

    assert status.cycle == later and status.stage == "due_today"
    assert status.next_action == "reminder_1"
    emails = sent_emails(sqlite_sessions, customer_id)
    after = [e for e in emails if f":{later.isoformat()}:" in e.key]
    assert [e.step for e in after] == ["reminder_1"]  # due_today of the new cycle is not re-sent
    assert after[0].at.astimezone(NEW_YORK).date() == business_day_on_or_after(
        later + timedelta(days=7)
    )
    assert second in after[0].body and first not in after[0].body
    assert "Total outstanding: $500.00" in after[0].body


def promise(
    sessions: sessionmaker[Session],
    customer_id: str,
    promised: date,
    now: datetime,
    amount: str = "1000.00",
) -> PromiseFact:
    with sessions.begin() as session:
        return record_promise(
            session,
            customer_id=customer_id,
            amount=Decimal(amount),
            currency="USD",
            promised_date=promised,
            grace_days=3,
            actor="slack:U0ANALYST",
            now=now,
            idempotency_key=f"promise-{customer_id}",
        )


def promise_status(sessions: sessionmaker[Session], promise_id: int) -> PromiseStatus:
    with sessions() as session:
        found = session.get(PromiseToPay, promise_id)
        assert found is not None
        return PromiseStatus(found.status)


async def test_kept_promise_pauses_the_cadence_and_payment_ends_it(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(sqlite_sessions, await env.get_current_time())
    invoice(sqlite_sessions, customer_id, "1000.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await skip_to(env, business_day_on_or_after(due))  # due_today has gone out
        promised = promise(
            sqlite_sessions, customer_id, due + timedelta(days=10), await env.get_current_time()
        )
        await nudge(handle, "promise to pay recorded")
        await env.sleep(timedelta(hours=1))
        paused = await handle.query(CollectionsWorkflow.status)
        await skip_to(env, due + timedelta(days=8))  # reminder_1 (day 7) falls inside the promise
        now = await env.get_current_time()
        pay(sqlite_sessions, customer_id, "1000.00", now, "pay-promised")
        await handle.signal(
            PAYMENT_RECEIVED,
            PaymentReceived(
                processor_id="pay-promised",
                amount=Decimal("1000.00"),
                currency="USD",
                received_at=now,
            ),
        )
        outcome = await handle.result()

    assert paused.state == "promise_to_pay"
    assert paused.next_action_due == datetime.combine(due + timedelta(days=14), time(0), NEW_YORK)
    assert outcome.reason == "nothing left to collect"
    assert [e.step for e in sent_emails(sqlite_sessions, customer_id)] == ["courtesy", "due_today"]
    assert promise_status(sqlite_sessions, promised.id) == PromiseStatus.KEPT


async def test_broken_promise_resumes_with_a_missed_commitment_email(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(sqlite_sessions, await env.get_current_time())
    invoice(sqlite_sessions, customer_id, "1000.00", due)
    promised_day = due + timedelta(days=10)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await skip_to(env, business_day_on_or_after(due))  # due_today has gone out
        promised = promise(sqlite_sessions, customer_id, promised_day, await env.get_current_time())
        await nudge(handle, "promise to pay recorded")
        await skip_to(env, due + timedelta(days=36))  # the promise lapses; the cadence goes on
        await handle.terminate("test over")

    emails = sent_emails(sqlite_sessions, customer_id)
    assert [e.step for e in emails] == ["courtesy", "due_today", "missed_commitment", "reminder_3"]
    missed = emails[2]
    assert missed.at.astimezone(NEW_YORK).date() == business_day_on_or_after(
        promised_day + timedelta(days=4)
    )
    assert f"$1,000.00 by {promised_day.isoformat()}" in missed.body
    assert missed.subject.startswith("Missed payment commitment")
    assert promise_status(sqlite_sessions, promised.id) == PromiseStatus.BROKEN
    team = [p.name for p in (tmp_path / "outbox" / "team").iterdir()]
    assert any("escalation" in name for name in team)  # actions are never skipped


async def test_disputed_invoice_is_held_out_until_the_dispute_closes(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    now = await env.get_current_time()
    customer_id = account(sqlite_sessions, now)
    kept = invoice(sqlite_sessions, customer_id, "1000.00", due)
    contested = invoice(sqlite_sessions, customer_id, "300.00", due)
    dispute_id = dispute(sqlite_sessions, customer_id, contested, now)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await skip_to(env, business_day_on_or_after(due))  # due_today has gone out
        with sqlite_sessions.begin() as session:
            found = session.get(Dispute, dispute_id)
            assert found is not None
            found.status = DisputeStatus.REJECTED
        await nudge(handle, "dispute rejected")
        await skip_to(env, business_day_on_or_after(due + timedelta(days=7)))
        await handle.terminate("test over")

    emails = {e.step: e for e in sent_emails(sqlite_sessions, customer_id)}
    for held in ("courtesy", "due_today"):
        assert kept in emails[held].body and contested not in emails[held].body
        assert "Total outstanding: $1,000.00" in emails[held].body
    assert contested in emails["reminder_1"].body
    assert "Total outstanding: $1,300.00" in emails["reminder_1"].body


async def test_do_not_dun_sends_nothing_until_lifted(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(sqlite_sessions, await env.get_current_time(), do_not_dun=True)
    invoice(sqlite_sessions, customer_id, "1000.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await env.sleep(timedelta(days=17))
        held = await handle.query(CollectionsWorkflow.status)
        assert sent_emails(sqlite_sessions, customer_id) == []
        with sqlite_sessions.begin() as session:
            session.get(Customer, customer_id).do_not_dun = False  # type: ignore[union-attr]
        await nudge(handle, "do-not-dun lifted")
        await env.sleep(timedelta(days=4))
        await handle.terminate("test over")

    assert held.state == "do_not_dun"
    # Catching up sends the latest reminder due (day 14), not the four it missed.
    assert [e.step for e in sent_emails(sqlite_sessions, customer_id)] == ["reminder_2"]


async def test_emails_go_out_in_the_customers_business_hours(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    tokyo = ZoneInfo("Asia/Tokyo")
    due = await early_morning(env, tokyo) + timedelta(days=3)
    customer_id = account(
        sqlite_sessions,
        await env.get_current_time(),
        contract=ContractType.SELF_SERVE_MONTHLY,
        timezone="Asia/Tokyo",
        country="JP",
    )
    invoice(sqlite_sessions, customer_id, "80.00", due)
    jp_holidays = holidays.country_holidays("JP")

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await skip_to(env, due + timedelta(days=16), tz=tokyo)
        await handle.terminate("test over")

    emails = sent_emails(sqlite_sessions, customer_id)[:4]
    assert [e.step for e in emails] == ["courtesy", "due_today", "reminder_1", "reminder_2"]
    for email, offset in zip(emails, (-3, 0, 3, 10), strict=True):
        local = email.at.astimezone(tokyo)
        expected = due + timedelta(days=offset)
        while expected.weekday() >= 5 or expected in jp_holidays:
            expected += timedelta(days=1)
        assert local.date() == expected and (local.hour, local.minute) == (9, 0)


async def test_an_unanswered_final_notice_escalates_then_goes_out_in_the_window(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(
        sqlite_sessions,
        await env.get_current_time(),
        contract=ContractType.SELF_SERVE_MONTHLY,
        strategic=True,
    )
    invoice(sqlite_sessions, customer_id, "1000.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        asked = await pending_approval_on(env, handle, due, 21, "final_notice")
        # Nobody answers within the billing manager's SLA: the request goes to the controller.
        await env.sleep(asked.due_at + timedelta(hours=1) - await env.get_current_time())
        escalated = await pending_approval(handle, "final_notice")
        waiting = await handle.query(CollectionsWorkflow.status)
        # Decided in the evening, after the send window closed.
        evening = datetime.combine(escalated.due_at.astimezone(NEW_YORK).date(), time(21), NEW_YORK)
        await env.sleep(evening - await env.get_current_time())
        refused = await decide_expecting_refusal(handle, BILLING_MANAGER)
        await decide(handle, "final_notice", CONTROLLER)
        await skip_to(env, business_day_on_or_after(evening.date() + timedelta(days=1)))
        await handle.terminate("test over")

    assert asked.waiting_for == ("billing_manager", "controller") and asked.amount is None
    assert escalated.waiting_for == ("controller",) and escalated.escalations == 1
    assert waiting.state == "waiting_for_approval" and waiting.next_action == "final_notice"
    assert waiting.detail is not None and escalated.request_id in waiting.detail
    assert "maria" in refused and "controller" in refused
    final = [e for e in sent_emails(sqlite_sessions, customer_id) if e.step == "final_notice"]
    assert len(final) == 1
    local = final[0].at.astimezone(NEW_YORK)
    assert local.date() == business_day_on_or_after(evening.date() + timedelta(days=1))
    assert (local.hour, local.minute) == (9, 0)  # approved at 21:00, sent next morning
    with sqlite_sessions() as session:
        request = session.query(ApprovalRequest).filter_by(customer_id=customer_id).one()
        assert request.status == ApprovalStatus.APPROVED and request.decided_by == CONTROLLER


async def decide_expecting_refusal(
    handle: WorkflowHandle[CollectionsWorkflow, CollectionsOutcome], approver: str
) -> str:
    """The validator's reason when ``approver`` may not decide the pending final notice."""
    try:
        await decide(handle, "final_notice", approver)
    except WorkflowUpdateFailedError as error:
        return str(error.cause)
    raise AssertionError(f"{approver} was allowed to decide")


async def test_a_rejected_suspension_is_skipped_and_the_cadence_goes_on(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(
        sqlite_sessions, await env.get_current_time(), contract=ContractType.SELF_SERVE_MONTHLY
    )
    invoice(sqlite_sessions, customer_id, "400.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        await pending_approval_on(env, handle, due, 30, "suspension")
        rejected = await decide(handle, "suspension", BILLING_MANAGER, "reject")
        await env.sleep(timedelta(hours=1))
        status = await handle.query(CollectionsWorkflow.status)
        await pending_approval_on(env, handle, due, 60, "write_off")
        await handle.terminate("test over")

    assert rejected.outcome == "rejected"
    assert status.stage == "suspension" and status.next_action == "write_off_review"
    assert "suspension" not in [e.step for e in sent_emails(sqlite_sessions, customer_id)]
    with sqlite_sessions() as session:
        entitlement = session.query(Entitlement).filter_by(customer_id=customer_id).one()
        assert entitlement.status == EntitlementStatus.ACTIVE


async def test_a_payment_while_a_step_waits_for_approval_withdraws_it_and_ends_the_cadence(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(
        sqlite_sessions, await env.get_current_time(), contract=ContractType.SELF_SERVE_MONTHLY
    )
    invoice(sqlite_sessions, customer_id, "400.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        asked = await pending_approval_on(env, handle, due, 30, "suspension")
        await nudge(handle, "daily sweep")  # nothing changed: the request stays open
        still = await pending_approval(handle, "suspension")
        now = await env.get_current_time()
        pay(sqlite_sessions, customer_id, "400.00", now, "pay-while-asking")
        await handle.signal(
            PAYMENT_RECEIVED,
            PaymentReceived(
                processor_id="pay-while-asking",
                amount=Decimal("400.00"),
                currency="USD",
                received_at=now,
            ),
        )
        outcome = await handle.result()
        approvals = await handle.query(CollectionsWorkflow.approvals)

    assert still.request_id == asked.request_id
    assert outcome.reason == "nothing left to collect"
    assert [(a.request_id, a.status) for a in approvals] == [(asked.request_id, "withdrawn")]
    with sqlite_sessions() as session:
        request = session.query(ApprovalRequest).filter_by(customer_id=customer_id).one()
        assert request.status == ApprovalStatus.WITHDRAWN
        assert request.decision_reason is not None and "paid" in request.decision_reason
        entitlement = session.query(Entitlement).filter_by(customer_id=customer_id).one()
        assert entitlement.status == EntitlementStatus.ACTIVE


async def test_continue_as_new_keeps_the_cadence_going(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=7)
    customer_id = account(sqlite_sessions, await env.get_current_time())
    invoice(sqlite_sessions, customer_id, "1200.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue, history_limit=100)
        await approve_on(env, handle, due, 60, "suspension", BILLING_MANAGER)
        await approve_on(env, handle, due, 90, "write_off", CONTROLLER)
        outcome = await handle.result()
        latest = await env.client.get_workflow_handle(handle.id).describe()

    assert outcome.reason == "handed to write-off review" and outcome.emails_sent == 7
    assert latest.run_id != handle.result_run_id  # at least one continue-as-new happened
    assert len(sent_emails(sqlite_sessions, customer_id)) == 7
