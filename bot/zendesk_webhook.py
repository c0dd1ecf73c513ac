"""The Zendesk webhook endpoint: a signed request starts the ticket's workflow, once.

A route of the bot's ASGI server (``bot/server.py``), at :data:`PATH`.
Zendesk retries a webhook that did not get a 2xx; every retry, and every
later event on the same ticket, lands on the same workflow id
``ticket-<id>`` and starts nothing new. Each is a signal-with-start of
``tickets.changed``: a running workflow whose draft waits for review reads
the ticket again, so a customer who wrote again is not answered from their
earlier message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.zendesk import webhook
from activities.zendesk.messages import (
    TICKET_CHANGED_SIGNAL,
    WORKFLOW_TYPE,
    TicketStart,
    workflow_id,
)

log = logging.getLogger("billing_ops.zendesk")


PATH = "/webhooks/zendesk"


def zendesk_webhook_route(
    secret: str,
    temporal: Callable[[], Awaitable[Client]],
    task_queue: str,
    clock: Callable[[], datetime],
) -> Route:
    """``POST /webhooks/zendesk``: verify, then start (or find) the ticket's workflow."""

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            webhook.verify(
                secret,
                body,
                request.headers.get(webhook.SIGNATURE_HEADER),
                request.headers.get(webhook.TIMESTAMP_HEADER),
                clock(),
            )
        except webhook.WebhookRefused as refused:
            log.warning("zendesk webhook refused: %s", refused)
            return JSONResponse({"error": str(refused)}, status_code=401)
        try:
            ticket = webhook.ticket_id(body)
        except ValueError as refused:  # WebhookRefused, or a number too long for int()
            log.warning("zendesk webhook refused: %s", str(refused)[:200])
            return JSONResponse({"error": str(refused)[:200]}, status_code=400)
        target = workflow_id(ticket)
        try:
            client = await temporal()
            try:
                await client.start_workflow(
                    WORKFLOW_TYPE,
                    TicketStart(ticket_id=ticket),
                    id=target,
                    task_queue=task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    start_signal=TICKET_CHANGED_SIGNAL,
                )
            except WorkflowAlreadyStartedError:
                # A finished ticket (reuse rejected), or a delivery whose start lost to
                # another at the same instant: a running workflow must still hear of it.
                if not await _changed(client, target):
                    return JSONResponse({"workflow_id": target, "status": "already handled"})
                return JSONResponse({"workflow_id": target, "status": "signalled"})
        except (RPCError, RuntimeError) as error:  # Temporal down: Zendesk will retry
            log.error("zendesk webhook for ticket %s: %s", ticket, error)
            return JSONResponse({"error": "the workflow service is unavailable"}, status_code=503)
        return JSONResponse({"workflow_id": target, "status": "started"}, status_code=202)

    return Route(PATH, receive, methods=["POST"])


async def _changed(client: Client, target: str) -> bool:
    """Signal a running ticket workflow that its ticket changed; False when it has ended."""
    try:
        await client.get_workflow_handle(target).signal(TICKET_CHANGED_SIGNAL)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
