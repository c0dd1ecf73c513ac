"""Auto-send is earned: a configured category goes out alone only when the requester is a
verified billing contact of exactly one account, nothing was flagged, and every sentence is
template text or a filled placeholder. Anything else waits for a person."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import ApprovalMatrix
from activities.drafting.model import chat_model
from activities.settings import Settings
from activities.zendesk.policy import TicketPolicy
from tests.drafting.fake_openai import (
    FakeOpenAI,
    Reply,
    draft_reply,
    reference_of,
    reference_reply,
    serving,
)
from tests.zendesk.conftest import ACME_CONTACT, billing_queue
from tests.zendesk.fake_zendesk import FakeZendesk


def _model(fake: FakeOpenAI) -> ChatOpenAI:
    model = chat_model(Settings(openai_api_key=SecretStr("sk-test"), openai_base_url=fake.base_url))
    assert model is not None
    return model


async def test_only_a_verified_email_and_template_text_go_out_alone(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    auto = policy.model_copy(update={"auto_send": ("payment_status",)})
    question = "What is our open balance?"
    # 301: Acme's billing contact, the model copies the template: earned.
    zendesk.add_ticket(301, subject="Balance", body=question, requester=ACME_CONTACT)
    # 302: an unknown address in Acme's Zendesk organization: matched, but not verified.
    zendesk.add_ticket(
        302,
        subject="Balance",
        body=question,
        requester=("Sam", "sam@acme-partner.example"),
        organization=("Acme Corp", "CUS-0001"),
    )
    # 303: Acme's billing contact, but the model adds words of its own.
    zendesk.add_ticket(303, subject="Balance", body=question, requester=ACME_CONTACT)

    def respond(request: dict[str, Any]) -> Reply:
        if len(fake.requests) != 3:  # not the third ticket's draft
            return reference_reply(request)
        subject, body = reference_of(request)
        own = "Good news: the late fee on {invoice_1.number} is gone for good.\n\n"
        return draft_reply(subject, body.replace("Hello,\n\n", "Hello,\n\n" + own), "Adds a line")

    with serving(FakeOpenAI(responder=respond)) as fake:
        async with billing_queue(
            time_skipping_env, book, zendesk, auto, matrix, tmp_path, model=_model(fake)
        ) as queue:
            await queue.webhook(json.dumps({"ticket_id": 301}).encode())
            outcome = await queue.handle(301).result()
            assert (outcome.outcome, outcome.decided_by) == ("public_reply", "policy:auto_send")

            await queue.webhook(json.dumps({"ticket_id": 302}).encode())
            state = await queue.state(302, "awaiting_review")
            assert state.customer_id == "CUS-0001" and state.flags == ()

            await queue.webhook(json.dumps({"ticket_id": 303}).encode())
            state = await queue.state(303, "awaiting_review")
            assert state.draft_source == "model"
            draft = await queue.handle(303).query("tickets.draft")
            assert any("{invoice_1.number}" in reason for reason in draft["held"])
    (reply,) = zendesk.replies(301)
    assert "The account \u201cAcme Corp\u201d has $1,734.50 open" in reply["body"]
    assert zendesk.replies(302) == [] and zendesk.replies(303) == []
