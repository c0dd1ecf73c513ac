"""The Stripe webhook endpoint: ``POST /stripe/webhook``, a route of the bot's ASGI server.

The ``Stripe-Signature`` header is verified by the official ``stripe`` package
(``stripe.Webhook.construct_event``, tolerance five minutes); that check only
refuses a signature too old, so one dated more than five minutes ahead (signed
with a clock set forward, to be replayed later) is refused here. Anything else
(no or a wrong signature, a stale or a future one, a body that is not JSON or is larger
than :data:`MAX_BODY`) gets a 400 and one log line, and changes nothing. A
verified event is applied in one ledger transaction
(:func:`activities.cash.stripe_events.handle_event`, idempotent on the event
id and the payment's id); then the customer's collections cadence is told. A
ledger outage answers 503, so Stripe delivers the event again later.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import stripe
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.service import RPCError

from activities.cash import wake
from activities.cash.stripe_events import handle_event
from activities.ledger.errors import LedgerError
from activities.temporal_runtime import TemporalUnavailable
from bot.services import Services

PATH = "/stripe/webhook"
#: Stripe's events are a few kilobytes; anything this large is not one of them.
MAX_BODY = 256 * 1024
TOLERANCE_SECONDS = 300

log = logging.getLogger("billing_ops.stripe")


def _refuse(reason: str, status: int = 400) -> JSONResponse:
    log.warning("stripe webhook refused: %s", reason)
    return JSONResponse({"error": reason}, status_code=status)


async def _body(request: Request) -> bytes | None:
    """The body, or None when it is larger than :data:`MAX_BODY` (read no further)."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


#: One element of a ``Stripe-Signature`` header as Stripe writes it: ``t=1492774577``,
#: ``v1=5257a8...``; no spaces, no sign, ASCII only.
_ELEMENT = re.compile(r"[a-z][a-z0-9]*=[A-Za-z0-9]+", re.ASCII)


def _signed_at(header: str) -> int | None:
    """The one ``t=`` of a ``Stripe-Signature`` header written as Stripe writes it (seconds
    since 1970); None for any other header. The ``stripe`` package reads the first ``t``
    with ``int()``, which takes a ``+`` and spaces: a header whose first
    ``t`` only it could read, followed by a plain one, had the library check the
    signature of one moment and this check the date of another."""
    elements = header.split(",")
    stamps = [element for element in elements if element.startswith("t=")]
    if len(stamps) != 1 or not all(_ELEMENT.fullmatch(element) for element in elements):
        return None
    value = stamps[0][2:]
    return int(value) if value.isdigit() and len(value) <= 12 else None


def stripe_webhook_route(secret: str, services: Services) -> Route:
    """``POST /stripe/webhook`` for events signed with ``secret`` (``whsec_...``)."""

    async def receive(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is None:
            return _refuse(f"body: larger than {MAX_BODY} bytes")
        header = request.headers.get("stripe-signature")
        signed_at = _signed_at(header or "")
        if header and signed_at is None:
            return _refuse("signature: Stripe-Signature is not one t= and its v1= signatures")
        try:
            stripe.Webhook.construct_event(body, header, secret, TOLERANCE_SECONDS)
            event: Any = json.loads(body)
        except stripe.SignatureVerificationError as error:
            return _refuse(f"signature: {str(error).splitlines()[0]}")
        except ValueError as error:  # not UTF-8 or not JSON
            return _refuse(f"body: not a JSON event ({type(error).__name__})")
        # the wall clock, as stripe's own check of the other side uses: this is transport time
        if signed_at is None or signed_at > time.time() + TOLERANCE_SECONDS:
            return _refuse(
                f"signature: timestamp more than {TOLERANCE_SECONDS} s in the future "
                "(a request signed ahead of time, to be replayed)"
            )
        if not isinstance(event, dict):
            return _refuse("body: not a JSON event object")
        try:
            outcome = await services.ledger(lambda s: handle_event(s, event, services.now()))
        except LedgerError as error:
            return _refuse(f"event {str(event.get('id'))[:40]}: {error}")
        except SQLAlchemyError as error:
            log.error("stripe webhook: the ledger is unavailable (%s)", type(error).__name__)
            return JSONResponse({"error": "the ledger is unavailable"}, status_code=503)
        log.info("stripe %s %s: %s", event.get("type"), outcome.event_id, outcome.message)
        wakes = wake.for_event(outcome, str(event.get("type")), services.now())
        if wakes:
            try:
                await wake.wake(await services.temporal(), wakes, services.task_queue)
            except (RPCError, RuntimeError, TemporalUnavailable) as error:
                # the ledger has the change; the cadence sees it when it next reads the account
                log.warning("stripe %s: cadence not told (%s)", outcome.event_id, error)
        return JSONResponse({"status": outcome.status, "message": outcome.message})

    return Route(PATH, receive, methods=["POST"])
