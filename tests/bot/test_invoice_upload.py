"""`/billing invoice INV-…` through the real Bolt app: the stored documents uploaded in a thread
with slack_sdk's files_upload_v2 (files.getUploadURLExternal, the upload, then
files.completeUploadExternal) against the fake Slack server."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.models import AuditEntry, Document, IdempotencyKey, Invoice
from tests.bot.conftest import ANALYST, STRANGER, BotUnderTest
from tests.bot.slack_requests import CHANNEL
from tests.documents.kinds import issue_kind


@pytest.fixture
def book(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """An EU invoice (PDF and e-invoice XML) and a US one (PDF alone), issued, no documents yet."""
    with sqlite_sessions.begin() as session:
        issue_kind(session, "renewal_with_discount_de")
        issue_kind(session, "first_prorated_us_sales_tax")
    return sqlite_sessions


@pytest.fixture
async def bot(
    start_bot: Callable[..., Awaitable[BotUnderTest]], book: sessionmaker[Session]
) -> BotUnderTest:
    return await start_bot(book)


def _number(book: sessionmaker[Session], source: str) -> str:
    with book() as session:
        invoice = session.scalars(select(Invoice).where(Invoice.source_key == source)).one()
        assert invoice.number
        return invoice.number


async def test_the_stored_documents_are_uploaded_in_the_thread_of_a_channel_line(
    bot: BotUnderTest, book: sessionmaker[Session]
) -> None:
    number = _number(book, "kinds:renewal_with_discount_de")
    answer = await bot.answer(f"invoice {number.lower()}")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == (
        f"{number}: {number}.pdf, {number}-factur-x.xml "
        "uploaded in the thread of the message above."
    )
    (posted,) = bot.slack.calls_to("chat.postMessage")
    assert posted.args["channel"] == CHANNEL
    assert posted.args["text"].startswith(f":page_facing_up: Invoice {number} for ")
    assert posted.args["text"].endswith(f"requested by <@{ANALYST}>")
    (complete,) = bot.slack.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == CHANNEL
    files = json.loads(complete.args["files"])
    assert [f["title"] for f in files] == [f"{number}.pdf", f"{number}-factur-x.xml"]
    uploads = [c.args for c in bot.slack.calls if c.method.startswith("upload:")]
    with book() as session:
        stored = session.scalars(select(Document).order_by(Document.id)).all()
        assert [u["sha256"] for u in uploads] == [d.sha256 for d in stored]
        issued = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "invoice.documents_issued")
        ).one()
        assert issued.actor.startswith("slack:")
        (done,) = session.scalars(
            select(IdempotencyKey).where(IdempotencyKey.action == "slack.invoice_uploaded")
        ).all()
    # The files went into the thread of the line posted, and what was posted is remembered.
    assert done.result is not None
    assert complete.args["thread_ts"] == done.result["ts"]
    assert done.result["files"] == [f["id"] for f in files]


async def test_a_us_invoice_uploads_its_pdf_alone(
    bot: BotUnderTest, book: sessionmaker[Session]
) -> None:
    number = _number(book, "kinds:first_prorated_us_sales_tax")
    answer = await bot.answer(f"invoice {number}")
    assert answer["text"] == f"{number}: {number}.pdf uploaded in the thread of the message above."
    (complete,) = bot.slack.calls_to("files.completeUploadExternal")
    assert [f["title"] for f in json.loads(complete.args["files"])] == [f"{number}.pdf"]


async def test_an_unknown_invoice_is_named_privately_and_nothing_is_posted(
    bot: BotUnderTest,
) -> None:
    answer = await bot.answer("invoice INV-999999")
    assert answer == {
        "text": ":warning: invoice 'INV-999999' not found",
        "response_type": "ephemeral",
    }
    assert bot.slack.calls_to("chat.postMessage") == []
    assert bot.slack.calls_to("files.getUploadURLExternal") == []


@pytest.mark.parametrize("text", ["invoice", "invoice CUS-1", "invoice INV-1 INV-2"])
async def test_a_malformed_invoice_command_gets_its_usage_line(
    bot: BotUnderTest, text: str
) -> None:
    status, ack, _ = await bot.command(text)
    assert status == 200
    assert json.loads(ack)["text"].endswith("Usage: `/billing invoice INVOICE-NUMBER`")


async def test_someone_outside_the_directory_cannot_post_a_customers_invoice(
    bot: BotUnderTest, book: sessionmaker[Session]
) -> None:
    number = _number(book, "kinds:renewal_with_discount_de")
    status, ack, _ = await bot.command(f"invoice {number}", user_id=STRANGER)
    assert status == 200
    assert json.loads(ack)["text"].startswith(
        ":no_entry: `/billing invoice` posts a customer's invoice in the channel, and you are "
        "not in the approval matrix"
    )
    assert bot.slack.calls_to("chat.postMessage") == []
    with book() as session:
        assert session.scalars(select(Document)).all() == []
