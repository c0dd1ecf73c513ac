"""Customer email: written to the outbox table under an idempotency key, then delivered.

Delivery goes to files in ``DATA_DIR/outbox`` by default and to SMTP when
``SMTP_HOST`` is set. The outbox row is committed before delivery and marked
sent after it, so a retried activity finds the row and does not send again.
The one gap left (the process dies after the SMTP server accepted the
message, before the row is marked) is covered by a Message-ID derived from
the key, which lets mail systems drop the duplicate.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

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
class Delivery:
    idempotency_key: str
    message_id: str
    transport: str
    already_sent: bool


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
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{_safe_name(str(message['X-Idempotency-Key']))}.eml"
        partial = target.with_suffix(".eml.partial")
        partial.write_bytes(bytes(message))
        os.replace(partial, target)


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

    def send(self, key: str, customer_id: str | None, email: Email, now: datetime) -> Delivery:
        """Queue ``email`` under ``key`` (first write wins) and deliver it unless already sent."""
        if not email.to:
            raise ValueError(f"email {key}: no recipient")
        with transaction(self.sessions) as session:
            row = session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == key))
            if row is None:
                row = OutboxEmail(
                    idempotency_key=key,
                    customer_id=customer_id,
                    to_addresses=",".join(email.to),
                    subject=email.subject,
                    body_text=email.body,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                session.add_all(
                    OutboxAttachment(email_id=row.id, position=position, document_id=document)
                    for position, document in enumerate(email.documents, start=1)
                )
            if row.sent_at is not None:
                return Delivery(key, row.message_id or "", row.transport or "", True)
            message = self._message(row)
            _attach(session, message, row)
        self.transport.send(message)
        with transaction(self.sessions) as session:
            stored = session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == key))
            assert stored is not None
            stored.sent_at = now
            stored.transport = self.transport.name
            stored.message_id = str(message["Message-ID"])
        return Delivery(key, str(message["Message-ID"]), self.transport.name, False)

    def _message(self, row: OutboxEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = row.to_addresses
        message["Subject"] = row.subject
        message["Date"] = format_datetime(row.created_at)
        message["Message-ID"] = message_id(row.idempotency_key)
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
