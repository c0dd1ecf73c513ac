"""A change of billing interval against a real ledger (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set): monthly → annual in the middle of a period under both anchor
policies, every invoice to the cent against the engine's draft of the same events, the
period and the billing day where the engine has them, each period billed once, a change
and its reversal at one instant netting to zero, and refusals that write nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from activities.billing import invoicing
from activities.billing.pricebook import load_pricebook
from activities.billing.seller import load_seller
from activities.billing.tax import load_tax_table, tax_treatment
from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import (
    AuditEntry,
    ContractType,
    Interval,
    Invoice,
    Subscription,
    SubscriptionEvent,
    SubscriptionEventKind,
    SubscriptionPeriod,
)
from activities.paths import REPO_ROOT
from activities.recurring.batch import bill_batch
from activities.recurring.bill_run import Billing, Outcome, bill_subscription, due_subscriptions
from activities.recurring.changes import ChangeOutcome, ChangeRequest, change_subscription
from activities.recurring.history import part_of
from activities.recurring.policy import (
    AnchorOnChange,
    ContractPolicy,
    PolicyError,
    RecurringPolicy,
    load_policy,
)
from tests.cli.conftest import CliResult
from tests.recurring.factories import billing, subscription

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the period is 15 Nov – 15 Dec 2026
PERIOD_START = datetime(2026, 11, 15, tzinfo=UTC)
CHANGE_AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
BOOK = load_pricebook()
TX = tax_treatment(load_tax_table(), "US-TX")
MONTHLY = BOOK.plan_price("business", "month", "USD")
ANNUAL = BOOK.plan_price("business", "year", "USD")


def policy(anchor: AnchorOnChange) -> Billing:
    """The shipped price book and tax table; self-serve monthly contracts invoice changes
    at the next bill run, by the day, with the given anchor rule."""
    base = billing()
    contract = ContractPolicy(
        proration_policy="daily", change_invoicing="next_bill_run", anchor_on_change=anchor
    )
    return Billing(
        base.book, base.taxes, RecurringPolicy(contract_types={"self_serve_monthly": contract})
    )


def change(
    sessions: sessionmaker[Session],
    b: Billing,
    interval: str,
    *,
    at: datetime = CHANGE_AT,
    apply: bool = True,
    key: str | None = None,
    sub: str = "SUB-I",
) -> ChangeOutcome:
    with transaction(sessions) as session:
        return change_subscription(
            session,
            ChangeRequest(
                subscription_id=sub,
                kind="interval",
                interval=interval,
                at=at,
                actor="cli:test",
                reason="customer asked for annual billing",
                idempotency_key=key or f"{sub}:interval:{interval}:{at.isoformat()}",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=at,
            apply=apply,
        )


def run(
    sessions: sessionmaker[Session], b: Billing, day: date, *, batch: bool = False
) -> list[Outcome]:
    """The subscription billed alone, or (``batch``) by the bill run's batch path."""
    with transaction(sessions) as session:
        if batch:
            done = bill_batch(
                session, ["SUB-I"], day, b, load_seller(), actor="workflow:test", now=NOW
            )
            assert done.skipped == []
            return done.outcomes
        return bill_subscription(session, "SUB-I", day, b, actor="workflow:test", now=NOW)


def invoices(sessions: sessionmaker[Session]) -> list[Invoice]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == "SUB-I")
                .order_by(Invoice.id)
                .options(selectinload(Invoice.lines))
            )
        )


def expected(
    anchor: AnchorOnChange, events: list[invoicing.Event], issue: date
) -> invoicing.InvoiceDraft:
    """The engine's draft of the period from the subscription as it stood at its start."""
    opening = invoicing.Subscription("USD", ANCHOR, "month", MONTHLY, 10, period_start=PERIOD_START)
    return invoicing.draft_invoice(
        opening,
        events,
        terms=invoicing.InvoiceTerms(issue_date=issue, tax=TX),
        policy=policy(anchor).policy.for_contract("self_serve_monthly").proration,
        renew=True,
    )


def renewal(start: datetime, issue: date) -> invoicing.InvoiceDraft:
    """A plain annual renewal from ``start`` (its own anchor)."""
    return invoicing.draft_invoice(
        invoicing.Subscription("USD", start, "year", ANNUAL, 10, period_start=start),
        terms=invoicing.InvoiceTerms(issue_date=issue, tax=TX),
        renew=True,
    )


