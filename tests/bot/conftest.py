"""The real Bolt app over HTTP (uvicorn on 127.0.0.1), talking to a fake Slack Web API.

``bot`` posts signed requests to the running server, exactly as Slack would;
``slack`` is the fake Slack Web API that the bot's ``slack_sdk`` clients call,
recording every call for the assertions.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import uvicorn
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from temporalio.client import Client

from activities.approvals.matrix import ApprovalMatrix, load_matrix
from activities.collections.cadence import CadenceBook, load_cadences
from activities.paths import REPO_ROOT
from activities.settings import Settings
from bot.app import create_app
from bot.intake import ANY_WORKSPACE, SlackWorkspace
from bot.server import SLACK_PATH, create_asgi_app
from bot.services import Services, default_billing
from tests.bot import slack_requests
from tests.bot.fake_slack import BOT_TOKEN, FakeSlack

#: The bot's clock in these tests: a Monday afternoon, UTC.
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

ANALYST = "U0ANALYST1"
ANALYST_2 = "U0ANALYST2"
MANAGER = "U0BILLMGR1"
CONTROLLER = "U0CONTROL1"
SALES = "U0SALES001"
STRANGER = "U0STRANGER"


@pytest.fixture(scope="session")
def matrix() -> ApprovalMatrix:
    return load_matrix(REPO_ROOT / "config")


@pytest.fixture(scope="session")
def cadences() -> CadenceBook:
    return load_cadences(REPO_ROOT / "config" / "cadences.yaml")


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def slack(fake_slack: FakeSlack) -> FakeSlack:
    """The fake Slack, with the calls of earlier tests forgotten."""
    fake_slack.clear()
    return fake_slack


def bot_settings() -> Settings:
    return Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(slack_requests.SIGNING_SECRET),
    )


async def _no_temporal() -> Client:
    raise AssertionError("this test did not expect the bot to reach Temporal")


@dataclass
class BotUnderTest:
    """The running bot's URL, and helpers to post what Slack posts."""

    url: str
    slack: FakeSlack
    http: aiohttp.ClientSession
    responses: int = field(default=0)

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        age_seconds: int = 0,
        secret: str = slack_requests.SIGNING_SECRET,
    ) -> tuple[int, str]:
        headers = slack_requests.signed_headers(
            body, content_type, age_seconds=age_seconds, secret=secret
        )
        async with self.http.post(self.url, data=body, headers=headers) as response:
            return response.status, await response.text()

    async def command(self, text: str, user_id: str = ANALYST) -> tuple[int, str, str]:
        """Run ``/billing text``; returns the HTTP status, the ack's body and the response URL
        name (the lazy answer arrives there)."""
        self.responses += 1
        name = f"cmd{self.responses}"
        body = slack_requests.slash_command(text, user_id, self.slack.response_url(name))
        status, ack = await self.post(body, slack_requests.FORM)
        return status, ack, f"response_url:{name}"

    async def answer(self, text: str, user_id: str = ANALYST) -> dict[str, object]:
        """Run ``/billing text`` and return the answer posted to the response URL."""
        status, ack, where = await self.command(text, user_id)
        assert (status, ack) == (200, ""), (status, ack)
        (call,) = await self.slack.wait_for(where)
        return call.args


@pytest.fixture
async def start_bot(
    slack: FakeSlack, matrix: ApprovalMatrix, cadences: CadenceBook
) -> AsyncIterator[Callable[..., Awaitable[BotUnderTest]]]:
    """Start the bot on a ledger (and, if given, a Temporal client); returns the test handle."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    sessions_open: list[aiohttp.ClientSession] = []

    async def start(
        sessions: sessionmaker[Session],
        temporal: Callable[[], Awaitable[Client]] = _no_temporal,
        clock: Callable[[], datetime] = lambda: NOW,
        settings: Settings | None = None,
        config_dir: Path = REPO_ROOT / "config",
        workspace: SlackWorkspace = ANY_WORKSPACE,
    ) -> BotUnderTest:
        services = Services(
            sessions=sessions,
            matrix=matrix,
            cadences=cadences,
            temporal=temporal,
            clock=clock,
            billing=default_billing(config_dir),
        )
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        bolt = create_app(settings or bot_settings(), services, client=client)
        asgi = create_asgi_app(
            bolt,
            services.ack_first,
            signing_secret=slack_requests.SIGNING_SECRET,
            workspace=workspace,
        )
        url = await serve(asgi)
        http = aiohttp.ClientSession()
        sessions_open.append(http)
        return BotUnderTest(url + SLACK_PATH, slack, http)

    async def serve(app: Starlette) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        servers.append((server, task))
        for _ in range(2000):
            if server.started:
                return f"http://127.0.0.1:{sock.getsockname()[1]}"
            await asyncio.sleep(0.005)
        raise RuntimeError("the bot's server did not start within 10 s")

    yield start
    for http in sessions_open:
        await http.close()
    for server, task in servers:
        server.should_exit = True
        await task
