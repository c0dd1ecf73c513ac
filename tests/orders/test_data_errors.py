"""An order the ledger refuses stops at once: one attempt, the order held as an exception with
the reason and what exists, nothing half-written, and `correct` / `reject` apply.

The fault is made the way it happened in production: storage narrower than what validation
believes (PostgreSQL's VARCHAR limit; on SQLite, which has none, a trigger in its place).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.ledger.models import Order, OrderStatus
from activities.orders.messages import CORRECT_UPDATE, Correction, Rejection
from activities.orders.provisioning import ProvisionAccount, ReceiveOrder, ValidateOrder
from activities.orders.validation import OrderRules, ValidationReport
from tests.orders.harness import eventually, new_customer_order, order_worker
from tests.orders.test_drafted_email import provisioning
from tests.orders.test_workflow import _state_is, counts, start, today_of, unique
from workflows.provisioning import OrderProvisioningWorkflow

NARROW = 12


def narrow_legal_names(sessions: sessionmaker[Session]) -> None:
    """customers.legal_name holds 12 characters from now on."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(f"ALTER TABLE customers ALTER COLUMN legal_name TYPE varchar({NARROW})")
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER narrow_legal_name BEFORE INSERT ON customers "
                    f"WHEN length(NEW.legal_name) > {NARROW} BEGIN "
                    "SELECT RAISE(ABORT, 'value too long for customers.legal_name'); END"
                )
            )


async def attempts(handle: WorkflowHandle[Any, Any], activity: str) -> list[int]:
    """The attempt number of each start of ``activity`` in the workflow's history."""
    scheduled: set[int] = set()
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == activity:
                scheduled.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes_started = event.activity_task_started_event_attributes
            if attributes_started.scheduled_event_id in scheduled:
                found.append(attributes_started.attempt)
    return found


async def test_a_ledger_refusal_holds_the_order_after_one_attempt_with_nothing_written(
    env: WorkflowEnvironment, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    narrow_legal_names(sessions)
    today = await today_of(env)
    corrected = new_customer_order(today, order_id=unique("ORD"))
    corrected["customer"]["legal_name"] = "Globex Incorporated"  # 19 > 12
    rejected = new_customer_order(today, order_id=unique("ORD"))
    rejected["customer"] = {**corrected["customer"], "contact_email": "ap@initech.example"}
    async with order_worker(env.client, sessions, tmp_path / "outbox") as queue:
        handle = await start(env, queue, corrected)
        other = await start(env, queue, rejected)
        view = await eventually(lambda: _state_is(handle, "exception"))
        await eventually(lambda: _state_is(other, "exception"))

        (problem,) = [p for p in view.problems if p.severity == "error"]
        assert (problem.field, problem.rule) == ("order", "ledger_refused")
        assert problem.message.startswith("provisioning stopped: ")
        assert "nothing was written" in problem.message and view.detail == problem.message
        assert await attempts(handle, "orders.provision_account") == [1]
        assert counts(sessions) == {
            "customers": 0,
            "subscriptions": 0,
            "entitlements": 0,
            "invoices": 0,
            "email_outbox": 0,
        }
        with sessions() as session:
            row = session.get(Order, corrected["order_id"])
            assert row is not None and row.status == OrderStatus.EXCEPTION
            assert row.problems is not None
            assert row.problems["problems"][-1]["rule"] == "ledger_refused"

        fixed = await handle.execute_update(
            CORRECT_UPDATE,
            Correction(fields={"customer.legal_name": "Globex Inc"}, by="cli:ben"),
            result_type=ValidationReport,
        )
        assert fixed.ok
        outcome = await handle.result()
        await other.execute_update(
            OrderProvisioningWorkflow.reject,
            Rejection(by="cli:ben", reason="the legal name does not fit; Sales will resend"),
        )
        assert (await other.result()).state == "rejected"
    assert outcome.state == "provisioned"
    assert counts(sessions)["customers"] == 1 and counts(sessions)["invoices"] == 1


def test_a_billing_email_taken_after_validation_is_refused_when_the_customer_is_created(
    sessions: sessionmaker[Session], rules: OrderRules, tmp_path: Path
) -> None:
    """Two new customers with one billing email, both validated before either exists: the
    second is refused in the transaction that would create it, for good, with nothing
    written (the invoice email would otherwise go to the other company's AP team)."""
    acts = provisioning(sessions, rules, tmp_path, None)
    now = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    orders = [new_customer_order(now.date(), order_id=f"ORD-E{n}") for n in (1, 2)]
    orders[1]["customer"]["contact_email"] = "AP@Globex.example"
    reports = []
    for order in orders:
        acts.receive(ReceiveOrder(order_id=order["order_id"], order=order, actor="cli:a", now=now))
        reports.append(acts.validate(ValidateOrder(order=order, today=now.date())))
    assert all(report.ok for report in reports)
    first, second = (report.order for report in reports)
    assert first is not None and second is not None
    acts.provision_account(ProvisionAccount(order=first, workflow_id="order-ORD-E1", now=now))
    with pytest.raises(ApplicationError) as refused:
        acts.provision_account(ProvisionAccount(order=second, workflow_id="order-ORD-E2", now=now))
    assert refused.value.non_retryable
    assert "AP@Globex.example is already the billing email of CUS-000001" in refused.value.message
    assert counts(sessions)["customers"] == 1 and counts(sessions)["subscriptions"] == 1