def state(sessions: sessionmaker[Session]) -> tuple[Interval, datetime, datetime, datetime]:
    with sessions() as session:
        sub = session.get(Subscription, "SUB-I")
        period = session.get(SubscriptionPeriod, "SUB-I")
        assert sub is not None and period is not None
        return sub.interval, sub.billing_anchor, period.period_start, period.period_end


def test_monthly_to_annual_resets_the_anchor_and_is_invoiced_at_once(
    sessions: sessionmaker[Session],
) -> None:
    """Stripe's rule: a new annual period starts on the change's day; it is billed in
    advance now (a renewal a year away cannot wait), and the bill run bills the next year."""
    b = policy("reset")
    with transaction(sessions) as session:
        subscription(session, "SUB-I", anchor=ANCHOR, now=NOW, seats=10)
    preview = change(sessions, b, "year", apply=False)
    with sessions() as session:  # a preview writes nothing
        assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 0
    new_start = datetime(2026, 11, 25, tzinfo=UTC)  # the change's day, by the day
    assert (preview.period_start, preview.period_end) == (
        new_start,
        datetime(2027, 11, 25, tzinfo=UTC),
    )
    assert preview.invoicing == "immediately"

    applied = change(sessions, b, "year")
    assert applied.invoice_number is not None
    again = change(sessions, b, "year")  # the same idempotency key: recorded once
    assert again.already_recorded and again.invoicing == "immediately"
    assert len(invoices(sessions)) == 1
    assert state(sessions) == (
        Interval.YEAR,
        new_start,
        PERIOD_START,
        datetime(2027, 11, 25, tzinfo=UTC),
    )
    event = invoicing.PlanChanged(CHANGE_AT, ANNUAL, "year", ())
    full = expected("reset", [event], date(2027, 11, 25))
    [credit, charge, next_year] = full.lines
    assert credit.amount == Decimal("-166.67")  # 20 of 30 days of 10 × 25.00
    assert charge.amount == Decimal("2500.00")
    [at_once] = invoices(sessions)
    now_part = part_of(full, [credit, charge])
    assert (at_once.total, at_once.tax_total) == (now_part.total, now_part.tax_total)
    assert at_once.source_key == f"change:SUB-I:interval:year:{CHANGE_AT.isoformat()}"

    # The old period's end no longer bills anything; the new one's does, once.
    with sessions() as session:
        assert due_subscriptions(session, date(2026, 12, 15)) == []
        assert due_subscriptions(session, date(2027, 11, 25)) == ["SUB-I"]
    assert [o.outcome for o in run(sessions, b, date(2027, 11, 25))] == ["invoiced"]
    assert [o.outcome for o in run(sessions, b, date(2027, 11, 25))] == ["not_due"]
    [_, renewed] = invoices(sessions)
    last = part_of(full, [next_year])
    assert (renewed.total, renewed.tax_total) == (last.total, last.tax_total)
    assert renewed.source_key == "bill-run:SUB-I:2026-11-15T00:00:00+00:00"
    assert sum(i.total for i in invoices(sessions)) == full.total
    # The period after: a whole year on the new anchor, billed like any annual renewal.
    assert state(sessions)[2:] == (
        datetime(2027, 11, 25, tzinfo=UTC),
        datetime(2028, 11, 25, tzinfo=UTC),
    )
    run(sessions, b, date(2028, 11, 25))
    third = invoices(sessions)[-1]
    assert third.total == renewal(datetime(2027, 11, 25, tzinfo=UTC), date(2028, 11, 25)).total


