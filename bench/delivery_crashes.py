"""The duplicate window of customer email, measured by killing real delivery processes.

Each trial delivers one email under its own key in a forked process that
SIGKILLs itself at a point chosen at random (``activities.faults``), or not at all,
then retries in a fresh process until the email is marked sent, as Temporal
retries an activity. Afterwards, per key: how many messages the SMTP server
(aiosmtpd on 127.0.0.1) received and with which Message-IDs, how many
``.eml`` files the file transport left, and how many audit entries exist.

    .venv/bin/python -m bench.delivery_crashes --trials 200
    .venv/bin/python -m bench.delivery_crashes --trials 200 --transport file

Prints one line per figure; exits 1 if any key got two different
Message-IDs, more than one file, or other than one audit entry.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import io
import os
import random
import signal
import socket
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from activities.faults import CRASH_ENV
from activities.ledger.db import make_engine, migrate, session_factory
from activities.ledger.models import AuditEntry
from tests.outbox import send_once

POINTS = {
    "smtp": ["outbox.sending", "outbox.delivered", "outbox.sent", None],
    "file": ["outbox.sending", "outbox.file_written", "outbox.delivered", "outbox.sent", None],
}


class Inbox:
    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = defaultdict(list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        self.by_key[str(message["X-Idempotency-Key"])].append(str(message["Message-ID"]))
        return "250 OK"


def deliver(ledger: str, spec: str, key: str, crash_at: str | None) -> int:
    """One delivery in a forked process (already imported: no start-up cost per trial), which
    SIGKILLs itself at ``crash_at``; its exit status as ``subprocess`` reports it."""
    pid = os.fork()
    if pid == 0:  # the child: a worker process making the delivery
        status = 1
        try:
            if crash_at:
                os.environ[CRASH_ENV] = crash_at
            else:
                os.environ.pop(CRASH_ENV, None)
            with contextlib.redirect_stdout(io.StringIO()):
                send_once.main(ledger, spec, key)
            status = 0
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status)


def trial(ledger: str, spec: str, key: str, point: str | None) -> None:
    status = deliver(ledger, spec, key, point)
    expected = -signal.SIGKILL if point else 0
    if status != expected:
        raise SystemExit(f"{key}: first run ended with {status}, expected {expected}")
    if point and deliver(ledger, spec, key, None) != 0:
        raise SystemExit(f"{key}: the retry failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--transport", choices=sorted(POINTS), default="smtp")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="delivery-crashes-"))
    ledger = f"sqlite:///{work / 'ledger.sqlite'}"
    engine = make_engine(ledger)
    migrate(engine)

    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    spec = f"smtp:{port}" if args.transport == "smtp" else f"file:{work / 'outbox'}"
    plan = [(f"bench:{n}", rng.choice(POINTS[args.transport])) for n in range(args.trials)]
    try:
        for key, point in plan:
            trial(ledger, spec, key, point)
    finally:
        controller.stop()

    with session_factory(engine)() as session:
        query = (
            select(AuditEntry.subject_id, func.count())
            .where(AuditEntry.action == "test.email_sent")
            .group_by(AuditEntry.subject_id)
        )
        audits = {key: count for key, count in session.execute(query)}
    crashes = Counter(point or "no crash" for _, point in plan)
    print(f"transport: {args.transport}, trials: {args.trials}, crashes: {dict(crashes)}")
    bad = [key for key, _ in plan if audits.get(key) != 1]
    print(f"keys with other than one audit entry: {len(bad)}")
    if args.transport == "smtp":
        received = {key: inbox.by_key.get(key, []) for key, _ in plan}
        duplicated = {key: ids for key, ids in received.items() if len(ids) > 1}
        missing = [key for key, ids in received.items() if not ids]
        mixed = [key for key, ids in duplicated.items() if len(set(ids)) > 1]
        by_point = Counter(point for key, point in plan if key in duplicated)
        print(f"messages received: {sum(len(ids) for ids in received.values())}")
        print(f"keys delivered twice: {len(duplicated)} ({dict(by_point)}), never: {len(missing)}")
        print(f"duplicates with differing Message-IDs: {len(mixed)}")
        bad += missing + mixed
    else:
        files = Counter(p.suffix for p in (work / "outbox").iterdir())
        print(f"files: {dict(files)} for {args.trials} keys")
        bad += [] if files[".eml"] == args.trials else ["file count"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
