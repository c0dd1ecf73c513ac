"""Promises to pay in the ledger: validated, idempotent, one open at a time, settled once."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.collections.store import record_promise, settle_promise
from activities.ledger.audit import history
from activities.ledger.errors import LedgerError
from activities.ledger.models import PromiseStatus
from activities.ledger.payments import PaymentIn, record_payment
from tests.collections.factories import account, invoice
from tests.conftest import NOW


def promise(sessions: sessionmaker[Session], customer_id: str, **change: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "customer_id": customer_id,
        "amount": Decimal("500.00"),
        "currency": "USD",
        "promised_date": NOW.date() + timedelta(days=7),
        "grace_days": 3,
        "actor": "slack:U0ANALYST",
        "now": NOW,
        "idempotency_key": "slack-action-1",
    }
    values.update(change)
    with sessions.begin() as session:
        return record_promise(session, **values)  # type: ignore[arg-type]


def test_recording_twice_with_one_key_records_once(sqlite_sessions: sessionmaker[Session]) -> None:
    customer_id = account(sqlite_sessions, NOW)
    first = promise(sqlite_sessions, customer_id)
    again = promise(sqlite_sessions, customer_id)
    assert first.id == again.id
    with pytest.raises(LedgerError, match="already has an open promise"):
        promise(sqlite_sessions, customer_id, idempotency_key="slack-action-2")
    with sqlite_sessions() as session:
        assert [e.action for e in history(session, "customer", customer_id)] == ["promise.recorded"]


def test_one_key_with_a_different_promise_is_refused(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    """The key names one promise: another amount or date under it is not answered with the
    first promise as if it had been recorded."""
    customer_id = account(sqlite_sessions, NOW)
    promise(sqlite_sessions, customer_id)
    with pytest.raises(LedgerError, match="idempotency_key: 'slack-action-1' already recorded"):
        promise(sqlite_sessions, customer_id, amount=Decimal("900.00"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": Decimal("0")}, "amount: must be a positive USD amount"),
        ({"amount": Decimal("1.005")}, "amount: must be a positive USD amount"),
        ({"currency": "EUR"}, "currency: .* is billed in USD"),
        ({"promised_date": date(2020, 1, 1)}, "promised_date: 2020-01-01 is in the past"),
        ({"promised_date": NOW.date() + timedelta(days=400)}, "more than 180 days away"),
        ({"grace_days": 45}, "grace_days: must be between 0 and 30"),
    ],
)
def test_bad_promises_are_refused_naming_the_field(
    sqlite_sessions: sessionmaker[Session], change: dict[str, object], message: str
) -> None:
    customer_id = account(sqlite_sessions, NOW)
    with pytest.raises(LedgerError, match=message):
        promise(sqlite_sessions, customer_id, **change)


def test_settled_by_what_was_paid_before_the_deadline(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    customer_id = account(sqlite_sessions, NOW)
    invoice(sqlite_sessions, customer_id, "2000.00", NOW.date() - timedelta(days=10))
    made = promise(sqlite_sessions, customer_id)
    deadline = NOW + timedelta(days=11)
    with sqlite_sessions.begin() as session:
        record_payment(
            session,
            PaymentIn(customer_id, "p-1", Decimal("300.00"), "USD", NOW + timedelta(days=2)),
            actor="test",
        )
        status = settle_promise(
            session, made.id, deadline=deadline, actor="workflow:w", now=deadline
        )
    assert status == PromiseStatus.BROKEN  # 300 of 500 promised, 1,700 still open

    second = promise(sqlite_sessions, customer_id, idempotency_key="slack-action-3")
    with sqlite_sessions.begin() as session:
        record_payment(
            session,
            PaymentIn(customer_id, "p-2", Decimal("500.00"), "USD", NOW + timedelta(days=3)),
            actor="test",
        )
        kept = settle_promise(
            session, second.id, deadline=deadline, actor="workflow:w", now=deadline
        )
        again = settle_promise(
            session, second.id, deadline=deadline, actor="workflow:w", now=deadline
        )
    assert kept == again == PromiseStatus.KEPT
