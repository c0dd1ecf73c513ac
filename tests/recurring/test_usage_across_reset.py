"""Usage across a change of billing interval, against a real ledger (SQLite, and PostgreSQL
when TEST_DATABASE_URL is set): usage every day, monthly → annual and annual → monthly,
under both anchor rules. The change cuts the period: usage before it is the old period's
(billed on the invoice issued at the change, or with the period's bill run), usage after
it the new period's. Every invoice is checked to the cent against the engine's draft of
the same events and units, built here from the test's own record (the cut instants are
written out, not asked of the code under test); a second bill run bills nothing; and
every unit is billed exactly once (the billed quantities add up to the events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from activities.billing import invoicing
from activities.billing.pricebook import load_pricebook
from activities.billing.proration import Interval as EngineInterval
from activities.billing.tax import load_tax_table, tax_treatment
from activities.billing.usage import UsageCharge
from activities.ledger.db import transaction
from activities.ledger.models import Invoice, UsageEvent
from activities.recurring.bill_run import Billing, bill_subscription
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.history import part_of
from activities.recurring.policy import (
    AnchorOnChange,
    ChangeInvoicing,
    ContractPolicy,
    RecurringPolicy,
)
from tests.recurring.factories import billing, subscription

BOOK = load_pricebook()
TX = tax_treatment(load_tax_table(), "US-TX")
SUB = "SUB-U"
METRICS = {"api_calls": Decimal(4000), "sms": Decimal(37)}  # a day's units of each


@dataclass
class Case:
    """One change of interval: the subscription, the change, where it cuts the period,
    and the ends of the periods billed after it (a bill run on each day bills one)."""

    name: str
    interval: EngineInterval
    new_interval: EngineInterval
    anchor: datetime
    period_start: datetime
    change_at: datetime
    cut: datetime  # where the engine's new period (or piece) begins
    policy: str
    anchor_rule: AnchorOnChange
    invoicing: ChangeInvoicing
    period_ends: list[datetime] = field(default_factory=list)
    at_once: bool = False  # the change is invoiced when it is made


CASES = [
    Case(
        "monthly-annual-reset",
        "month",
        "year",
        datetime(2026, 1, 15, tzinfo=UTC),
        datetime(2026, 11, 15, tzinfo=UTC),
        datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        datetime(2026, 11, 25, tzinfo=UTC),  # by the day: the change's day is the new one's
        "daily",
        "reset",
        "next_bill_run",  # a new annual period is invoiced at once whatever this says
        [datetime(2027, 11, 25, tzinfo=UTC)],
        at_once=True,
    ),
    Case(
        "monthly-annual-keep",
        "month",
        "year",
        datetime(2026, 1, 15, tzinfo=UTC),
        datetime(2026, 11, 15, tzinfo=UTC),
        datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        datetime(2026, 11, 25, tzinfo=UTC),
        "daily",
        "keep",
        "next_bill_run",
        [datetime(2026, 12, 15, tzinfo=UTC), datetime(2027, 12, 15, tzinfo=UTC)],
    ),
    Case(
        "annual-monthly-reset",
        "year",
        "month",
        datetime(2026, 1, 15, tzinfo=UTC),
        datetime(2026, 1, 15, tzinfo=UTC),
        datetime(2026, 6, 20, 9, 30, tzinfo=UTC),
        datetime(2026, 6, 20, 9, 30, tzinfo=UTC),  # to the second
        "stripe_like",  # a shorter interval applies at once (credit_now)
        "reset",
        "immediately",
        [datetime(2026, 7, 20, 9, 30, tzinfo=UTC), datetime(2026, 8, 20, 9, 30, tzinfo=UTC)],
        at_once=True,
    ),
    Case(
        "annual-monthly-keep",
        "year",
        "month",
        datetime(2026, 1, 15, tzinfo=UTC),
        datetime(2026, 1, 15, tzinfo=UTC),
        datetime(2026, 6, 20, 9, 30, tzinfo=UTC),
        datetime(2026, 6, 20, 9, 30, tzinfo=UTC),
        "stripe_like",
        "keep",
        "next_bill_run",
        [datetime(2026, 7, 15, tzinfo=UTC), datetime(2026, 8, 15, tzinfo=UTC)],
    ),
]


def _billing(case: Case) -> Billing:
    base = billing()
    contract = ContractPolicy(
        proration_policy=case.policy,
        change_invoicing=case.invoicing,
        anchor_on_change=case.anchor_rule,
    )
    return Billing(
        base.book, base.taxes, RecurringPolicy(contract_types={"self_serve_monthly": contract})
    )


class Usage:
    """The test's own record of the usage sent: (time, metric, quantity) per event."""

    def __init__(self) -> None:
        self.sent: list[tuple[datetime, str, Decimal]] = []

    def send(self, sessions: sessionmaker[Session], start: datetime, end: datetime) -> None:
        """One event of each metric at noon of every day in [start, end)."""
        day = datetime.combine(start.date(), datetime.min.time(), tzinfo=UTC)
        rows = []
        while day < end:
            noon = day + timedelta(hours=12)
            if start <= noon < end:
                for metric, quantity in METRICS.items():
                    rows.append((noon, metric, quantity))
            day += timedelta(days=1)
        self.add(sessions, rows)

    def add(
        self, sessions: sessionmaker[Session], rows: list[tuple[datetime, str, Decimal]]
    ) -> None:
        with transaction(sessions) as session:
            for at, metric, quantity in rows:
                session.add(
                    UsageEvent(
                        subscription_id=SUB,
                        event_id=f"{metric}-{at.isoformat()}-{len(self.sent)}",
                        metric=metric,
                        quantity=quantity,
                        occurred_at=at,
                        received_at=at,
                    )
                )
                self.sent.append((at, metric, quantity))

    def units(
        self, metric: str, start: datetime, end: datetime, upto: int | None = None
    ) -> Decimal:
        """Units of ``metric`` in [start, end) among the first ``upto`` events sent."""
        return sum(
            (q for at, m, q in self.sent[:upto] if m == metric and start <= at < end),
            Decimal(0),
        )

    def charges(
        self,
        windows: list[tuple[datetime, datetime]],
        *,
        billed_upto: int | None = None,
    ) -> list[UsageCharge]:
        """The engine's usage input for ``windows``: the units sent in each, less those an
        earlier invoice billed (the events sent before ``billed_upto``)."""
        charges = []
        for start, end in windows:
            for metric in sorted(METRICS):
                units = self.units(metric, start, end)
                before = self.units(metric, start, end, billed_upto) if billed_upto else Decimal(0)
                addon = BOOK.usage_addon(metric)
                charges.append(
                    UsageCharge(
                        metric,
                        addon.name,
                        addon.unit,
                        start,
                        end,
                        units,
                        BOOK.usage_price(metric, "USD", "business"),
                        before,
                    )
                )
        return charges


