"""Proposals and settlements against a real ledger, without Temporal: every category, and
settling twice (a retried activity) issues every document once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.disputes import resolution, store
from activities.disputes.reprice import RepriceError
from activities.disputes.triage import Address, Triage
from activities.ledger import audit
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError
from activities.ledger.invoices import get_invoice
from activities.ledger.models import CreditNote, Dispute, InvoiceStatus, Payment, Refund
from activities.ledger.payments import PaymentIn, record_payment
from tests.disputes.harness import Account, open_account
from tests.ledger import factories

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def account(sqlite_sessions: sessionmaker[Session]) -> Account:
    return open_account(sqlite_sessions, NOW)


def propose(
    sessions: sessionmaker[Session], account: Account, triage: Triage
) -> resolution.Proposal:
    with sessions() as session:
        return resolution.propose(session, [account.invoice], triage)


def settle_twice(
    sessions: sessionmaker[Session], proposal: resolution.Proposal, triage: Triage
) -> list[str]:
    results = []
    for _ in range(2):
        with sessions.begin() as session:
            results.append(
                resolution.settle(
                    session,
                    proposal,
                    triage,
                    key="dispute-DSP-T:settle",
                    actor="workflow:t",
                    reason="test",
                    at=NOW,
                )
            )
    assert results[0] == results[1]
    return results[0]


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("triage", "credit"),
    [
        # 10 seats of Business ($25) + SSO ($3), NY tax 8.875% on each line: $304.85.
        (Triage(category="seat_count", seats=8), "60.97"),  # 243.88 at 8 seats
        (Triage(category="pricing_error", unit_amount=Decimal("20.00")), "54.44"),  # 250.41
        (Triage(category="tax", tax_rate=Decimal("0")), "24.85"),  # exempt: 280.00
    ],
)
def test_corrections_are_re_priced_through_the_engine_and_credited_once(
    sqlite_sessions: sessionmaker[Session], account: Account, triage: Triage, credit: str
) -> None:
    proposal = propose(sqlite_sessions, account, triage)
    assert (proposal.action, proposal.amount, proposal.currency) == (
        "credit_note",
        Decimal(credit),
        "USD",
    )
    [issued] = settle_twice(sqlite_sessions, proposal, triage)
    assert issued.startswith("credit note CN-")
    assert count(sqlite_sessions, CreditNote) == 1
    with sqlite_sessions() as session:
        assert get_invoice(session, account.invoice).balance == Decimal("304.85") - Decimal(credit)


def test_a_credit_larger_than_the_open_balance_leaves_account_credit(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    with sqlite_sessions.begin() as session:
        record_payment(
            session,
            PaymentIn(account.customer_id, "ch_paid", Decimal("300.00"), "USD", NOW),
            "test",
        )
    triage = Triage(category="seat_count", seats=8)
    settle_twice(sqlite_sessions, propose(sqlite_sessions, account, triage), triage)
    with sqlite_sessions() as session:
        invoice = get_invoice(session, account.invoice)
        note = session.scalars(select(CreditNote)).one()
        assert (invoice.balance, invoice.status) == (Decimal("0.00"), InvoiceStatus.PAID)
        assert (note.amount, note.unapplied) == (Decimal("60.97"), Decimal("56.12"))


def test_a_duplicate_charge_is_refunded_once(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    with sqlite_sessions.begin() as session:
        for ref in ("ch_first", "ch_again"):
            record_payment(
                session, PaymentIn(account.customer_id, ref, Decimal("304.85"), "USD", NOW), "test"
            )
    triage = Triage(category="duplicate_charge", payment="ch_again")
    proposal = propose(sqlite_sessions, account, triage)
    assert (proposal.action, proposal.amount) == ("refund", Decimal("304.85"))
    assert settle_twice(sqlite_sessions, proposal, triage) == [
        "a refund of $304.85 (payment ch_again)"
    ]
    assert count(sqlite_sessions, Refund) == 1
    with sqlite_sessions() as session:
        payment = session.scalars(select(Payment).where(Payment.processor_id == "ch_again")).one()
        assert payment.refunded == Decimal("304.85")
    with pytest.raises(LedgerError, match="ch_again is already refunded in full"):
        propose(sqlite_sessions, account, triage)


def test_a_duplicate_card_charge_collected_by_stripe_is_refunded_in_stripe(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    """Its refund is Stripe's to report (under its re_ id): settled here under the dispute's
    key it would be refused after the approval, so the proposal says so first."""
    with sqlite_sessions.begin() as session:
        card = PaymentIn(account.customer_id, "pi_dup", Decimal("304.85"), "USD", NOW, "card")
        record_payment(session, card, "stripe")
    triage = Triage(category="duplicate_charge", payment="pi_dup")
    with pytest.raises(LedgerError, match="pi_dup was collected by Stripe; refund the duplicate"):
        propose(sqlite_sessions, account, triage)
    assert count(sqlite_sessions, Refund) == 0


def test_a_wrong_po_and_address_re_issue_the_invoice_once(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    triage = Triage(
        category="po_or_address",
        po_number="PO-4471",
        address=Address(line1="200 Park Ave", postal_code="10166"),
    )
    proposal = propose(sqlite_sessions, account, triage)
    assert (proposal.action, proposal.amount) == ("credit_note", Decimal("0"))
    [issued] = settle_twice(sqlite_sessions, proposal, triage)
    with sqlite_sessions() as session:
        old = get_invoice(session, account.invoice)
        new = get_invoice(session, issued.split()[1].rstrip(","))
        assert (old.status, old.balance) == (InvoiceStatus.VOID, Decimal("0.00"))
        assert (new.po_number, new.total, new.balance, new.due_date) == (
            "PO-4471",
            old.total,
            old.total,
            old.due_date,
        )
        assert [line.amount for line in new.lines] == [line.amount for line in old.lines]
        customer = get_customer(session, account.customer_id)
        assert (customer.address_line1, customer.postal_code, customer.city) == (
            "200 Park Ave",
            "10166",
            "New York",
        )


def test_goodwill_is_the_analyst_s_amount(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    triage = Triage(category="service_issue", amount=Decimal("25.00"))
    proposal = propose(sqlite_sessions, account, triage)
    assert proposal.amount == Decimal("25.00")
    assert settle_twice(sqlite_sessions, proposal, triage)[0].endswith(
        f"for $25.00 on invoice {account.invoice}"
    )


def settle_once(
    sessions: sessionmaker[Session], proposal: resolution.Proposal, triage: Triage, key: str
) -> list[str]:
    with sessions.begin() as session:
        return resolution.settle(
            session, proposal, triage, key=key, actor="workflow:t", reason="test", at=NOW
        )


def test_a_second_dispute_of_the_same_charge_credits_only_what_is_still_owed(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    """Disputed once and credited, then disputed again (another analyst, the customer again):
    the same claim credits nothing more; a deeper one credits only the difference."""
    eight = Triage(category="seat_count", seats=8)
    settle_once(sqlite_sessions, propose(sqlite_sessions, account, eight), eight, "first")
    with pytest.raises(
        LedgerError,
        match=r"should have been \$243\.88, \$60\.97 already credited by CN-000001; "
        r"nothing left to credit",
    ):
        propose(sqlite_sessions, account, eight)
    six = Triage(category="seat_count", seats=6)  # 182.91 at 6 seats: 121.94 in all
    proposal = propose(sqlite_sessions, account, six)
    assert proposal.amount == Decimal("60.97")
    assert "$60.97 already credited by CN-000001; credit $60.97" in proposal.summary
    settle_once(sqlite_sessions, proposal, six, "second")
    with sqlite_sessions() as session:
        assert get_invoice(session, account.invoice).balance == Decimal("182.91")


def test_credit_beyond_the_invoice_total_is_refused_whoever_approved_it(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    """The ledger, not the proposal, is the last word: an approved goodwill of $300.00 after
    $60.97 was credited would give back more than the $304.85 invoice."""
    eight = Triage(category="seat_count", seats=8)
    settle_once(sqlite_sessions, propose(sqlite_sessions, account, eight), eight, "first")
    goodwill = Triage(category="service_issue", amount=Decimal("300.00"))
    with pytest.raises(LedgerError, match=r"can still be credited: \$243\.88"):
        propose(sqlite_sessions, account, goodwill)
    approved_earlier = resolution.Proposal(
        action="credit_note",
        amount=Decimal("300.00"),
        currency="USD",
        summary="goodwill",
        settlements=(
            resolution.Settlement(
                kind="credit_note",
                amount=Decimal("300.00"),
                currency="USD",
                invoice=account.invoice,
                detail="goodwill",
            ),
        ),
    )
    with pytest.raises(
        LedgerError,
        match=r"\$300\.00 is more than invoice .* can still be credited: \$243\.88 of its "
        r"\$304\.85 total \(\$60\.97 already credited by CN-000001\)",
    ):
        settle_once(sqlite_sessions, approved_earlier, goodwill, "goodwill")
    assert count(sqlite_sessions, CreditNote) == 1


def test_what_cannot_be_re_priced_is_refused_with_the_reason(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    with pytest.raises(RepriceError, match=r"the \$304\.85 billed; nothing to credit"):
        propose(sqlite_sessions, account, Triage(category="seat_count", seats=10))
    with sqlite_sessions.begin() as session:
        loose = factories.open_invoice(
            session, account.customer_id, "99.00", NOW.date() + timedelta(days=5)
        ).number
    with sqlite_sessions() as session, pytest.raises(RepriceError, match="bills no subscription"):
        resolution.propose(session, [loose or ""], Triage(category="seat_count", seats=1))


def test_a_held_invoice_cannot_join_a_second_dispute(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    with sqlite_sessions.begin() as session:
        for dispute_id in ("DSP-1", "DSP-1"):  # the second call is a retry: no change
            store.open_dispute(
                session,
                dispute_id=dispute_id,
                customer_id=account.customer_id,
                invoice_numbers=[account.invoice],
                claim="wrong seats",
                opened_by="cli:ana",
                at=NOW,
            )
    with (
        sqlite_sessions.begin() as session,
        pytest.raises(LedgerError, match="already disputed in DSP-1"),
    ):
        store.open_dispute(
            session,
            dispute_id="DSP-2",
            customer_id=account.customer_id,
            invoice_numbers=[account.invoice],
            claim="again",
            opened_by="cli:ana",
            at=NOW,
        )


def test_a_dispute_id_with_other_invoices_is_refused(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    """The id names one dispute: a second call holding other invoices is not answered with
    the first dispute as if those invoices were now held."""
    with sqlite_sessions.begin() as session:
        other = (
            factories.open_invoice(
                session, account.customer_id, "99.00", NOW.date() + timedelta(days=5)
            ).number
            or ""
        )

    def dispute(session: Session, invoice: str) -> None:
        store.open_dispute(
            session,
            dispute_id="DSP-1",
            customer_id=account.customer_id,
            invoice_numbers=[invoice],
            claim="wrong seats",
            opened_by="cli:ana",
            at=NOW,
        )

    with sqlite_sessions.begin() as session:
        dispute(session, account.invoice)
    with (
        sqlite_sessions.begin() as session,
        pytest.raises(LedgerError, match="dispute_id: DSP-1 already holds"),
    ):
        dispute(session, other)
    with sqlite_sessions() as session:
        assert store.held_by(session, get_invoice(session, other).id) is None


def test_an_invoice_named_twice_is_refused_before_anything_is_held(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    with (
        sqlite_sessions.begin() as session,
        pytest.raises(LedgerError, match=f"invoices: {account.invoice} named more than once"),
    ):
        store.open_dispute(
            session,
            dispute_id="DSP-1",
            customer_id=account.customer_id,
            invoice_numbers=[account.invoice, account.invoice],
            claim="wrong seats",
            opened_by="cli:ana",
            at=NOW,
        )
    assert count(sqlite_sessions, Dispute) == 0


def test_each_triage_is_audited_once(
    sqlite_sessions: sessionmaker[Session], account: Account
) -> None:
    with sqlite_sessions.begin() as session:
        store.open_dispute(
            session,
            dispute_id="DSP-1",
            customer_id=account.customer_id,
            invoice_numbers=[account.invoice],
            claim="wrong seats",
            opened_by="cli:ana",
            at=NOW,
        )
    for seats in (12, 12, 8, 8):  # each repeated, as a retried activity would
        with sqlite_sessions.begin() as session:
            store.set_category(session, "DSP-1", "seat_count", {"seats": seats}, "cli:ben", NOW)
    with sqlite_sessions() as session:
        triaged = [e.after for e in audit.history(session, "dispute", "DSP-1")][1:]
    assert triaged == [
        {"category": "seat_count", "seats": 12},
        {"category": "seat_count", "seats": 8},
    ]


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"category": "seat_count"}, "seats: a seat_count dispute needs it"),
        ({"category": "duplicate_charge"}, "payment: a duplicate_charge dispute needs it"),
        ({"category": "po_or_address"}, "po_number or address: a po_or_address dispute needs"),
        ({"category": "goodwill"}, "category"),
        ({"category": "tax", "tax_rate": "1.5"}, "tax_rate"),
    ],
)
def test_a_triage_missing_its_fact_is_refused_naming_the_field(
    facts: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Triage.model_validate(facts)


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-5.00", "0", "1E+20", "10.001"])
def test_a_credit_note_amount_that_is_not_money_is_refused_and_nothing_written(
    sqlite_sessions: sessionmaker[Session], account: Account, amount: str
) -> None:
    """A data error, named: NaN once crashed the comparison (InvalidOperation, which Temporal
    retries) and 10.001 was issued, stored as 10.0010 on a USD invoice."""
    with pytest.raises(LedgerError, match=r"^amount: "), sqlite_sessions.begin() as session:
        store.issue_credit_note(
            session,
            key="cn-bad",
            invoice_number=account.invoice,
            amount=Decimal(amount),
            reason="test",
            actor="test",
            at=NOW,
        )
    assert count(sqlite_sessions, CreditNote) == 0
