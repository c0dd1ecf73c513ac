"""A pause and a resume through the ledger (SQLite, and PostgreSQL when TEST_DATABASE_URL is
set), each invoiced on its own (at once, or at the bill run, as the contract says), in one
period or in two with the bill run between, under every peer preset and anchor rule.

The check is the whole history: every line the ledger invoiced, in order, is the line the
engine drafts when it prices the same events period after period on its own schedule, so
what was billed less what was credited is the engine's figure to the cent, no time is
billed twice and no credit exceeds what was billed for its period; the book adds up
(activities/ledger/invariants.py).

Under ``anchor_on_change: realign`` (Kill Bill) a resume in a quarterly or annual period
starts a period of its own, to the first billing day on or after it. The ledger's period
used to keep its old end: the bill run renewed on the old day, billing the engine's new
period in advance, then renewed again a year on from the old day, so the months between
the two days were billed twice (an annual plan resumed on 4 Jun 2026, billing day 1:
1 Jan - 1 Jun 2028 was on two invoices).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from activities.billing import invoicing
from activities.billing.proration import Interval, ProrationPolicy, period_containing
from activities.ledger.db import transaction
from activities.ledger.invariants import violations
from activities.ledger.models import Invoice, Subscription, SubscriptionPeriod
from activities.recurring.bill_run import Billing, bill_subscription, cutoff
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.policy import (
    AnchorOnChange,
    ChangeInvoicing,
    ContractPolicy,
    RecurringPolicy,
)
from tests.recurring.factories import billing, subscription

PRESETS = (
    "stripe_like",
    "chargebee_like",
    "zuora_30_day",
    "killbill_like",
    "lago_calendar",
    "lago_anniversary",
)
RULES: tuple[AnchorOnChange | None, ...] = (None, "reset", "keep", "realign")
SEATS = 10

Line = tuple[str, datetime, datetime, Decimal]


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Story:
    """A subscription billed from ``anchor`` (its period the one holding ``now``), paused
    and resumed at ``changes``; with ``bill_between`` the bill run runs on each change's
    day first (a change in a later period needs the earlier one billed), and always on
    ``last_run``."""

    interval: Interval
    anchor: datetime
    now: datetime
    changes: tuple[tuple[str, datetime], ...]
    bill_between: bool
    last_run: date


STORIES = {
    # Kill Bill's testPauseResumeAnnual, on our calendar: both in the first period.
    "annual, one period": Story(
        "year",
        at(2026, 1, 1),
        at(2026, 3, 1),
        (("pause", at(2026, 3, 10, 9)), ("resume", at(2026, 6, 4, 9))),
        False,
        date(2029, 1, 2),
    ),
    # Paused in the first year, billed (nothing for the paused year), resumed in the next.
    "annual, two periods": Story(
        "year",
        at(2026, 1, 1),
        at(2026, 3, 1),
        (("pause", at(2026, 3, 10, 9)), ("resume", at(2027, 2, 4, 9))),
        True,
        date(2029, 1, 2),
    ),
    "quarterly, one period": Story(
        "quarter",
        at(2026, 1, 1),
        at(2026, 1, 5),
        (("pause", at(2026, 1, 10, 9)), ("resume", at(2026, 2, 20, 9))),
        False,
        date(2026, 12, 2),
    ),
    # Resumed at the first instant of a later period.
    "monthly, resumed on the billing day": Story(
        "month",
        at(2026, 1, 15),
        at(2026, 3, 16),
        (("pause", at(2026, 3, 20, 9)), ("resume", at(2026, 4, 15))),
        True,
        date(2026, 7, 16),
    ),
}


def contract_billing(
    preset: str, rule: AnchorOnChange | None, change_invoicing: ChangeInvoicing
) -> Billing:
    base = billing()
    contract = ContractPolicy(
        proration_policy=preset, change_invoicing=change_invoicing, anchor_on_change=rule
    )
    return Billing(
        base.book, base.taxes, RecurringPolicy(contract_types={"self_serve_monthly": contract})
    )


def live(sessions: sessionmaker[Session], story: Story, b: Billing) -> list[Line]:
    """Record the story through the product's own functions; every line it invoiced."""
    with transaction(sessions) as session:
        subscription(session, "SUB-P", anchor=story.anchor, now=story.now, interval=story.interval)
    for kind, when in story.changes:
        if story.bill_between:
            bill(sessions, b, when.date())
        with transaction(sessions) as session:
            change_subscription(
                session,
                ChangeRequest(
                    subscription_id="SUB-P",
                    kind=kind,
                    at=when,
                    actor="cli:test",
                    idempotency_key=f"SUB-P:{kind}:{when.isoformat()}",
                ),
                book=b.book,
                taxes=b.taxes,
                policy=b.policy,
                now=when,
                apply=True,
            )
    bill(sessions, b, story.last_run)
    with sessions() as session:
        assert violations(session) == []
        billed = session.scalars(
            select(Invoice)
            .where(Invoice.subscription_id == "SUB-P")
            .order_by(Invoice.id)
            .options(selectinload(Invoice.lines))
        )
        return [
            (line.kind.value, line.period_start, line.period_end, line.amount)
            for invoice in billed
            for line in invoice.lines
            if line.period_start is not None and line.period_end is not None
        ]