@pytest.mark.parametrize("batch", [False, True], ids=["alone", "batch"])
def test_monthly_to_annual_keeping_the_billing_day_waits_for_the_bill_run(
    sessions: sessionmaker[Session], batch: bool
) -> None:
    """The billing day kept (anchor_on_change keep): the 15th stays; the annual plan is
    charged from the change to the 15th, then whole years; the contract's policy
    (next_bill_run) puts it all on the invoice of the 15th."""
    b = policy("keep")
    with transaction(sessions) as session:
        subscription(session, "SUB-I", anchor=ANCHOR, now=NOW, seats=10)
    applied = change(sessions, b, "year")
    assert applied.invoice_number is None and applied.invoicing == "next_bill_run"
    billing_day = datetime(2026, 12, 15, tzinfo=UTC)
    assert state(sessions) == (Interval.YEAR, billing_day, PERIOD_START, billing_day)
    assert invoices(sessions) == []

    with sessions() as session:
        assert due_subscriptions(session, date(2026, 12, 15)) == ["SUB-I"]
    assert [o.outcome for o in run(sessions, b, date(2026, 12, 15), batch=batch)] == ["invoiced"]
    assert [o.outcome for o in run(sessions, b, date(2026, 12, 15), batch=batch)] == ["not_due"]
    event = invoicing.PlanChanged(CHANGE_AT, ANNUAL, "year", ())
    full = expected("keep", [event], date(2026, 12, 15))
    [credit, piece, year] = full.lines
    assert credit.amount == Decimal("-166.67")
    assert piece.amount == Decimal("136.99")  # 20 of 365 days of 10 × 250.00
    assert year.period_start == billing_day
    [invoice] = invoices(sessions)
    assert (invoice.total, invoice.tax_total) == (full.total, full.tax_total)
    assert [line.amount for line in invoice.lines] == [line.amount for line in full.lines]

    assert state(sessions)[2:] == (billing_day, datetime(2027, 12, 15, tzinfo=UTC))
    run(sessions, b, date(2027, 12, 15), batch=batch)
    assert invoices(sessions)[-1].total == renewal(billing_day, date(2027, 12, 15)).total


@pytest.mark.parametrize("anchor", ["reset", "keep"])
def test_a_change_of_interval_and_its_reversal_at_one_instant_net_to_zero(
    sessions: sessionmaker[Session], anchor: AnchorOnChange
) -> None:
    """Monthly → annual → monthly at one instant: the period, the billing day and the next
    invoice are as if nothing had changed. Under ``reset`` the first change is invoiced at
    once, so the reversal is the engine's (the ledger refuses to rewrite an invoiced
    instant, and says so); under ``keep`` both are recorded and the bill run nets them."""
    b = policy(anchor)
    with transaction(sessions) as session:
        subscription(session, "SUB-I", anchor=ANCHOR, now=NOW, seats=10)
    there = invoicing.PlanChanged(CHANGE_AT, ANNUAL, "year", ())
    back = invoicing.PlanChanged(CHANGE_AT, MONTHLY, "month", ())
    plain = expected(anchor, [], date(2026, 12, 15))
    both = expected(anchor, [there, back], date(2026, 12, 15))
    assert [line.amount for line in both.lines] == [line.amount for line in plain.lines]
    assert both.total == plain.total == Decimal("262.50")  # 10 × 25.00 + Texas tax on 80 %

    before = state(sessions)
    change(sessions, b, "year")
    if anchor == "reset":
        with pytest.raises(
            LedgerError, match=r"at: .* is not after the last change already invoiced"
        ):
            change(sessions, b, "month")
        return
    change(sessions, b, "month")
    assert state(sessions) == before
    run(sessions, b, date(2026, 12, 15))
    [invoice] = invoices(sessions)
    assert invoice.total == plain.total


@pytest.mark.parametrize(
    ("interval", "at", "message"),
    [
        ("week", CHANGE_AT, "interval: 'week' is not a billing interval (month, quarter, year)"),
        ("month", CHANGE_AT, "interval: the subscription is already billed every month"),
        (
            "year",
            datetime(2026, 11, 14, 23, 0, tzinfo=UTC),
            "at: 2026-11-14T23:00:00+00:00 is before the current period started",
        ),
    ],
)
def test_a_refused_change_of_interval_writes_nothing(
    sessions: sessionmaker[Session], interval: str, at: datetime, message: str
) -> None:
    b = policy("reset")
    with transaction(sessions) as session:
        subscription(session, "SUB-I", anchor=ANCHOR, now=NOW, seats=10)
    with pytest.raises(LedgerError, match=re.escape(message)):
        change(sessions, b, interval, at=at)
    _nothing_written(sessions)


