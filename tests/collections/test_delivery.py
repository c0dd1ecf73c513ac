"""Delivery through real clients: SMTP to a local aiosmtpd server, Slack's Web API to a local
fake, and the outbox folder; each retried send is a no-op."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.models import OutboxEmail
from activities.outbox import Email, FileTransport, Outbox, SmtpTransport, message_id
from activities.slack_text import Mrkdwn, mention
from activities.team_notices import Notice, TeamNotices
from tests.bot.fake_slack import BOT_TOKEN, FakeSlack

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
MESSAGE = Email(to=("ap@example.com",), subject="Overdue: $10.00", body="Please pay.\n")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_smtp_delivery_happens_once_per_key(
    smtp_server: tuple[Inbox, int], sqlite_sessions: sessionmaker[Session]
) -> None:
    inbox, port = smtp_server
    outbox = Outbox(
        sqlite_sessions, SmtpTransport("127.0.0.1", port, starttls=False), "billing@example.com"
    )
    first = outbox.send("collections:C1:2026-11-01:reminder_1", None, MESSAGE, NOW)
    again = outbox.send("collections:C1:2026-11-01:reminder_1", None, MESSAGE, NOW)

    assert not first.already_sent and again.already_sent
    assert len(inbox.messages) == 1
    received = email.message_from_bytes(inbox.messages[0].content)
    assert received["Subject"] == "Overdue: $10.00"
    assert received["Message-ID"] == message_id("collections:C1:2026-11-01:reminder_1")
    assert inbox.messages[0].rcpt_tos == ["ap@example.com"]
    with sqlite_sessions() as session:
        row = session.scalar(select(OutboxEmail))
        assert row is not None and row.transport == "smtp" and row.sent_at == NOW


def test_unreachable_smtp_leaves_the_email_queued_for_the_retry(
    smtp_server: tuple[Inbox, int], sqlite_sessions: sessionmaker[Session]
) -> None:
    inbox, port = smtp_server
    down = Outbox(sqlite_sessions, SmtpTransport("127.0.0.1", 1, starttls=False, timeout=2), "b@x")
    with pytest.raises(OSError):
        down.send("k-retry", None, MESSAGE, NOW)
    up = Outbox(sqlite_sessions, SmtpTransport("127.0.0.1", port, starttls=False), "b@x")
    assert not up.send("k-retry", None, MESSAGE, NOW).already_sent
    assert len(inbox.messages) == 1


def test_file_outbox_writes_one_file_per_key(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    outbox = Outbox(sqlite_sessions, FileTransport(tmp_path / "outbox"), "billing@example.com")
    outbox.send("collections:C1:cycle:step", None, MESSAGE, NOW)
    outbox.send("collections:C1:cycle:step", None, MESSAGE, NOW)
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    assert "Please pay." in files[0].read_text()


def test_team_notices_post_to_slack_once(sqlite_sessions: sessionmaker[Session]) -> None:
    slack = FakeSlack().start()
    try:
        notices = TeamNotices(
            sqlite_sessions,
            Path("/nonexistent"),
            WebClient(token=BOT_TOKEN, base_url=slack.api_url),
        )
        notice = Notice(
            "collections:C1:2026-11-01:escalation",
            "#collections",
            Mrkdwn(f"{mention('U1')} C1 owes"),
        )
        first = notices.post(notice, NOW)
        again = notices.post(notice, NOW)
        posts = slack.calls_to("chat.postMessage")
    finally:
        slack.stop()
    assert not first.already_posted and again.already_posted
    assert first.where.startswith("slack:")
    assert len(posts) == 1
    assert posts[0].args["channel"] == "#collections" and posts[0].args["text"] == "<@U1> C1 owes"


def test_team_notices_without_slack_are_files(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    notices = TeamNotices(sqlite_sessions, tmp_path)
    posted = notices.post(Notice("k:1", "#collections", Mrkdwn("hello team")), NOW)
    assert posted.where == "file:k_1.txt"
    assert (tmp_path / "k_1.txt").read_text() == "#collections\n\nhello team\n"