def bill(sessions: sessionmaker[Session], b: Billing, day: date) -> None:
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    with transaction(sessions) as session:
        bill_subscription(session, "SUB-P", day, b, actor="workflow:test", now=now)


def engine_history(story: Story, policy: ProrationPolicy, b: Billing) -> list[Line]:
    """The engine alone: each period from the subscription as it stood at its start, with
    the events that fall in it, renewed on the engine's own schedule (``schedule_after``),
    for every period that ends before the last bill run's cut-off."""
    plan = b.book.plan_price("business", story.interval, "USD")
    start, _ = period_containing(story.anchor, story.interval, story.now)
    opening = invoicing.Subscription(
        "USD", story.anchor, story.interval, plan, SEATS, period_start=start
    )
    waiting: list[invoicing.Event] = [
        invoicing.Paused(when) if kind == "pause" else invoicing.Resumed(when)
        for kind, when in story.changes
    ]
    lines: list[Line] = []
    paused = False
    while True:
        events: list[invoicing.Event] = []
        while (
            waiting and waiting[0].at < invoicing.schedule_after(opening, events, policy=policy).end
        ):
            events.append(waiting.pop(0))
        schedule = invoicing.schedule_after(opening, events, policy=policy)
        if schedule.end >= cutoff(story.last_run):
            return lines
        draft = invoicing.draft_invoice(
            opening,
            events,
            terms=invoicing.InvoiceTerms(issue_date=schedule.end.date()),
            policy=policy,
            renew=True,
        )
        lines += [(x.kind, x.period_start, x.period_end, x.amount) for x in draft.lines]
        for event in events:
            paused = isinstance(event, invoicing.Paused)
        opening = invoicing.Subscription(
            "USD",
            schedule.anchor,
            schedule.interval,
            plan,
            SEATS,
            period_start=schedule.end,
            paused=paused,
        )


def first_period(story: Story, b: Billing) -> Line:
    """The period the story starts in, paid in full before it (tests/recurring/factories.py)."""
    start, end = period_containing(story.anchor, story.interval, story.now)
    price = b.book.plan_price("business", story.interval, "USD").unit_amount
    return ("charge", start, end, price * SEATS)


def credits_within_billed(lines: Sequence[Line]) -> None:
    """No period is credited more than was billed for it (a credit runs to its period's end)."""
    for end in {end for _, _, end, _ in lines}:
        charged = sum((a for kind, _, e, a in lines if e == end and kind == "charge"), Decimal(0))
        credited = -sum((a for kind, _, e, a in lines if e == end and kind == "credit"), Decimal(0))
        assert credited <= charged, f"period ending {end}: credited {credited}, billed {charged}"


#: Every anchor rule on Kill Bill's annual story; the preset's own rule and realign (the
#: one that moves the period) on the others.
CASES = [
    (preset, rule, name)
    for name in STORIES
    for preset in PRESETS
    for rule in (RULES if name == "annual, one period" else (None, "realign"))
]


