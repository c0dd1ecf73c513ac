"""Requests as Slack sends them to the bot: form-encoded slash commands and interaction
payloads, JSON events, each signed with the app's signing secret (or deliberately not)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.bot.fake_slack import TEAM_ID

SIGNING_SECRET = "test-signing-secret"
CHANNEL = "C0BILLING"

_triggers = itertools.count(1)


def signature(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """Slack's v0 signature: HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes, content_type: str, *, age_seconds: int = 0, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    timestamp = int(time.time()) - age_seconds
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": signature(body, timestamp, secret),
    }


def slash_command(text: str, user_id: str, response_url: str) -> bytes:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "billing-ops",
            "channel_id": CHANNEL,
            "channel_name": "billing",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/billing",
            "text": text,
            "api_app_id": "A0BILLING",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{next(_triggers)}.1.trigger",
        }
    ).encode()


def _interaction(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def button_click(
    action_id: str, value: str, user_id: str, channel: str, message_ts: str, response_url: str
) -> bytes:
    """A ``block_actions`` payload: someone clicked a button in a message."""
    return _interaction(
        {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "billing-ops"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0BILLING",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{next(_triggers)}.2.trigger",
            "channel": {"id": channel, "name": "billing-approvals"},
            "message": {"type": "message", "ts": message_ts, "text": "approval"},
            "response_url": response_url,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": f"approval:{value}",
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
    )


def view_submission(view: dict[str, Any], user_id: str, values: dict[str, Any]) -> bytes:
    """A ``view_submission`` payload for a modal the bot opened (``view`` as it sent it)."""
    return _interaction(
        {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "billing-ops"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0BILLING",
            "token": "deprecated-verification-token",
            "trigger_id": f"{next(_triggers)}.3.trigger",
            "view": {
                "id": "V0MODAL",
                "team_id": TEAM_ID,
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view.get("private_metadata", ""),
                "blocks": view["blocks"],
                "state": {"values": values},
                "hash": "1.abc",
            },
        }
    )


def app_home_opened(user_id: str) -> bytes:
    return json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0BILLING",
            "type": "event_callback",
            "event_id": f"Ev{next(_triggers):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}],
            "event": {
                "type": "app_home_opened",
                "user": user_id,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
    ).encode()


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
