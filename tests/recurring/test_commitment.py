"""Minimum-commitment true-ups by the bill run against a real ledger (SQLite, and PostgreSQL
when TEST_DATABASE_URL is set): an annual contract billed quarterly, with usage and changes
invoiced at once, is trued up at its term end on the renewal invoice, to the cent against
the engine's preview built from the test's own record of what was billed; a cancellation
inside the term trues up the active share; a commitment is settled once, and a met one
adds nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.preview import LineOut, PreviewRequest, preview_invoice
from activities.billing.seller import load_seller
from activities.ledger.db import transaction
from activities.ledger.invariants import violations
from activities.ledger.models import (
    ContractType,
    Invoice,
    SubscriptionCommitment,
    UsageEvent,
)
from activities.recurring.batch import bill_batch
from activities.recurring.bill_run import Outcome
from activities.recurring.changes import ChangeRequest, change_subscription
from tests.recurring.factories import billing, subscription

ANCHOR = datetime(2025, 10, 1, tzinfo=UTC)  # billed quarterly from here
TERM = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
QUARTERS = [
    datetime(year, month, 1, tzinfo=UTC)
    for year, month in ((2025, 10), (2026, 1), (2026, 4), (2026, 7), (2026, 10), (2027, 1))
]
CALLS = 300_000  # per quarter: 200,000 above the 100,000 the Business plan includes


def commit(sessions: sessionmaker[Session], sub: str, amount: str) -> None:
    with transaction(sessions) as session:
        session.add(
            SubscriptionCommitment(
                subscription_id=sub,
                currency="USD",
                amount=Decimal(amount),
                period_start=TERM[0],
                period_end=TERM[1],
                created_at=ANCHOR,
            )
        )


def use(sessions: sessionmaker[Session], sub: str, start: datetime, end: datetime) -> None:
    with transaction(sessions) as session:
        session.add(
            UsageEvent(
                subscription_id=sub,
                event_id=f"calls-{start.date()}",
                metric="api_calls",
                quantity=Decimal(CALLS),
                occurred_at=start + (end - start) / 2,
                received_at=end,
            )
        )


def change(
    sessions: sessionmaker[Session], sub: str, kind: str, at: datetime, **values: Any
) -> str:
    b = billing()
    with transaction(sessions) as session:
        outcome = change_subscription(
            session,
            ChangeRequest(
                subscription_id=sub,
                kind=kind,
                at=at,
                actor="slack:U0ANALYST",
                source="slack",
                idempotency_key=f"{sub}:{kind}:{at.isoformat()}",
                **values,
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=at,
            apply=True,
        )
    assert outcome.invoice_number is not None  # annual contracts invoice changes at once
    return outcome.invoice_number


def run(sessions: sessionmaker[Session], day: date, *subs: str) -> list[Outcome]:
    with transaction(sessions) as session:
        done = bill_batch(
            session, list(subs), day, billing(), load_seller(), actor="workflow:test", now=_at(day)
        )
    assert done.skipped == []
    return done.outcomes


def _at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)


def preview(
    opening: dict[str, Any],
    start: datetime,
    issue: date,
    *,
    events: list[dict[str, Any]] = (),  # type: ignore[assignment]
    usage: tuple[datetime, datetime] | None = None,
    renew: bool = False,
    commitment: dict[str, Any] | None = None,
) -> list[LineOut]:
    request: dict[str, Any] = {
        "currency": "USD",
        "issue_date": issue.isoformat(),
        "customer": {"jurisdiction": "US-TX"},
        "subscription": {
            **opening,
            "interval": "quarter",
            "billing_anchor": ANCHOR.isoformat(),
            "current_period_start": start.isoformat(),
        },
        "events": list(events),
        "renew": renew,
    }
    if usage is not None:
        request["usage"] = [
            {
                "code": "api_calls",
                "units": str(CALLS),
                "period_start": usage[0].isoformat(),
                "period_end": usage[1].isoformat(),
            }
        ]
    if commitment is not None:
        request["commitment"] = commitment
    return preview_invoice(PreviewRequest.model_validate(request)).lines


def lines_of(sessions: sessionmaker[Session], number: str) -> list[tuple[str, Decimal, Decimal]]:
    with sessions() as session:
        invoice = session.scalars(select(Invoice).where(Invoice.number == number)).one()
        return [(line.item_code, line.amount, line.tax_amount) for line in invoice.lines]


def expected(lines: list[LineOut]) -> list[tuple[str, Decimal, Decimal]]:
    return [(line.item_code, line.amount, line.tax_amount) for line in lines]


def in_term(lines: list[LineOut]) -> Decimal:
    return sum(
        (line.amount for line in lines if TERM[0] <= line.period_start < TERM[1]), Decimal(0)
    )


def invoice_of(outcomes: list[Outcome]) -> str:
    (outcome,) = outcomes
    assert outcome.invoice is not None, outcome
    return outcome.invoice.number


def test_the_term_end_invoice_trues_up_the_shortfall_to_the_cent(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        subscription(
            session,
            "SUB-MIN",
            anchor=ANCHOR,
            now=ANCHOR + timedelta(days=10),
            interval="quarter",
            contract=ContractType.ANNUAL_INVOICED,
            usage=("api_calls",),
        )
    commit(sessions, "SUB-MIN", "5000.00")
    ten = {"plan": {"code": "business"}, "addons": [], "seats": 10}
    secure = {**ten, "addons": [{"code": "advanced_security"}]}
    fourteen = {**secure, "seats": 14}
    billed = Decimal(0)
    # The run of the term start bills its first quarter in advance (no usage before it).
    number = invoice_of(run(sessions, QUARTERS[1].date(), "SUB-MIN"))
    lines = preview(ten, QUARTERS[0], QUARTERS[1].date(), renew=True)
    assert lines_of(sessions, number) == expected(lines)
    billed += in_term(lines)
    # Each quarter: usage, a change invoiced at once in two of them, then the renewal.
    story = [
        (ten, None),
        (ten, ("addon", datetime(2026, 5, 10, tzinfo=UTC), {"addon": "advanced_security"})),
        (secure, ("seats", datetime(2026, 8, 20, tzinfo=UTC), {"seats": 14})),
        (fourteen, None),
    ]
    for quarter, (opening, made) in enumerate(story, start=1):
        start, end = QUARTERS[quarter], QUARTERS[quarter + 1]
        events: list[dict[str, Any]] = []
        now_lines: list[LineOut] = []
        if made is not None:
            kind, at, values = made
            events = [
                {
                    "type": "addon_added",
                    "at": at.isoformat(),
                    "addon": {"code": "advanced_security"},
                }
                if kind == "addon"
                else {"type": "seats_added", "at": at.isoformat(), "seats": 4}
            ]
            now_lines = preview(opening, start, at.date(), events=events)
            assert lines_of(sessions, change(sessions, "SUB-MIN", kind, at, **values)) == expected(
                now_lines
            )
            billed += in_term(now_lines)
        use(sessions, "SUB-MIN", start, end)
        outcomes = run(sessions, end.date(), "SUB-MIN")
        number = invoice_of(outcomes)
        renewal = preview(opening, start, end.date(), events=events, usage=(start, end), renew=True)
        renewal = renewal[len(now_lines) :]  # the change's lines were invoiced at once
        if end < TERM[1]:
            assert outcomes[0].true_up is None
            assert lines_of(sessions, number) == expected(renewal)
            billed += in_term(renewal)
            continue
        # The term end: the quarter's usage counts, the next quarter billed in advance not.
        billed += in_term(renewal)
        assert billed < Decimal("5000.00")
        true_up = preview(
            fourteen,
            start,
            end.date(),
            commitment={
                "amount": "5000.00",
                "period_start": TERM[0].isoformat(),
                "period_end": TERM[1].isoformat(),
                "billed_to_date": str(billed),
            },
        )
        assert [line.amount for line in true_up] == [Decimal("5000.00") - billed]
        assert outcomes[0].true_up == Decimal("5000.00") - billed
        assert lines_of(sessions, number) == expected(renewal) + expected(true_up)
        with sessions() as session:
            invoice = session.scalars(select(Invoice).where(Invoice.number == number)).one()
            assert invoice.total == sum(
                (line.amount + line.tax_amount for line in renewal + true_up), Decimal(0)
            )
            row = session.scalars(select(SubscriptionCommitment)).one()
            assert row.settled_at is not None and row.invoice_id == invoice.id
            assert violations(session) == []
    # Once: the same day again finds nothing due, and the next renewal trues up nothing.
    assert [o.outcome for o in run(sessions, TERM[1].date(), "SUB-MIN")] == ["not_due"]
    use(sessions, "SUB-MIN", QUARTERS[5], datetime(2027, 4, 1, tzinfo=UTC))
    later = run(sessions, date(2027, 4, 1), "SUB-MIN")
    assert later[0].true_up is None
    assert "minimum_commitment" not in [c for c, _, _ in lines_of(sessions, invoice_of(later))]


def test_a_cancellation_inside_the_term_trues_up_the_active_share(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        for sub in ("SUB-CUT", "SUB-MET"):
            subscription(
                session,
                sub,
                anchor=ANCHOR,
                now=ANCHOR + timedelta(days=10),
                interval="quarter",
                contract=ContractType.ANNUAL_INVOICED,
            )
    commit(sessions, "SUB-CUT", "5000.00")
    commit(sessions, "SUB-MET", "100.00")
    ten = {"plan": {"code": "business"}, "addons": [], "seats": 10}
    billed = Decimal(0)
    for quarter in (1, 2, 3):  # three quarters billed in advance, all inside the term
        renewed = run(sessions, QUARTERS[quarter].date(), "SUB-CUT", "SUB-MET")
        assert [o.true_up for o in renewed] == [None, None]
        billed += in_term(preview(ten, QUARTERS[quarter - 1], QUARTERS[quarter].date(), renew=True))
    cut = datetime(2026, 8, 15, tzinfo=UTC)
    b = billing()
    with transaction(sessions) as session:
        cancelled = change_subscription(
            session,
            ChangeRequest(
                subscription_id="SUB-CUT",
                kind="cancel",
                at=cut,
                actor="cli:test",
                idempotency_key="cut",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=cut,
            apply=True,
        )
    # The cancellation's credit is invoiced at once (annual contracts' changes are) and
    # counts against what was billed; the final invoice is the true-up alone.
    credit = preview(
        ten, QUARTERS[3], cut.date(), events=[{"type": "cancelled", "at": cut.isoformat()}]
    )
    assert cancelled.invoice_number is not None
    assert lines_of(sessions, cancelled.invoice_number) == expected(credit)
    billed += in_term(credit)
    outcomes = {
        o.subscription_id: o for o in run(sessions, QUARTERS[4].date(), "SUB-CUT", "SUB-MET")
    }
    true_up = preview(
        ten,
        QUARTERS[3],
        QUARTERS[4].date(),
        commitment={
            "amount": "5000.00",
            "period_start": TERM[0].isoformat(),
            "period_end": TERM[1].isoformat(),
            "billed_to_date": str(billed),
            "active_until": cut.isoformat(),
        },
    )
    # 5,000.00 for the 226 of 365 days it was active, less what was billed for them.
    assert [line.amount for line in true_up] == [Decimal("3095.89") - billed]
    assert outcomes["SUB-CUT"].true_up == true_up[0].amount
    assert outcomes["SUB-CUT"].invoice is not None
    assert lines_of(sessions, outcomes["SUB-CUT"].invoice.number) == expected(true_up)
    # SUB-MET is not at its term end: nothing to true up yet, and its commitment stays open.
    assert outcomes["SUB-MET"].true_up is None
    with sessions() as session:
        rows = {r.subscription_id: r for r in session.scalars(select(SubscriptionCommitment))}
        assert rows["SUB-CUT"].settled_at is not None
        assert rows["SUB-MET"].settled_at is None
    # At its term end, SUB-MET's renewals billed more than it committed: settled, no line.
    assert run(sessions, TERM[1].date(), "SUB-MET")[0].true_up is None
    with sessions() as session:
        met = session.scalars(
            select(SubscriptionCommitment).where(
                SubscriptionCommitment.subscription_id == "SUB-MET"
            )
        ).one()
        assert met.settled_at is not None and met.invoice_id is None
        assert violations(session) == []
