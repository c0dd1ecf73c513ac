"""One delivery in its own process, as a worker's activity would make it; the crash tests set
``BILLING_OPS_CRASH_AT`` so that it dies at a named point, then run it again as the retry.

    python -m tests.outbox.send_once LEDGER_URL (file:FOLDER | smtp:PORT) KEY
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from activities.ledger.db import make_engine, session_factory
from activities.outbox import Email, FileTransport, Outbox, SentEntry, SmtpTransport, Transport

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
MESSAGE = Email(to=("ap@example.com",), subject="Overdue: $10.00", body="Please pay.\n")
AUDITED_AS = "test.email_sent"


def transport(spec: str) -> Transport:
    kind, _, where = spec.partition(":")
    if kind == "file":
        return FileTransport(Path(where))
    return SmtpTransport("127.0.0.1", int(where), starttls=False, timeout=10)


def main(ledger_url: str, spec: str, key: str) -> None:
    outbox = Outbox(
        session_factory(make_engine(ledger_url)), transport(spec), "billing@example.com"
    )
    entry = SentEntry(
        actor="workflow:crash-test", action=AUDITED_AS, subject_type="email", subject_id=key
    )
    delivery = outbox.send(key, None, MESSAGE, NOW, entry)
    print(f"{delivery.message_id} {delivery.already_sent} {delivery.attempts}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
