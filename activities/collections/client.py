"""Telling an account's cadence that something changed, from anywhere in the product.

The payment activity, the CLI and the Slack bot call these after the ledger
change is committed. An account without a running cadence is not an error:
the daily sweep starts one when something becomes due.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributePair
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.collections.messages import (
    ACCOUNT_CHANGED,
    PAYMENT_RECEIVED,
    STATUS_QUERY,
    WORKFLOW_TYPE,
    AccountChanged,
    CadenceStatus,
    CollectionsStart,
    PaymentReceived,
    workflow_id,
)
from activities.search_attributes import CUSTOMER_ID, start_attributes


async def _signal(client: Client, customer_id: str, name: str, payload: object) -> bool:
    """Signal the running cadence; ``False`` when the account has none."""
    try:
        await client.get_workflow_handle(workflow_id(customer_id)).signal(name, payload)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def notify_payment(client: Client, customer_id: str, payment: PaymentReceived) -> bool:
    """After a payment is recorded: the cadence re-reads the account (and stops if paid up)."""
    return await _signal(client, customer_id, PAYMENT_RECEIVED, payment)


async def notify_account_changed(client: Client, customer_id: str, reason: str) -> bool:
    """After a promise, dispute or override change: the cadence re-reads the account."""
    return await _signal(client, customer_id, ACCOUNT_CHANGED, AccountChanged(reason=reason))


async def start_or_nudge(client: Client, customer_id: str, task_queue: str, reason: str) -> str:
    """Signal-with-start: the account's cadence starts if it is not running; its workflow id.

    Every starter (sweep, orders, disputes, bill run) comes through here, so a cadence
    always starts saying what it is: a summary and details for the Temporal UI, and its
    customer as a search attribute where the namespace knows them. Sending it twice is
    harmless: the cadence re-reads the ledger on each signal. Starters at the same instant
    can be answered "already started" by the one whose start lost (the time-skipping
    server did so in CI): the cadence the other started is then signalled, so every
    nudge reaches it (tests/workflows/test_collections_once.py)."""
    try:
        return await _start(client, customer_id, task_queue, reason)
    except WorkflowAlreadyStartedError:
        if not await _signal(client, customer_id, ACCOUNT_CHANGED, AccountChanged(reason=reason)):
            raise
        return workflow_id(customer_id)


async def _start(client: Client, customer_id: str, task_queue: str, reason: str) -> str:
    handle = await client.start_workflow(
        WORKFLOW_TYPE,
        CollectionsStart(customer_id=customer_id),
        id=workflow_id(customer_id),
        task_queue=task_queue,
        start_signal=ACCOUNT_CHANGED,
        start_signal_args=[AccountChanged(reason=reason)],
        search_attributes=await start_attributes(
            client, SearchAttributePair(CUSTOMER_ID, customer_id)
        ),
        static_summary=f"Collections cadence of {customer_id}",
        static_details=(
            f"Dunning of customer {customer_id} by its cadence (config/cadences.yaml). "
            f"Status: `billing-ops collections status {customer_id}` or the `status` "
            "query; approvals it waits for: the `approvals` query. Filter by CustomerId, "
            "CollectionsStage, Currency, AmountOverdueMinor (minor units: cents)."
        ),
    )
    return handle.id


async def cadence_status(client: Client, customer_id: str) -> CadenceStatus | None:
    """The cadence's status query, or ``None`` when the account has no cadence."""
    try:
        status: CadenceStatus = await client.get_workflow_handle(workflow_id(customer_id)).query(
            STATUS_QUERY, result_type=CadenceStatus
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return status
