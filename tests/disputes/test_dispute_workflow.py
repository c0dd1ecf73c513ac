"""A dispute from claim to close on the time-skipping server: real worker, real activities
(collections included), a SQLite ledger, emails read back from the outbox."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.billing.invoicing import Started, draft_invoice
from activities.collections.messages import STATUS_QUERY, CadenceStatus
from activities.collections.messages import workflow_id as collections_workflow_id
from activities.disputes.activities import DisputeActivities, DisputeIntake, Settle
from activities.disputes.triage import Triage
from activities.drafting.compose import Drafter
from activities.ledger import audit
from activities.ledger.invoices import get_invoice
from activities.ledger.models import (
    ApprovalRequest,
    ApprovalStatus,
    CreditNote,
    Dispute,
    DisputeStatus,
    InvoiceStatus,
    OutboxEmail,
)
from activities.outbox import FileTransport, Outbox
from tests.approvals.harness import eventually
from tests.disputes.harness import (
    Account,
    open_account,
    product_worker,
    seat_invoice_terms,
    seat_subscription,
)
from workflows.approval import DECIDE_UPDATE, ApprovalState, Decision, DecisionIn
from workflows.disputes import (
    TRIAGE_UPDATE,
    WITHDRAW_UPDATE,
    DisputeOutcome,
    DisputeState,
    DisputeWorkflow,
    TriageIn,
    WithdrawIn,
    workflow_id,
)

SEATS_8 = Triage(category="seat_count", seats=8)


async def start_dispute(
    env: WorkflowEnvironment,
    queue: str,
    account: Account,
    triage: Triage | None = SEATS_8,
    by: str = "cli:ana",
) -> WorkflowHandle[Any, DisputeOutcome]:
    intake = DisputeIntake(
        dispute_id=f"DSP-{uuid.uuid4().hex[:6].upper()}",
        customer_id=account.customer_id,
        invoices=[account.invoice],
        claim="We only had 8 seats in that month, not 10.",
        opened_by=by,
        triage=triage,
    )
    return await env.client.start_workflow(
        DisputeWorkflow.run, intake, id=workflow_id(intake.dispute_id), task_queue=queue
    )


async def state(handle: WorkflowHandle[Any, Any]) -> DisputeState:
    result: DisputeState = await handle.query(DisputeWorkflow.status)
    return result


async def pending_approval(handle: WorkflowHandle[Any, Any]) -> ApprovalState:
    async def waiting() -> ApprovalState | None:
        approvals = (await state(handle)).approvals
        return approvals[0] if approvals and approvals[0].status == "pending" else None

    found: ApprovalState = await eventually(waiting)
    return found


async def decide(
    handle: WorkflowHandle[Any, Any],
    request_id: str,
    approver: str,
    outcome: Literal["approve", "reject"] = "approve",
    reason: str = "matches the seat log",
) -> Decision:
    decision: Decision = await handle.execute_update(
        DECIDE_UPDATE,
        DecisionIn(request_id=request_id, outcome=outcome, approver=approver, reason=reason),
        result_type=Decision,
    )
    return decision


def emails(
    sessions: sessionmaker[Session], dispute_handle: WorkflowHandle[Any, Any]
) -> dict[str, str]:
    """Sent dispute emails of the workflow, by template: subject and body."""
    prefix = f"{dispute_handle.id}:email:"
    with sessions() as session:
        rows = session.scalars(
            select(OutboxEmail).where(OutboxEmail.idempotency_key.startswith(prefix))
        ).all()
        return {
            r.idempotency_key.removeprefix(prefix): f"{r.subject}\n{r.body_text}"
            for r in rows
            if r.sent_at is not None
        }


def credit_notes(sessions: sessionmaker[Session], customer_id: str) -> list[CreditNote]:
    with sessions() as session:
        return list(
            session.scalars(select(CreditNote).where(CreditNote.customer_id == customer_id)).all()
        )


async def test_a_seat_count_dispute_credits_the_engine_s_re_price_to_the_cent(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], data_dir: Path
) -> None:
    sessions = sqlite_sessions
    account = open_account(sessions, await env.get_current_time(), seats=10)
    async with product_worker(env.client, sessions, data_dir) as queue:
        handle = await start_dispute(env, queue, account)
        pending = await pending_approval(handle)
        proposal = (await state(handle)).proposal
        assert proposal is not None
        # ana opened the dispute: she is an analyst, yet may not approve its credit.
        assert (pending.action, pending.waiting_for) == (
            "credit_note",
            ("analyst", "billing_manager", "controller"),
        )
        decision = await decide(handle, pending.request_id, "cli:ben")
        outcome = await handle.result()

    # What the engine bills for the month at 10 and at 8 seats, and the hand check:
    # 10 x (25 + 3) = 280.00 + tax 22.19 + 2.66 = 304.85; 8 x 28 = 224.00 + 17.75 + 2.13 = 243.88.
    due = account.anchor + timedelta(days=30)
    terms = seat_invoice_terms(account.anchor, due)
    billed = draft_invoice(
        seat_subscription(account.anchor, 10), [Started(account.anchor)], terms=terms
    )
    fair = draft_invoice(
        seat_subscription(account.anchor, 8), [Started(account.anchor)], terms=terms
    )
    assert (billed.total, fair.total) == (Decimal("304.85"), Decimal("243.88"))
    [note] = credit_notes(sessions, account.customer_id)
    assert note.amount == billed.total - fair.total == proposal.amount == Decimal("60.97")
    assert note.idempotency_key == f"{handle.id}:settle:credit_note:{account.invoice}"
    assert outcome.outcome == "resolved" and decision.approver == "ben"
    assert outcome.issued == [f"credit note {note.number} for $60.97 on invoice {account.invoice}"]
    with sessions() as session:
        invoice = get_invoice(session, account.invoice)
        assert (invoice.balance, invoice.status) == (Decimal("243.88"), InvoiceStatus.OPEN)
        dispute = session.get(Dispute, outcome.dispute_id)
        assert dispute is not None and dispute.status == DisputeStatus.RESOLVED
        assert dispute.category == "seat_count"
        trail = [e.action for e in audit.history(session, "dispute", outcome.dispute_id)]
        assert trail == ["dispute.opened", "dispute.triaged", "dispute.resolved"]
        assert [e.action for e in audit.history(session, "invoice", account.invoice)][-1] == (
            "credit_note.issued"
        )
    sent = emails(sessions, handle)
    assert sorted(sent) == ["received", "resolved"]
    assert f"credit note {note.number} for $60.97 on invoice {account.invoice}" in sent["resolved"]


async def test_a_rejected_dispute_issues_nothing_and_tells_the_customer_why(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], data_dir: Path
) -> None:
    sessions = sqlite_sessions
    account = open_account(sessions, await env.get_current_time())
    async with product_worker(env.client, sessions, data_dir) as queue:
        handle = await start_dispute(env, queue, account)
        pending = await pending_approval(handle)
        why = "The seat log shows 10 active seats from the 1st of the month."
        await decide(handle, pending.request_id, "maria", "reject", why)
        outcome = await handle.result()
    assert (outcome.outcome, outcome.reason, outcome.issued) == ("rejected", why, [])
    assert credit_notes(sessions, account.customer_id) == []
    with sessions() as session:
        assert get_invoice(session, account.invoice).balance == Decimal("304.85")
        row = session.get(ApprovalRequest, pending.request_id)
        assert row is not None and (row.status, row.decided_by) == (
            ApprovalStatus.REJECTED,
            "maria",
        )
    assert why in emails(sessions, handle)["rejected"]


async def test_an_unanswered_dispute_escalates_after_its_sla_in_business_days(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], data_dir: Path
) -> None:
    sessions = sqlite_sessions
    account = open_account(sessions, await env.get_current_time())
    async with product_worker(env.client, sessions, data_dir) as queue:
        handle = await start_dispute(env, queue, account)
        pending = await pending_approval(handle)
        await env.sleep(pending.due_at - await env.get_current_time() + timedelta(minutes=5))

        async def escalated() -> ApprovalState | None:
            approval = (await state(handle)).approvals[0]
            return approval if approval.escalations else None

        approval = await eventually(escalated)
        assert approval.waiting_for == ("billing_manager", "controller")
        decision = await decide(handle, pending.request_id, "maria")
        outcome = await handle.result()
    assert (outcome.outcome, decision.escalations) == ("resolved", 1)
    with sessions() as session:
        actions = [e.action for e in audit.history(session, "approval_request", pending.request_id)]
    assert actions == ["approval.requested", "approval.escalated", "approval.approved"]


async def test_a_dispute_withdrawn_while_awaiting_approval_closes_without_changes(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], data_dir: Path
) -> None:
    sessions = sqlite_sessions
    account = open_account(sessions, await env.get_current_time())
    async with product_worker(env.client, sessions, data_dir) as queue:
        handle = await start_dispute(env, queue, account)
        pending = await pending_approval(handle)
        closed: DisputeState = await handle.execute_update(
            WITHDRAW_UPDATE,
            WithdrawIn(by="cli:ana", reason="customer found the seat report"),
            result_type=DisputeState,
        )
        outcome = await handle.result()
    assert (closed.stage, closed.outcome) == ("closed", "withdrawn")
    assert (outcome.outcome, outcome.reason) == ("withdrawn", "customer found the seat report")
    assert credit_notes(sessions, account.customer_id) == []
    with sessions() as session:
        row = session.get(ApprovalRequest, pending.request_id)
        assert row is not None and row.status == ApprovalStatus.WITHDRAWN
        dispute = session.get(Dispute, outcome.dispute_id)
        assert dispute is not None and dispute.status == DisputeStatus.WITHDRAWN
    assert sorted(emails(sessions, handle)) == ["received", "withdrawn"]


async def test_triage_later_and_a_triage_with_nothing_to_credit_is_sent_back(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], data_dir: Path
) -> None:
    sessions = sqlite_sessions
    account = open_account(sessions, await env.get_current_time())
    async with product_worker(env.client, sessions, data_dir) as queue:
        handle = await start_dispute(env, queue, account, triage=None)
        await eventually(lambda: _at_stage(handle, "awaiting_triage"))
        more: DisputeState = await handle.execute_update(
            TRIAGE_UPDATE,
            TriageIn(triage=Triage(category="seat_count", seats=12), by="cli:ben"),
            result_type=DisputeState,
        )
        assert more.stage == "awaiting_triage" and more.proposal is None
        assert more.problem is not None and "nothing to credit" in more.problem
        fixed: DisputeState = await handle.execute_update(
            TRIAGE_UPDATE, TriageIn(triage=SEATS_8, by="cli:ben"), result_type=DisputeState
        )
        assert fixed.proposal is not None and fixed.proposal.amount == Decimal("60.97")
        pending = await pending_approval(handle)
        await decide(handle, pending.request_id, "maria")
        assert (await handle.result()).outcome == "resolved"


async def _at_stage(handle: WorkflowHandle[Any, Any], stage: str) -> bool:
    return (await state(handle)).stage == stage


async def test_collections_leave_the_disputed_invoice_and_resume_when_the_dispute_closes(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], data_dir: Path
) -> None:
    sessions = sqlite_sessions
    account = open_account(sessions, await env.get_current_time())
    cadence_id = collections_workflow_id(account.customer_id)
    async with product_worker(env.client, sessions, data_dir) as queue:
        handle = await start_dispute(env, queue, account)
        pending = await pending_approval(handle)
        # Opening the dispute nudged collections: it read the account and found nothing
        # it may chase, the only overdue invoice being held.
        first = env.client.get_workflow_handle(cadence_id)
        first_run = (await first.describe()).run_id
        await eventually(lambda: _finished(env, cadence_id, first_run))
        held: CadenceStatus = await first.query(STATUS_QUERY, result_type=CadenceStatus)
        assert (held.state, held.detail) == ("finished", "nothing left to collect")

        await decide(handle, pending.request_id, "maria", "reject", "billed as contracted")
        await handle.result()
        # Closing it nudged collections again: a new run chases the invoice.
        resumed = await eventually(lambda: _new_run(env, cadence_id, first_run))
        status: CadenceStatus = await eventually(lambda: _chasing(resumed))
    with sessions() as session:
        due = get_invoice(session, account.invoice).due_date
    assert status.cycle == due and status.state != "finished"


async def _finished(env: WorkflowEnvironment, workflow: str, run_id: str | None) -> bool:
    description = await env.client.get_workflow_handle(workflow, run_id=run_id).describe()
    return description.status == WorkflowExecutionStatus.COMPLETED


async def _new_run(
    env: WorkflowEnvironment, workflow: str, old_run: str | None
) -> WorkflowHandle[Any, Any] | None:
    description = await env.client.get_workflow_handle(workflow).describe()
    if description.run_id == old_run:
        return None
    return env.client.get_workflow_handle(workflow, run_id=description.run_id)


async def _chasing(handle: WorkflowHandle[Any, Any]) -> CadenceStatus | None:
    status: CadenceStatus = await handle.query(STATUS_QUERY, result_type=CadenceStatus)
    return status if status.cycle is not None else None


class SettleLosingItsFirstReply:
    """``disputes.settle`` as a worker that dies after the ledger committed but before
    Temporal heard back: the real activity runs, then the first attempt fails."""

    def __init__(self, real: DisputeActivities) -> None:
        self.real = real
        self.attempts: list[list[str]] = []

    @activity.defn(name="disputes.settle")
    def settle(self, request: Settle) -> list[str]:
        issued = self.real.settle(request)
        self.attempts.append(issued)
        if activity.info().attempt == 1:
            raise RuntimeError("worker lost after the commit")
        return issued


async def test_a_retried_settlement_issues_the_credit_note_once(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], data_dir: Path
) -> None:
    sessions = sqlite_sessions
    account = open_account(sessions, await env.get_current_time())
    outbox = Outbox(sessions, FileTransport(data_dir / "o"), "b@x.com")
    real = DisputeActivities(sessions, outbox, Drafter(sessions))
    flaky = SettleLosingItsFirstReply(real)
    async with product_worker(
        env.client, sessions, data_dir, **{"disputes.settle": flaky.settle}
    ) as queue:
        handle = await start_dispute(env, queue, account)
        pending = await pending_approval(handle)
        await decide(handle, pending.request_id, "ben")
        outcome = await handle.result()
    assert len(flaky.attempts) == 2 and flaky.attempts[0] == flaky.attempts[1] == outcome.issued
    [note] = credit_notes(sessions, account.customer_id)
    assert note.amount == Decimal("60.97")
    with sessions() as session:
        assert get_invoice(session, account.invoice).balance == Decimal("243.88")
