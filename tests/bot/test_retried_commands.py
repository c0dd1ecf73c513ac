"""The same ``/billing`` request arriving several times at once: Slack retrying after a slow
ack (``X-Slack-Retry-Num``), or a proxy replaying it. Slack's trigger id is the request's
identity; on SQLite and PostgreSQL alike, every copy gets the first copy's answer and the
ledger changes once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.ledger.models import CustomerNote, PromiseToPay
from tests.bot import slack_requests
from tests.bot.conftest import ANALYST, BotUnderTest
from tests.ledger import factories

COPIES = 4
#: Rounds of copies: a race lost once in a few rounds shows up.
ROUNDS = 6


@pytest.fixture
def book(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        factories.customer(session, "CUS-1", legal_name="Acme Analytics Inc")
        for _ in range(ROUNDS):
            factories.open_invoice(session, "CUS-1", "1200.00", date(2026, 9, 20))
    return sessions


@pytest.fixture
async def bot(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    book: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
) -> BotUnderTest:
    client = time_skipping_env.client

    async def temporal() -> Client:
        return client

    return await start_bot(book, temporal=temporal)


async def post_copies(bot: BotUnderTest, text: str, name: str) -> list[str]:
    """One signed command sent ``COPIES`` times at once, all but the first as Slack's retries;
    returns the answers posted to its response URL."""
    body = slack_requests.slash_command(text, ANALYST, bot.slack.response_url(name))

    async def send(retry: int) -> int:
        headers = slack_requests.signed_headers(body, slack_requests.FORM)
        if retry:
            headers |= {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
        async with bot.http.post(bot.url, data=body, headers=headers) as response:
            return response.status

    assert await asyncio.gather(*(send(n) for n in range(COPIES))) == [200] * COPIES
    calls = await bot.slack.wait_for(f"response_url:{name}", count=COPIES)
    return [str(c.args["text"]) for c in calls]


def count(book: sessionmaker[Session], model: type[object]) -> int:
    with book() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_note_sent_four_times_at_once_is_one_note(
    bot: BotUnderTest, book: sessionmaker[Session]
) -> None:
    for round in range(ROUNDS):
        answers = await post_copies(bot, f"note CUS-1 call {round}: PO on its way", f"n{round}")
        assert answers == ["Note added to CUS-1"] * COPIES, (round, answers)
    assert count(book, CustomerNote) == ROUNDS


async def test_a_promise_sent_four_times_at_once_is_one_promise(
    bot: BotUnderTest, book: sessionmaker[Session]
) -> None:
    answers = await post_copies(bot, "promise CUS-1 1200 2026-11-20", "promise")
    assert len(set(answers)) == 1 and ":warning:" not in answers[0], answers
    assert count(book, PromiseToPay) == 1


async def test_a_dispute_sent_four_times_at_once_opens_one_dispute(
    bot: BotUnderTest, time_skipping_env: WorkflowEnvironment
) -> None:
    for round in range(1, ROUNDS + 1):
        text = f"dispute CUS-1 INV-00000{round} billed twice"
        answers = await post_copies(bot, text, f"d{round}")
        assert answers == [f"Dispute DSP-00000{round} opened for CUS-1"] * COPIES, answers
        handle = time_skipping_env.client.get_workflow_handle(f"dispute-DSP-00000{round}")
        await handle.terminate("test over")


async def test_an_invoice_copy_sent_four_times_at_once_is_posted_once(
    bot: BotUnderTest,
) -> None:
    for round in range(1, ROUNDS + 1):
        answers = await post_copies(bot, f"invoice INV-00000{round}", f"i{round}")
        assert len(set(answers)) == 1 and ":warning:" not in answers[0], answers
    posted = bot.slack.calls_to("chat.postMessage")
    assert len(posted) == ROUNDS, [p.args["text"] for p in posted]
    assert len(bot.slack.calls_to("files.completeUploadExternal")) == ROUNDS
