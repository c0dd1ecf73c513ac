"""How the bot is served: with ``SLACK_APP_TOKEN`` set, Slack's traffic comes over Socket
Mode (the same app, its acks sent back over the WebSocket, its answers through the
response URL); the webhooks beside Slack are served when configured."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from datetime import date

import aiohttp
import uvicorn
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from activities.approvals.matrix import ApprovalMatrix
from activities.collections.cadence import CadenceBook
from activities.settings import Settings
from bot.app import create_app
from bot.server import SLACK_PATH, create_asgi_app, serve, webhook_routes
from bot.services import Services
from tests.bot import slack_requests
from tests.bot.conftest import ANALYST, NOW
from tests.bot.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.ledger import factories


async def test_a_slash_command_over_socket_mode(
    slack: FakeSlack,
    sqlite_sessions: sessionmaker[Session],
    matrix: ApprovalMatrix,
    cadences: CadenceBook,
) -> None:
    with sqlite_sessions.begin() as session:
        factories.customer(session, "CUS-1", legal_name="Acme Analytics Inc")
        factories.open_invoice(session, "CUS-1", "250.00", date(2026, 10, 1))
    settings = Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(slack_requests.SIGNING_SECRET),
        slack_app_token=SecretStr(APP_TOKEN),
    )
    services = Services(
        sessions=sqlite_sessions,
        matrix=matrix,
        cadences=cadences,
        temporal=_no_temporal,
        clock=lambda: NOW,
    )
    bolt = create_app(settings, services, client=AsyncWebClient(BOT_TOKEN, base_url=slack.api_url))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    running = asyncio.ensure_future(serve(settings, bolt, services, sockets=[sock]))
    try:
        command = {
            "team_id": "T0BILLING",
            "channel_id": slack_requests.CHANNEL,
            "user_id": ANALYST,
            "command": "/billing",
            "text": "customer CUS-1",
            "response_url": slack.response_url("socket1"),
            "trigger_id": "9.9.trigger",
        }
        await slack.send_envelope(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": command,
            }
        )
        (ack,) = await slack.wait_for("socket_mode:ack")
        assert ack.args == {"envelope_id": "env-1"}
        (answer,) = await slack.wait_for("response_url:socket1")
        assert answer.args["text"] == "Acme Analytics Inc (CUS-1): open $250.00, 1 overdue"
        (opened,) = slack.calls_to("apps.connections.open")
        assert opened.token == APP_TOKEN

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            async with http.post(f"http://127.0.0.1:{port}{SLACK_PATH}") as response:
                assert response.status == 404  # Slack's traffic is on the WebSocket
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        gc.unfreeze()


async def _no_temporal() -> Client:
    raise AssertionError("a lookup does not reach Temporal")


async def test_the_zendesk_webhook_is_served_when_its_secret_is_set(
    sqlite_sessions: sessionmaker[Session], matrix: ApprovalMatrix, cadences: CadenceBook
) -> None:
    services = Services(
        sessions=sqlite_sessions,
        matrix=matrix,
        cadences=cadences,
        temporal=_no_temporal,
        clock=lambda: NOW,
    )
    assert webhook_routes(Settings(_env_file=None), services) == []
    configured = Settings(zendesk_webhook_secret=SecretStr("zd-secret"), _env_file=None)
    (route,) = webhook_routes(configured, services)
    app = create_asgi_app(None, services.ack_first, [route])
    server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    server_socket.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    running = asyncio.ensure_future(server.serve(sockets=[server_socket]))
    try:
        for _ in range(1000):
            if server.started:
                break
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{server_socket.getsockname()[1]}/webhooks/zendesk"
        async with aiohttp.ClientSession() as http, http.post(url, data=b"{}") as response:
            assert response.status == 401  # unsigned: refused before any workflow is touched
    finally:
        server.should_exit = True
        await running
