"""Approval requests in the ledger: the row people list, and every change to it audited.

The decision itself travels as a Temporal update to the waiting workflow;
these rows let people find what waits for them (`billing-ops approvals
list`, later Slack's App Home) and keep the audit trail of who asked, who
was reminded, who decided and why. Every function is safe to repeat: a
retried activity finds its work done and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.ledger import audit
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.models import ApprovalRequest, ApprovalStatus

SUBJECT = "approval_request"


@dataclass(frozen=True, slots=True)
class NewRequest:
    request_id: str
    workflow_id: str
    action: str
    summary: str
    requested_by: str
    required_role: str
    customer_id: str | None
    amount: Decimal | None
    currency: str | None
    requested_at: datetime
    due_at: datetime
    #: The exact text the approved step sends (a customer email), shown to the approver.
    preview: str | None = None


def open_request(session: Session, new: NewRequest) -> ApprovalRequest:
    """Create the pending request; the same id again returns the row already there."""
    existing = session.get(ApprovalRequest, new.request_id)
    if existing is not None:
        if (existing.workflow_id, existing.action) != (new.workflow_id, new.action):
            raise LedgerError(
                f"request_id: {new.request_id} already belongs to {existing.action} of "
                f"{existing.workflow_id}"
            )
        return existing
    row = ApprovalRequest(
        id=new.request_id,
        workflow_id=new.workflow_id,
        action=new.action,
        customer_id=new.customer_id,
        currency=new.currency,
        amount=new.amount,
        summary=new.summary,
        preview=new.preview,
        requested_by=new.requested_by,
        required_role=new.required_role,
        status=ApprovalStatus.PENDING,
        requested_at=new.requested_at,
        due_at=new.due_at,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        at=new.requested_at,
        actor=f"workflow:{new.workflow_id}",
        action="approval.requested",
        subject_type=SUBJECT,
        subject_id=row.id,
        after={
            "action": row.action,
            "customer_id": row.customer_id,
            "amount": row.amount,
            "currency": row.currency,
            "summary": row.summary,
            "requested_by": row.requested_by,
            "required_role": row.required_role,
            "due_at": row.due_at,
        },
    )
    return row


def get_request(session: Session, request_id: str) -> ApprovalRequest:
    row = session.get(ApprovalRequest, request_id)
    if row is None:
        raise NotFound(f"approval request {request_id!r} not found")
    return row


def pass_sla(
    session: Session, request_id: str, *, role: str, due_at: datetime, at: datetime
) -> ApprovalRequest:
    """The SLA passed: the request now waits for ``role`` until ``due_at``.

    ``role`` is the next role up (an escalation) or the same one (a reminder).
    Repeating the same call changes nothing.
    """
    row = get_request(session, request_id)
    if row.status != ApprovalStatus.PENDING:
        raise LedgerError(f"approval request {request_id}: already {row.status.value}")
    if (row.required_role, row.due_at) == (role, due_at):
        return row
    before = {"required_role": row.required_role, "due_at": row.due_at}
    escalated = role != row.required_role
    row.required_role, row.due_at = role, due_at
    audit.record(
        session,
        at=at,
        actor=f"workflow:{row.workflow_id}",
        action="approval.escalated" if escalated else "approval.reminded",
        subject_type=SUBJECT,
        subject_id=row.id,
        before=before,
        after={"required_role": role, "due_at": due_at},
        reason="SLA passed without a decision",
    )
    return row


def close_request(
    session: Session,
    request_id: str,
    *,
    status: ApprovalStatus,
    decided_by: str,
    reason: str,
    at: datetime,
) -> ApprovalRequest:
    """Record the decision (or the withdrawal); recording the same one again changes nothing."""
    if status == ApprovalStatus.PENDING:
        raise LedgerError("status: a decision cannot leave the request pending")
    row = get_request(session, request_id)
    if row.status == status and row.decided_by == decided_by:
        return row
    if row.status != ApprovalStatus.PENDING:
        raise LedgerError(
            f"approval request {request_id}: already {row.status.value} by {row.decided_by}"
        )
    row.status = status
    row.decided_by = decided_by
    row.decision_reason = reason
    row.decided_at = at
    audit.record(
        session,
        at=at,
        actor=decided_by,
        action=f"approval.{status.value}",
        subject_type=SUBJECT,
        subject_id=row.id,
        before={"status": ApprovalStatus.PENDING},
        after={
            "status": status,
            "action": row.action,
            "amount": row.amount,
            "currency": row.currency,
            "required_role": row.required_role,
        },
        reason=reason,
    )
    return row


def pending(session: Session) -> Sequence[ApprovalRequest]:
    """Pending requests, oldest first."""
    query = select(ApprovalRequest).where(ApprovalRequest.status == ApprovalStatus.PENDING)
    return session.scalars(query.order_by(ApprovalRequest.requested_at, ApprovalRequest.id)).all()