@pytest.mark.parametrize(
    ("preset", "rule", "story_name"),
    CASES,
    ids=[f"{name}-{preset}-{rule or 'preset'}" for preset, rule, name in CASES],
)
def test_pause_and_resume_bill_the_engines_history_to_the_cent(
    sessions: sessionmaker[Session], preset: str, rule: AnchorOnChange | None, story_name: str
) -> None:
    story = STORIES[story_name]
    # Both invoicing rules, taken in turn: changes invoiced at once, or at the bill run.
    change_invoicing: ChangeInvoicing = (
        "immediately" if (PRESETS.index(preset) + RULES.index(rule)) % 2 else "next_bill_run"
    )
    b = contract_billing(preset, rule, change_invoicing)
    policy = b.policy.for_contract("self_serve_monthly").proration
    billed = live(sessions, story, b)
    expected = engine_history(story, policy, b)
    assert billed == expected
    assert sum((line[3] for line in billed), Decimal(0)) == sum(
        (line[3] for line in expected), Decimal(0)
    )
    credits_within_billed([first_period(story, b), *billed])


def test_a_resume_that_realigns_the_year_moves_the_ledgers_period_with_it(
    sessions: sessionmaker[Session],
) -> None:
    """Kill Bill's annual resume: the period runs to 1 Jun 2027 and renews from there, once."""
    story = STORIES["annual, one period"]
    b = contract_billing("killbill_like", None, "next_bill_run")
    billed = live(sessions, story, b)
    with sessions() as session:
        period = session.get(SubscriptionPeriod, "SUB-P")
        sub = session.get(Subscription, "SUB-P")
        assert period is not None and sub is not None
        assert (period.period_start, period.period_end) == (at(2028, 6, 1), at(2029, 6, 1))
        assert sub.billing_anchor == at(2027, 6, 1)
    renewals = [(start, end) for kind, start, end, _ in billed if kind == "charge"]
    assert renewals == [
        (at(2026, 6, 4), at(2027, 6, 1)),  # the resume, to the billing day a year on
        (at(2027, 6, 1), at(2028, 6, 1)),
        (at(2028, 6, 1), at(2029, 6, 1)),
    ]


def test_a_plan_change_that_realigns_the_year_is_billed_once_per_day(
    sessions: sessionmaker[Session],
) -> None:
    """The same rule moves an annual period at an upgrade (Kill Bill's testChangeAnnualToAnnual
    shape): 4 Jun 2026 - 1 Jun 2027 on the change's invoice, then whole years from 1 Jun;
    1 Jan - 1 Jun 2028 was billed twice before the ledger's period followed the engine's."""
    b = contract_billing("killbill_like", None, "next_bill_run")
    with transaction(sessions) as session:
        subscription(session, "SUB-P", anchor=at(2026, 1, 1), now=at(2026, 3, 1), interval="year")
    change = at(2026, 6, 4, 9)
    with transaction(sessions) as session:
        outcome = change_subscription(
            session,
            ChangeRequest(
                subscription_id="SUB-P",
                kind="plan",
                plan="enterprise",
                at=change,
                actor="cli:test",
                idempotency_key="SUB-P:plan",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=change,
            apply=True,
        )
    # Its new period ends after the old one: billed in advance, at once.
    assert outcome.invoice_number is not None and outcome.period_end == at(2027, 6, 1)
    bill(sessions, b, date(2029, 1, 2))
    with sessions() as session:
        lines = session.scalars(
            select(Invoice).where(Invoice.subscription_id == "SUB-P").order_by(Invoice.id)
        ).all()
        charges = [
            (line.period_start, line.period_end)
            for invoice in lines
            for line in invoice.lines
            if line.kind.value == "charge"
        ]
    assert charges == [
        (at(2026, 6, 4), at(2027, 6, 1)),
        (at(2027, 6, 1), at(2028, 6, 1)),
        (at(2028, 6, 1), at(2029, 6, 1)),
    ]
