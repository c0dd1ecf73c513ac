"""HTTP intake over real sockets: bodies over the limit, forged and malformed requests are
refused with 400/401/413 before Bolt reads, parses or logs them, and a replayed command
changes nothing twice."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from activities.ledger.models import AuditEntry, CustomerNote
from activities.zendesk import webhook
from bot.ack_first import AckFirst
from bot.intake import SLACK_BODY_LIMIT, ZENDESK_BODY_LIMIT, SlackWorkspace
from bot.server import SLACK_PATH, create_asgi_app
from bot.zendesk_webhook import PATH as ZENDESK_PATH
from bot.zendesk_webhook import zendesk_webhook_route
from tests.bot import slack_requests
from tests.bot.conftest import ANALYST, NOW, BotUnderTest
from tests.bot.fake_slack import TEAM_ID
from tests.ledger import factories
from tests.zendesk.conftest import served


@pytest.fixture
def book(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sqlite_sessions.begin() as session:
        factories.customer(session, "CUS-1", legal_name="Acme Analytics Inc")
    return sqlite_sessions


async def status_line(url: str, request: bytes) -> bytes:
    """Send raw bytes to the server and return the response's status line (5 s at most)."""
    where = urlsplit(url)
    assert where.hostname and where.port
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


def head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


async def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    start_bot: Callable[..., Awaitable[BotUnderTest]], book: sessionmaker[Session]
) -> None:
    """The headers alone get the 413: the server waits for none of the 10 MB announced."""
    bot = await start_bot(book)
    request = head(
        SLACK_PATH, f"Content-Type: {slack_requests.FORM}", f"Content-Length: {10 * 1024 * 1024}"
    )
    assert (await status_line(bot.url, request)).startswith(b"HTTP/1.1 413")


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(
    start_bot: Callable[..., Awaitable[BotUnderTest]], book: sessionmaker[Session]
) -> None:
    """One chunk over the limit and no end of body: refused without waiting for the rest."""
    bot = await start_bot(book)
    chunk = b"x" * (SLACK_BODY_LIMIT + 1)
    request = head(SLACK_PATH, f"Content-Type: {slack_requests.FORM}", "Transfer-Encoding: chunked")
    request += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    assert (await status_line(bot.url, request)).startswith(b"HTTP/1.1 413")


async def test_a_body_at_the_limit_is_read_and_checked(
    start_bot: Callable[..., Awaitable[BotUnderTest]], book: sessionmaker[Session]
) -> None:
    bot = await start_bot(book)
    body = slack_requests.slash_command("help", ANALYST, bot.slack.response_url("x"))
    padded = body + b"&pad=" + b"x" * (SLACK_BODY_LIMIT - len(body) - 5)
    assert len(padded) == SLACK_BODY_LIMIT
    status, _ = await bot.post(padded, slack_requests.FORM)
    assert status == 200


async def test_a_forged_request_is_one_log_line_without_its_body(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    book: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(book)
    secret_url = bot.slack.response_url("do-not-log-me")
    body = slack_requests.slash_command("note CUS-1 forged text", ANALYST, secret_url)
    with caplog.at_level(logging.DEBUG):
        status, answer = await bot.post(body, slack_requests.FORM, secret="not-the-secret")
        big = await status_line(
            bot.url, head(SLACK_PATH, "Content-Type: text/plain", "Content-Length: 999999999")
        )
    assert status == 401 and "signature" in answer
    assert big.startswith(b"HTTP/1.1 413")
    logged = [r for r in caplog.records if r.name.startswith(("billing_ops", "slack_bolt"))]
    assert [(r.name, r.levelname) for r in logged] == [("billing_ops.intake", "WARNING")] * 2
    for record in caplog.records:
        text = record.getMessage()
        assert "do-not-log-me" not in text and "forged text" not in text
        assert "\n" not in text
    with book() as session:
        assert session.scalar(select(func.count()).select_from(CustomerNote)) == 0


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [("abc", 400), ("1.7e9", 400), ("-5", 400), ("9" * 5000, 400), ("", 401)],
)
async def test_a_timestamp_that_is_not_a_whole_number_is_refused_cleanly(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    book: sessionmaker[Session],
    timestamp: str,
    expected: int,
) -> None:
    bot = await start_bot(book)
    body = slack_requests.slash_command("help", ANALYST, bot.slack.response_url("x"))
    headers = {
        "content-type": slack_requests.FORM,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": "v0=" + "0" * 64,
    }
    async with bot.http.post(bot.url, data=body, headers=headers) as response:
        assert response.status == expected
        assert "Traceback" not in await response.text()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%7Bnot+json", slack_requests.FORM),
        (b"payload=%5B1%2C2%5D", slack_requests.FORM),  # JSON, but not an object
        (b"[1, 2]", slack_requests.JSON),
        (b"[" * 100_000, slack_requests.JSON),  # nested deeper than the parser recurses
        (b"\xff\xfe\x00 not utf-8", slack_requests.FORM),
        (b"command=/billing&text=help", "text/plain"),
    ],
)
async def test_a_signed_but_malformed_body_gets_400_never_500(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    book: sessionmaker[Session],
    body: bytes,
    content_type: str,
) -> None:
    bot = await start_bot(book)
    headers = slack_requests.signed_headers(body, content_type)
    if body.startswith(b"\xff"):  # the signature needs text; sign the bytes Slack would
        timestamp = headers["x-slack-request-timestamp"]
        headers["x-slack-signature"] = slack_requests.signature(body, int(timestamp))
    async with bot.http.post(bot.url, data=body, headers=headers) as response:
        assert response.status == 400, await response.text()


