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
        "ticket": "#42",
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
        references={"portal_link": PORTAL, "ticket": "#42"},
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


#: A draft in the model's own words, every fact a placeholder: usable, but held for a person.
GOOD_BODY = (
    "Hello,\n\nThank you for asking. The account {customer_name} has {open_total} open: "
    "{invoice_1.number} ({invoice_1.balance}, due {invoice_1.due_date}) and {invoice_2.number} "
    "({invoice_2.balance} of {invoice_2.total}, due {invoice_2.due_date}). We received your "
    "last payment of {last_payment_amount} on {last_payment_date}.\n\n"
    f"You can pay at {{portal_link}}.\n\n{SENDER}\n"
)
#: GOOD_BODY as the customer reads it, placeholders filled.
GOOD_BODY_FILLED = (
    "Hello,\n\nThank you for asking. The account \u201cAcme Corp\u201d has $1,734.50 open: "
    "INV-000123 ($1,234.50, due 2026-10-01) and INV-000140 "
    "($500.00 of $750.00, due 2026-10-31). We received your "
    "last payment of $250.00 on 2026-10-15.\n\n"
    f"You can pay at {PORTAL}.\n\n{SENDER}\n"
)
#: The model typing a figure instead of the placeholder.
WRONG_AMOUNT_BODY = GOOD_BODY.replace("{open_total}", "$1,743.50")


def draft_args(body: str = GOOD_BODY, subject: str = "Re: your open balance") -> dict[str, str]:
    return {
        "subject": subject,
        "body": body,
        "approver_summary": "Tells the customer the open balance and how to pay",
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
