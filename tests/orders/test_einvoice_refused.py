"""An e-invoice that breaks an official EN 16931 rule is never delivered: the order's invoice
email step fails for good naming the rule, the refusal is audited on the invoice, nothing is
stored and nothing goes out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.ledger import audit
from activities.ledger.models import Document, Invoice, OutboxEmail
from activities.orders.provisioning import (
    IssueOrderInvoice,
    ProvisionAccount,
    ReceiveOrder,
    SendInvoiceEmail,
    ValidateOrder,
)
from activities.orders.validation import OrderRules
from tests.orders.harness import new_customer_order
from tests.orders.test_drafted_email import provisioning

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
BERLIN = {"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "DE"}


def test_an_einvoice_breaking_a_business_rule_stops_the_email_naming_the_rule(
    sqlite_sessions: sessionmaker[Session], rules: OrderRules, tmp_path: Path
) -> None:
    acts = provisioning(sqlite_sessions, rules, tmp_path, None)
    raw = new_customer_order(
        NOW.date(), order_id="ORD-EU1", currency="EUR", billing_address=BERLIN, tax_ids=[]
    )
    raw["customer"]["timezone"] = "Europe/Berlin"
    wid = "order-ORD-EU1"
    acts.receive(ReceiveOrder(order_id="ORD-EU1", order=raw, actor="cli:ana", now=NOW))
    report = acts.validate(ValidateOrder(order=raw, today=NOW.date()))
    assert report.order is not None, report
    change = acts.provision_account(ProvisionAccount(order=report.order, workflow_id=wid, now=NOW))
    issued = acts.issue_first_invoice(
        IssueOrderInvoice(order=report.order, change=change, workflow_id=wid, now=NOW)
    )
    assert issued is not None
    with sqlite_sessions.begin() as session:
        invoice = session.scalars(select(Invoice).where(Invoice.number == issued.number)).one()
        assert invoice.tax_category == "S" and invoice.seller is not None
        # German VAT charged with no seller VAT id on the invoice: BR-S-02.
        invoice.seller = {**invoice.seller, "vat_id": None}
    step = SendInvoiceEmail(
        order_id="ORD-EU1",
        customer_id=change.customer_id,
        invoice_number=issued.number,
        workflow_id=wid,
        now=NOW,
    )

    with pytest.raises(ApplicationError, match=r"BR-S-02: An Invoice that contains") as refused:
        acts.send_invoice_email(step)

    assert refused.value.non_retryable and refused.value.type == "EInvoiceError"
    with sqlite_sessions() as session:
        (entry,) = [
            e
            for e in audit.history(session, "invoice", issued.number)
            if e.action == "invoice.documents_refused"
        ]
        assert entry.reason and "BR-S-02" in entry.reason
        assert session.scalars(select(Document)).all() == []
        assert session.scalars(select(OutboxEmail)).all() == []
