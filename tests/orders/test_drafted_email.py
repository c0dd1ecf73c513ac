"""The order's invoice email goes through the drafting step: the template alone without a
model; with one, the model's draft held to the invoice as the ledger has it, the template
when the model gets a figure wrong twice, and one email per order however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.money import format_money
from activities.collections.emails import render_email
from activities.documents.store import invoice_documents
from activities.drafting.compose import Drafter
from activities.invoice_email import invoice_values
from activities.ledger import audit
from activities.ledger.customers import get_customer
from activities.ledger.models import Invoice
from activities.orders.entitlements import LocalEntitlements
from activities.orders.provisioning import (
    IssueOrderInvoice,
    ProvisionAccount,
    ProvisioningActivities,
    ReceiveOrder,
    SendInvoiceEmail,
    ValidateOrder,
)
from activities.orders.validation import OrderRules
from activities.outbox import FileTransport, Outbox
from activities.paths import PROMPTS_DIR
from tests.drafting.conftest import draft_args, scripted, tool_message
from tests.orders.harness import new_customer_order
from tests.workflows.harness import sent_emails

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def provisioning(
    sessions: sessionmaker[Session], rules: OrderRules, folder: Path, model: BaseChatModel | None
) -> ProvisioningActivities:
    outbox = Outbox(sessions, FileTransport(folder / "outbox"), "billing@example.com")
    return ProvisioningActivities(
        sessions, rules, LocalEntitlements(sessions), outbox, Drafter(sessions, model)
    )


def invoiced_order(acts: ProvisioningActivities, order_id: str) -> SendInvoiceEmail:
    """A new customer's order taken as far as its first invoice: the email step's input."""
    raw = new_customer_order(NOW.date(), order_id=order_id)
    raw["customer"]["contact_email"] = f"ap-{order_id.lower()}@globex.example"  # one each
    wid = f"order-{order_id}"
    acts.receive(ReceiveOrder(order_id=order_id, order=raw, actor="cli:ana", now=NOW))
    report = acts.validate(ValidateOrder(order=raw, today=NOW.date()))
    assert report.order is not None, report
    change = acts.provision_account(ProvisionAccount(order=report.order, workflow_id=wid, now=NOW))
    invoice = acts.issue_first_invoice(
        IssueOrderInvoice(order=report.order, change=change, workflow_id=wid, now=NOW)
    )
    assert invoice is not None
    return SendInvoiceEmail(
        order_id=order_id,
        customer_id=change.customer_id,
        invoice_number=invoice.number,
        workflow_id=wid,
        now=NOW,
    )


def template(sessions: sessionmaker[Session], step: SendInvoiceEmail) -> tuple[str, str]:
    with sessions() as session:
        invoice = session.scalars(
            select(Invoice).where(Invoice.number == step.invoice_number)
        ).one()
        attached = [document.filename for document in invoice_documents(session, invoice)]
        values = invoice_values(
            get_customer(session, step.customer_id), invoice, {"order_id": step.order_id}, attached
        )
    email = render_email("invoice_issued", values, ["ap@example.com"], PROMPTS_DIR / "orders")
    return email.subject, email.body


def email_audit(sessions: sessionmaker[Session], number: str) -> list[dict[str, object]]:
    with sessions() as session:
        return [
            e.after or {}
            for e in audit.history(session, "invoice", number)
            if e.action == "order.invoice_emailed"
        ]


def test_without_a_model_the_email_is_the_template(
    sqlite_sessions: sessionmaker[Session], rules: OrderRules, tmp_path: Path
) -> None:
    step = invoiced_order(provisioning(sqlite_sessions, rules, tmp_path, None), "ORD-T1")
    acts = provisioning(sqlite_sessions, rules, tmp_path, None)

    assert not acts.send_invoice_email(step).already_sent

    (sent,) = sent_emails(sqlite_sessions, step.customer_id)
    assert (sent.subject, sent.body) == template(sqlite_sessions, step)
    assert [a["draft"] for a in email_audit(sqlite_sessions, step.invoice_number)] == ["template"]


def test_the_model_drafts_the_email_and_a_wrong_amount_sends_the_template(
    sqlite_sessions: sessionmaker[Session], rules: OrderRules, tmp_path: Path
) -> None:
    setup = provisioning(sqlite_sessions, rules, tmp_path, None)
    first, second = invoiced_order(setup, "ORD-T2"), invoiced_order(setup, "ORD-T3")
    with sqlite_sessions() as session:
        invoice = session.scalars(select(Invoice).where(Invoice.number == first.invoice_number))
        due = invoice.one()
        amount = format_money(due.amount_due, due.currency)

    def body(number: str, figure: str) -> str:
        return (
            f"Hello,\n\nThank you for your order. Invoice {number} for {figure} is attached "
            "to your account.\n\nBilling team\n"
        )

    # Placeholders only, but in the model's own words: nobody checked them, the template goes.
    own_words = body("{invoice.number}", "{amount_due}")
    good = scripted(tool_message(draft_args(own_words)))
    acts = provisioning(sqlite_sessions, rules, tmp_path, good)
    assert not acts.send_invoice_email(first).already_sent
    assert acts.send_invoice_email(first).already_sent  # a retry: the model is not asked
    (sent,) = sent_emails(sqlite_sessions, first.customer_id)
    assert (sent.subject, sent.body) == template(sqlite_sessions, first)
    assert amount in sent.body
    drafts = [a["draft"] for a in email_audit(sqlite_sessions, first.invoice_number)]
    assert drafts == ["template_held"]

    bad = scripted(
        tool_message(draft_args(body(second.invoice_number, "$1.00"))),
        tool_message(draft_args(body(second.invoice_number, "$2.00"))),
    )
    provisioning(sqlite_sessions, rules, tmp_path, bad).send_invoice_email(second)

    (fallback,) = sent_emails(sqlite_sessions, second.customer_id)
    assert (fallback.subject, fallback.body) == template(sqlite_sessions, second)
    assert [a["draft"] for a in email_audit(sqlite_sessions, second.invoice_number)] == [
        "template_fallback"
    ]
    with sqlite_sessions() as session:
        (entry,) = [
            e
            for e in audit.history(session, "customer", second.customer_id)
            if e.action == "draft.template_fallback"
        ]
    assert entry.after is not None and entry.after["kind"] == "orders/invoice_issued"
    assert any('"$1.00"' in p for p in entry.after["problems"])


def test_the_invoice_email_carries_the_invoice_pdf(
    sqlite_sessions: sessionmaker[Session], rules: OrderRules, tmp_path: Path
) -> None:
    from email import message_from_bytes, policy

    step = invoiced_order(provisioning(sqlite_sessions, rules, tmp_path, None), "ORD-PDF")
    provisioning(sqlite_sessions, rules, tmp_path, None).send_invoice_email(step)
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    attached = {
        part.get_filename(): part.get_content_type()
        for part in message.walk()
        if part.get_filename()
    }
    assert attached == {f"{step.invoice_number}.pdf": "application/pdf"}
    body = message.get_body(("plain",))
    assert body is not None and f"Attached: {step.invoice_number}.pdf" in body.get_content()
