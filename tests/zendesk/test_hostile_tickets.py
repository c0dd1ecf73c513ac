"""The hostile corpus as Zendesk tickets, through the whole ticket workflow, with a model
that does whatever the ticket asks: nothing is sent on its own, nothing moves in the ledger,
no dispute opens, and what a person may send holds no other customer's data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import ApprovalMatrix
from activities.drafting.model import chat_model
from activities.ledger.models import AuditEntry, CreditNote, Dispute, Invoice, Payment, Refund
from activities.settings import Settings
from activities.zendesk.messages import ReplyDecision
from activities.zendesk.policy import TicketPolicy
from tests.drafting.fake_openai import FakeOpenAI, draft_reply, serving
from tests.drafting.hostile_corpus import HOSTILE, OTHER_CUSTOMER, gullible_reply
from tests.zendesk.conftest import ACME_CONTACT, billing_queue
from tests.zendesk.fake_zendesk import FakeZendesk

EVERY_CATEGORY = (
    "invoice_copy",
    "payment_status",
    "refund_request",
    "dispute",
    "account_change",
    "cancellation",
    "other",
)


def _model(fake: FakeOpenAI) -> ChatOpenAI:
    model = chat_model(Settings(openai_api_key=SecretStr("sk-test"), openai_base_url=fake.base_url))
    assert model is not None
    return model


@pytest.fixture
def gullible() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(responder=gullible_reply)) as fake:
        yield fake


def _ledger(session: Session) -> dict[str, object]:
    def count(model: type) -> int | None:
        return session.scalar(select(func.count()).select_from(model))

    return {
        "balances": sorted(session.execute(select(Invoice.number, Invoice.balance)).all()),
        "payments": count(Payment),
        "refunds": count(Refund),
        "credit_notes": count(CreditNote),
        "disputes": count(Dispute),
    }


async def test_hostile_tickets_wait_for_a_person_and_change_nothing(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
    gullible: FakeOpenAI,
) -> None:
    everything_auto = policy.model_copy(update={"auto_send": EVERY_CATEGORY})
    first = 1000
    for n, hostile in enumerate(HOSTILE):
        zendesk.add_ticket(
            first + n, subject="Billing question", body=hostile.text, requester=ACME_CONTACT
        )
    with book() as session:
        before = _ledger(session)
        actions_before = list(session.scalars(select(AuditEntry.action)))

    async with billing_queue(
        time_skipping_env, book, zendesk, everything_auto, matrix, tmp_path, model=_model(gullible)
    ) as queue:
        for n in range(len(HOSTILE)):
            await queue.webhook(json.dumps({"ticket_id": first + n}).encode())
        for n, hostile in enumerate(HOSTILE):
            state = await queue.state(first + n, "awaiting_review")
            assert state.flags, f"{hostile.name}: not flagged"
            assert state.draft_source == "template_fallback", hostile.name
            assert state.dispute_id is None, hostile.name
        assert all(not zendesk.replies(first + n) for n in range(len(HOSTILE)))  # none auto-sent

        with book() as session:
            assert _ledger(session) == before
            actions = list(session.scalars(select(AuditEntry.action)))
        # The only new entries: each draft's fallback to the template, nothing else.
        assert actions[len(actions_before) :] == ["draft.template_fallback"] * len(HOSTILE)

        for n in range(len(HOSTILE)):
            await queue.decide(first + n, ReplyDecision(action="send", by="slack:U0ANALYST1"))
            await queue.handle(first + n).result()

    for n, hostile in enumerate(HOSTILE):
        (reply,) = zendesk.replies(first + n)
        for leaked in (OTHER_CUSTOMER, "CUS-0002", "INV-000002", "9,999", "IBAN", "5,000"):
            assert leaked not in reply["body"], f"{hostile.name}: {leaked!r} in the reply"
        assert "billing_ops_flagged" in zendesk.tickets[first + n]["tags"]


async def test_a_grounded_model_draft_is_what_gets_posted(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    """The model's rewrite of a payment-status reply: a wrong total first, then the right one."""
    zendesk.add_ticket(
        201, subject="Open balance?", body="What do we owe right now?", requester=ACME_CONTACT
    )
    right = (
        "Hello,\n\nThe account {customer_name} has {open_total_USD} open: {invoice_list}\n\n"
        "We received your last payment of {last_payment_amount} on {last_payment_date}.\n\n"
        "You can pay at {portal_link}.\n\nBilling team, Example Software Inc.\n"
    )
    wrong = right.replace("{open_total_USD}", "$1,734.00")
    posted = (
        "Hello,\n\nThe account \u201cAcme Corp\u201d has $1,734.50 open:   INV-000001  due "
        "2026-10-01  balance $1,234.50\n  INV-000003  due 2026-11-20  balance $500.00\n\n"
        "We received your last payment of $250.00 on 2026-10-13.\n\n"
        "You can pay at https://billing.example.com/portal.\n\n"
        "Billing team, Example Software Inc.\n"
    )
    with serving(FakeOpenAI()) as fake:
        fake.queue(
            draft_reply("Re: your balance", wrong, "Balance and how to pay"),
            draft_reply("Re: your balance", right, "Balance and how to pay"),
        )
        async with billing_queue(
            time_skipping_env, book, zendesk, policy, matrix, tmp_path, model=_model(fake)
        ) as queue:
            await queue.webhook(json.dumps({"ticket_id": 201}).encode())
            state = await queue.state(201, "awaiting_review")
            assert state.draft_source == "model_retry"
            await queue.decide(201, ReplyDecision(action="send", by="slack:U0ANALYST1"))
            await queue.handle(201).result()
        retry = fake.requests[1]["messages"][-1]["content"]
        assert 'has $1,734.00 open:" types digit' in retry
    (reply,) = zendesk.replies(201)
    assert reply["body"] == posted
    assert "billing_ops_model_retry" in zendesk.tickets[201]["tags"]
