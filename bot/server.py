"""One small ASGI server for everything that reaches billing-ops over HTTP.

``/slack/events`` takes Slack's slash commands, button clicks, modal
submissions and events (HTTP mode); ``/healthz`` answers load balancers; the
webhooks sit beside them (:func:`webhook_routes`: Zendesk at
``/webhooks/zendesk``, Stripe at ``/stripe/webhook``, metered usage at ``/usage``). With
``SLACK_APP_TOKEN`` set the bot uses Socket Mode instead (no public URL
needed) and the server keeps only the webhooks and the health check.
Every POST passes :mod:`bot.intake` first: body limits, Slack's signature and
body shape, refused with 400/401/413 before a route reads anything.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import Sequence

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from activities.billing.pricebook import load_pricebook
from activities.settings import Settings, settings
from bot.ack_first import AckFirst
from bot.app import create_app
from bot.intake import (
    ANY_WORKSPACE,
    SLACK_BODY_LIMIT,
    ZENDESK_BODY_LIMIT,
    Gate,
    Intake,
    SlackWorkspace,
    slack_check,
)
from bot.services import Services, from_settings
from bot.stripe_webhook import stripe_webhook_route
from bot.usage_api import usage_route
from bot.zendesk_webhook import PATH as ZENDESK_PATH
from bot.zendesk_webhook import zendesk_webhook_route

SLACK_PATH = "/slack/events"
DEFAULT_PORT = 3000

log = logging.getLogger("billing_ops.bot")


def create_asgi_app(
    bolt: AsyncApp | None,
    ack_first: AckFirst,
    webhooks: Sequence[BaseRoute] = (),
    *,
    signing_secret: str | None = None,
    workspace: SlackWorkspace = ANY_WORKSPACE,
) -> Starlette:
    """The server: Slack's endpoint (unless ``bolt`` is None: Socket Mode), health, webhooks.

    ``ack_first`` is the bot's (``Services.ack_first``): it notes each Slack request so
    that the work after the acks waits for a pause in them. ``signing_secret`` is
    Slack's (``SLACK_SIGNING_SECRET``), needed with ``bolt``: the intake checks the
    signature before Bolt sees the request, and with ``workspace`` (from
    ``SLACK_TEAM_ID``, ``SLACK_APP_ID``, ``SLACK_ENTERPRISE_ID``) whose request it is.
    """
    routes: list[BaseRoute] = [Route("/healthz", _health, methods=["GET"])]
    # Stripe's route keeps its own body limit and answers in Stripe's JSON error shape.
    gates = {ZENDESK_PATH: Gate(ZENDESK_BODY_LIMIT)}
    if bolt is not None:
        if not signing_secret:
            raise ValueError("signing_secret: needed to serve Slack's endpoint")
        gates[SLACK_PATH] = Gate(SLACK_BODY_LIMIT, slack_check(signing_secret, workspace))
        handler = AsyncSlackRequestHandler(bolt)

        async def slack_events(request: Request) -> Response:
            with ack_first.request():
                return await handler.handle(request)

        routes.append(Route(SLACK_PATH, slack_events, methods=["POST"]))
    return Starlette(routes=[*routes, *webhooks], middleware=[Middleware(Intake, gates=gates)])


def webhook_routes(config: Settings, services: Services) -> list[BaseRoute]:
    """Webhooks served beside Slack, each when its secret is configured."""
    routes: list[BaseRoute] = []
    if config.zendesk_webhook_secret is not None:
        secret = config.zendesk_webhook_secret.get_secret_value()
        routes.append(
            zendesk_webhook_route(secret, services.temporal, services.task_queue, services.clock)
        )
    if config.stripe_webhook_secret is not None:
        routes.append(
            stripe_webhook_route(config.stripe_webhook_secret.get_secret_value(), services)
        )
    if config.usage_api_key is not None:
        routes.append(
            usage_route(
                config.usage_api_key.get_secret_value(),
                services.sessions,
                load_pricebook(config.config_dir / "pricebook.yaml"),
                services.now,
            )
        )
    return routes


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def run_bot(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
    """Entry point for ``billing-ops bot``: serve until SIGINT/SIGTERM; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = settings()
    services = from_settings(config)
    bolt = create_app(config, services)
    asyncio.run(serve(config, bolt, services, host=host, port=port))
    return 0


async def serve(
    config: Settings,
    bolt: AsyncApp,
    services: Services,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    sockets: list[socket.socket] | None = None,
) -> None:
    """Serve until stopped: Socket Mode when ``SLACK_APP_TOKEN`` is set, else HTTP.
    ``sockets`` replaces ``host`` and ``port`` with already bound sockets (the benchmark)."""
    socket_mode = None
    if config.slack_app_token is not None:
        socket_mode = AsyncSocketModeHandler(bolt, config.slack_app_token.get_secret_value())
        await socket_mode.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack: Socket Mode connected")
    secret = config.slack_signing_secret
    asgi = create_asgi_app(
        None if socket_mode else bolt,
        services.ack_first,
        webhook_routes(config, services),
        signing_secret=secret.get_secret_value() if secret else None,
        workspace=SlackWorkspace(
            config.slack_team_id, config.slack_app_id, config.slack_enterprise_id
        ),
    )
    # No access log: a line per click is noise; failures are logged where they happen.
    server = uvicorn.Server(
        uvicorn.Config(asgi, host=host, port=port, log_level="info", access_log=False)
    )
    if sockets:
        host, port = sockets[0].getsockname()[:2]
    where = "Socket Mode" if socket_mode else f"HTTP at http://{host}:{port}{SLACK_PATH}"
    print(f"billing-ops bot running: Slack over {where}. Ctrl-C stops it.", flush=True)
    # Everything the bot needs is imported and built by now: freezing it keeps the full
    # collections that the pending answers of a burst trigger short (100 ms otherwise).
    gc.freeze()
    try:
        await server.serve(sockets=sockets)
    finally:
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
