"""Customer email: written to the outbox table under an idempotency key, then delivered.

Delivery goes to files in ``DATA_DIR/outbox`` by default and to SMTP when
``SMTP_HOST`` is set. Three states, each committed before the next step, so
a worker killed anywhere leaves a row its retry can read:

1. *sending*: the row (first write wins), its Message-ID (derived from the
   key, stored) and ``sending_at`` / ``attempts`` are committed before the
   transport is called;
2. the transport delivers: the file transport writes a temporary file and
   renames it onto ``<key>.eml`` (atomic: a retry overwrites, never adds);
   SMTP hands the message to the server;
3. *sent*: ``sent_at`` and the caller's audit entry commit in one
   transaction, by a conditional UPDATE (``WHERE sent_at IS NULL``), so
   the audit entry exists exactly once, with the mark.

A caller may pass a ``check`` that runs inside the transaction that first
queues the email (step 1) and raises :class:`Withheld` when the email no
longer says what is true: the collections step checks the balance there,
under the customer's row lock that every payment takes, so a payment either
commits before the email is queued (and the email is not sent as drafted)
or after it (and the email stated the balance as it then was).

A retry that finds *sent* does nothing. One that finds *sending* without
*sent* cannot know whether step 2 happened, so it delivers again with the
same Message-ID: exactly once for files (the same file, rewritten), at least
once for SMTP, where the only duplicate is a kill between the server's
"250 OK" and step 3 and carries the identical Message-ID, so the receiving
system can drop it. ``docs/delivery.md`` has the measured window.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from activities.faults import crash_point
from activities.ledger import audit
from activities.ledger.db import transaction
from activities.ledger.models import Document, OutboxAttachment, OutboxEmail
from activities.settings import Settings


@dataclass(frozen=True, slots=True)
class Email:
    """``documents`` are ids of stored documents (invoice PDFs, e-invoice XML) to attach."""

    to: tuple[str, ...]
    subject: str
    body: str
    documents: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SentEntry:
    """The audit entry written in the same transaction that marks the email sent."""

    actor: str
    action: str
    subject_type: str
    subject_id: str
    after: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a send ended. ``attempts`` above 1: handed over again after an unconfirmed try."""

    idempotency_key: str
    message_id: str
    transport: str
    already_sent: bool
    attempts: int = 1


class Withheld(Exception):
    """Raised by a send's ``check``: the email is no longer true; nothing was queued or sent."""


class Transport(Protocol):
    name: str

    def send(self, message: EmailMessage) -> None: ...


def message_id(idempotency_key: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@billing-ops>"


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


class FileTransport:
    """One ``.eml`` file per message, named after its key: writing it twice is harmless."""

    name = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        """Write a temporary file of our own, flush it to disk, rename it onto the key's name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{_safe_name(str(message['X-Idempotency-Key']))}.eml"
        with tempfile.NamedTemporaryFile(
            dir=self.folder, prefix=f".{target.name}.", suffix=".partial", delete=False
        ) as partial:
            partial.write(bytes(message))
            partial.flush()
            os.fsync(partial.fileno())
        crash_point("outbox.file_written")
        os.replace(partial.name, target)


class SmtpTransport:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def transport_from_settings(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
        )
    return FileTransport(settings.data_dir / "outbox")


class Outbox:
    def __init__(self, sessions: sessionmaker[Session], transport: Transport, sender: str) -> None:
        self.sessions = sessions
        self.transport = transport
        self.sender = sender

    def send(
        self,
        key: str,
        customer_id: str | None,
        email: Email,
        now: datetime,
        entry: SentEntry | None = None,
        check: Callable[[Session], None] | None = None,
    ) -> Delivery:
        """Deliver ``email`` under ``key`` unless already sent; ``entry`` is audited with the mark.

        The first write under a key wins: a retry sends what the row holds. ``check`` runs
        in the transaction that queues a new email, before the row is written; it raises
        :class:`Withheld` (or any error) to queue nothing. A queued email is not checked
        again: it may already have reached the server.
        """
        if not email.to:
            raise ValueError(f"email {key}: no recipient")
        with transaction(self.sessions) as session:
            row = session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == key))
            if row is None:
                if check is not None:
                    check(session)
                row = OutboxEmail(
                    idempotency_key=key,
                    customer_id=customer_id,
                    to_addresses=",".join(email.to),
                    subject=email.subject,
                    body_text=email.body,
                    created_at=now,
                    attempts=0,
                )
                session.add(row)
                session.flush()
                session.add_all(
                    OutboxAttachment(email_id=row.id, position=position, document_id=document)
                    for position, document in enumerate(email.documents, start=1)
                )
            if row.sent_at is not None:
                return Delivery(key, row.message_id or "", row.transport or "", True, row.attempts)
            row.message_id = row.message_id or message_id(key)
            row.sending_at = now
            row.attempts += 1
            attempts = row.attempts
            message = self._message(row)
            _attach(session, message, row)
        crash_point("outbox.sending")
        self.transport.send(message)
        crash_point("outbox.delivered")
        with transaction(self.sessions) as session:
            marked = session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.idempotency_key == key, OutboxEmail.sent_at.is_(None))
                .values(sent_at=now, transport=self.transport.name)
            )
            first = marked.rowcount == 1  # type: ignore[attr-defined]
            if first and entry is not None:
                audit.record(
                    session,
                    at=now,
                    actor=entry.actor,
                    action=entry.action,
                    subject_type=entry.subject_type,
                    subject_id=entry.subject_id,
                    after=entry.after,
                )
        crash_point("outbox.sent")
        return Delivery(key, str(message["Message-ID"]), self.transport.name, not first, attempts)

    def _message(self, row: OutboxEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = row.to_addresses
        message["Subject"] = row.subject
        message["Date"] = format_datetime(row.created_at)
        message["Message-ID"] = row.message_id or message_id(row.idempotency_key)
        message["X-Idempotency-Key"] = row.idempotency_key
        message.set_content(row.body_text)
        return message


def _attach(session: Session, message: EmailMessage, row: OutboxEmail) -> None:
    """Attach the documents queued with the email, as stored (their hash checked)."""
    attached = session.scalars(
        select(Document)
        .join(OutboxAttachment, OutboxAttachment.document_id == Document.id)
        .where(OutboxAttachment.email_id == row.id)
        .order_by(OutboxAttachment.position)
    ).all()
    for document in attached:
        content = document.content
        if hashlib.sha256(content).hexdigest() != document.sha256:
            raise ValueError(
                f"email {row.idempotency_key}: attachment {document.filename} does not match "
                "its stored hash; not sending an altered document"
            )
        maintype, subtype = document.media_type.split("/", 1)
        message.add_attachment(
            content, maintype=maintype, subtype=subtype, filename=document.filename
        )
