"""The reusable approval step in the time-skipping Temporal server, through a probe workflow."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import ApprovalMatrix
from activities.ledger import audit
from activities.ledger.models import ApprovalRequest, ApprovalStatus
from tests.approvals.harness import (
    approval_activities,
    eventually,
    running_worker,
    settled_history_length,
)
from tests.approvals.probe import ApprovalProbe
from tests.ledger import factories
from workflows.approval import (
    DECIDE_UPDATE,
    ApprovalInput,
    ApprovalState,
    Decision,
    DecisionIn,
)

#: 600 EUR is 651 USD at the table's rate: the billing manager's band for credit notes.
CREDIT = ApprovalInput(
    action="credit_note",
    summary="credit 600 EUR on INV-000001: seat count was wrong",
    requested_by="cli:ana",
    customer_id="CUS-1",
    amount=Decimal("600.00"),
    currency="EUR",
)


@pytest.fixture
def ledger(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sqlite_sessions.begin() as session:
        factories.customer(session, "CUS-1", currency="EUR")
    return sqlite_sessions


async def start_probe(
    env: WorkflowEnvironment, task_queue: str, asked: ApprovalInput = CREDIT
) -> tuple[WorkflowHandle[Any, Decision], ApprovalState]:
    handle = await env.client.start_workflow(
        ApprovalProbe.run, asked, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    states = await eventually(lambda: handle.query(ApprovalProbe.approvals))
    return handle, states[0]


async def decide(
    handle: WorkflowHandle[Any, Decision],
    request_id: str,
    approver: str,
    outcome: Literal["approve", "reject"] = "approve",
) -> Decision:
    decision: Decision = await handle.execute_update(
        DECIDE_UPDATE,
        DecisionIn(request_id=request_id, outcome=outcome, approver=approver, reason="checked"),
        result_type=Decision,
    )
    return decision


def audit_actions(sessions: sessionmaker[Session], request_id: str) -> list[str]:
    with sessions() as session:
        return [e.action for e in audit.history(session, "approval_request", request_id)]


async def test_the_right_role_approves_and_the_decision_is_recorded(
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
    matrix: ApprovalMatrix,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="billing_ops.approvals")
    async with running_worker(
        time_skipping_env.client, [ApprovalProbe], approval_activities(ledger, matrix)
    ) as queue:
        handle, pending = await start_probe(time_skipping_env, queue)
        assert pending.status == "pending"
        assert pending.waiting_for == ("billing_manager", "controller")
        decision = await decide(handle, pending.request_id, "slack:U0BILLMGR1")
        assert await handle.result() == decision

    assert (decision.outcome, decision.approver, decision.decided_by) == (
        "approved",
        "maria",
        "slack:U0BILLMGR1",
    )
    with ledger() as session:
        row = session.get(ApprovalRequest, pending.request_id)
        assert row is not None
        assert row.status == ApprovalStatus.APPROVED
        assert (row.decided_by, row.decision_reason) == ("slack:U0BILLMGR1", "checked")
        assert (row.amount, row.currency, row.required_role) == (
            Decimal("600.00"),
            "EUR",
            "billing_manager",
        )
        approved = audit.history(session, "approval_request", pending.request_id)[-1]
        assert (approved.action, approved.actor, approved.reason) == (
            "approval.approved",
            "slack:U0BILLMGR1",
            "checked",
        )
    assert audit_actions(ledger, pending.request_id) == ["approval.requested", "approval.approved"]
    posted = [r.getMessage() for r in caplog.records if r.name == "billing_ops.approvals"]
    assert "needs approval from billing_manager (maria)" in posted[0]
    assert "approved by slack:U0BILLMGR1: checked" in posted[-1]


async def test_the_validator_refuses_the_wrong_role_and_the_requester_without_touching_history(
    dev_server_env: WorkflowEnvironment, ledger: sessionmaker[Session], matrix: ApprovalMatrix
) -> None:
    async with running_worker(
        dev_server_env.client, [ApprovalProbe], approval_activities(ledger, matrix)
    ) as queue:
        handle, pending = await start_probe(dev_server_env, queue)
        events = await settled_history_length(handle)
        refusals = {
            "cli:ben": "ben (analyst) cannot decide this credit_note: it needs billing_manager "
            "or controller",
            "ana.ortiz@example.com": "ana requested this credit_note and cannot decide it "
            "(separation of duties: nobody approves their own request)",
            "cli:mallory": "'cli:mallory' is nobody in config/approval_matrix.yaml",
        }
        for approver, message in refusals.items():
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await decide(handle, pending.request_id, approver)
            assert message in str(refused.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as no_reason:
            await handle.execute_update(
                DECIDE_UPDATE,
                DecisionIn(
                    request_id=pending.request_id, outcome="approve", approver="maria", reason=" "
                ),
            )
        assert "reason: a decision needs a reason" in str(no_reason.value.cause)
        assert await settled_history_length(handle) == events
        assert (await handle.query(ApprovalProbe.approvals))[0].status == "pending"

        decision = await decide(handle, pending.request_id, "maria", outcome="reject")
        assert decision.outcome == "rejected"
        assert (await handle.result()).outcome == "rejected"
    assert audit_actions(ledger, pending.request_id) == ["approval.requested", "approval.rejected"]


async def test_an_sla_timeout_escalates_then_reminds_in_business_days(
    own_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
    matrix: ApprovalMatrix,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="billing_ops.approvals")
    async with running_worker(
        own_env.client, [ApprovalProbe], approval_activities(ledger, matrix)
    ) as queue:
        handle, pending = await start_probe(own_env, queue)
        first_due = pending.due_at
        await skip_past(own_env, first_due)

        async def escalated() -> ApprovalState | None:
            state = (await handle.query(ApprovalProbe.approvals))[0]
            return state if state.escalations == 1 else None

        state = await eventually(escalated)
        assert state.waiting_for == ("controller",)
        assert state.due_at > first_due
        with pytest.raises(WorkflowUpdateFailedError) as too_late:
            await decide(handle, pending.request_id, "maria")
        assert "maria (billing_manager) cannot decide this credit_note: it needs controller" in str(
            too_late.value.cause
        )

        await skip_past(own_env, state.due_at)
        await eventually(lambda: _audited(ledger, pending.request_id, "approval.reminded"))
        decision = await decide(handle, pending.request_id, "chen")
        assert (await handle.result()) == decision

    assert decision.escalations == 1
    assert audit_actions(ledger, pending.request_id) == [
        "approval.requested",
        "approval.escalated",
        "approval.reminded",
        "approval.approved",
    ]
    with ledger() as session:
        row = session.get(ApprovalRequest, pending.request_id)
        assert row is not None and row.required_role == "controller"
    posted = [r.getMessage() for r in caplog.records if r.name == "billing_ops.approvals"]
    assert any("escalated for a decision from controller (chen)" in line for line in posted)
    assert any("still waits for a decision from controller (chen)" in line for line in posted)


async def skip_past(env: WorkflowEnvironment, due: datetime) -> None:
    await env.sleep(due - await env.get_current_time() + timedelta(hours=1))


async def _audited(sessions: sessionmaker[Session], request_id: str, action: str) -> bool:
    return action in audit_actions(sessions, request_id)


async def test_a_withdrawn_request_ends_without_a_decision(
    time_skipping_env: WorkflowEnvironment, ledger: sessionmaker[Session], matrix: ApprovalMatrix
) -> None:
    async with running_worker(
        time_skipping_env.client, [ApprovalProbe], approval_activities(ledger, matrix)
    ) as queue:
        handle, pending = await start_probe(time_skipping_env, queue)
        await handle.signal(ApprovalProbe.withdraw, "cli:ana")
        decision = await handle.result()
    assert (decision.outcome, decision.decided_by, decision.approver) == (
        "withdrawn",
        "cli:ana",
        None,
    )
    assert audit_actions(ledger, pending.request_id) == ["approval.requested", "approval.withdrawn"]
