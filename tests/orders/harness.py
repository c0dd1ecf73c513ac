"""A worker for the order workflow (its activities and the approval step's) on a test
server, and orders dated from the server's today."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.approvals.activities import ApprovalActivities
from activities.approvals.matrix import load_matrix
from activities.approvals.notifier import LogNotifier
from activities.billing.proration import shift_months
from activities.drafting.compose import Drafter
from activities.orders.entitlements import LocalEntitlements
from activities.orders.provisioning import ProvisioningActivities
from activities.orders.store import midnight
from activities.orders.validation import load_order_rules
from activities.outbox import FileTransport, Outbox
from activities.paths import REPO_ROOT
from workflows.provisioning import OrderProvisioningWorkflow

EXAMPLES = Path(__file__).with_name("examples")
COLLECTIONS_QUEUE = "collections-not-polled"


@asynccontextmanager
async def order_worker(
    client: Client, sessions: sessionmaker[Session], outbox_dir: Path, task_queue: str | None = None
) -> AsyncIterator[str]:
    """A worker with the order workflow, its activities and the approval activities.

    Collections cadences are handed to a queue no worker polls: the tests see the
    cadence started with its signal, and the cadence itself stays out of the way.
    """
    queue = task_queue or f"orders-{uuid.uuid4().hex[:8]}"
    outbox = Outbox(sessions, FileTransport(outbox_dir), "billing@example.com")
    provisioning = ProvisioningActivities(
        sessions,
        load_order_rules(),
        LocalEntitlements(sessions),
        outbox,
        Drafter(sessions),
        collections_queue=COLLECTIONS_QUEUE,
    )
    approvals = ApprovalActivities(sessions, load_matrix(REPO_ROOT / "config"), LogNotifier())
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[OrderProvisioningWorkflow],
            activities=[*provisioning.all(), *approvals.all()],
            activity_executor=executor,
        ):
            yield queue


def anchor_for(today: date) -> date:
    """Bill from the first of next month (a prorated first period), or today on the 1st."""
    return today if today.day == 1 else shift_months(midnight(today.replace(day=1)), 1).date()


def new_customer_order(today: date, order_id: str = "ORD-1001", **changes: Any) -> dict[str, Any]:
    """Globex Inc, New York (sales tax 4 %): business, 20 seats at 10 % off, monthly, a year;
    its own opportunity ``006-<order id>``."""
    order: dict[str, Any] = json.loads(
        (EXAMPLES / "new_customer.json").read_text(), parse_float=Decimal
    )
    order.update(
        order_id=order_id,
        opportunity_id=f"006-{order_id}",  # one deal per order (one opportunity, one order)
        customer={
            "legal_name": "Globex Inc",
            "contact_email": "ap@globex.example",
            "timezone": "America/New_York",
        },
        currency="USD",
        unit_price="25.00",
        term_start=str(today),
        term_end=str(shift_months(midnight(today), 12).date()),
        billing_anchor=str(anchor_for(today)),
        purchase_order={
            "number": "PO-77",
            "expires_on": str(today.replace(year=today.year + 2)),
            "amount_cap": "20000.00",
        },
        billing_address={
            "line1": "1 Main St",
            "city": "New York",
            "region": "US-NY",
            "postal_code": "10001",
            "country": "US",
        },
        tax_ids=[{"scheme": "us_ein", "value": "91-1144442"}],
    )
    order.update(copy.deepcopy(changes))
    return order


async def eventually(check: Callable[[], Awaitable[Any]]) -> Any:
    """Poll ``check`` until it returns something truthy (the workflow runs in another task)."""
    for _ in range(200):
        if result := await check():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met within 10 s")
