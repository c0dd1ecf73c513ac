"""Zendesk webhook requests: is it really Zendesk, and which ticket is it about.

Zendesk signs each request: ``X-Zendesk-Webhook-Signature`` is the base64
HMAC-SHA256, keyed with the webhook's signing secret, of the
``X-Zendesk-Webhook-Signature-Timestamp`` header followed by the raw body.
A request whose signature does not match, or whose timestamp is more than
five minutes from now (a replay), is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
MAX_SKEW = timedelta(minutes=5)


class WebhookRefused(ValueError):
    """The request is not a valid Zendesk webhook call; the message says why."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    secret: str, body: bytes, signature_header: str | None, timestamp: str | None, now: datetime
) -> None:
    """Raise :class:`WebhookRefused` unless Zendesk signed ``body`` within the last minutes."""
    if not signature_header or not timestamp:
        raise WebhookRefused("unsigned: the Zendesk signature headers are missing")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().encode()):
        raise WebhookRefused("bad signature: not signed with this webhook's secret")
    try:
        signed_at = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRefused(f"bad timestamp {timestamp!r}: expected ISO 8601") from None
    if signed_at.tzinfo is None or abs(now - signed_at) > MAX_SKEW:
        raise WebhookRefused(f"stale: signed at {timestamp}, more than 5 minutes from now")


def ticket_id(body: bytes) -> int:
    """The ticket a webhook is about: ``{"ticket_id": ...}`` (a trigger's JSON body) or an
    event subscription's ``{"detail": {"id": ...}}``."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookRefused("body: not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRefused("body: expected a JSON object")
    detail = payload.get("detail")
    raw = payload.get("ticket_id", detail.get("id") if isinstance(detail, dict) else None)
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise WebhookRefused('body: needs "ticket_id" (or "detail": {"id"}) as a ticket number')
    if int(raw) <= 0:
        raise WebhookRefused(f"ticket_id: {raw} is not a ticket number")
    return int(raw)
