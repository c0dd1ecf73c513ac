"""The assistant's Slack face: answers app mentions and direct messages in their thread.

The answer can take seconds (the model and its read-only tools), so the event is
acknowledged first and the answer runs as a lazy listener after the ack. Slack
redelivers an event whose ack came late; each question (its ``event_id``) is
answered once (:mod:`bot.once`). The answer is the model's text, so it is
posted escaped: whatever a note or a customer name made the model write, it
cannot mention anyone or hide a link.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay

from activities.slack_text import escape
from bot.assistant import Assistant
from bot.once import claim
from bot.services import Services

MENTION = re.compile(r"<@[A-Z0-9]+>\s*")
ACTION = "slack.event_answered"


def register(app: AsyncApp, assistant: Assistant, services: Services) -> None:
    async def ack_event(ack: AsyncAck) -> None:
        await ack()

    async def answer(body: dict[str, Any], event: dict[str, Any], say: AsyncSay) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return  # our own replies and edits are not questions
        if event["type"] == "message" and event.get("channel_type") != "im":
            return  # in channels the assistant answers only when mentioned
        key, now = f"slack-event:{body['event_id']}", services.now()
        if not await services.ledger(lambda s: claim(s, key, ACTION, now)):
            return  # Slack delivered it again: answered (or being answered) already
        question = MENTION.sub("", str(event.get("text", ""))).strip()
        thread_ts = event.get("thread_ts") or event["ts"]
        if not question:
            await say(
                text="Ask me about an account, e.g. _what does CUS-0042 owe?_", thread_ts=thread_ts
            )
            return
        reply = await assistant.answer(
            question, thread=f"{event['channel']}:{thread_ts}", user=str(event.get("user"))
        )
        await say(text=escape(reply), thread_ts=thread_ts)

    app.event("app_mention")(ack=ack_event, lazy=[answer])
    app.event("message")(ack=ack_event, lazy=[answer])
