"""An order the ledger refuses stops at once: one attempt, the order held as an exception with
the reason and what exists, nothing half-written, and `correct` / `reject` apply.

The fault is made the way it happened in production: storage narrower than what validation
believes (PostgreSQL's VARCHAR limit; on SQLite, which has none, a trigger in its place).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.ledger.models import Order, OrderStatus
from activities.orders.messages import CORRECT_UPDATE, Correction, Rejection
from activities.orders.validation import ValidationReport
from tests.orders.harness import eventually, new_customer_order, order_worker
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
