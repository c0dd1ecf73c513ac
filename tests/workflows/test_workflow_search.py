"""Orders, disputes and bill runs say what they are in the Temporal UI (issue 18, item 14):
started by their real starters on a dev server with the search attributes registered, an
analyst's list query finds exactly the workflow it should, at the stage it is in, and the
history the upserts left replays on today's registry. (The close: tests/close.)"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.disputes.activities import DisputeIntake
from activities.disputes.triage import Triage
from activities.ledger.db import transaction
from activities.orders.intake import OrderDocument
from activities.orders.messages import workflow_id as order_workflow_id
from activities.recurring.model import workflow_id as bill_run_workflow_id
from cli.orders import submit_documents
from tests.disputes.harness import open_account, product_worker
from tests.orders.harness import eventually, new_customer_order, order_worker
from tests.recurring.factories import subscription
from tests.visibility import listed, replays
from workflows.bill_run import start_bill_run
from workflows.disputes import DisputeState, DisputeWorkflow, start_dispute
from workflows.disputes import workflow_id as dispute_workflow_id
from workflows.provisioning import OrderProvisioningWorkflow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6].upper()}"


async def test_orders_are_listed_by_customer_stage_currency_and_amount(
    dev_server_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    client = dev_server_env.client
    today = datetime.now(UTC).date()
    good = new_customer_order(today, order_id=unique("ORD"))
    held = new_customer_order(today, order_id=unique("ORD"), plan="platinum")
    async with order_worker(client, sqlite_sessions, tmp_path / "outbox") as queue:
        await submit_documents(
            client, [OrderDocument(raw=good), OrderDocument(raw=held)], "cli:ana", queue
        )
        outcome = await client.get_workflow_handle_for(
            OrderProvisioningWorkflow.run, order_workflow_id(good["order_id"])
        ).result()
        assert outcome.state == "provisioned" and outcome.invoice is not None, outcome
        cents = int(outcome.invoice.total * 100)
        provisioned = await listed(
            client,
            f"CustomerId = '{outcome.customer_id}' AND Stage = 'provisioned' "
            f"AND Currency = 'USD' AND AmountMinor = {cents}",
            {order_workflow_id(good["order_id"])},
        )
        exceptions = await listed(
            client,
            "WorkflowType = 'OrderProvisioning' AND Stage = 'exception'",
            {order_workflow_id(held["order_id"])},
        )
        by_id = await listed(
            client, f"OrderId = '{held['order_id']}'", {order_workflow_id(held["order_id"])}
        )
        description = await client.get_workflow_handle(
            order_workflow_id(good["order_id"])
        ).describe()
        summary = await description.static_summary()
        good_replays = await replays(client, order_workflow_id(good["order_id"]))
        await client.get_workflow_handle(order_workflow_id(held["order_id"])).terminate("test over")

    assert outcome.invoice.total > Decimal(0)
    assert provisioned == {order_workflow_id(good["order_id"])}
    assert exceptions == {order_workflow_id(held["order_id"])}
    assert by_id == {order_workflow_id(held["order_id"])}
    assert summary == f"Order {good['order_id']}: provisioning"
    assert good_replays


async def test_disputes_are_listed_by_customer_stage_and_proposed_amount(
    dev_server_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    client = dev_server_env.client
    account = open_account(sqlite_sessions, datetime.now(UTC))
    other = open_account(sqlite_sessions, datetime.now(UTC))
    async with product_worker(client, sqlite_sessions, tmp_path) as queue:
        ids = []
        for which, triage in ((account, Triage(category="seat_count", seats=8)), (other, None)):
            intake = DisputeIntake(
                dispute_id=unique("DSP"),
                customer_id=which.customer_id,
                invoices=[which.invoice],
                claim="We only had 8 seats in that month, not 10.",
                opened_by="cli:ana",
                triage=triage,
            )
            await start_dispute(client, intake, queue)
            ids.append(dispute_workflow_id(intake.dispute_id))
        proposed, untriaged = ids
        handle = client.get_workflow_handle(proposed)

        async def awaiting_approval() -> DisputeState | None:
            state: DisputeState = await handle.query(DisputeWorkflow.status)
            return state if state.stage == "awaiting_approval" else None

        state: DisputeState = await eventually(awaiting_approval)
        assert state.proposal is not None
        cents = int(state.proposal.amount * 100)
        over = await listed(
            client,
            f"CustomerId = '{account.customer_id}' AND Stage = 'awaiting_approval' "
            f"AND Currency = 'USD' AND AmountMinor = {cents}",
            {proposed},
        )
        waiting = await listed(
            client, "WorkflowType = 'Dispute' AND Stage = 'awaiting_triage'", {untriaged}
        )
        description = await handle.describe()
        for wid in ids:
            await client.get_workflow_handle(wid).terminate("test over")
        proposed_replays = await replays(client, proposed)

    assert cents > 0
    assert over == {proposed}
    assert waiting == {untriaged}
    attributes = {p.key.name: p.value for p in description.typed_search_attributes}
    assert attributes["DisputeId"] == proposed.removeprefix("dispute-")
    assert await description.static_summary() == (
        f"Dispute {proposed.removeprefix('dispute-')} of {account.customer_id}"
    )
    assert proposed_replays


async def test_a_bill_run_is_listed_by_date_stage_and_invoices_issued(
    dev_server_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    client = dev_server_env.client
    run_date = date(2026, 12, 1)
    with transaction(sqlite_sessions) as session:
        for n in range(3):
            subscription(
                session,
                f"SUB-{n:04d}",
                anchor=datetime(2026, 1, 1, tzinfo=UTC),
                now=datetime(2026, 11, 20, tzinfo=UTC),
            )
    async with product_worker(client, sqlite_sessions, tmp_path) as queue:
        handle = await start_bill_run(client, run_date, queue)
        report = await handle.result()
        done = await listed(
            client,
            "RunDate = '2026-12-01' AND Stage = 'done' AND InvoicesIssued = 3",
            {bill_run_workflow_id(run_date)},
        )
        none_issued = await listed(client, "WorkflowType = 'BillRun' AND InvoicesIssued = 0", set())
        summary = await (await handle.describe()).static_summary()
        run_replays = await replays(client, handle.id)

    assert report.invoiced == 3, report.text
    assert done == {bill_run_workflow_id(run_date)}
    assert none_issued == set()
    assert summary == "Bill run of 2026-12-01"
    assert run_replays
