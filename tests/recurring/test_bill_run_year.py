"""A year of one subscription through the BillRun workflow on the time-skipping server: seat
changes, an upgrade, a pause, an add-on, usage every day (one event late), a cancellation.
Each month's invoice is checked to the cent against the engine's preview of the same
events (``preview_invoice``, the contract the CLI and Slack preview use), built here
from the test's own record of what happened, not from the ledger.

``RECORD_BILL_RUN_HISTORY=1`` also writes the December run's history to
tests/histories/bill_run_month.json (docs/temporal.md)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.billing.preview import PreviewRequest, preview_invoice
from activities.billing.proration import shift_months
from activities.ledger.db import transaction
from activities.ledger.models import Invoice, OutboxEmail
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.model import BillRunReport, BillRunStart
from activities.recurring.usage import ingest
from tests.recurring.factories import billing, subscription
from tests.workflows.harness import worker
from workflows.bill_run import BillRunWorkflow

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY = Path(__file__).resolve().parents[1] / "histories" / "bill_run_month.json"

#: What happens in each month (index 0 is January): (day, change, values).
CHANGES: dict[int, list[tuple[int, str, dict[str, Any]]]] = {
    0: [(10, "seats", {"seats": 15})],
    1: [(14, "seats", {"seats": 12})],
    2: [(5, "plan", {"plan": "enterprise"}), (20, "seats", {"seats": 30})],
    3: [(10, "pause", {})],
    4: [(20, "resume", {})],
    5: [(3, "addon", {"addon": "advanced_security"})],
    7: [(8, "seats", {"seats": 40}), (22, "seats", {"seats": 35})],
    9: [(15, "addon", {"addon": "advanced_security", "addon_on": False})],
    10: [(18, "cancel", {})],
}
DAILY_CALLS = 45_000


def _day(month: int, day: int) -> datetime:
    return shift_months(ANCHOR, month).replace(day=day)


class Story:
    """The subscription as the test tracks it, to build each period's preview request."""

    def __init__(self) -> None:
        self.plan = "business"
        self.seats = 10
        self.addons: list[str] = []
        self.paused = False
        self.cancelled = False

    def opening(self) -> dict[str, Any]:
        return {
            "plan": {"code": self.plan},
            "addons": [{"code": code} for code in self.addons],
            "seats": self.seats,
            "interval": "month",
            "billing_anchor": ANCHOR.isoformat(),
            "paused": self.paused,
        }

    def event(self, at: datetime, kind: str, values: dict[str, Any]) -> dict[str, Any]:
        stamp = at.isoformat()
        if kind == "seats":
            delta = values["seats"] - self.seats
            self.seats = values["seats"]
            return {
                "type": "seats_added" if delta > 0 else "seats_removed",
                "at": stamp,
                "seats": abs(delta),
            }
        if kind == "plan":
            self.plan = values["plan"]
            return {"type": "plan_changed", "at": stamp, "plan": {"code": self.plan}}
        if kind == "addon":
            if values.get("addon_on", True):
                self.addons.append(values["addon"])
                return {"type": "addon_added", "at": stamp, "addon": {"code": values["addon"]}}
            self.addons.remove(values["addon"])
            return {"type": "addon_removed", "at": stamp, "code": values["addon"]}
        if kind == "pause":
            self.paused = True
            return {"type": "paused", "at": stamp}
        if kind == "resume":
            self.paused = False
            return {"type": "resumed", "at": stamp}
        self.cancelled = True
        return {"type": "cancelled", "at": stamp}


