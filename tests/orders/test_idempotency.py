"""Each provisioning activity run twice (a retry after a lost reply) does its work once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.drafting.compose import Drafter
from activities.ledger.models import (
    AuditEntry,
    Customer,
    Entitlement,
    Invoice,
    OutboxEmail,
    Subscription,
)
from activities.orders.entitlements import LocalEntitlements
from activities.orders.provisioning import (
    GrantEntitlements,
    IssueOrderInvoice,
    ProvisionAccount,
    ProvisioningActivities,
    ReceiveOrder,
    SendInvoiceEmail,
    ValidateOrder,
    grants_for,
)
from activities.orders.validation import OrderRules
from activities.outbox import FileTransport, Outbox
from tests.orders.harness import new_customer_order

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_every_side_effect_happens_once(
    sessions: sessionmaker[Session], rules: OrderRules, tmp_path: Path
) -> None:
    """On SQLite, and on PostgreSQL when TEST_DATABASE_URL is set."""
    outbox = Outbox(sessions, FileTransport(tmp_path), "billing@example.com")
    acts = ProvisioningActivities(
        sessions, rules, LocalEntitlements(sessions), outbox, Drafter(sessions)
    )
    raw = new_customer_order(NOW.date(), order_id="ORD-IDEM")
    wid = "order-ORD-IDEM"

    acts.receive(ReceiveOrder(order_id="ORD-IDEM", order=raw, actor="cli:ana", now=NOW))
    report = acts.validate(ValidateOrder(order=raw, today=NOW.date()))
    assert report.ok and report.order is not None
    order = report.order

    account = ProvisionAccount(order=order, workflow_id=wid, now=NOW)
    first = acts.provision_account(account)
    retry = acts.provision_account(account.model_copy(update={"now": NOW + timedelta(minutes=1)}))
    assert retry == first
    assert (count(sessions, Customer), count(sessions, Subscription)) == (1, 1)

    grant = GrantEntitlements(
        customer_id=first.customer_id,
        subscription_id=first.subscription_id,
        grants=grants_for(first.after),
        workflow_id=wid,
        now=NOW,
    )
    assert {c.product for c in acts.provision_entitlements(grant)} == {
        "business",
        "advanced_security",
        "api_calls",
    }
    assert acts.provision_entitlements(grant) == []
    assert count(sessions, Entitlement) == 3

    issue = IssueOrderInvoice(order=order, change=first, workflow_id=wid, now=NOW)
    invoice = acts.issue_first_invoice(issue)
    assert invoice is not None
    assert acts.issue_first_invoice(issue) == invoice
    assert count(sessions, Invoice) == 1

    email = SendInvoiceEmail(
        order_id="ORD-IDEM",
        customer_id=first.customer_id,
        invoice_number=invoice.number,
        workflow_id=wid,
        now=NOW,
    )
    assert not acts.send_invoice_email(email).already_sent
    audited = count(sessions, AuditEntry)
    assert acts.send_invoice_email(email).already_sent
    assert count(sessions, OutboxEmail) == 1
    assert count(sessions, AuditEntry) == audited
    assert len(list(tmp_path.glob("*.eml"))) == 1


def test_validation_reads_only(
    corpus_ledger: sessionmaker[Session], rules: OrderRules, tmp_path: Path
) -> None:
    outbox = Outbox(corpus_ledger, FileTransport(tmp_path), "billing@example.com")
    acts = ProvisioningActivities(
        corpus_ledger, rules, LocalEntitlements(corpus_ledger), outbox, Drafter(corpus_ledger)
    )
    raw = new_customer_order(NOW.date(), customer={"id": "CUS-USD"}, currency="EUR")
    before = count(corpus_ledger, AuditEntry)
    report = acts.validate(ValidateOrder(order=raw, today=NOW.date()))
    assert ("currency", "customer_currency") in {(p.field, p.rule) for p in report.errors}
    assert count(corpus_ledger, AuditEntry) == before
