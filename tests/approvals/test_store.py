"""Approval rows: each change audited once, repeats harmless, conflicting decisions refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.approvals import store
from activities.ledger import audit
from activities.ledger.errors import LedgerError
from activities.ledger.models import ApprovalStatus
from tests.conftest import NOW
from tests.ledger import factories

APPROVED, REJECTED = ApprovalStatus.APPROVED, ApprovalStatus.REJECTED
NEW = store.NewRequest(
    request_id="APR-1",
    workflow_id="dispute-DSP-1",
    action="refund",
    summary="refund duplicate charge ch_2",
    requested_by="cli:ana",
    required_role="analyst",
    customer_id="CUS-1",
    amount=Decimal("120.00"),
    currency="USD",
    requested_at=NOW,
    due_at=NOW + timedelta(days=1),
)


def test_every_step_is_idempotent_and_audited_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        factories.customer(session, "CUS-1")
    steps: list[Callable[[Session], object]] = [
        lambda session: store.open_request(session, NEW),
        lambda session: store.pass_sla(
            session, "APR-1", role="billing_manager", due_at=NOW + timedelta(days=3), at=NOW
        ),
        lambda session: store.close_request(
            session,
            "APR-1",
            status=ApprovalStatus.APPROVED,
            decided_by="cli:maria",
            reason="duplicate confirmed",
            at=NOW + timedelta(days=2),
        ),
    ]
    for step in steps:
        for _ in range(2):  # an activity retried after its first attempt committed
            with sessions.begin() as session:
                step(session)
    with sessions() as session:
        assert [e.action for e in audit.history(session, "approval_request", "APR-1")] == [
            "approval.requested",
            "approval.escalated",
            "approval.approved",
        ]
        assert store.pending(session) == []


def test_a_second_different_decision_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        factories.customer(session, "CUS-1")
        store.open_request(session, NEW)
        assert [r.id for r in store.pending(session)] == ["APR-1"]
        store.close_request(
            session, "APR-1", status=REJECTED, decided_by="cli:ben", reason="no", at=NOW
        )
    with sessions.begin() as session, pytest.raises(LedgerError, match="rejected by cli:ben"):
        store.close_request(
            session, "APR-1", status=APPROVED, decided_by="cli:maria", reason="y", at=NOW
        )
    with sessions.begin() as session, pytest.raises(LedgerError, match="already rejected"):
        store.pass_sla(session, "APR-1", role="controller", due_at=NOW, at=NOW)
