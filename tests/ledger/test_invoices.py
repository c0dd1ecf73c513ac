"""Issuing engine drafts into the ledger: exact copy, gapless numbers, idempotent by source."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing import invoicing
from activities.billing.pricebook import load_pricebook
from activities.ledger import audit
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.invoices import finalize_invoice, get_invoice, issue_invoice
from activities.ledger.models import Invoice, InvoiceStatus
from tests.conftest import NOW
from tests.ledger import factories


def _draft(currency: str = "USD", seats: int = 10) -> invoicing.InvoiceDraft:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return invoicing.draft_invoice(
        invoicing.Subscription(
            currency=currency,
            anchor=start,
            interval="month",
            plan=load_pricebook().plan_price("business", "month", currency),
            seats=seats,
        ),
        [
            invoicing.Started(at=start),
            invoicing.SeatsAdded(at=datetime(2026, 11, 16, tzinfo=UTC), seats=5),
        ],
        terms=invoicing.InvoiceTerms(issue_date=date(2026, 11, 16), payment_terms_days=30),
    )


def test_issued_invoice_is_the_draft_exactly(sessions: sessionmaker[Session]) -> None:
    draft = _draft()
    with transaction(sessions) as session:
        factories.customer(session)
        issue_invoice(session, "CUS-1", draft, source_key="order:1", actor="cli:alice", now=NOW)
    with sessions() as session:
        stored = get_invoice(session, "INV-000001")
        history = audit.history(session, "invoice", "INV-000001")
        assert stored.status == InvoiceStatus.OPEN and stored.balance == draft.amount_due
        assert (stored.total, stored.due_date) == (draft.total, draft.due_date)
        assert [
            (line.description, line.amount, line.proration_fraction) for line in stored.lines
        ] == [(line.description, line.amount, line.proration_fraction) for line in draft.lines]
        assert [e.action for e in history] == ["invoice.issued"]


def test_same_source_key_returns_the_first_invoice(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        factories.customer(session)
        first = issue_invoice(session, "CUS-1", _draft(), source_key="order:1", actor="a", now=NOW)
    with transaction(sessions) as session:
        again = issue_invoice(
            session, "CUS-1", _draft(seats=99), source_key="order:1", actor="a", now=NOW
        )
        assert again.number == first.number
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 1


def test_draft_gets_its_number_when_finalized(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        factories.customer(session)
        draft = issue_invoice(
            session, "CUS-1", _draft(), source_key="d", actor="a", now=NOW, finalize=False
        )
        issue_invoice(session, "CUS-1", _draft(), source_key="e", actor="a", now=NOW)
        assert (draft.number, draft.status) == (None, InvoiceStatus.DRAFT)
        finalize_invoice(session, draft, actor="a", now=NOW)
        assert (draft.number, draft.status) == ("INV-000002", InvoiceStatus.OPEN)
        with pytest.raises(LedgerError, match="only drafts"):
            finalize_invoice(session, draft, actor="a", now=NOW)


def test_currency_other_than_the_customers_is_refused(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        factories.customer(session)
    with (
        pytest.raises(LedgerError, match="currency: the invoice is in EUR"),
        transaction(sessions) as session,
    ):
        issue_invoice(session, "CUS-1", _draft("EUR"), source_key="x", actor="a", now=NOW)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 0
