"""``POST /usage``: metered usage events sent by the product's own services, in batches.

The request is signed with the usage API key (``USAGE_API_KEY``; see
:func:`bot.intake.usage_check` for the headers and the replay window) and checked by the
intake before this route reads it: over :data:`~bot.intake.USAGE_BODY_LIMIT` is 413, a
bad or stale signature 401. The body is ``{"events": [...]}``, at most
:data:`MAX_EVENTS` events, each with the fields of a line of ``billing-ops usage
ingest`` (subscription_id, event_id, metric, quantity, occurred_at); anything else is
400 with the rule broken. The events go through the file ingest's own code
(:func:`activities.recurring.usage.ingest`), so the refusals are the same, and a batch
sent twice adds nothing. The answer counts accepted and duplicate events and lists each
refused one by its index in ``events``, with the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response

from activities.billing.pricebook import PriceBook
from activities.recurring.usage import IngestSummary, ingest
from bot.intake import USAGE_BODY_LIMIT, Gate, Intake, usage_check

PATH = "/usage"
#: Events per request: a sender with more sends several requests.
MAX_EVENTS = 1000

log = logging.getLogger("billing_ops.usage")


def usage_route(
    key: str, sessions: sessionmaker[Session], book: PriceBook, clock: Callable[[], datetime]
) -> Route:
    """``POST /usage`` behind its own intake gate (body limit, then the signature)."""

    async def receive(request: Request) -> Response:
        try:
            events = _events(await request.body())
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        records = list(enumerate(events))
        try:
            summary = await asyncio.to_thread(ingest, sessions, records, book=book, now=clock())
        except SQLAlchemyError as error:
            log.error("usage: the ledger is unavailable (%s)", type(error).__name__)
            return JSONResponse({"error": "the ledger is unavailable"}, status_code=503)
        log.info(
            "usage: %d accepted, %d duplicate, %d refused",
            summary.accepted,
            summary.duplicate,
            len(summary.refused),
        )
        return JSONResponse(_answer(summary))

    gate = Gate(USAGE_BODY_LIMIT, usage_check(key, clock))
    return Route(PATH, Intake(request_response(receive), {PATH: gate}), methods=["POST"])


def _events(body: bytes) -> list[dict[str, Any] | str]:
    """The request's events, each a JSON object or the reason it is not one; ValueError
    (a 400) when the body as a whole is not ``{"events": [...]}`` within the limits."""
    try:
        text = body.decode("utf-8")  # strictly: json.loads would let lone surrogates through
    except UnicodeDecodeError:
        raise ValueError("body: not UTF-8") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested thousands deep
        raise ValueError("body: not JSON") from None
    if not isinstance(document, dict) or set(document) != {"events"}:
        raise ValueError('body: expected {"events": [...]} and nothing else')
    events = document["events"]
    if not isinstance(events, list) or not events:
        raise ValueError("events: expected a non-empty list")
    if len(events) > MAX_EVENTS:
        raise ValueError(f"events: {len(events)} events, more than {MAX_EVENTS} per request")
    return [event if isinstance(event, dict) else "not a JSON object" for event in events]


def _answer(summary: IngestSummary) -> dict[str, Any]:
    return {
        "accepted": summary.accepted,
        "duplicate": summary.duplicate,
        "refused": [{"index": index, "reason": reason} for index, reason in summary.refused],
    }
