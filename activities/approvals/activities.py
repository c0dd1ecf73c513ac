"""The approval step's side effects as Temporal activities: open, pass the SLA, close, notify.

Workflows call these through ``workflows.approval``; each takes one pydantic
model and the workflow's ``now`` (activities never read the clock, so a
time-skipping test and a replay see the same times). Each is idempotent by
the request id, so a retry changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.approvals import people, store
from activities.approvals.business_days import add_business_days
from activities.approvals.matrix import (
    ApprovalMatrix,
    ApprovalRoute,
    MatrixError,
    Person,
    describe_amount,
)
from activities.approvals.notifier import ApprovalMessage, NoticeKind, Notifier
from activities.ledger.db import transaction
from activities.ledger.models import ApprovalStatus

Outcome = Literal["approved", "rejected", "withdrawn"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class OpenApproval(_Model):
    request_id: str
    workflow_id: str
    action: str
    summary: str
    requested_by: str
    customer_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    preview: str | None = None
    at: datetime


class ApprovalOpened(_Model):
    """The matrix's answer, kept by the workflow: who may decide, and by when."""

    route: ApprovalRoute
    sla_business_days: int
    due_at: datetime


class PassSla(_Model):
    request_id: str
    role: str
    sla_business_days: int
    at: datetime


class CloseApproval(_Model):
    request_id: str
    outcome: Outcome
    decided_by: str
    reason: str
    at: datetime


class NotifyApprovers(_Model):
    request_id: str
    kind: NoticeKind


class ApprovalActivities:
    """Bound to the ledger, the matrix loaded at worker start, and the notification channel."""

    def __init__(
        self, sessions: sessionmaker[Session], matrix: ApprovalMatrix, notifier: Notifier
    ) -> None:
        self.sessions = sessions
        self.matrix = matrix
        self.notifier = notifier

    def _due(self, at: datetime, days: int) -> datetime:
        return add_business_days(at, days, self.matrix.holidays, self.matrix.timezone)

    @activity.defn(name="approvals.open")
    def open_approval(self, request: OpenApproval) -> ApprovalOpened:
        """Find the band and role in the matrix and record the pending request.

        The requester must be a person of the directory or a system actor: a
        name nobody answers to could approve its own request under another."""
        if not people.is_system(request.requested_by):
            try:
                self.matrix.resolve(request.requested_by)
            except people.IdentityRefused as refused:
                raise MatrixError(f"requested_by: {refused}") from None
        requirement = self.matrix.required_role(request.action, request.amount, request.currency)
        due_at = self._due(request.at, requirement.sla_business_days)
        with transaction(self.sessions) as session:
            store.open_request(
                session,
                store.NewRequest(
                    request_id=request.request_id,
                    workflow_id=request.workflow_id,
                    action=request.action,
                    summary=request.summary,
                    requested_by=request.requested_by,
                    required_role=requirement.role,
                    customer_id=request.customer_id,
                    amount=request.amount,
                    currency=request.currency,
                    preview=request.preview,
                    requested_at=request.at,
                    due_at=due_at,
                ),
            )
        return ApprovalOpened(
            route=self.matrix.route(requirement, request.summary, request.requested_by),
            sla_business_days=requirement.sla_business_days,
            due_at=due_at,
        )

    @activity.defn(name="approvals.pass_sla")
    def pass_sla(self, request: PassSla) -> datetime:
        """Hand the request to ``role`` (or remind the same role) with a new due time."""
        due_at = self._due(request.at, request.sla_business_days)
        with transaction(self.sessions) as session:
            store.pass_sla(
                session, request.request_id, role=request.role, due_at=due_at, at=request.at
            )
        return due_at

    @activity.defn(name="approvals.close")
    def close_approval(self, request: CloseApproval) -> None:
        """Record the decision or the withdrawal, with who and why, in the row and the audit log."""
        with transaction(self.sessions) as session:
            store.close_request(
                session,
                request.request_id,
                status=ApprovalStatus(request.outcome),
                decided_by=request.decided_by,
                reason=request.reason,
                at=request.at,
            )

    @activity.defn(name="approvals.notify")
    def notify_approvers(self, request: NotifyApprovers) -> None:
        """Post the request's news to the people who must act (or who asked, once decided)."""
        with transaction(self.sessions) as session:
            row = store.get_request(session, request.request_id)
            decided = request.kind == "decided"
            recipients: tuple[Person, ...]
            if decided:
                requester = self.matrix.person(row.requested_by)
                recipients = (requester,) if requester else ()
            else:
                recipients = self.matrix.holders(row.required_role)
            message = ApprovalMessage(
                request_id=row.id,
                kind=request.kind,
                action=row.action,
                summary=row.summary,
                amount=describe_amount(row.amount, row.currency) if row.amount is not None else "",
                preview=row.preview,
                customer_id=row.customer_id,
                requested_by=row.requested_by,
                role=row.required_role,
                recipients=recipients,
                due_at=None if decided else row.due_at,
                outcome=row.status.value if decided else None,
                decided_by=row.decided_by,
                reason=row.decision_reason,
            )
        self.notifier.post(message)

    def all(self) -> list[Callable[..., object]]:
        """Every activity of the step, for the worker's registry."""
        return [self.open_approval, self.pass_sla, self.close_approval, self.notify_approvers]
