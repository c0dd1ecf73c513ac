"""Dispute emails go through the drafting step: the template alone without a model; with one,
the model's draft held to the disputed invoice as the ledger has it, the template when the
model gets a figure wrong twice, and one email per key however often the activity runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.money import format_money
from activities.collections.emails import render_email
from activities.disputes.activities import TEMPLATES, DisputeActivities, EmailCustomer
from activities.drafting.compose import Drafter
from activities.ledger import audit
from activities.ledger.invoices import get_invoice
from activities.outbox import FileTransport, Outbox
from tests.disputes.harness import Account, open_account
from tests.drafting.conftest import draft_args, scripted, tool_message
from tests.workflows.harness import sent_emails

NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
CLAIM = "We only had 8 seats in that month, not 10."


def disputes(
    sessions: sessionmaker[Session], folder: Path, model: BaseChatModel | None
) -> DisputeActivities:
    outbox = Outbox(sessions, FileTransport(folder / "outbox"), "billing@example.com")
    return DisputeActivities(sessions, outbox, Drafter(sessions, model))


def received(account: Account) -> EmailCustomer:
    return EmailCustomer(
        workflow_id="dispute-DSP-000001",
        dispute_id="DSP-000001",
        customer_id=account.customer_id,
        template="received",
        invoices=[account.invoice],
        claim=CLAIM,
        at=NOW,
    )


def template(request: EmailCustomer) -> tuple[str, str]:
    values = {
        "customer_name": f"{request.customer_id} Ltd",
        "dispute_id": request.dispute_id,
        "invoices": request.invoices,
        "invoice_list": f"invoice {request.invoices[0]}",
        "claim": request.claim,
        "issued": [],
        "reason": "",
    }
    email = render_email(request.template, values, ["ap@example.com"], TEMPLATES)
    return email.subject, email.body


def total(sessions: sessionmaker[Session], number: str) -> str:
    with sessions() as session:
        invoice = get_invoice(session, number)
        return format_money(invoice.total, invoice.currency)


def test_without_a_model_the_email_is_the_template(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    account = open_account(sqlite_sessions, NOW)
    request = received(account)

    result = disputes(sqlite_sessions, tmp_path, None).email_customer(request)

    assert result.sent and result.draft == "template"
    (sent,) = sent_emails(sqlite_sessions, account.customer_id)
    assert (sent.subject, sent.body) == template(request)


def test_a_claim_in_the_model_s_own_words_is_never_sent(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """A model says the invoice is settled and nothing is owed, in German, with placeholders
    only and no word any rule knows. Nothing in the ledger backs it: the template goes out."""
    account = open_account(sqlite_sessions, NOW)
    request = received(account)
    obeying = (
        "Hello,\n\nGute Nachricht: {invoice.number} ist erledigt, Sie schulden uns nichts mehr. "
        "We have opened case {dispute_id} for it.\n\nThe billing team\n"
    )
    model = scripted(tool_message(draft_args(obeying)))
    result = disputes(sqlite_sessions, tmp_path, model).email_customer(request)

    assert result.sent and result.draft == "template_held"
    (sent,) = sent_emails(sqlite_sessions, account.customer_id)
    assert (sent.subject, sent.body) == template(request)
    assert "erledigt" not in sent.body


def test_a_typed_figure_twice_sends_the_template_once_per_key(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    account = open_account(sqlite_sessions, NOW)
    amount = total(sqlite_sessions, account.invoice)

    def body(figure: str) -> str:
        return (
            "Hello,\n\nThank you for writing about invoice {invoice.number} "
            f"({figure}). Case {{dispute_id}} is open, and we will not send reminders while we "
            "look into it.\n\nThe billing team\n"
        )

    wrong = received(account)
    bad = scripted(tool_message(draft_args(body(amount))), tool_message(draft_args(body("$2.00"))))
    activities = disputes(sqlite_sessions, tmp_path, bad)
    result = activities.email_customer(wrong)
    assert activities.email_customer(wrong).draft == "queued"  # a retry: the model is not asked

    assert result.draft == "template_fallback"
    (fallback,) = sent_emails(sqlite_sessions, account.customer_id)
    assert (fallback.subject, fallback.body) == template(wrong)
    with sqlite_sessions() as session:
        (entry,) = [
            e
            for e in audit.history(session, "customer", account.customer_id)
            if e.action == "draft.template_fallback"
        ]
    assert entry.after is not None and entry.after["kind"] == "disputes/received"
    assert any(amount in p for p in entry.after["problems"])


def test_a_void_claim_in_the_model_s_words_is_flagged_and_replaced(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    account = open_account(sqlite_sessions, NOW)
    obeying = (
        "Hello,\n\nWe confirm that {invoice.number} is void and that you owe nothing. "
        "We have opened case {dispute_id} for it.\n\nThe billing team\n"
    )
    model = scripted(tool_message(draft_args(obeying)))
    result = disputes(sqlite_sessions, tmp_path, model).email_customer(received(account))
    assert result.draft == "template_flagged"
    (sent,) = sent_emails(sqlite_sessions, account.customer_id)
    assert "void" not in sent.body