def test_a_cancelled_subscription_is_refused(sessions: sessionmaker[Session]) -> None:
    b = policy("reset")
    with transaction(sessions) as session:
        subscription(session, "SUB-I", anchor=ANCHOR, now=NOW, seats=10)
        session.get_one(Subscription, "SUB-I").status = "cancelled"  # type: ignore[assignment]
    with pytest.raises(LedgerError, match="subscription SUB-I: is cancelled"):
        change(sessions, b, "year")
    _nothing_written(sessions)


def _nothing_written(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 0
        assert session.scalar(select(func.count()).select_from(Invoice)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        period = session.get_one(SubscriptionPeriod, "SUB-I")
        assert (period.opening, period.period_end) == (None, datetime(2026, 12, 15, tzinfo=UTC))
        assert session.get_one(Subscription, "SUB-I").interval == Interval.MONTH


def test_the_event_and_its_audit_say_what_moved(sessions: sessionmaker[Session]) -> None:
    b = policy("reset")
    with transaction(sessions) as session:
        subscription(session, "SUB-I", anchor=ANCHOR, now=NOW, seats=10)
    change(sessions, b, "year")
    with sessions() as session:
        [event] = session.scalars(select(SubscriptionEvent)).all()
        assert event.kind == SubscriptionEventKind.INTERVAL_CHANGED
        assert (event.effective_at, event.actor, event.reason) == (
            CHANGE_AT,
            "cli:test",
            "customer asked for annual billing",
        )
        assert event.details == {"interval": "year", "addons": []}
        assert event.unit_price == ANNUAL.unit_amount
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "subscription.interval_changed")
        ).one()
        assert entry.before is not None and entry.after is not None
        assert entry.before["interval"] == "month" and entry.after["interval"] == "year"
        assert entry.after["billing_anchor"].startswith("2026-11-25")
        assert entry.after["period_end"].startswith("2027-11-25")


def test_the_command_line_previews_then_applies_with_yes(
    cli: Callable[..., CliResult], ledger_env: dict[str, str]
) -> None:
    """`subscription change SUB --interval year`: the preview first, written only with
    --yes; each refusal one line naming the field, nothing written."""
    url = ledger_env["DATABASE_URL"]
    assert cli("init-db")[0] == 0
    now = datetime.now(UTC)
    anchor = datetime.combine((now - timedelta(days=40)).date(), time(), tzinfo=UTC)
    sessions = session_factory(make_engine(url))
    with transaction(sessions) as session:
        subscription(session, "SUB-9", anchor=anchor, now=now, seats=10)
        start = session.get_one(SubscriptionPeriod, "SUB-9").period_start

    for args, message in (
        (("--interval", "week"), "interval: 'week' is not a billing interval"),
        (("--interval", "month"), "interval: the subscription is already billed every month"),
        (("--interval", "year", "--at", "2020-01-01"), "before the current period started"),
        (("--interval", "year", "--seats", "3"), "exactly one of"),
    ):
        status, _, err = cli("subscription", "change", "SUB-9", *args, "--yes")
        assert status == 1 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1
    status, out, _ = cli("subscription", "change", "SUB-9", "--interval", "year")
    assert status == 0, out
    assert "interval month → year" in out and "invoiced at once" in out
    assert "nothing changed: add --yes" in out
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionEvent)) == 0

    status, out, _ = cli("subscription", "change", "SUB-9", "--interval", "year", "--yes")
    assert status == 0, out
    assert "invoiced now: INV-" in out
    with sessions() as session:
        assert session.get_one(Subscription, "SUB-9").interval == Interval.YEAR
        period = session.get_one(SubscriptionPeriod, "SUB-9")
        assert period.period_start == start and period.period_end.year == now.year + 1
    status, out, _ = cli("subscription", "show", "SUB-9")
    assert status == 0 and "interval_changed year" in out, out


