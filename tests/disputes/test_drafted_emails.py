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


def test_the_model_drafts_the_email_and_a_wrong_amount_sends_the_template(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    account = open_account(sqlite_sessions, NOW)
    request = received(account)
    amount = total(sqlite_sessions, account.invoice)

    def body(figure: str) -> str:
        return (
            f"Hello,\n\nThank you for writing about invoice {account.invoice} ({figure}). "
            f"Case DSP-000001 is open, and we will not send reminders while we look into it.\n\n"
            "The billing team\n"
        )

    good = disputes(sqlite_sessions, tmp_path, scripted(tool_message(draft_args(body(amount)))))
    assert good.email_customer(request).draft == "model"
    assert good.email_customer(request).draft == "queued"  # a retry: the model is not asked
    (sent,) = sent_emails(sqlite_sessions, account.customer_id)
    assert sent.body == body(amount)

    wrong = received(account).model_copy(update={"workflow_id": "dispute-DSP-000002"})
    bad = scripted(tool_message(draft_args(body("$1.00"))), tool_message(draft_args(body("$2.00"))))
    result = disputes(sqlite_sessions, tmp_path, bad).email_customer(wrong)

    assert result.draft == "template_fallback"
    _, fallback = sent_emails(sqlite_sessions, account.customer_id)
    assert (fallback.subject, fallback.body) == template(wrong)
    with sqlite_sessions() as session:
        (entry,) = [
            e
            for e in audit.history(session, "customer", account.customer_id)
            if e.action == "draft.template_fallback"
        ]
    assert entry.after is not None and entry.after["kind"] == "disputes/received"
    assert any('"$1.00"' in p for p in entry.after["problems"])
