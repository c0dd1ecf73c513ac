"""One small ASGI server for everything that reaches billing-ops over HTTP.

``/slack/events`` takes Slack's slash commands, button clicks, modal
submissions and events (HTTP mode); ``/healthz`` answers load balancers; the
Zendesk and payment-processor webhooks mount beside them
(:func:`webhook_routes`). With ``SLACK_APP_TOKEN`` set the bot uses Socket
Mode instead (no public URL needed) and the server keeps only the webhooks
and the health check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from activities.settings import Settings, settings
from bot.app import create_app
from bot.services import from_settings

SLACK_PATH = "/slack/events"
DEFAULT_PORT = 3000

log = logging.getLogger("billing_ops.bot")


def create_asgi_app(bolt: AsyncApp | None, webhooks: Sequence[BaseRoute] = ()) -> Starlette:
    """The server: Slack's endpoint (unless ``bolt`` is None: Socket Mode), health, webhooks."""
    routes: list[BaseRoute] = [Route("/healthz", _health, methods=["GET"])]
    if bolt is not None:
        handler = AsyncSlackRequestHandler(bolt)

        async def slack_events(request: Request) -> Response:
            return await handler.handle(request)

        routes.append(Route(SLACK_PATH, slack_events, methods=["POST"]))
    return Starlette(routes=[*routes, *webhooks])


def webhook_routes(config: Settings) -> list[BaseRoute]:
    """Webhooks served beside Slack: each integration adds its routes here, e.g.
    ``Mount("/webhooks/zendesk", app=zendesk_webhooks(config))``."""
    return []


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def run_bot(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
    """Entry point for ``billing-ops bot``: serve until SIGINT/SIGTERM; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = settings()
    bolt = create_app(config, from_settings(config))
    asyncio.run(_serve(config, bolt, host, port))
    return 0


async def _serve(config: Settings, bolt: AsyncApp, host: str, port: int) -> None:
    socket_mode = None
    if config.slack_app_token is not None:
        socket_mode = AsyncSocketModeHandler(bolt, config.slack_app_token.get_secret_value())
        await socket_mode.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack: Socket Mode connected")
    asgi = create_asgi_app(None if socket_mode else bolt, webhook_routes(config))
    server = uvicorn.Server(uvicorn.Config(asgi, host=host, port=port, log_level="info"))
    where = "Socket Mode" if socket_mode else f"HTTP at http://{host}:{port}{SLACK_PATH}"
    print(f"billing-ops bot running: Slack over {where}. Ctrl-C stops it.", flush=True)
    try:
        await server.serve()
    finally:
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
