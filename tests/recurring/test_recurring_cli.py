"""The recurring-billing commands through the real command line: a change previewed then
applied, usage ingested once with each refused line named, a dry run that writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from activities.billing.proration import shift_months
from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import (
    AuditEntry,
    ContractType,
    Invoice,
    SubscriptionCommitment,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionPeriod,
    UsageEvent,
)
from tests.cli.conftest import CliResult
from tests.recurring.factories import subscription


def _count(url: str, table: type) -> int:
    with session_factory(make_engine(url))() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_change_preview_apply_usage_and_dry_run(
    cli: Callable[..., CliResult], ledger_env: dict[str, str], tmp_path: Path
) -> None:
    url = ledger_env["DATABASE_URL"]
    assert cli("init-db")[0] == 0
    now = datetime.now(UTC)
    anchor = datetime.combine((now - timedelta(days=40)).date(), time(), tzinfo=UTC)
    with transaction(session_factory(make_engine(url))) as session:
        subscription(session, "SUB-9", anchor=anchor, now=now, seats=10, usage=("api_calls",))
        period_end = session.get(SubscriptionPeriod, "SUB-9").period_end  # type: ignore[union-attr]

    status, out, _ = cli("subscription", "change", "SUB-9", "--seats", "14")
    assert status == 0, out
    assert "seats 10 → 14" in out and "nothing changed" in out
    assert _count(url, SubscriptionEvent) == 0

    status, out, _ = cli("subscription", "change", "SUB-9", "--seats", "14", "--yes")
    assert status == 0 and "recorded" in out
    assert _count(url, SubscriptionEvent) == 1

    for args, message in (
        (("--seats", "3", "--pause"), "exactly one of"),
        (("--addon", "advanced_security=-1"), "--addon: quantity '-1' must be a whole"),
        (("--seats", "14"), "already has 14 seats"),
        (("--resume",), "not paused"),
        (("--plan", "platinum"), "plan:"),
        (("--seats", "12", "--at", "2020-01-01"), "before the current period started"),
    ):
        status, _, err = cli("subscription", "change", "SUB-9", *args, "--yes")
        assert status == 1 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1
    assert _count(url, SubscriptionEvent) == 1

    status, out, _ = cli("subscription", "show", "SUB-9")
    assert status == 0
    assert "seats_added 4" in out and "next invoice total" in out
    assert _count(url, Invoice) == 0  # the show's preview is rolled back

    stamp = (now - timedelta(days=1)).isoformat()
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "subscription_id,event_id,metric,quantity,occurred_at\n"
        f"SUB-9,e1,api_calls,120000,{stamp}\n"
        f"SUB-9,e1,api_calls,120000,{stamp}\n"
        f"SUB-9,e2,sms,5,{stamp}\n"
        f"SUB-9,e3,api_calls,-4,{stamp}\n"
        "SUB-9,e4,api_calls,10,2026-11-02T10:00:00\n"
        f"SUB-404,e5,api_calls,10,{stamp}\n"
        f"SUB-9,e6,api_calls,2500.5,{stamp}\n"
    )
    status, out, _ = cli("usage", "ingest", str(usage))
    assert status == 0
    assert "2 accepted, 1 duplicate, 4 refused" in out
    assert "line 4: metric: 'sms' is not a usage add-on of SUB-9" in out
    assert "line 5: quantity" in out and "line 6: occurred_at: needs a timezone" in out
    assert "line 7: subscription_id: 'SUB-404' not found" in out
    status, out, _ = cli("usage", "ingest", str(usage))
    assert "0 accepted, 3 duplicate, 4 refused" in out
    assert _count(url, UsageEvent) == 2

    audits = _count(url, AuditEntry)
    status, out, _ = cli("bill-run", "--date", period_end.date().isoformat(), "--dry-run")
    assert status == 0, out
    assert "1 invoices would be issued" in out and "nothing was written" in out
    assert (_count(url, Invoice), _count(url, AuditEntry)) == (0, audits)
    with session_factory(make_engine(url))() as session:
        assert session.get(SubscriptionPeriod, "SUB-9").period_end == period_end  # type: ignore[union-attr]

    status, out, _ = cli("bill-run", "status", "--date", period_end.date().isoformat())
    assert status == 0 and "0 invoices" in out


def test_a_commitment_shows_in_subscription_show_and_in_the_dry_run(
    cli: Callable[..., CliResult], ledger_env: dict[str, str]
) -> None:
    """An annual contract at its term end: `subscription show` says where its commitment
    stands and puts the true-up on the next invoice; the dry run names it; nothing stays."""
    url = ledger_env["DATABASE_URL"]
    assert cli("init-db")[0] == 0
    now = datetime.now(UTC)
    anchor = datetime.combine((now - timedelta(days=200)).date(), time(), tzinfo=UTC)
    with transaction(session_factory(make_engine(url))) as session:
        row = subscription(
            session,
            "SUB-7",
            anchor=anchor,
            now=now,
            seats=10,
            interval="year",
            contract=ContractType.ANNUAL_INVOICED,
        )
        end = shift_months(anchor, 12)
        session.add(
            SubscriptionCommitment(
                subscription_id=row.id,
                currency="USD",
                amount=Decimal("5000.00"),
                period_start=anchor,
                period_end=end,
                created_at=now,
            )
        )

    status, out, _ = cli("subscription", "show", "SUB-7")
    assert status == 0, out
    # Nothing of the term was invoiced in this ledger: all 5,000.00 is short.
    assert f"minimum commitment $5,000.00 {anchor.date()} – {end.date()} (all items)" in out
    assert "$0.00 billed so far, $5,000.00 short" in out
    # The next invoice renews the next year ($2,500.00, not counted) and trues up 5,000.00.
    assert "it includes the minimum-commitment true-up of $5,000.00" in out

    status, out, _ = cli("bill-run", "--date", end.date().isoformat(), "--dry-run")
    assert status == 0, out
    assert "incl. minimum-commitment true-up $5,000.00" in out
    assert _count(url, Invoice) == 0
    with session_factory(make_engine(url))() as session:
        settled = session.scalars(select(SubscriptionCommitment.settled_at)).one()
        assert settled is None


def test_an_add_on_with_its_own_quantity_through_the_command_line(
    cli: Callable[..., CliResult], ledger_env: dict[str, str]
) -> None:
    """`--addon CODE=N`: 1 adds a per-seat add-on as it always did, N >= 2 (or 1 with
    --own-quantity) adds it with its own quantity, N sets that quantity, 0 removes it;
    `subscription show` says which add-ons have their own quantity and the events' N."""
    url = ledger_env["DATABASE_URL"]
    assert cli("init-db")[0] == 0
    now = datetime.now(UTC)
    anchor = datetime.combine((now - timedelta(days=40)).date(), time(), tzinfo=UTC)
    with transaction(session_factory(make_engine(url))) as session:
        subscription(session, "SUB-Q", anchor=anchor, now=now, seats=10)

    for args, message in (
        (("--addon", "no_such_addon=2"), "addon: unknown seat add-on 'no_such_addon'"),
        (("--addon", "premium_support=x"), "--addon: quantity 'x' must be a whole number"),
        (("--addon", "premium_support"), "--addon: 'premium_support' is not CODE=N"),
        (("--seats", "12", "--own-quantity"), "--own-quantity: goes with --addon"),
    ):
        status, _, err = cli("subscription", "change", "SUB-Q", *args, "--yes")
        assert status == 1 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1
    assert _count(url, SubscriptionEvent) == 0

    status, out, _ = cli("subscription", "change", "SUB-Q", "--addon", "premium_support=3", "--yes")
    assert status == 0 and "add-on premium_support added, quantity 3" in out, out
    status, out, _ = cli("subscription", "change", "SUB-Q", "--addon", "premium_support=1", "--yes")
    assert status == 0 and "add-on premium_support quantity 3 → 1" in out, out
    status, out, _ = cli(
        "subscription", "change", "SUB-Q", "--addon", "advanced_security=1", "--yes"
    )
    assert status == 0 and "add-on advanced_security added," in out, out
    status, out, _ = cli("subscription", "show", "SUB-Q")
    assert status == 0
    assert "premium_support" in out and "(own quantity)" in out
    assert "addon_added premium_support quantity 3" in out
    assert "addon_quantity_changed premium_support quantity 1" in out
    assert "business monthly" in out
    with session_factory(make_engine(url))() as session:
        items = {
            row.item_code: (row.quantity, row.own_quantity)
            for row in session.scalars(select(SubscriptionItem))
        }
    assert items == {
        "business": (10, False),
        "premium_support": (1, True),
        "advanced_security": (10, False),
    }
    status, out, _ = cli("subscription", "change", "SUB-Q", "--addon", "premium_support=0", "--yes")
    assert status == 0 and "add-on premium_support removed" in out, out
    status, out, _ = cli(
        "subscription", "change", "SUB-Q", "--addon", "premium_support=1", "--own-quantity", "--yes"
    )
    assert status == 0 and "add-on premium_support added, quantity 1" in out, out
    assert _count(url, SubscriptionEvent) == 5
