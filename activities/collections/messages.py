"""What the rest of the product sends to a collections cadence and reads back from it.

One cadence workflow runs per customer account, with the id
``collections-<customer_id>``. Anything that changes what an account owes
signals it: the payment activity sends :data:`PAYMENT_RECEIVED`; promises,
disputes, overrides and the daily sweep send :data:`ACCOUNT_CHANGED`. The
workflow then reloads the account from the ledger, so a signal carries
context for the history, not the truth.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from activities.collections.plan import Progress

WORKFLOW_TYPE = "Collections"
PAYMENT_RECEIVED = "payment_received"
ACCOUNT_CHANGED = "account_changed"
STATUS_QUERY = "status"


def workflow_id(customer_id: str) -> str:
    return f"collections-{customer_id}"


class CollectionsStart(BaseModel):
    """The workflow's single input; ``progress`` is carried over by continue-as-new."""

    customer_id: str
    progress: Progress | None = None
    emails_sent: int = 0
    #: Continue-as-new once the history holds this many events (tests lower it).
    history_limit: int = Field(default=5000, ge=100)


class PaymentReceived(BaseModel):
    """Signal payload: a payment was recorded for the account (any amount, any invoice)."""

    processor_id: str
    amount: Decimal
    currency: str
    received_at: datetime


class AccountChanged(BaseModel):
    """Signal payload: something else changed (promise, dispute, override, daily sweep)."""

    reason: str


State = Literal[
    "active", "waiting_for_approval", "promise_to_pay", "paused", "do_not_dun", "finished"
]


class CadenceStatus(BaseModel):
    """Query result: where the cadence is and what it will do next, and when."""

    customer_id: str
    state: State = "active"
    cadence: str | None = None
    cycle: date | None = None
    stage: str = "not_started"
    next_action: str | None = None
    next_action_due: datetime | None = None
    detail: str | None = None
    emails_sent: int = 0


class CollectionsOutcome(BaseModel):
    customer_id: str
    reason: str
    stage: str
    emails_sent: int