async def test_a_replayed_note_is_added_once(
    start_bot: Callable[..., Awaitable[BotUnderTest]], book: sessionmaker[Session]
) -> None:
    """The same signed request sent again, later and at the same instant: one note, one
    audit entry (Slack's trigger id is the request's identity, as for promises)."""
    bot = await start_bot(book)
    body = slack_requests.slash_command(
        "note CUS-1 Called AP, cheque in the mail", ANALYST, bot.slack.response_url("note")
    )
    assert await bot.post(body, slack_requests.FORM) == (200, "")
    await bot.slack.wait_for("response_url:note")
    replays = await asyncio.gather(*(bot.post(body, slack_requests.FORM) for _ in range(3)))
    assert replays == [(200, "")] * 3
    await bot.slack.wait_for("response_url:note", count=4)
    with book() as session:
        assert session.scalar(select(func.count()).select_from(CustomerNote)) == 1
        audited = select(func.count()).where(AuditEntry.action == "note.added")
        assert session.scalar(audited.select_from(AuditEntry)) == 1

    other = slack_requests.slash_command(  # a new command (a new trigger id) is a new note
        "note CUS-1 Called AP, cheque in the mail", ANALYST, bot.slack.response_url("again")
    )
    assert await bot.post(other, slack_requests.FORM) == (200, "")
    await bot.slack.wait_for("response_url:again")
    with book() as session:
        assert session.scalar(select(func.count()).select_from(CustomerNote)) == 2


async def test_the_zendesk_webhook_refuses_a_body_over_its_limit() -> None:
    async def no_temporal() -> Client:
        raise AssertionError("an oversized webhook must not reach Temporal")

    route = zendesk_webhook_route("secret", no_temporal, "q", lambda: NOW)
    async with served(create_asgi_app(None, AckFirst(), [route])) as url:
        declared = head(ZENDESK_PATH, f"Content-Length: {ZENDESK_BODY_LIMIT + 1}")
        assert (await status_line(url, declared)).startswith(b"HTTP/1.1 413")
        chunk = json.dumps({"ticket_id": 1, "pad": "x" * ZENDESK_BODY_LIMIT}).encode()
        chunked = head(ZENDESK_PATH, "Transfer-Encoding: chunked")
        chunked += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        assert (await status_line(url, chunked)).startswith(b"HTTP/1.1 413")


async def test_a_signed_webhook_with_an_absurd_ticket_number_gets_400() -> None:
    """Past the signature, a body Python cannot turn into a ticket number is still a 400."""

    async def no_temporal() -> Client:
        raise AssertionError("a bad ticket number must not reach Temporal")

    route = zendesk_webhook_route("secret", no_temporal, "q", lambda: NOW)
    body = json.dumps({"ticket_id": "9" * 5000}).encode()
    timestamp = NOW.isoformat()
    headers = {
        webhook.SIGNATURE_HEADER: webhook.signature("secret", timestamp, body),
        webhook.TIMESTAMP_HEADER: timestamp,
        "content-type": "application/json",
    }
    async with (
        served(create_asgi_app(None, AckFirst(), [route])) as url,
        aiohttp.ClientSession() as http,
        http.post(url.rstrip("/") + ZENDESK_PATH, data=body, headers=headers) as response,
    ):
        assert response.status == 400


async def test_a_request_signed_for_another_team_app_or_organisation_is_refused(
    start_bot: Callable[..., Awaitable[BotUnderTest]], book: sessionmaker[Session]
) -> None:
    """The signing secret proves Slack sent it for an app holding the secret, not that it
    is this workspace's: a second workspace's install (or an app sharing the secret) signs
    as well. With SLACK_TEAM_ID, SLACK_APP_ID and SLACK_ENTERPRISE_ID set, a command, a
    click or an event naming another is refused with 403 and writes nothing."""
    workspace = SlackWorkspace(team_id=TEAM_ID, app_id="A0BILLING", enterprise_id="E0GRID")
    bot = await start_bot(book, workspace=workspace)
    url = bot.slack.response_url("elsewhere")
    note = slack_requests.slash_command("note CUS-1 from elsewhere", ANALYST, url)
    ours = note + b"&enterprise_id=E0GRID"
    click = slack_requests.button_click("approve", "APR-1", ANALYST, "C0OTHER", "1.2", url)
    event = json.loads(slack_requests.app_home_opened(ANALYST))
    forged = [
        (ours.replace(TEAM_ID.encode(), b"T0OTHER"), slack_requests.FORM),
        (ours.replace(b"A0BILLING", b"A0OTHERAPP"), slack_requests.FORM),
        (note + b"&enterprise_id=E0OTHER", slack_requests.FORM),
        (note, slack_requests.FORM),  # no organisation at all
        (click, slack_requests.FORM),  # a click names the team, not the organisation
        (json.dumps({**event, "api_app_id": "A0OTHERAPP"}).encode(), slack_requests.JSON),
        (json.dumps({**event, "team_id": "T0OTHER"}).encode(), slack_requests.JSON),
    ]
    answers = [await bot.post(body, content_type) for body, content_type in forged]
    assert [status for status, _ in answers] == [403] * len(forged), answers
    with book() as session:
        assert session.scalar(select(func.count()).select_from(CustomerNote)) == 0
    assert await bot.post(ours, slack_requests.FORM) == (200, "")
    await bot.slack.wait_for("response_url:elsewhere")
    with book() as session:
        assert session.scalar(select(func.count()).select_from(CustomerNote)) == 1
