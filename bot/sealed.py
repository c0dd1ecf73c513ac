"""Button values the bot must get back as it wrote them.

A Confirm button carries the whole previewed change (who asked, what, from
when, its idempotency key), and the click hands that value back to the bot.
Slack signs the click, not the value: whoever can post a message as the app
(a leaked ``response_url`` does for 30 minutes) can post a button whose value
says that they asked for a change nobody previewed, or from another day. So
such a value travels sealed: the text and an HMAC-SHA256 of it under the
bot's key, checked in constant time before anything in it is believed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from activities.settings import Settings

_SEPARATOR = "|"
_DIGEST_CHARS = 64


def button_key(*secrets_in_use: str | None) -> bytes:
    """The key buttons are sealed with: derived from the first secret the bot is given
    (Slack's signing secret, else the app token), so a restarted bot still opens the
    buttons it posted; a random one when it has neither (buttons then last a run)."""
    for secret in secrets_in_use:
        if secret:
            return hmac.new(secret.encode(), b"billing-ops button seal", hashlib.sha256).digest()
    return secrets.token_bytes(32)


def settings_key(settings: Settings) -> bytes:
    """The key of this deployment: the bot, and the worker that posts ticket drafts, seal
    and open with the same one."""
    return button_key(
        *(
            secret.get_secret_value() if secret else None
            for secret in (settings.slack_signing_secret, settings.slack_app_token)
        )
    )


def seal(key: bytes, value: str) -> str:
    """``value`` with its seal appended (64 hex characters: keep ``value`` under 1,900,
    Slack's limit on a button value being 2,000)."""
    return f"{value}{_SEPARATOR}{_digest(key, value)}"


def opened(key: bytes, sealed: str) -> str | None:
    """The value as sealed by :func:`seal` under ``key``; None when edited or unsealed."""
    value, separator, digest = sealed.rpartition(_SEPARATOR)
    if not separator or len(digest) != _DIGEST_CHARS:
        return None
    if not hmac.compare_digest(_digest(key, value).encode(), digest.encode("utf-8", "replace")):
        return None
    return value


def _digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
