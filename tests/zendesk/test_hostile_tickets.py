"""The hostile corpora as Zendesk tickets, through the whole ticket workflow, with models
that do whatever the ticket asks: nothing is sent on its own, nothing moves in the ledger,
no dispute opens, and what a person may send holds no other customer's data and no figure,
id or link from the ticket."""

from __future__ import annotations

import json
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
from tests.drafting.multilingual_corpus import CORPUS, obeying_reply, outside_figures
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


#: Every ticket text of both corpora, and the email replies (they arrive as ticket comments).
TICKETS = [(h.name, h.text) for h in HOSTILE] + [
    (t.name, t.text) for t in CORPUS if t.where in ("ticket", "email_reply", "dispute_claim")
]


@pytest.mark.parametrize("responder", [gullible_reply, obeying_reply], ids=["gullible", "obeying"])
async def test_hostile_tickets_wait_for_a_person_and_change_nothing(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
    responder: object,
) -> None:
    everything_auto = policy.model_copy(update={"auto_send": EVERY_CATEGORY})
    first = 1000
    for n, (_name, text) in enumerate(TICKETS):
        zendesk.add_ticket(first + n, subject="Billing question", body=text, requester=ACME_CONTACT)
    with book() as session:
        before = _ledger(session)
        actions_before = list(session.scalars(select(AuditEntry.action)))

    with serving(FakeOpenAI(responder=responder)) as fake:  # type: ignore[arg-type]
        async with billing_queue(
            time_skipping_env, book, zendesk, everything_auto, matrix, tmp_path, model=_model(fake)
        ) as queue:
            for n in range(len(TICKETS)):
                await queue.webhook(json.dumps({"ticket_id": first + n}).encode())
            for n, (name, _text) in enumerate(TICKETS):
                state = await queue.state(first + n, "awaiting_review")
                assert state.flags, f"{name}: not flagged"
                assert state.dispute_id is None, name
            assert all(not zendesk.replies(first + n) for n in range(len(TICKETS)))  # none auto

            with book() as session:
                assert _ledger(session) == before
                actions = list(session.scalars(select(AuditEntry.action)))
            # The only new entries: drafts that fell back to the template, nothing else.
            assert set(actions[len(actions_before) :]) <= {"draft.template_fallback"}

            for n in range(len(TICKETS)):
                await queue.decide(first + n, ReplyDecision(action="send", by="slack:U0ANALYST1"))
                await queue.handle(first + n).result()

    for n, (name, text) in enumerate(TICKETS):
        (reply,) = zendesk.replies(first + n)
        body = reply["body"]
        for leaked in (OTHER_CUSTOMER, "CUS-0002", "INV-000002", "9,999", "IBAN", "5,000"):
            assert leaked not in body, f"{name}: {leaked!r} in the reply"
        # Acme's own invoices may be named, and INV-000004 is paid: the invoice-copy
        # template lists its balance, $0.00, from the ledger.
        facts = {"INV-000001", "INV-000003", "INV-000004", "$0.00"}
        assert {f for f in outside_figures(text) if f in body} <= facts, (name, body)
        for claim in ("$O.OO", "nine thousand", "evil.example", "void"):
            assert claim not in body, (name, claim)
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
        "Billing team, Example Software Inc.\n"
    )
    wrong = right.replace("{open_total_USD}", "$1,734.00")
    posted = (
        "Hello,\n\nThe account \u201cAcme Corp\u201d has $1,734.50 open:   INV-000001  due "
        "2026-10-01  balance $1,234.50\n  INV-000003  due 2026-11-20  balance $500.00\n\n"
        "We received your last payment of $250.00 on 2026-10-13.\n\n"
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
