"""Delivery survives a worker killed at every step (issue 12, item 4).

A real process runs :class:`activities.outbox.Outbox` and SIGKILLs itself at
a named point (``activities.faults``), then a second process retries, as
Temporal would. Files: exactly one ``.eml`` per key, whatever the point.
SMTP (a real aiosmtpd server): one message, except for a kill between the
server's acceptance and the *sent* mark, where the retry sends it again with
the identical Message-ID. The audit entry exists exactly once in every case.
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.faults import CRASH_ENV
from activities.ledger.models import AuditEntry, OutboxEmail
from activities.outbox import message_id
from activities.paths import REPO_ROOT
from tests.collections.test_delivery import Inbox
from tests.collections.test_delivery import smtp_server as smtp_server  # the fixture
from tests.outbox.send_once import AUDITED_AS

KEY = "collections:CUS-1:2026-11-01:reminder_1"


def deliver(
    ledger: str, spec: str, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "tests.outbox.send_once", ledger, spec, KEY],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def audited(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == AUDITED_AS)
        return int(session.scalar(query) or 0)


def row(sessions: sessionmaker[Session]) -> OutboxEmail:
    with sessions() as session:
        found = session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == KEY))
        assert found is not None
        return found


@pytest.fixture
def outbox_folder(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "outbox"


@pytest.mark.parametrize(
    "point", ["outbox.sending", "outbox.file_written", "outbox.delivered", "outbox.sent"]
)
def test_a_killed_file_delivery_leaves_exactly_one_file_and_one_audit_entry(
    engine: Engine, sessions: sessionmaker[Session], outbox_folder: Path, point: str
) -> None:
    spec = f"file:{outbox_folder}"
    killed = deliver(url(engine), spec, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    retry = deliver(url(engine), spec)
    assert retry.returncode == 0, retry.stderr
    again = deliver(url(engine), spec)
    assert again.stdout.split()[1] == "True"  # already sent: nothing more

    files = sorted(p.name for p in outbox_folder.iterdir() if p.suffix == ".eml")
    assert files == ["collections_CUS-1_2026-11-01_reminder_1.eml"]
    written = email.message_from_bytes((outbox_folder / files[0]).read_bytes())
    assert written["Message-ID"] == message_id(KEY) and written["Subject"] == "Overdue: $10.00"
    assert audited(sessions) == 1
    stored = row(sessions)
    assert stored.sent_at is not None and stored.message_id == message_id(KEY)


@pytest.mark.parametrize(
    ("point", "received"),
    [("outbox.sending", 1), ("outbox.delivered", 2), ("outbox.sent", 1)],
)
def test_a_killed_smtp_delivery_sends_once_or_again_with_the_same_message_id(
    engine: Engine,
    sessions: sessionmaker[Session],
    smtp_server: tuple[Inbox, int],
    point: str,
    received: int,
) -> None:
    inbox, port = smtp_server
    spec = f"smtp:{port}"
    killed = deliver(url(engine), spec, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    retry = deliver(url(engine), spec)
    assert retry.returncode == 0, retry.stderr
    assert deliver(url(engine), spec).stdout.split()[1] == "True"

    ids = [email.message_from_bytes(m.content)["Message-ID"] for m in inbox.messages]
    assert ids == [message_id(KEY)] * received
    assert audited(sessions) == 1
    stored = row(sessions)
    assert stored.sent_at is not None and stored.transport == "smtp"
    # the retry knew: a second attempt after an unconfirmed one
    assert stored.attempts == (1 if point == "outbox.sent" else 2)
