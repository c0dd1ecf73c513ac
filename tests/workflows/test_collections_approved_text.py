"""A step a person approves sends the text that person read (issue 13, item 7): the
suspension email is drafted before it is asked for, the request carries it, and on approval
exactly that text goes out; if the figures changed meanwhile, nothing is sent or suspended
and the step is drafted again and asked again. Time-skipping server, real activities."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.collections.messages import PAYMENT_RECEIVED, CollectionsOutcome, PaymentReceived
from activities.ledger.models import ApprovalRequest, ContractType, Entitlement, EntitlementStatus
from tests.collections.factories import account, invoice
from tests.workflows.harness import (
    BILLING_MANAGER,
    Sent,
    decide,
    pending_approval,
    sent_emails,
    start_cadence,
    worker,
)
from tests.workflows.test_collections_cadence import early_morning, pay, pending_approval_on
from workflows.collections import CollectionsWorkflow


def request_row(sessions: sessionmaker[Session], request_id: str) -> ApprovalRequest:
    with sessions() as session:
        row = session.get(ApprovalRequest, request_id)
        assert row is not None
        session.expunge(row)
        return row


def as_previewed(sent: Sent) -> str:
    return f"To: ap@example.com\nSubject: {sent.subject}\n\n{sent.body}"


async def suspension_sent(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[CollectionsWorkflow, CollectionsOutcome],
    sessions: sessionmaker[Session],
    customer_id: str,
) -> list[Sent]:
    """Let the cadence take the approved step (it waits for the send window)."""
    for _ in range(48):
        sent = [e for e in sent_emails(sessions, customer_id) if e.step == "suspension"]
        approvals = await handle.query(CollectionsWorkflow.approvals)
        if sent or any(a.status == "pending" for a in approvals):
            return sent
        await env.sleep(timedelta(hours=1))
    raise AssertionError("the approved suspension was neither sent nor asked again")


def suspended(sessions: sessionmaker[Session], customer_id: str) -> bool:
    with sessions() as session:
        entitlement = session.query(Entitlement).filter_by(customer_id=customer_id).one()
        return entitlement.status == EntitlementStatus.SUSPENDED


async def test_the_approver_reads_the_suspension_email_that_is_then_sent(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(
        sqlite_sessions, await env.get_current_time(), contract=ContractType.SELF_SERVE_MONTHLY
    )
    number = invoice(sqlite_sessions, customer_id, "400.00", due)

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        asked = await pending_approval_on(env, handle, due, 30, "suspension")
        row = request_row(sqlite_sessions, asked.request_id)
        assert not suspended(sqlite_sessions, customer_id)
        assert "suspension" not in [e.step for e in sent_emails(sqlite_sessions, customer_id)]
        await decide(handle, "suspension", BILLING_MANAGER)
        sent = await suspension_sent(env, handle, sqlite_sessions, customer_id)
        await handle.terminate("test over")

    assert row.preview is not None and row.preview.startswith("To: ap@example.com\nSubject: ")
    assert number in row.preview and "$400.00 past due" in row.preview
    assert "owes 400.00 USD, of it 400.00 USD past due; the oldest invoice" in row.summary
    assert "no amount" not in row.summary
    (email,) = sent
    assert as_previewed(email) == row.preview
    assert suspended(sqlite_sessions, customer_id)


async def test_a_payment_after_the_draft_voids_the_approval_and_asks_again_with_new_text(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    due = await early_morning(env) + timedelta(days=2)
    customer_id = account(
        sqlite_sessions, await env.get_current_time(), contract=ContractType.SELF_SERVE_MONTHLY
    )
    invoice(sqlite_sessions, customer_id, "400.00", due)
    invoice(sqlite_sessions, customer_id, "300.00", due + timedelta(days=5))

    async with worker(env.client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(env.client, customer_id, queue)
        first = await pending_approval_on(env, handle, due, 30, "suspension")
        first_row = request_row(sqlite_sessions, first.request_id)
        now = await env.get_current_time()
        # A part payment of the oldest invoice: the cycle (its due date) stays, the request
        # stays open, but the drafted figures no longer hold.
        pay(sqlite_sessions, customer_id, "100.00", now, "pay-part")
        await handle.signal(
            PAYMENT_RECEIVED,
            PaymentReceived(
                processor_id="pay-part", amount=Decimal("100.00"), currency="USD", received_at=now
            ),
        )
        await decide(handle, "suspension", BILLING_MANAGER)
        assert await suspension_sent(env, handle, sqlite_sessions, customer_id) == []
        assert not suspended(sqlite_sessions, customer_id)
        second = await pending_approval(handle, "suspension")
        second_row = request_row(sqlite_sessions, second.request_id)
        await decide(handle, "suspension", BILLING_MANAGER)
        sent = await suspension_sent(env, handle, sqlite_sessions, customer_id)
        await handle.terminate("test over")

    assert second.request_id != first.request_id
    assert first_row.preview is not None and second_row.preview is not None
    assert "$700.00 past due" in first_row.preview and "$600.00" not in first_row.preview
    assert "$600.00 past due" in second_row.preview
    assert "owes 600.00 USD" in second_row.summary
    (email,) = sent
    assert as_previewed(email) == second_row.preview
    assert suspended(sqlite_sessions, customer_id)
