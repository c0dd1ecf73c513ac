"""HTTP intake: what the server refuses before a body is read whole, parsed or authenticated.

Every POST to a known endpoint passes :class:`Intake` first (an ASGI
middleware in front of the routes). It reads the body itself, up to the
endpoint's limit: a ``Content-Length`` over the limit is refused at once
without reading anything, and a chunked body is counted as it streams and
refused as soon as it passes the limit. Then the endpoint's check runs on
the headers and the raw body (for Slack: the timestamp is a whole number,
the signature is Slack's, the body is the JSON or form Slack sends), and
only then does the route (Bolt, the Zendesk webhook) see the request, with
the body replayed from memory.

A refusal is answered with 400, 401 or 413 and a one-line reason, and
logged as one line: method, path, status and reason, never the body or its
``response_url`` (which lets whoever holds it answer in Slack for 30
minutes). Bolt therefore never logs a forged request's body, never parses
a body that is not Slack's, and never meets a timestamp it cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("billing_ops.intake")

#: Slack's payloads are small (a modal submission with every block is tens of KB).
SLACK_BODY_LIMIT = 256 * 1024
#: Zendesk's webhook bodies are ours to shape: the ticket id and a few fields.
ZENDESK_BODY_LIMIT = 256 * 1024
#: A batch of usage events: 1,000 events of a few hundred bytes each, with room to spare.
USAGE_BODY_LIMIT = 1024 * 1024
#: A signed usage request older (or newer) than this is refused as a possible replay.
USAGE_WINDOW_SECONDS = 300
#: Seconds since 1970 fit in 12 digits for the next 30,000 years; more is not a timestamp.
_TIMESTAMP_DIGITS = 12


class Refused(Exception):
    """The request is refused before it reaches its route; ``status`` and a one-line why."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


Check = Callable[[Headers, bytes], None]


@dataclass(frozen=True, slots=True)
class Gate:
    """One endpoint's intake rule: the largest body it takes, and a check that raises
    :class:`Refused` (run on the headers and the complete raw body)."""

    limit: int
    check: Check | None = None