def test_the_anchor_rule_is_set_per_contract_type_and_checked_at_load(tmp_path: Path) -> None:
    shipped = (REPO_ROOT / "config" / "recurring_billing.yaml").read_text(encoding="utf-8")
    kept = shipped.replace(
        "    change_invoicing: next_bill_run\n",
        "    change_invoicing: next_bill_run\n    anchor_on_change: keep\n",
    )
    (tmp_path / "recurring_billing.yaml").write_text(kept, encoding="utf-8")
    loaded = load_policy(tmp_path)
    assert loaded.for_contract("self_serve_monthly").proration.anchor_on_change == "keep"
    assert loaded.for_contract("annual_invoiced").proration.anchor_on_change == "reset"
    # Kill Bill's rule, which also realigns a quarterly or annual period on a resume or a
    # plan change (tests/recurring/test_pause_resume.py bills it through the ledger).
    realigned = kept.replace("anchor_on_change: keep", "anchor_on_change: realign")
    (tmp_path / "recurring_billing.yaml").write_text(realigned, encoding="utf-8")
    proration = load_policy(tmp_path).for_contract("self_serve_monthly").proration
    assert (proration.anchor_on_change, proration.name) == ("realign", "daily+realign")
    wrong = kept.replace("anchor_on_change: keep", "anchor_on_change: sideways")
    (tmp_path / "recurring_billing.yaml").write_text(wrong, encoding="utf-8")
    with pytest.raises(
        PolicyError, match=re.escape("contract_types.self_serve_monthly.anchor_on_change")
    ):
        load_policy(tmp_path)