def _opening(case: Case) -> invoicing.Subscription:
    price = BOOK.plan_price("business", case.interval, "USD")
    return invoicing.Subscription(
        "USD", case.anchor, case.interval, price, 10, period_start=case.period_start
    )


def _event(case: Case) -> invoicing.PlanChanged:
    return invoicing.PlanChanged(
        case.change_at, BOOK.plan_price("business", case.new_interval, "USD"), case.new_interval, ()
    )


def _invoices(sessions: sessionmaker[Session]) -> list[Invoice]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == SUB)
                .order_by(Invoice.id)
                .options(selectinload(Invoice.lines))
            )
        )


def _same(invoice: Invoice, expected: invoicing.InvoiceDraft) -> None:
    assert [(line.item_code, line.amount) for line in invoice.lines] == [
        (line.item_code, line.amount) for line in expected.lines
    ]
    assert (invoice.total, invoice.tax_total) == (expected.total, expected.tax_total)


def _bill(sessions: sessionmaker[Session], b: Billing, day: date) -> list[str]:
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    with transaction(sessions) as session:
        return [o.outcome for o in bill_subscription(session, SUB, day, b, actor="t", now=now)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_usage_is_split_at_a_change_of_interval(
    sessions: sessionmaker[Session], case: Case
) -> None:
    b = _billing(case)
    with transaction(sessions) as session:
        subscription(
            session,
            SUB,
            anchor=case.anchor,
            now=case.period_start,
            seats=10,
            interval=case.interval,
            usage=tuple(sorted(METRICS)),
        )
    usage = Usage()
    earlier: list[UsageCharge] = []
    if case.interval == "month":
        # An event of the month before, not billed yet when the change is made: the
        # change's invoice leaves it to the bill run, which bills it as late usage, in
        # that month (counted on the monthly schedule, not the annual one it has since).
        late_before = case.period_start - timedelta(days=2)
        usage.add(sessions, [(late_before, "sms", Decimal(3))])
        earlier = usage.charges([(datetime(2026, 10, 15, tzinfo=UTC), case.period_start)])
    usage.send(sessions, case.period_start, case.change_at)
    before_change = len(usage.sent)
    with transaction(sessions) as session:
        outcome = change_subscription(
            session,
            ChangeRequest(
                subscription_id=SUB,
                kind="interval",
                interval=case.new_interval,
                at=case.change_at,
                actor="cli:test",
                idempotency_key=f"{SUB}:interval",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=case.change_at,
            apply=True,
        )
    old = (case.period_start, case.cut)
    terms = invoicing.InvoiceTerms(issue_date=case.change_at.date(), tax=TX)
    proration = b.policy.for_contract("self_serve_monthly").proration
    change_lines = len(
        invoicing.draft_invoice(_opening(case), [_event(case)], terms=terms, policy=proration).lines
    )
    if case.at_once:
        # The invoice of the change bills the old period's usage with the change's lines,
        # as the preview of the change said it would.
        expected = invoicing.draft_invoice(
            _opening(case),
            [_event(case)],
            terms=terms,
            policy=proration,
            usage=usage.charges([old]),
        )
        [at_change] = _invoices(sessions)
        assert at_change.number == outcome.invoice_number
        _same(at_change, expected)
        assert outcome.pending_total == expected.total
        assert any("SMS" in line.description for line in outcome.pending)
    else:
        assert _invoices(sessions) == [] and outcome.invoice_number is None

    # Usage goes on every day; one event of the old period arrives late.
    late_at = case.period_start + timedelta(days=3, hours=13)
    usage.add(sessions, [(late_at, "sms", Decimal(5))])
    billed_at_change = before_change if case.at_once else 0
    first_end, *later = case.period_ends
    first = first_end.date()
    usage.send(sessions, case.change_at, first_end)
    # (a net credit when the unused year credited outweighs the month billed)
    assert _bill(sessions, b, first) in (["invoiced"], ["credited"])
    assert _bill(sessions, b, first) == ["not_due"]  # a second run bills nothing
    renewal_terms = invoicing.InvoiceTerms(issue_date=first, tax=TX)
    full = invoicing.draft_invoice(
        _opening(case),
        [_event(case)],
        terms=renewal_terms,
        policy=proration,
        usage=[
            *earlier,
            *usage.charges([old, (case.cut, first_end)], billed_upto=billed_at_change),
        ],
        renew=True,
    )
    renewed = _invoices(sessions)[-1]
    _same(renewed, part_of(full, full.lines[change_lines if case.at_once else 0 :]))
    assert [
        (line.period_start, line.period_end)
        for line in renewed.lines
        if line.item_code == "sms" and line.period_start and line.period_start < case.period_start
    ] == [(charge.period_start, charge.period_end) for charge in earlier if charge.code == "sms"]
    late_lines = [
        line
        for line in renewed.lines
        if line.item_code == "sms" and line.period_start == case.period_start
    ]
    # The late event is billed with its own (old) period, on the next invoice.
    assert [line.quantity for line in late_lines] == (
        [Decimal(5)] if case.at_once else [usage.units("sms", *old)]
    )

    # Then plain renewals of the new interval, each with its period's usage.
    start = first_end
    for end in later:
        day = end.date()
        usage.send(sessions, start, end)
        assert _bill(sessions, b, day) == ["invoiced"]
        assert _bill(sessions, b, day) == ["not_due"]
        plain = invoicing.draft_invoice(
            invoicing.Subscription(
                "USD",
                start,
                case.new_interval,
                BOOK.plan_price("business", case.new_interval, "USD"),
                10,
                period_start=start,
            ),
            terms=invoicing.InvoiceTerms(issue_date=day, tax=TX),
            usage=usage.charges([(start, end)]),
            renew=True,
        )
        _same(_invoices(sessions)[-1], plain)
        start = end

    # Every unit billed once: every event marked with the invoice that billed it, and the
    # billed quantities of the per-unit metric add up to what was sent.
    with sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(UsageEvent).where(UsageEvent.invoice_id.is_(None))
            )
            == 0
        )
    billed = sum(
        (
            line.quantity
            for invoice in _invoices(sessions)
            for line in invoice.lines
            if line.item_code == "sms"
        ),
        Decimal(0),
    )
    assert billed == sum((q for _, m, q in usage.sent if m == "sms"), Decimal(0))