class Intake:
    """The ASGI middleware that applies each path's :class:`Gate`; other paths pass as they are."""

    def __init__(self, app: ASGIApp, gates: Mapping[str, Gate]) -> None:
        self.app = app
        self.gates = dict(gates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gates.get(scope["path"]) if scope["type"] == "http" else None
        if gate is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            body = await _read(receive, headers, gate.limit)
            if body is None:
                return  # the client went away: nobody to answer
            if gate.check is not None:
                gate.check(headers, body)
        except Refused as refused:
            log.warning(
                "refused %s %s: %d %s", scope["method"], scope["path"], refused.status, refused.why
            )
            response = PlainTextResponse(refused.why, status_code=refused.status)
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read(receive: Receive, headers: Headers, limit: int) -> bytes | None:
    """The whole body, or :class:`Refused` (413) as soon as it is known to pass ``limit``."""
    declared = headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 18:
            raise Refused(400, "Content-Length: not a whole number of bytes")
        if int(declared) > limit:
            raise Refused(413, f"body: {declared} bytes, over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body: over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the route the body already read, then the client's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


@dataclass(frozen=True, slots=True)
class SlackWorkspace:
    """Whose requests the bot serves: the workspace (``T...``), the app (``A...``) and, in an
    Enterprise Grid org, the organisation (``E...``); None where not configured.

    A signing secret proves that Slack sent the request for an app that holds it, not that
    it is ours: an app installed in a second workspace, or one sharing the secret, is
    signed as well. A request naming another team, app or organisation is refused."""

    team_id: str | None = None
    app_id: str | None = None
    enterprise_id: str | None = None

    def refusal(self, sender: Mapping[str, object]) -> str | None:
        """Why ``sender`` (``team_id``, ``api_app_id``, ``enterprise_id`` as the request
        gives them) is not this workspace's; None when it is."""
        for name, wanted in (
            ("team_id", self.team_id),
            ("api_app_id", self.app_id),
            ("enterprise_id", self.enterprise_id),
        ):
            given = sender.get(name)
            if wanted is not None and given != wanted:
                shown = given if isinstance(given, str) else "none"
                return f"{name}: {shown[:24]!r} is not this bot's"
        return None


#: No team, app or organisation configured: every request Slack signed is served.
ANY_WORKSPACE = SlackWorkspace()


def slack_check(signing_secret: str, workspace: SlackWorkspace = ANY_WORKSPACE) -> Check:
    """Slack's rule: a whole-number timestamp, Slack's v0 signature (within five minutes),
    then a body that is the JSON object or form Slack sends, in UTF-8, from ``workspace``'s
    team, app and organisation (where configured)."""
    verifier = SignatureVerifier(signing_secret)

    def check(headers: Headers, body: bytes) -> None:
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not timestamp or not signature:
            raise Refused(401, "unsigned: X-Slack-Signature and X-Slack-Request-Timestamp needed")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _TIMESTAMP_DIGITS:
            raise Refused(400, "X-Slack-Request-Timestamp: not a whole number of seconds")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "body: not UTF-8") from None
        if not verifier.is_valid(text, timestamp, signature):
            raise Refused(401, "signature: not Slack's, or older than five minutes")
        sender = _slack_shape(headers.get("content-type", ""), text)
        # Slack's URL check when the endpoint is saved names no team; it changes nothing.
        why = None if sender.get("type") == "url_verification" else workspace.refusal(sender)
        if why is not None:
            raise Refused(403, why)

    return check


def usage_signature(key: str, timestamp: str, body: bytes) -> str:
    """The ``X-Usage-Signature`` a sender computes: ``v1=`` and the hex HMAC-SHA256, under
    the key, of ``v1:<timestamp>:<body>`` (the timestamp binds the body to its moment)."""
    message = b"v1:" + timestamp.encode("ascii") + b":" + body
    return "v1=" + hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def usage_check(key: str, clock: Callable[[], datetime]) -> Check:
    """``POST /usage``'s rule: ``X-Usage-Timestamp`` (whole seconds since 1970) within
    :data:`USAGE_WINDOW_SECONDS` of our clock, and ``X-Usage-Signature`` equal, compared in
    constant time, to :func:`usage_signature` of the raw body. A request replayed inside
    the window adds nothing: events are idempotent on (subscription, event id)."""

    def check(headers: Headers, body: bytes) -> None:
        timestamp = headers.get("x-usage-timestamp")
        signature = headers.get("x-usage-signature")
        if not timestamp or not signature:
            raise Refused(401, "unsigned: X-Usage-Signature and X-Usage-Timestamp needed")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _TIMESTAMP_DIGITS:
            raise Refused(400, "X-Usage-Timestamp: not a whole number of seconds")
        expected = usage_signature(key, timestamp, body)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise Refused(401, "signature: not made with the usage API key")
        if abs(clock().timestamp() - int(timestamp)) > USAGE_WINDOW_SECONDS:
            raise Refused(401, f"X-Usage-Timestamp: more than {USAGE_WINDOW_SECONDS} s from now")

    return check


def _slack_shape(content_type: str, text: str) -> dict[str, object]:
    """Refuse what Bolt would fail to parse: Slack sends a JSON object (events) or a form
    (commands; interactions carry a JSON object in ``payload``). Returns who sent it: the
    request's ``type``, ``team_id``, ``api_app_id`` and ``enterprise_id``, wherever the
    kind of request keeps them."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        document = _json(text)
        if not isinstance(document, dict):
            raise Refused(400, "body: expected a JSON object")
        return document
    if kind != "application/x-www-form-urlencoded":
        raise Refused(400, f"Content-Type: {kind[:60] or 'none'} is not JSON or a form")
    try:
        form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except ValueError:
        raise Refused(400, "body: not a form") from None
    if "payload" not in form:
        return dict(form)
    payload = _json(form["payload"])
    if not isinstance(payload, dict):
        raise Refused(400, "payload: expected a JSON object")
    team, enterprise = payload.get("team"), payload.get("enterprise")
    return {
        "type": payload.get("type"),
        "team_id": team.get("id") if isinstance(team, dict) else None,
        "api_app_id": payload.get("api_app_id"),
        "enterprise_id": enterprise.get("id") if isinstance(enterprise, dict) else None,
    }


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        return None
