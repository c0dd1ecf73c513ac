"""The assistant answers mentions and DMs in their thread, after the ack, and nothing else."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.assistant import NO_MODEL
from tests.bot import slack_requests
from tests.bot.conftest import ANALYST, BotUnderTest
from tests.bot.fake_slack import TEAM_ID

_ids = count(1)


def event(**fields: Any) -> bytes:
    return json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0BILLING",
            "type": "event_callback",
            "event_id": f"EvA{next(_ids):07d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}],
            "event": {"user": ANALYST, "event_ts": f"{time.time():.6f}", **fields},
        }
    ).encode()


async def test_mentions_and_dms_are_answered_in_thread_and_nothing_else(
    start_bot: Callable[..., Awaitable[BotUnderTest]], sqlite_sessions: sessionmaker[Session]
) -> None:
    bot = await start_bot(sqlite_sessions)
    ignored = [
        event(type="message", channel="C0TEAM", channel_type="channel", text="lunch?", ts="1.1"),
        event(type="message", channel="D0DM", channel_type="im", text="hi", ts="1.2", bot_id="B1"),
    ]
    asked = [
        event(type="app_mention", channel="C0TEAM", text="<@U0BOT> what does CUS-1 owe?", ts="2.1"),
        event(
            type="message",
            channel="D0DM",
            channel_type="im",
            text="aging please",
            ts="3.1",
            thread_ts="3.0",
        ),
    ]
    for body in [*ignored, *asked]:
        started = time.perf_counter()
        status, _ = await bot.post(body, slack_requests.JSON)
        assert status == 200 and time.perf_counter() - started < 3  # Slack's ack deadline
    posts = await bot.slack.wait_for("chat.postMessage", count=2)
    await asyncio.sleep(0.3)  # an answer to an ignored event would have arrived by now
    replies = sorted(
        (c.args["channel"], c.args["thread_ts"], c.args["text"])
        for c in bot.slack.calls_to("chat.postMessage")
    )
    assert len(posts) == 2
    assert replies == [("C0TEAM", "2.1", NO_MODEL), ("D0DM", "3.0", NO_MODEL)]


async def test_a_question_slack_delivers_again_is_answered_once(
    start_bot: Callable[..., Awaitable[BotUnderTest]], sqlite_sessions: sessionmaker[Session]
) -> None:
    """Slack redelivers an event whose ack it did not see in time (``X-Slack-Retry-Num``,
    the same ``event_id``), sometimes while the first delivery is still being answered:
    the question is answered once, in its thread."""
    bot = await start_bot(sqlite_sessions)
    body = event(type="app_mention", channel="C0TEAM", text="<@U0BOT> CUS-1 owes?", ts="5.1")

    async def deliver(retry: int) -> int:
        headers = slack_requests.signed_headers(body, slack_requests.JSON)
        if retry:
            headers |= {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
        async with bot.http.post(bot.url, data=body, headers=headers) as response:
            return response.status

    assert list(await asyncio.gather(deliver(0), deliver(1))) == [200, 200]
    assert await deliver(2) == 200
    await bot.slack.wait_for("chat.postMessage")
    await asyncio.sleep(0.3)  # a second answer would have arrived by now
    assert [c.args["thread_ts"] for c in bot.slack.calls_to("chat.postMessage")] == ["5.1"]