def test_an_annual_contract_moved_from_monthly_to_annual_trues_up_its_seats_quarterly(
    sessions: sessionmaker[Session],
) -> None:
    """An annual invoiced contract billed monthly moves to annual billing (a new year from
    the change, invoiced at once). Seats added after the change wait for the quarterly
    true-up of the new term, as on any annual contract, and the true-up bills them for
    the quarters left, to the cent as the engine prices the same events; the next
    true-up and a second run bill nothing more, and the renewal bills the seats held."""
    b = billing()
    with transaction(sessions) as session:
        subscription(
            session,
            "SUB-I",
            anchor=ANCHOR,
            now=NOW,
            seats=10,
            contract=ContractType.ANNUAL_INVOICED,
        )
    applied = change(sessions, b, "year")
    assert applied.invoice_number is not None
    new_start = datetime(2026, 11, 25, tzinfo=UTC)
    seats_at = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)
    with transaction(sessions) as session:
        added = change_subscription(
            session,
            ChangeRequest(
                subscription_id="SUB-I",
                kind="seats",
                seats=14,
                at=seats_at,
                actor="cli:test",
                idempotency_key="SUB-I:seats:14",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=seats_at,
            apply=True,
        )
    assert added.invoice_number is None and added.pending == []  # they wait for the true-up
    quarter = datetime(2027, 2, 25, tzinfo=UTC)
    with sessions() as session:
        assert due_subscriptions(session, date(2027, 2, 24)) == []
        assert due_subscriptions(session, date(2027, 2, 25)) == ["SUB-I"]
    assert [o.outcome for o in run(sessions, b, quarter.date())] == ["invoiced"]
    assert [o.outcome for o in run(sessions, b, quarter.date())] == ["not_due"]

    opening = invoicing.Subscription(
        "USD", ANCHOR, "month", MONTHLY, 10, period_start=PERIOD_START, quarterly_true_up=True
    )
    events: list[invoicing.Event] = [
        invoicing.PlanChanged(CHANGE_AT, ANNUAL, "year", ()),
        invoicing.SeatsAdded(seats_at, 4),
        invoicing.QuarterlyTrueUp(quarter),
    ]
    full = invoicing.draft_invoice(
        opening,
        events,
        terms=invoicing.InvoiceTerms(issue_date=quarter.date(), tax=TX),
        policy=b.policy.for_contract("annual_invoiced").proration,
    )
    [_, _, true_up] = full.lines
    assert true_up.amount == Decimal("750.00")  # 4 seats × 250.00 × 3 of 4 quarters
    [_, trued] = invoices(sessions)
    assert trued.source_key == f"true-up:SUB-I:{quarter.isoformat()}"
    expected_true_up = part_of(full, [true_up])
    assert (trued.total, trued.tax_total) == (expected_true_up.total, expected_true_up.tax_total)

    # The next quarter has nothing above what is paid; the renewal bills the 14 seats.
    assert [o.outcome for o in run(sessions, b, date(2027, 5, 25))] == ["not_due"]
    assert len(invoices(sessions)) == 2
    assert [o.outcome for o in run(sessions, b, date(2027, 11, 25))] == ["invoiced"]
    renewed = invoices(sessions)[-1]
    assert [line.quantity for line in renewed.lines] == [Decimal(14)]
    assert state(sessions)[2:] == (
        datetime(2027, 11, 25, tzinfo=UTC),
        datetime(2028, 11, 25, tzinfo=UTC),
    )
    assert state(sessions)[1] == new_start


def test_monthly_to_annual_keeping_the_anniversary(sessions: sessionmaker[Session]) -> None:
    """Lago's rule (anchor_on_change anniversary): the annual plan runs from the change to
    the anchor's next anniversary, 15 January 2027, then whole years from it; the period
    now ends after the old one, so the change is invoiced at once, and every invoice is
    the engine's draft of the same events."""
    b = policy("anniversary")
    with transaction(sessions) as session:
        subscription(session, "SUB-I", anchor=ANCHOR, now=NOW, seats=10)
    applied = change(sessions, b, "year")
    assert applied.invoicing == "immediately"
    anniversary = datetime(2027, 1, 15, tzinfo=UTC)
    assert state(sessions)[0::3] == (Interval.YEAR, anniversary)
    assert state(sessions)[1] == ANCHOR
    event = invoicing.PlanChanged(CHANGE_AT, ANNUAL, "year", ())
    full = expected("anniversary", [event], date(2027, 1, 15))
    [credit, piece, year] = full.lines
    assert credit.amount == Decimal("-166.67")
    assert piece.amount == Decimal("349.32")  # 51 of 365 days of 10 × 250.00
    assert (year.period_start, year.period_end) == (anniversary, datetime(2028, 1, 15, tzinfo=UTC))
    [at_once] = invoices(sessions)
    assert at_once.total == part_of(full, [credit, piece]).total
    with sessions() as session:
        assert due_subscriptions(session, date(2026, 12, 15)) == []
    run(sessions, b, date(2027, 1, 15))
    assert invoices(sessions)[-1].total == part_of(full, [year]).total
    run(sessions, b, date(2028, 1, 15))
    assert invoices(sessions)[-1].total == renewal(ANCHOR, date(2028, 1, 15)).total


def test_a_lago_downgrade_to_annual_waits_for_the_renewal_then_runs_to_the_anniversary(
    sessions: sessionmaker[Session],
) -> None:
    """lago_anniversary: annual at 250.00 a seat is cheaper per day than 25.00 a month, a
    downgrade, so it waits for the renewal on 15 December; the bill run then charges the
    annual plan to the anniversary, 15 January 2027 (31 of 365 days), and whole years
    from there (Lago's spec/scenarios/subscriptions/downgrade_spec.rb)."""
    base = billing()
    contract = ContractPolicy(proration_policy="lago_anniversary", change_invoicing="next_bill_run")
    b = Billing(
        base.book, base.taxes, RecurringPolicy(contract_types={"self_serve_monthly": contract})
    )
    with transaction(sessions) as session:
        subscription(session, "SUB-I", anchor=ANCHOR, now=NOW, seats=10)
    applied = change(sessions, b, "year")
    assert applied.invoicing == "next_bill_run"
    assert state(sessions) == (
        Interval.YEAR,
        ANCHOR,
        PERIOD_START,
        datetime(2026, 12, 15, tzinfo=UTC),
    )
    opening = invoicing.Subscription("USD", ANCHOR, "month", MONTHLY, 10, period_start=PERIOD_START)
    full = invoicing.draft_invoice(
        opening,
        [invoicing.PlanChanged(CHANGE_AT, ANNUAL, "year", ())],
        terms=invoicing.InvoiceTerms(issue_date=date(2026, 12, 15), tax=TX),
        policy=contract.proration,
        renew=True,
    )
    [piece] = full.lines
    assert (piece.period_start, piece.period_end, piece.amount) == (
        datetime(2026, 12, 15, tzinfo=UTC),
        datetime(2027, 1, 15, tzinfo=UTC),
        Decimal("212.33"),
    )
    run(sessions, b, date(2026, 12, 15))
    [invoice] = invoices(sessions)
    assert [line.amount for line in invoice.lines] == [Decimal("212.33")]
    assert invoice.total == full.total
    run(sessions, b, date(2027, 1, 15))
    assert invoices(sessions)[-1].total == renewal(ANCHOR, date(2027, 1, 15)).total
