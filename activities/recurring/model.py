"""What the bill-run workflow and its activities pass each other: small pydantic models."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

WORKFLOW_TYPE = "BillRun"
SCHEDULE_ID = "bill-run-daily"


def workflow_id(run_date: date) -> str:
    return f"bill-run-{run_date.isoformat()}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class BillRunStart(_Model):
    """``run_date`` defaults to the workflow's clock (the Schedule's start passes none)."""

    run_date: date | None = None


class DueRequest(_Model):
    run_date: date
    after: str = ""


class DueBatch(_Model):
    subscription_ids: list[str]


class BatchRequest(_Model):
    run_date: date
    subscription_ids: list[str]
    workflow_id: str
    now: datetime


class IssuedInvoice(_Model):
    subscription_id: str
    customer_id: str
    number: str
    currency: str
    total: Decimal
    amount_due: Decimal
    due_date: date


class Skipped(_Model):
    subscription_id: str
    reason: str


class BatchResult(_Model):
    issued: list[IssuedInvoice] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    nothing: int = 0


class DeliverRequest(_Model):
    invoices: list[IssuedInvoice]
    workflow_id: str
    now: datetime


class SummaryRequest(_Model):
    run_date: date
    workflow_id: str
    failures: list[str] = Field(default_factory=list)
    now: datetime


class BillRunReport(_Model):
    run_date: date
    invoiced: int
    credited: int
    nothing: int
    skipped: list[Skipped]
    totals: dict[str, Decimal]
    failures: list[str]
    text: str
    slack_ts: str | None = None


class BillRunProgress(_Model):
    run_date: date | None
    state: str
    batches: int
    issued: int
    skipped: int
    failures: int


CHANGE_WORKFLOW_TYPE = "SubscriptionChange"


def change_workflow_id(idempotency_key: str) -> str:
    """One approval workflow per previewed change: a second Confirm finds it running."""
    return f"subscription-change-{idempotency_key}"


class ChangeForApproval(_Model):
    """A previewed change whose credit needs the approval step before it is applied.

    ``change`` is a :class:`~activities.recurring.changes.ChangeRequest` as JSON (kept as a
    plain dict so this module stays free of the ledger's imports). A change confirmed in
    Slack carries its message, so the workflow can show there how it was decided.
    """

    change: dict[str, object]
    customer_id: str
    credit: Decimal
    currency: str
    summary: str
    #: The Slack message of the preview, updated in place once the change is decided.
    slack_channel: str | None = None
    slack_ts: str | None = None
