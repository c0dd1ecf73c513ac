"""A payment that lands while a dunning email is being drafted: the email that goes out states
the balance as it is when the email is committed to go, or does not go at all.

The model call is the slow part of a send (seconds, against the scripted OpenAI server here);
the customer's payment arrives during it, recorded by the real ledger function from the
server's own thread, as the Stripe webhook or the cash import would record it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.collections.activities import EmailStep, PreparedStep
from activities.ledger.payments import PaymentIn, record_payment
from tests.collections.factories import account, invoice
from tests.collections.test_drafted_emails import collections
from tests.drafting.fake_openai import FakeOpenAI, Reply, reference_reply, serving
from tests.workflows.harness import sent_emails

NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York
DUE = NOW.date() - timedelta(days=14)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI()) as fake:
        yield fake


def step(customer_id: str) -> EmailStep:
    return EmailStep(
        customer_id=customer_id,
        workflow_id=f"collections-{customer_id}",
        cycle=DUE.isoformat(),
        step="reminder_2",
        template="reminder",
        now=NOW,
    )


def paying_while_drafting(sessions: sessionmaker[Session], customer_id: str, amount: str) -> Any:
    """A model whose first answer takes as long as the customer needs to pay ``amount``."""
    paid: list[str] = []

    def respond(request: dict[str, Any]) -> Reply:
        if not paid:
            with sessions.begin() as session:
                record_payment(
                    session,
                    PaymentIn(
                        customer_id=customer_id,
                        processor_id=f"pay-during-draft-{customer_id}",
                        amount=Decimal(amount),
                        currency="USD",
                        received_at=NOW,
                    ),
                    actor="test:stripe",
                )
            paid.append(amount)
        return reference_reply(request)

    return respond


def test_an_account_paid_in_full_while_its_email_is_drafted_gets_no_email(
    sessions: sessionmaker[Session], tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    customer_id = account(sessions, NOW)
    invoice(sessions, customer_id, "1200.00", DUE)
    fake_openai.responder = paying_while_drafting(sessions, customer_id, "1200.00")

    sent = collections(sessions, tmp_path, fake_openai).send_email(step(customer_id))

    assert [e.subject for e in sent_emails(sessions, customer_id)] == []
    assert (sent.sent, sent.reason) == (False, "nothing left to collect")


def test_a_part_payment_while_the_email_is_drafted_sends_the_new_balance(
    sessions: sessionmaker[Session], tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    customer_id = account(sessions, NOW)
    invoice(sessions, customer_id, "1200.00", DUE)
    fake_openai.responder = paying_while_drafting(sessions, customer_id, "200.00")

    sent = collections(sessions, tmp_path, fake_openai).send_email(step(customer_id))

    assert sent.sent
    (email,) = sent_emails(sessions, customer_id)
    assert "$1,000.00" in email.subject and "$1,200.00" not in email.body
    assert len(fake_openai.requests) == 2  # drafted again from the account as it now is


def test_an_approved_draft_is_not_sent_past_a_payment_committing_as_it_is_queued(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The approved draft says $1,200.00; a payment of $200.00 is being committed (its
    transaction holds the customer's lock) while the send checks the figures. Before, that
    check read without the lock, saw $1,200.00, and the email was queued and sent with a
    balance no longer true. It is now checked again under the lock where it is queued.
    (SQLite serialises whole transactions, so there the send waits from its first read.)"""
    customer_id = account(sessions, NOW)
    invoice(sessions, customer_id, "1200.00", DUE)
    activities = collections(sessions, tmp_path, None)
    prepared = PreparedStep(email=step(customer_id), revision=0)
    assert "$1,200.00 past due" in activities.prepare_email(prepared).preview

    paying = threading.Event()
    release = threading.Event()

    def pay() -> None:
        with sessions.begin() as session:
            record_payment(
                session,
                PaymentIn(
                    customer_id=customer_id,
                    processor_id="paid-as-sent",
                    amount=Decimal("200.00"),
                    currency="USD",
                    received_at=NOW,
                ),
                actor="test:stripe",
            )
            paying.set()
            release.wait(timeout=30)

    with ThreadPoolExecutor(max_workers=2) as pool:
        payment = pool.submit(pay)
        assert paying.wait(timeout=30)
        sending = pool.submit(activities.send_prepared, prepared)
        try:
            sending.result(timeout=1.5)  # before: sent at once, past the payment's lock
        except TimeoutError:
            pass  # waiting for the payment's lock, as it must
        finally:
            release.set()
        payment.result(timeout=30)
        sent = sending.result(timeout=30)
    assert (sent.sent, sent.stale) == (False, True)
    assert sent_emails(sessions, customer_id) == []
