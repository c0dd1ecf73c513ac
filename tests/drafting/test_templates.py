"""One set of templates: the template-only draft is exactly the email collections renders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.collections import emails
from activities.drafting.compose import Drafter
from activities.drafting.facts import DraftFacts, DraftRequest, InvoiceRef, Money
from tests.conftest import NOW

COLLECTIONS_EMAILS = [
    "courtesy",
    "due_today",
    "reminder",
    "final_notice",
    "missed_commitment",
    "suspension",
]

VALUES: dict[str, Any] = {
    "customer_id": "CUS-0001",
    "customer_name": "Acme Corp",
    "invoices": [
        {
            "number": "INV-000123",
            "due_date": "2026-10-01",
            "status": "32 days overdue",
            "balance": "$1,234.50",
        }
    ],
    "invoice_count": 1,
    "total": "$1,234.50",
    "past_due": "$1,234.50",
    "due_today": "$0.00",
    "due_later": "$0.00",
    "past_due_count": 1,
    "due_today_count": 0,
    "due_later_count": 0,
    "oldest_due_date": "2026-10-01",
    "days_overdue": 32,
    "payment_link": "https://pay.example.com/c/CUS-0001",
    "sender": "Billing team",
    "strategic": False,
    "owner_mention": "",
    "emails_sent": 2,
    "promise_amount": "$1,234.50",
    "promise_date": "2026-10-20",
}


@pytest.mark.parametrize("template", COLLECTIONS_EMAILS)
def test_without_a_model_the_draft_is_the_collections_email(
    template: str, sqlite_sessions: sessionmaker[Session]
) -> None:
    email = emails.render_email(template, VALUES, ["ap@acme.example"])
    draft = Drafter(sqlite_sessions).draft(
        DraftRequest(
            kind=f"collections/{template}",
            values=VALUES,
            facts=DraftFacts(
                customer_id="CUS-0001",
                customer_name="Acme Corp",
                invoices=(
                    InvoiceRef(number="INV-000123", currency="USD", balance=Decimal("1234.50")),
                ),
                amounts={
                    "total": Money(amount=Decimal("1234.50"), currency="USD"),
                    "past_due": Money(amount=Decimal("1234.50"), currency="USD"),
                },
            ),
            reference=f"collections:CUS-0001:2026-10-01:{template}",
            actor="workflow:collections-CUS-0001",
            now=NOW,
        )
    )
    assert (draft.subject, draft.body) == (email.subject, email.body)
    assert draft.source == "template"


def test_a_template_without_a_subject_line_is_refused(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    request = DraftRequest(
        kind="collections/escalation",  # a Slack message, not a customer email
        values=VALUES,
        facts=DraftFacts(customer_id="CUS-0001", customer_name="Acme Corp"),
        reference="x",
        actor="test",
        now=NOW,
    )
    with pytest.raises(ValueError, match=r"collections/escalation.j2: the first line must be"):
        Drafter(sqlite_sessions).draft(request)
