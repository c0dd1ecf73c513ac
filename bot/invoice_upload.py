"""`/billing invoice INV-…`: the invoice's documents, uploaded in a thread of the channel.

The documents are the stored ones (issued now on first use, as the invoice
email would): the copy in Slack is byte for byte the one the customer got.
A line naming the invoice is posted in the channel and the files are uploaded
in its thread with ``files_upload_v2``. Once per command: the first copy of a
command claims its trigger id's key (:mod:`bot.once`) in the transaction
that reads the invoice; any other copy (a retry, a replay, one arriving at
the same instant) answers the same without posting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from activities.documents.store import document_bytes, issue_invoice_documents
from activities.ledger import invoices
from activities.ledger.models import IdempotencyKey
from activities.slack_text import escape, mention
from bot import roles
from bot.blocks.answers import Message
from bot.once import claim
from bot.services import Services

ACTION = "slack.invoice_uploaded"


@dataclass(frozen=True, slots=True)
class _Documents:
    title: str
    buyer: str
    files: list[tuple[str, bytes]]
    #: This copy of the command claimed its key: it posts, the others only answer.
    first: bool


async def upload_invoice(
    services: Services, client: AsyncWebClient, command: dict[str, Any], number: str
) -> Message:
    """Post the invoice's line in the channel and its documents in the thread; the answer
    to the caller says where they are."""
    key = f"slack:{command['trigger_id']}:invoice"
    actor = roles.actor(services.matrix, command["user_id"])
    now = services.now()

    def read(session: Session) -> _Documents:
        invoice = invoices.get_invoice(session, number)
        documents = issue_invoice_documents(session, invoice, actor=actor, now=now)
        return _Documents(
            title="Credit note" if invoice.total < 0 else "Invoice",
            buyer=invoice.buyer_name or invoice.customer_id,
            files=[(d.filename, document_bytes(d)) for d in documents],
            first=claim(session, key, ACTION, now),
        )

    found = await services.ledger(read)
    if found.first:
        posted = await client.chat_postMessage(
            channel=command["channel_id"],
            text=f":page_facing_up: {found.title} {number} for {escape(found.buyer)}, "
            f"requested by {mention(command['user_id'])}",
        )
        done: dict[str, Any] = {"channel": str(posted["channel"]), "ts": str(posted["ts"])}
        await services.ledger(lambda s: _remember(s, key, done))
        uploaded = await client.files_upload_v2(
            channel=done["channel"],
            thread_ts=done["ts"],
            file_uploads=[
                {"content": content, "filename": name, "title": name}
                for name, content in found.files
            ],
        )
        done = {**done, "files": [str(f["id"]) for f in uploaded.get("files") or []]}
        await services.ledger(lambda s: _remember(s, key, done))
    names = ", ".join(name for name, _ in found.files)
    return {"text": f"{number}: {names} uploaded in the thread of the message above."}


def _remember(session: Session, key: str, result: dict[str, Any]) -> None:
    """What was posted under the claimed key: where the message is, then the file ids."""
    row = session.get(IdempotencyKey, key)
    assert row is not None  # claimed before anything was posted
    row.result = result
