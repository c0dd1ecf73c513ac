"""Shared pieces for drafting tests: a payment-status reply with its facts, and scripted models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from activities.drafting.facts import DraftFacts, DraftRequest, InvoiceRef, Money
from tests.conftest import NOW
from tests.drafting.fake_openai import FakeOpenAI, serving

SENDER = "Billing team, Example Software Inc."
PORTAL = "https://billing.example.com/portal"


def payment_status_request(customer_text: str | None = None) -> DraftRequest:
    """A reply to "what do we owe?": two open invoices in USD, and the last payment."""
    values: dict[str, Any] = {
        "ticket_subject": "Open balance?",
        "requester_name": "Dana",
        "customer_name": "Acme Corp",
        "open_total": "$1,734.50",
        "invoices": [
            {
                "number": "INV-000123",
                "issue_date": "2026-09-01",
                "due_date": "2026-10-01",
                "status": "32 days overdue",
                "balance": "$1,234.50",
                "total": "$1,234.50",
            },
            {
                "number": "INV-000140",
                "issue_date": "2026-10-01",
                "due_date": "2026-10-31",
                "status": "2 days overdue",
                "balance": "$500.00",
                "total": "$750.00",
            },
        ],
        "last_payment_amount": "$250.00",
        "last_payment_date": "2026-10-15",
        "portal_link": PORTAL,
        "sender": SENDER,
    }
    facts = DraftFacts(
        customer_id="CUS-0001",
        customer_name="Acme Corp",
        invoices=(
            InvoiceRef(
                number="INV-000123",
                currency="USD",
                balance=Decimal("1234.50"),
                total=Decimal("1234.50"),
                issue_date=date(2026, 9, 1),
                due_date=date(2026, 10, 1),
            ),
            InvoiceRef(
                number="INV-000140",
                currency="USD",
                balance=Decimal("500.00"),
                total=Decimal("750.00"),
                issue_date=date(2026, 10, 1),
                due_date=date(2026, 10, 31),
            ),
        ),
        amounts={
            "open_total": Money(amount=Decimal("1734.50"), currency="USD"),
            "last_payment_amount": Money(amount=Decimal("250.00"), currency="USD"),
        },
        dates={"last_payment_date": date(2026, 10, 15)},
        references={"portal_link": PORTAL},
    )
    return DraftRequest(
        kind="tickets/payment_status",
        values=values,
        facts=facts,
        customer_text=customer_text,
        reference="ticket-42:reply",
        actor="workflow:ticket-42",
        now=NOW,
    )


GOOD_BODY = (
    "Hello Dana,\n\nThank you for asking. Acme Corp has $1,734.50 open: INV-000123 "
    "($1,234.50, due October 1, 2026) and INV-000140 ($500.00 of $750.00, due 2026-10-31). "
    "We received your last payment of USD 250.00 on 15 October 2026.\n\n"
    f"You can pay at {PORTAL}.\n\n{SENDER}\n"
)
WRONG_AMOUNT_BODY = GOOD_BODY.replace("$1,734.50", "$1,743.50")


def draft_args(body: str = GOOD_BODY, subject: str = "Re: Open balance?") -> dict[str, str]:
    return {
        "subject": subject,
        "body": body,
        "approver_summary": "Tells Dana the open balance and how to pay",
    }


def tool_message(args: dict[str, str], tokens: tuple[int, int] = (100, 50)) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": "DraftText", "args": args, "id": "call_1", "type": "tool_call"}],
        usage_metadata={
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "total_tokens": sum(tokens),
        },
    )


class ScriptedChatModel(GenericFakeChatModel):
    """LangChain's generic fake chat model, able to take tools as structured output needs."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


def scripted(*messages: AIMessage | str) -> ScriptedChatModel:
    return ScriptedChatModel(messages=iter(messages))


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI()) as fake:
        yield fake
