"""``POST /usage`` on the bot's real server (uvicorn on 127.0.0.1, aiohttp as the sender),
against a real ledger (SQLite, and PostgreSQL when TEST_DATABASE_URL is set): signed batches
are taken once, with the file ingest's refusals; forged, stale, oversized and malformed
requests are refused and write nothing; two senders posting one batch at once store it once."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.approvals.matrix import load_matrix
from activities.billing.pricebook import load_pricebook
from activities.collections.cadence import load_cadences
from activities.ledger.db import transaction
from activities.ledger.models import UsageEvent
from activities.ledger_settings import ledger_url
from activities.paths import CONFIG_DIR
from activities.recurring.usage import ingest, read_records
from activities.settings import Settings, SettingsError, load_settings, settings
from bot.ack_first import AckFirst
from bot.intake import USAGE_BODY_LIMIT, USAGE_WINDOW_SECONDS, usage_signature
from bot.server import create_asgi_app, webhook_routes
from bot.services import Services
from bot.usage_api import MAX_EVENTS, PATH
from tests.recurring.factories import subscription

KEY = "usage-key-for-tests-0123456789abcdef"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


class Sender:
    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http = url, http

    async def post(
        self,
        body: bytes,
        *,
        key: str = KEY,
        at: datetime = NOW,
        headers: dict[str, str] | None = None,
        signed_body: bytes | None = None,
    ) -> tuple[int, Any]:
        timestamp = str(int(at.timestamp()))
        sent = {
            "X-Usage-Timestamp": timestamp,
            "X-Usage-Signature": usage_signature(key, timestamp, signed_body or body),
            "Content-Type": "application/json",
        }
        if headers is not None:
            sent = headers
        async with self.http.post(self.url, data=body, headers=sent) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text


@pytest.fixture
def ledger(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        subscription(
            session,
            "SUB-U",
            anchor=datetime(2026, 1, 15, tzinfo=UTC),
            now=NOW,
            usage=("api_calls", "storage"),
        )
    return sessions


@pytest.fixture
async def sender(ledger: sessionmaker[Session]) -> AsyncIterator[Sender]:
    async def no_temporal() -> Any:
        raise RuntimeError("Temporal is not running in this test")

    services = Services(
        sessions=ledger,
        matrix=load_matrix(CONFIG_DIR),
        cadences=load_cadences(CONFIG_DIR / "cadences.yaml"),
        temporal=no_temporal,
        clock=lambda: NOW,
    )
    config = Settings(usage_api_key=SecretStr(KEY))
    app = create_asgi_app(None, AckFirst(), webhook_routes(config, services))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(2000):
        if server.started:
            break
        await asyncio.sleep(0.005)
    async with aiohttp.ClientSession() as http:
        yield Sender(f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}", http)
    server.should_exit = True
    await task


def event(event_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "subscription_id": "SUB-U",
        "event_id": event_id,
        "metric": "api_calls",
        "quantity": "1200",
        "occurred_at": "2026-11-18T09:30:00Z",
        **changes,
    }


def body(events: Any) -> bytes:
    return json.dumps({"events": events}).encode()


def stored(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(UsageEvent)) or 0


BATCH: list[Any] = [
    event("e1"),
    event("e2", metric="storage", quantity=7),
    event("e3", metric="sms"),  # not an add-on of the subscription
    event("e4", quantity=1.5),  # a JSON float
    "e5",  # not an object
    event("e1"),  # the same event twice in one batch
    event("e6", occurred_at="2026-11-30T00:00:00Z"),  # in the future
    event("e7", subscription_id="SUB-NONE"),
    event("<script>alert(1)</script>", quantity="1e3"),  # hostile text is only an id
]


async def test_a_signed_batch_is_taken_once_with_the_file_ingests_refusals(
    sender: Sender, ledger: sessionmaker[Session], tmp_path: Any
) -> None:
    status, answer = await sender.post(body(BATCH))
    assert status == 200, answer
    assert (answer["accepted"], answer["duplicate"]) == (3, 1)
    # The same events as a JSON Lines file through `billing-ops usage ingest`'s reader and
    # ingest give the same reasons (the file counts lines from 1, the API from 0).
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in BATCH) + "\n")
    with path.open() as stream:
        again = ingest(
            ledger, list(read_records(stream, path.name)), book=load_pricebook(), now=NOW
        )
    expected = [{"index": line - 1, "reason": reason} for line, reason in again.refused]
    assert answer["refused"] == expected
    reasons = {r["index"]: r["reason"] for r in answer["refused"]}
    assert set(reasons) == {2, 3, 4, 6, 7}
    assert reasons[3].startswith("quantity:") and reasons[4] == "not a JSON object"
    assert reasons[6].startswith("occurred_at:") and "not found" in reasons[7]
    assert again.accepted == 0  # the file's events were already in

    status, answer = await sender.post(body(BATCH))  # sent again: nothing more
    assert status == 200 and (answer["accepted"], answer["duplicate"]) == (0, 4)
    assert stored(ledger) == 3


@pytest.mark.parametrize(
    "why",
    ["wrong key", "tampered body", "stale", "from the future", "unsigned", "signature garbage"],
)
async def test_forged_and_stale_requests_are_refused_with_401_and_write_nothing(
    sender: Sender, ledger: sessionmaker[Session], why: str
) -> None:
    good = body([event("e1")])
    forged: dict[str, dict[str, Any]] = {
        "wrong key": {"key": KEY + "x"},
        "tampered body": {"signed_body": body([event("e1", quantity="1")])},
        "stale": {"at": NOW - timedelta(seconds=USAGE_WINDOW_SECONDS + 1)},
        "from the future": {"at": NOW + timedelta(seconds=USAGE_WINDOW_SECONDS + 1)},
        "unsigned": {"headers": {"Content-Type": "application/json"}},
        "signature garbage": {
            "headers": {"X-Usage-Timestamp": str(int(NOW.timestamp())), "X-Usage-Signature": "é"}
        },
    }
    status, answer = await sender.post(good, **forged[why])
    assert status == 401, answer
    assert stored(ledger) == 0
    status, _ = await sender.post(good)  # the same events, signed: taken
    assert status == 200 and stored(ledger) == 1


async def test_oversized_and_malformed_requests_are_refused_and_write_nothing(
    sender: Sender, ledger: sessionmaker[Session]
) -> None:
    huge = body([event(f"e{n}", metric="x" * 2000) for n in range(600)])
    assert len(huge) > USAGE_BODY_LIMIT
    status, answer = await sender.post(huge)
    assert status == 413, answer
    too_many = body([event(f"e{n}") for n in range(MAX_EVENTS + 1)])
    for bad, rule in [
        (b"not json", "body: not JSON"),
        (b"[" * 100_000, "body: not JSON"),
        (b'{"events": [], "x": 1}', "nothing else"),
        (body([]), "events: expected a non-empty list"),
        (body({"e1": event("e1")}), "events: expected a non-empty list"),
        (too_many, f"more than {MAX_EVENTS}"),
        (
            json.dumps({"events": [event("a")]}).encode().replace(b"a", b"\xed\xb2\x80", 1),
            "not UTF-8",
        ),
    ]:
        status, answer = await sender.post(bad)
        assert status == 400 and rule in answer["error"], (bad[:40], answer)
    timestamp = {"X-Usage-Timestamp": "1e9", "X-Usage-Signature": "v1=00"}
    status, _ = await sender.post(body([event("e1")]), headers=timestamp)
    assert status == 400
    assert stored(ledger) == 0


async def test_two_senders_posting_one_batch_at_once_store_it_once(
    sender: Sender, ledger: sessionmaker[Session]
) -> None:
    batch = body([event(f"e{n}") for n in range(200)])
    answers = await asyncio.gather(*(sender.post(batch) for _ in range(2)))
    assert [status for status, _ in answers] == [200, 200]
    assert sum(a["accepted"] for _, a in answers) == 200
    assert sum(a["duplicate"] for _, a in answers) == 200
    assert stored(ledger) == 200


@pytest.mark.parametrize(
    "variable",
    ["USAGE_API_KEY", "ZENDESK_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET", "SLACK_SIGNING_SECRET"],
)
@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_signing_key_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, blank: str
) -> None:
    """``USAGE_API_KEY=`` (an .env line left empty) served ``POST /usage`` with the empty key:
    anyone can compute that HMAC. A key set blank is a configuration error naming it."""
    monkeypatch.setenv(variable, blank)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_a_ledger_read_refuses_a_blank_signing_key_as_the_bot_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command line's quick check of the configuration (activities/ledger_settings.py)
    accepts only what Settings accepts: a key of spaces goes to Settings, which refuses it."""
    monkeypatch.setenv("USAGE_API_KEY", "   ")
    settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="USAGE_API_KEY"):
            ledger_url()
    finally:
        settings.cache_clear()
