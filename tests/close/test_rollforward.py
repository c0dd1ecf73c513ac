"""The roll-forward ties on a book of three months, and the records behind a difference show."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session, sessionmaker

from activities.cash.stripe_events import handle_event
from activities.close.movements import Kind
from activities.close.report import CloseReport
from activities.close.rollforward import MOVEMENT_LINES
from activities.ledger.db import transaction
from activities.ledger.types import Money
from tests.close.book import EXPECTED, at, pay

Report = Callable[[sessionmaker[Session], str], CloseReport]


@pytest.mark.parametrize("period", sorted(EXPECTED))
def test_the_roll_forward_ties_to_zero_in_every_currency(
    book: sessionmaker[Session], close_report: Report, period: str
) -> None:
    report = close_report(book, period)
    figures = {rf.currency: rf for rf in report.roll_forward}
    assert sorted(figures) == sorted(EXPECTED[period])
    for currency, expected in EXPECTED[period].items():
        rf = figures[currency]
        lines = (rf.opening, *(rf.movement(kind) for kind, _ in MOVEMENT_LINES), rf.closing)
        assert lines == tuple(Decimal(v) for v in expected), currency
        assert rf.closing_from_invoices == rf.closing, currency
        assert rf.difference == 0
    assert report.blocking == ()


def test_the_cut_off_is_midnight_in_the_company_timezone(
    book: sessionmaker[Session], close_report: Report
) -> None:
    """P2 arrived at 02:00 UTC on 1 November: still 31 October in New York."""
    october = {rf.currency: rf for rf in close_report(book, "2026-10").roll_forward}
    assert october["USD"].movement(Kind.CASH) == Decimal("-1048.00")
    unapplied = next(t for t in close_report(book, "2026-10").tables if t.name == "unapplied-cash")
    assert [(row[0], row[6]) for row in unapplied.rows] == [("P2", Decimal("102.00"))]


def test_review_exceptions_name_their_records(
    book: sessionmaker[Session], close_report: Report
) -> None:
    october = {(e.check, e.record) for e in close_report(book, "2026-10").exceptions}
    assert october == {
        ("missing_po", "INV-000004"),  # A2
        ("no_tax", "INV-000006"),  # B1: New York charges 4 %
        ("credit_balance", "CUS-A"),  # 102 unapplied, nothing open at the cut-off
        ("dispute_past_sla", "DSP-1"),
    }
    november = {(e.check, e.record) for e in close_report(book, "2026-11").exceptions}
    assert november == {
        ("unapplied_payment", "P2"),
        ("unapplied_payment", "P6"),
        ("credit_balance", "CUS-D"),
        ("draft_invoice", f"draft #{_draft_id(book)}"),
        ("dispute_past_sla", "DSP-1"),
    }


def _draft_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(
            session.execute(text("SELECT id FROM invoices WHERE status = 'draft'")).scalar_one()
        )


def test_an_unapplied_payment_and_a_hand_edited_invoice_are_exceptions(
    book: sessionmaker[Session], close_report: Report
) -> None:
    with transaction(book) as session:
        pay(session, "CUS-B", "P-lost", "60.00", "USD", at("2026-11-04"))  # B1 takes 55 of it
        pay(session, "CUS-B", "P-stray", "80.00", "USD", at("2026-11-05"))  # nothing left open
    with book.begin() as session:  # someone "fixes" C2 by hand, outside the ledger's code
        session.execute(
            text(
                "UPDATE invoices SET balance = balance - :delta WHERE number = 'INV-000005'"
            ).bindparams(bindparam("delta", Decimal(7), type_=Money()))  # scaled on SQLite
        )
    report = close_report(book, "2026-11")
    found = {(e.severity, e.check, e.record): e for e in report.exceptions}

    stray = found[("review", "unapplied_payment", "P-stray")]
    assert (stray.currency, stray.amount) == ("USD", Decimal("80.00"))
    assert found[("review", "unapplied_payment", "P-lost")].amount == Decimal("5.00")

    edited = found[("blocking", "balance_off_history", "INV-000005")]
    assert (edited.currency, edited.amount) == ("EUR", Decimal("-7.00"))
    assert "open balance 293.00" in edited.detail and "gives 300.00" in edited.detail
    difference = found[("blocking", "roll_forward_difference", "AR EUR")]
    assert difference.amount == Decimal("-7.00")
    eur = next(rf for rf in report.roll_forward if rf.currency == "EUR")
    assert (eur.closing, eur.closing_from_invoices) == (Decimal("300.00"), Decimal("293.00"))
    assert [e.check for e in report.exceptions[:2]] == [
        "roll_forward_difference",
        "balance_off_history",
    ]


def test_cash_dated_before_its_invoice_explains_a_difference(
    book: sessionmaker[Session], close_report: Report
) -> None:
    """An invoice issued in December that was paid in November lands in neither month."""
    from tests.close.book import invoice

    with transaction(book) as session:
        early = invoice(session, "CUS-B", "USD", "2026-12-03", "40.00")
        pay(session, "CUS-B", "P-early", "40.00", "USD", at("2026-11-25"), early.number)
    report = close_report(book, "2026-11")
    usd = next(rf for rf in report.roll_forward if rf.currency == "USD")
    assert usd.difference == Decimal("40.00")
    early_cash = [e for e in report.blocking if e.check == "dated_before_invoice"]
    assert len(early_cash) == 1 and early_cash[0].amount == Decimal("40.00")


def test_stripe_events_refused_or_parked_by_the_cut_off_are_exceptions(
    book: sessionmaker[Session], close_report: Report
) -> None:
    def event(event_id: str, day: str, obj: dict[str, object]) -> dict[str, object]:
        created = int(at(day).timestamp())
        return {
            "id": event_id,
            "type": "charge.refunded",
            "created": created,
            "data": {"object": obj},
        }

    with transaction(book) as session:
        pay(session, "CUS-B", "P-stray", "80.00", "USD", at("2026-11-05"))
    for sent in [
        # in another currency than its payment: refused
        event(
            "evt_eur",
            "2026-11-06",
            {"id": "ch_1", "payment_intent": "P-stray", "amount_refunded": 1000, "currency": "eur"},
        ),
        # before its payment: parked
        event(
            "evt_early",
            "2026-11-20",
            {"id": "ch_2", "payment_intent": "pi_9", "amount_refunded": 500, "currency": "usd"},
        ),
        # after the November cut-off: December's
        event(
            "evt_late",
            "2026-12-01",
            {"id": "ch_3", "payment_intent": "pi_8", "amount_refunded": 500, "currency": "usd"},
        ),
    ]:
        with transaction(book) as session:
            handle_event(session, sent, at("2026-12-02"))

    found = {e.record: e for e in close_report(book, "2026-11").exceptions}
    refused, parked = found["evt_eur"], found["evt_early"]
    assert "evt_late" not in found
    assert (refused.severity, refused.check) == ("review", "stripe_event_refused")
    assert refused.detail == (
        "charge.refunded ch_1 for CUS-B, created 2026-11-06: "
        "refused: amount_refunded: in EUR, but payment P-stray is in USD"
    )
    assert (parked.check, parked.amount) == ("stripe_event_parked", None)
    assert "for no customer yet" in parked.detail and "parked until it" in parked.detail
    october = {e.record for e in close_report(book, "2026-10").exceptions}
    assert not october & {"evt_eur", "evt_early", "evt_late"}
