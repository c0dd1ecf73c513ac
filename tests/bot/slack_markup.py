"""What Slack would read as markup in a message we sent: the check that nothing a customer,
an analyst or a model wrote became a mention, a channel link or a hidden link.

Slack parses ``<...>`` in every ``mrkdwn`` text object and in a message's top-level
``text`` (the notification). A raw ``<`` in those places is allowed only where it opens
a sequence our own code builds: a mention of a user we know, a link to a channel we
know, or a ``<!date^...>`` token. Everything else, and any bidi or invisible format
character, is reported. ``plain_text`` objects are not parsed by Slack and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

#: Keys whose string values Slack does not render as mrkdwn (ids, metadata, input values).
_NOT_RENDERED = frozenset(
    {
        "action_id",
        "block_id",
        "callback_id",
        "channel",
        "initial_value",
        "private_metadata",
        "response_type",
        "thread_ts",
        "trigger_id",
        "ts",
        "user",
        "user_id",
        "value",
    }
)

_DATE = re.compile(r"<!date\^\d{1,12}\^\{[a-z_]+\}(?: \{time\})?\|[0-9A-Za-z :-]{1,40}>")
_USER = re.compile(r"<@([A-Z0-9]+)>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)>")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def mrkdwn_texts(value: Any) -> Iterator[str]:
    """Every string Slack renders as mrkdwn in a Web API call's arguments or a response
    URL payload: top-level ``text``, and ``text`` of every object that is not plain_text."""
    if isinstance(value, dict):
        if value.get("type") == "plain_text":
            return
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            elif key not in _NOT_RENDERED:
                yield from mrkdwn_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from mrkdwn_texts(item)


def violations(text: str, users: Iterable[str], channels: Iterable[str]) -> list[str]:
    """The markup in ``text`` that did not come from us, each with a little context."""
    known_users, known_channels = set(users), set(channels)
    found = [f"invisible U+{ord(c):04X}" for c in _INVISIBLE.findall(text)]
    for at in (i for i, c in enumerate(text) if c == "<"):
        rest = text[at:]
        if _DATE.match(rest):
            continue
        if (m := _USER.match(rest)) and m.group(1) in known_users:
            continue
        if (m := _CHANNEL.match(rest)) and m.group(1) in known_channels:
            continue
        found.append(repr(text[max(0, at - 20) : at + 40]))
    return found


def unescaped(payloads: Iterable[Any], users: Iterable[str], channels: Iterable[str]) -> list[str]:
    """Every violation in every payload, as ``payload#: problem``."""
    users, channels = list(users), list(channels)
    return [
        f"{n}: {problem}"
        for n, payload in enumerate(payloads)
        for text in mrkdwn_texts(payload)
        for problem in violations(text, users, channels)
    ]
