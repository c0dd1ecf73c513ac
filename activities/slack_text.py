"""Slack mrkdwn: the one rule for putting text that is not ours into a Slack message.

Slack reads ``<...>`` in mrkdwn (and in a message's top-level ``text``, the
one its notifications show) as a control sequence: ``<!channel>`` notifies
everyone, ``<@U123>`` pings a person, ``<https://x|label>`` hides a link
behind any label. So every piece of text a customer, a payer, an analyst or
a model wrote (legal names, notes, ticket text, claims, summaries, answers)
goes through :func:`escape` before it joins a message, or is sent as
``plain_text``. Slack's documented escaping is ``&`` to ``&amp;``, ``<`` to
``&lt;`` and ``>`` to ``&gt;``; nothing else. Mentions, channel links, dates
and links are built only here and in our templates, from ids we validated.

Bidirectional and invisible format characters are dropped as well: they are
not Slack syntax, but they make a name read differently from what it is.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

#: Bidi embeddings, overrides and isolates, zero-width characters and the BOM.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

#: What Slack's user, bot and channel ids look like.
_USER_ID = re.compile(r"^[UWB][A-Z0-9]{1,30}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{1,30}$")


class Mrkdwn(str):
    """Text that is ours and already mrkdwn (a mention we built, a template's output):
    :func:`escape` leaves it as it is. Never wrap text someone else wrote in it."""

    __slots__ = ()


def escape(text: object) -> Mrkdwn:
    """``text`` as Slack shows it literally: ``&``, ``<`` and ``>`` escaped, invisible
    format characters dropped. Text that is already :class:`Mrkdwn` is returned as it is,
    so escaping twice never shows ``&amp;lt;`` to the reader."""
    if isinstance(text, Mrkdwn):
        return text
    plain = _INVISIBLE.sub("", str(text))
    return Mrkdwn(plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def quote(text: object) -> Mrkdwn:
    """Someone's words as a mrkdwn block quote, escaped, every line quoted."""
    lines = escape(text).splitlines() or [""]
    return Mrkdwn("\n".join(f">{line}" for line in lines))


def mention(user_id: str) -> Mrkdwn:
    """``<@U123>`` for a Slack user id; anything that is not one is shown as text."""
    if _USER_ID.match(user_id):
        return Mrkdwn(f"<@{user_id}>")
    return escape(user_id)


def channel_link(channel_id: str) -> Mrkdwn:
    """``<#C123>`` for a Slack channel id; anything else (a ``#name``) is shown as text."""
    if _CHANNEL_ID.match(channel_id):
        return Mrkdwn(f"<#{channel_id}>")
    return escape(channel_id)


@cache
def environment(folder: Path) -> Environment:
    """Jinja2 for Slack templates: every ``{{ value }}`` is escaped unless it is
    :class:`Mrkdwn`, so a template cannot forget to escape a customer's name."""
    return Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=False,  # HTML escaping is the wrong rule for mrkdwn; finalize applies ours
        finalize=_finalize,
        keep_trailing_newline=True,
    )


def render(folder: Path, template: str, values: dict[str, Any]) -> Mrkdwn:
    """``folder/template.j2`` rendered for Slack, stripped."""
    return Mrkdwn(environment(folder).get_template(f"{template}.j2").render(values).strip())


def _finalize(value: Any) -> Any:
    if value is None or isinstance(value, Mrkdwn | bool | int | float):
        return value
    return escape(value)
