"""The few Block Kit elements every message is built from."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from activities.billing.money import format_money
from activities.slack_text import mention

Block = dict[str, Any]

#: Slack's limits: a section's text, a field, fields per section, blocks per message.
SECTION_TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
FIELDS_PER_SECTION = 10
BLOCKS_PER_MESSAGE = 50


def header(text: str) -> Block:
    """A header: plain text, at most 150 characters."""
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, 150)}}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(_cut(text, SECTION_TEXT_LIMIT))}


def fields(pairs: Iterable[tuple[str, str]]) -> Block:
    """Label/value pairs: two columns on a phone; at most ten per section."""
    items = [mrkdwn(_cut(f"*{label}*\n{value}", FIELD_LIMIT)) for label, value in pairs]
    if not 0 < len(items) <= FIELDS_PER_SECTION:
        raise ValueError(f"fields: a section holds 1 to {FIELDS_PER_SECTION}, got {len(items)}")
    return {"type": "section", "fields": items}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(_cut(text, SECTION_TEXT_LIMIT))]}


def divider() -> Block:
    return {"type": "divider"}


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {"type": "button", "text": plain(text), "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    return element


def money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def amounts(by_currency: dict[str, Decimal]) -> str:
    """``$1,200.00 + €300.00``; currencies are never added together. Empty means none."""
    shown = [money(amount, currency) for currency, amount in sorted(by_currency.items()) if amount]
    return " + ".join(shown) or "none"


def when(moment: datetime, style: str = "{date_short_pretty} {time}") -> str:
    """A time Slack shows in the reader's own timezone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{style}|{fallback}>"


def user(slack_id: str) -> str:
    """A mention of a Slack user, shown as their name (anything not a user id as text)."""
    return mention(slack_id)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
