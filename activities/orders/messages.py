"""What the rest of the product sends to an order's provisioning workflow and reads back.

One workflow runs per order, with the id ``order-<order id>``. The CLI (and
later Slack) starts it with :class:`OrderStart`, corrects or rejects an order
held as an exception through the :data:`CORRECT_UPDATE` and
:data:`REJECT_UPDATE` updates, and reads :class:`OrderView` from the
:data:`STATUS_QUERY` query. A price exception is decided through the approval
step's own update (``approvals.decide``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from activities.orders.pricing import PriceException
from activities.orders.validation import Problem

WORKFLOW_TYPE = "OrderProvisioning"
CORRECT_UPDATE = "orders.correct"
REJECT_UPDATE = "orders.reject"
STATUS_QUERY = "orders.status"

State = Literal[
    "received",
    "exception",
    "pending_approval",
    "provisioning",
    "provisioned",
    "rejected",
]


def workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class OrderStart(_Message):
    """The workflow's input: the order as read from the file (decimals as strings)."""

    order_id: str
    order: dict[str, Any]
    submitted_by: str = Field(description="cli:<user>, slack:<user>: may not approve its prices")


class Correction(_Message):
    """Update: fields to replace, by path (``billing_address.postal_code``, ``addons[0].code``)."""

    fields: dict[str, Any]
    by: str
    reason: str = ""


class Rejection(_Message):
    """Update: the order will not be provisioned; Sales must send a new one."""

    by: str
    reason: str


class InvoiceFacts(_Message):
    number: str
    currency: str
    total: Decimal
    amount_due: Decimal
    issue_date: date
    due_date: date
    #: ``total`` in the currency's minor unit (cents): the order's search attribute.
    total_minor: int | None = None


class OrderView(_Message):
    """Query result: where the order is, and what stops it."""

    order_id: str
    state: State = "received"
    problems: list[Problem] = Field(default_factory=list)
    price_exceptions: list[PriceException] = Field(default_factory=list)
    customer_id: str | None = None
    subscription_id: str | None = None
    invoice: InvoiceFacts | None = None
    detail: str | None = None


class OrderOutcome(_Message):
    """How the workflow ended."""

    order_id: str
    state: State
    customer_id: str | None = None
    subscription_id: str | None = None
    invoice: InvoiceFacts | None = None
    already_provisioned: bool = False
    reason: str | None = None