def change(
    sessions: sessionmaker[Session], at: datetime, kind: str, values: dict[str, Any]
) -> None:
    b = billing()
    with transaction(sessions) as session:
        change_subscription(
            session,
            ChangeRequest.model_validate(
                {
                    "subscription_id": "SUB-YEAR",
                    "kind": kind,
                    "at": at,
                    "actor": "slack:U0ANALYST",
                    "source": "slack",
                    "idempotency_key": f"year:{kind}:{at.isoformat()}",
                    **values,
                }
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=at,
            apply=True,
        )


def usage(sessions: sessionmaker[Session], days: list[datetime], calls: int, tag: str) -> None:
    records = [
        (
            n,
            {
                "subscription_id": "SUB-YEAR",
                "event_id": f"{tag}-{day.date().isoformat()}",
                "metric": "api_calls",
                "quantity": str(calls),
                "occurred_at": (day + timedelta(hours=12)).isoformat(),
            },
        )
        for n, day in enumerate(days, start=1)
    ]
    summary = ingest(sessions, records, book=billing().book, now=datetime(2027, 1, 2, tzinfo=UTC))
    assert (summary.accepted, summary.refused) == (len(records), [])


async def test_a_year_of_changes_and_usage_is_invoiced_to_the_cent(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    sessions = sqlite_sessions
    with transaction(sessions) as session:
        subscription(
            session,
            "SUB-YEAR",
            anchor=ANCHOR,
            now=ANCHOR,
            plan="business",
            seats=10,
            usage=("api_calls",),
        )
    story = Story()
    client = time_skipping_env.client
    late: dict[str, Any] | None = None
    used: dict[int, int] = {}
    async with worker(client, sessions, tmp_path) as queue:
        for month in range(12):
            start, end = _day(month, 1), _day(month + 1, 1)
            opening = story.opening()
            events = [story.event(_day(month, d), k, v) for d, k, v in CHANGES.get(month, [])]
            for d, kind, values in CHANGES.get(month, []):
                change(sessions, _day(month, d), kind, values)
            # Usage every day the subscription is live (not paused, not after cancelling).
            days = [
                start + timedelta(days=n)
                for n in range((end - start).days)
                if not _quiet(start + timedelta(days=n))
            ]
            usage(sessions, days, DAILY_CALLS, "calls")
            used[month] = DAILY_CALLS * len(days)
            handle = await client.start_workflow(
                BillRunWorkflow.run,
                BillRunStart(run_date=end.date()),
                id=f"bill-run-{end.date()}",
                task_queue=queue,
            )
            report: BillRunReport = await handle.result()
            assert report.invoiced + report.credited + report.nothing == 1, report.text
            assert report.skipped == [] and report.failures == []
            request: dict[str, Any] = {
                "currency": "USD",
                "issue_date": end.date().isoformat(),
                "customer": {"jurisdiction": "US-TX"},
                "subscription": {**opening, "current_period_start": start.isoformat()},
                "events": events,
                "usage": [
                    {
                        "code": "api_calls",
                        "units": str(used[month]),
                        "period_start": start.isoformat(),
                        "period_end": end.isoformat(),
                    }
                ],
                "renew": True,
            }
            if late is not None:
                request["usage"].insert(0, late)
                late = None
            expected = preview_invoice(PreviewRequest.model_validate(request))
            if report.nothing:  # paused all month, usage within what the plan includes
                assert expected.lines == [] and _count(sessions) == month
                continue
            invoice = _latest_invoice(sessions)
            assert invoice.issue_date == end.date()
            assert invoice.total == expected.total, (
                month,
                [(line.description, line.amount) for line in invoice.lines],
                [(line.description, line.amount) for line in expected.lines],
            )
            assert [line.amount for line in invoice.lines] == [e.amount for e in expected.lines]
            assert invoice.tax_total == expected.tax_total
            if month == 5:
                # An event of June arrives after June was invoiced: July's invoice bills it.
                usage(sessions, [_day(5, 30)], 20_000, "late")
                late = {
                    "code": "api_calls",
                    "units": str(used[5] + 20_000),
                    "invoiced_units": str(used[5]),
                    "period_start": _day(5, 1).isoformat(),
                    "period_end": _day(6, 1).isoformat(),
                }
            if month == 10 and os.environ.get("RECORD_BILL_RUN_HISTORY"):
                history = await handle.fetch_history()
                HISTORY.write_text(json.dumps(history.to_json_dict(), indent=2) + "\n")
            if story.cancelled:
                break
    with sessions() as session:
        invoices = session.scalars(
            select(Invoice).where(Invoice.subscription_id == "SUB-YEAR")
        ).all()
        # January to November but April (paused, usage within the plan); none after cancelling.
        assert len(invoices) == 10
        assert len({i.source_key for i in invoices}) == 10
        emails = session.scalars(
            select(OutboxEmail).where(OutboxEmail.customer_id == "C-SUB-YEAR")
        ).all()
        due = [i for i in invoices if i.amount_due > 0]
        assert {e.idempotency_key for e in emails} >= {f"bill-run:{i.number}:email" for i in due}


def _quiet(day: datetime) -> bool:
    paused = _day(3, 10) <= day < _day(4, 20)
    cancelled = day >= _day(10, 18)
    return paused or cancelled


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(session.scalars(select(Invoice.id)).all())


def _latest_invoice(sessions: sessionmaker[Session]) -> Invoice:
    with sessions() as session:
        invoice = session.scalars(
            select(Invoice).where(Invoice.subscription_id == "SUB-YEAR").order_by(Invoice.id.desc())
        ).first()
        assert invoice is not None
        _ = invoice.lines
        return invoice
