"""``billing-ops stripe events``: the Stripe events the ledger refused or parked, through the real
command line, on a SQLite ledger and on PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from activities.cash.stripe_events import handle_event
from activities.ledger.db import session_factory, transaction
from activities.settings import settings
from tests.cli.conftest import CliResult
from tests.conftest import NOW
from tests.ledger import factories

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: A payment id the analyst could not have typed as Rich markup: it must print as it is.
MARKUP_PI = "pi_[bold red]1[/]"


def _event(event_id: str, kind: str, minutes: int, obj: dict[str, Any]) -> dict[str, Any]:
    created = int((NOW + timedelta(minutes=minutes)).timestamp())
    return {"id": event_id, "type": kind, "created": created, "data": {"object": obj}}


EVENTS = [
    _event(
        "evt_paid",
        "payment_intent.succeeded",
        0,
        {
            "id": MARKUP_PI,
            "amount": 4000,
            "amount_received": 4000,
            "currency": "usd",
            "metadata": {"invoice_number": "INV-000001", "customer_id": "CUS-1"},
        },
    ),
    # a refund in another currency than its payment: refused
    _event(
        "evt_refused",
        "charge.refunded",
        1,
        {"id": "ch_1", "payment_intent": MARKUP_PI, "amount_refunded": 1000, "currency": "eur"},
    ),
    # a refund of a payment the ledger has not seen: parked
    _event(
        "evt_parked",
        "charge.refunded",
        2,
        {"id": "ch_9", "payment_intent": "pi_9", "amount_refunded": 500, "currency": "usd"},
    ),
]
REFUSED = f"refused: amount_refunded: in EUR, but payment {MARKUP_PI} is in USD"
PARKED = "refund before its payment pi_9: parked until it"


@pytest.fixture
def events_cli(
    engine: Engine,
    cli: Callable[..., CliResult],
    ledger_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., CliResult]:
    """The command line on a migrated ledger holding one applied, one refused and one parked
    event, each fed through the webhook's own handler."""
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    ledger_env["DATABASE_URL"] = url
    settings.cache_clear()
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        factories.customer(session, "CUS-1")
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 11, 30))
    for event in EVENTS:
        with transaction(sessions) as session:
            handle_event(session, event, NOW + timedelta(hours=1))
    return cli


def test_lists_what_needs_a_person_newest_first_in_every_format(
    events_cli: Callable[..., CliResult],
) -> None:
    status, out, err = events_cli("stripe", "events")
    assert status == 0, err
    assert "evt_paid" not in out
    assert out.index("evt_parked") < out.index("evt_refused")
    assert MARKUP_PI in out  # markup characters print literally, never styled away
    assert "refund before its payment pi_9" in out
    assert out.rstrip().endswith("2 event(s)")

    status, out, err = events_cli("stripe", "events", "--format", "json")
    assert status == 0, err
    rows = json.loads(out)
    assert [(r["event"], r["status"], r["outcome"]) for r in rows] == [
        ("evt_parked", "parked", PARKED),
        ("evt_refused", "refused", REFUSED),
    ]
    assert rows[1]["customer"] == "CUS-1" and rows[1]["object"] == "ch_1"
    assert rows[1]["type"] == "charge.refunded"
    assert rows[1]["created"] == (NOW + timedelta(minutes=1)).isoformat()

    status, out, err = events_cli("stripe", "events", "--format", "csv")
    assert status == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["event"] for r in table] == ["evt_parked", "evt_refused"]
    assert table[1]["outcome"] == REFUSED


def test_filters_limit_and_all(events_cli: Callable[..., CliResult]) -> None:
    def shown(*args: str) -> list[str]:
        status, out, err = events_cli("stripe", "events", "--format", "json", *args)
        assert status == 0, err
        return [row["event"] for row in json.loads(out)]

    assert shown("--status", "refused") == ["evt_refused"]
    assert shown("--status", "parked") == ["evt_parked"]
    assert shown("--status", "all") == ["evt_parked", "evt_refused", "evt_paid"]
    assert shown("--customer", "CUS-1") == ["evt_refused"]
    assert shown("--since", (NOW + timedelta(days=1)).date().isoformat()) == []
    assert shown("--since", NOW.date().isoformat()) == ["evt_parked", "evt_refused"]
    status, out, err = events_cli("stripe", "events", "--limit", "1")
    assert status == 0, err
    assert "evt_parked" in out and "evt_refused" not in out
    assert "showing 1 of 2 event(s); --limit N / --all for more" in out
    assert shown("--limit", "1", "--all") == ["evt_parked", "evt_refused"]


def test_an_unknown_customer_is_an_error_naming_it(events_cli: Callable[..., CliResult]) -> None:
    status, out, err = events_cli("stripe", "events", "--customer", "CUS-404")
    assert status == 1
    assert "customer 'CUS-404' not found" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out == ""
