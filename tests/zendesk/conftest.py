"""The billing queue end to end: the fake Zendesk, a ledger, a worker, and the webhook server.

zenpy reaches the fake Zendesk through ``ZENPY_FORCE_NETLOC`` and
``ZENPY_FORCE_SCHEME``; the webhook endpoint is served by uvicorn on
127.0.0.1 and posted to over HTTP with Zendesk's signature; workflows run
on the time-skipping test server with the real activities.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
import uvicorn
from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.approvals.matrix import ApprovalMatrix, load_matrix
from activities.disputes.activities import DisputeActivities
from activities.drafting.activities import DraftingActivities
from activities.drafting.compose import Drafter
from activities.ledger.models import BillingContact
from activities.ledger.payments import PaymentIn, record_payment
from activities.outbox import FileTransport, Outbox
from activities.paths import REPO_ROOT
from activities.settings import Settings
from activities.zendesk.activities import ZendeskActivities
from activities.zendesk.client import zendesk_client
from activities.zendesk.messages import (
    DECIDE_UPDATE,
    ReplyDecision,
    TicketOutcome,
    TicketState,
    workflow_id,
)
from activities.zendesk.policy import TicketPolicy, load_policy
from activities.zendesk.review import LogReviewNotifier, ReviewNotifier
from bot.ack_first import AckFirst
from bot.server import create_asgi_app
from bot.zendesk_webhook import PATH, zendesk_webhook_route
from tests.conftest import NOW
from tests.ledger.factories import customer, open_invoice
from tests.zendesk.fake_zendesk import FakeZendesk, serving
from workflows.disputes import DisputeWorkflow
from workflows.tickets import TicketWorkflow

WEBHOOK_SECRET = "zendesk-webhook-secret"
ACME_CONTACT = ("Dana Whitfield", "dana@acme.example")
GLOBEX_CONTACT = ("Hank Scorpio", "hank@globex.example")


@pytest.fixture
def zendesk(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeZendesk]:
    with serving(FakeZendesk()) as fake:
        monkeypatch.setenv("ZENPY_FORCE_NETLOC", fake.netloc)
        monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
        yield fake


def zendesk_settings(fake: FakeZendesk) -> Settings:
    return Settings(
        zendesk_subdomain="example",
        zendesk_email=fake.email,
        zendesk_token=SecretStr(fake.token),
        _env_file=None,
    )


@pytest.fixture(scope="session")
def matrix() -> ApprovalMatrix:
    return load_matrix(REPO_ROOT / "config")


@pytest.fixture
def policy() -> TicketPolicy:
    return load_policy(REPO_ROOT / "config" / "zendesk.yaml")


def seed_book(sessions: sessionmaker[Session]) -> None:
    """Acme (three invoices: two open, one paid by a recorded payment) and Globex."""
    with sessions.begin() as session:
        customer(session, "CUS-0001", legal_name="Acme Corp")
        customer(session, "CUS-0002", legal_name="Globex Ltd")
        for customer_id, (name, email) in (
            ("CUS-0001", ACME_CONTACT),
            ("CUS-0002", GLOBEX_CONTACT),
        ):
            session.add(
                BillingContact(customer_id=customer_id, name=name, email=email, primary=True)
            )
        open_invoice(session, "CUS-0001", "1234.50", date(2026, 10, 1))  # INV-000001
        open_invoice(session, "CUS-0002", "9999.00", date(2026, 10, 1))  # INV-000002
        open_invoice(session, "CUS-0001", "500.00", date(2026, 11, 20))  # INV-000003
        open_invoice(session, "CUS-0001", "250.00", date(2026, 9, 1))  # INV-000004
        record_payment(
            session,
            PaymentIn(
                customer_id="CUS-0001",
                processor_id="ch_acme_1",
                amount=Decimal("250.00"),
                currency="USD",
                received_at=NOW - timedelta(days=20),
                invoice_number="INV-000004",
            ),
            actor="test",
        )


@pytest.fixture
def book(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    seed_book(sqlite_sessions)
    return sqlite_sessions


def signed(
    body: bytes, secret: str = WEBHOOK_SECRET, timestamp: str | None = None
) -> dict[str, str]:
    stamp = timestamp or NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "x-zendesk-webhook-signature": base64.b64encode(digest).decode(),
        "x-zendesk-webhook-signature-timestamp": stamp,
    }


@dataclass
class Queue:
    """A running billing queue: post webhooks, watch and decide ticket workflows."""

    client: Client
    webhook_url: str
    http: aiohttp.ClientSession
    task_queue: str

    async def webhook(
        self, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        async with self.http.post(
            self.webhook_url, data=body, headers=headers or signed(body)
        ) as r:
            return r.status, await r.json()

    def handle(self, ticket_id: int) -> WorkflowHandle[TicketWorkflow, TicketOutcome]:
        return self.client.get_workflow_handle_for(TicketWorkflow.run, workflow_id(ticket_id))

    async def decide(self, ticket_id: int, decision: ReplyDecision) -> str:
        """What Slack's buttons send: the ``tickets.decide`` update."""
        handle = self.handle(ticket_id)
        answer: str = await handle.execute_update(DECIDE_UPDATE, decision, result_type=str)
        return answer

    async def state(
        self, ticket_id: int, stage: str, within: float = 10.0, category: str | None = None
    ) -> TicketState:
        """Wait (in real time: queries do not skip time) until the ticket reaches ``stage``
        (with a draft of ``category``, when given)."""
        handle = self.handle(ticket_id)
        for _ in range(int(within / 0.02)):
            try:
                found: TicketState = await handle.query(TicketWorkflow.status)
            except Exception:  # the workflow's first task may not have run yet
                found = TicketState(ticket_id=ticket_id, stage="fetching")
            if found.stage == stage and category in (None, found.category):
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"ticket {ticket_id} did not reach {stage} {category}: {found}")


@asynccontextmanager
async def billing_queue(
    env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    fake: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
    *,
    model: BaseChatModel | None = None,
    notifier: ReviewNotifier | None = None,
) -> AsyncIterator[Queue]:
    """A worker with the ticket and dispute workflows, and the webhook server in front of it."""
    queue = f"tickets-{uuid.uuid4().hex[:8]}"
    zendesk = ZendeskActivities(
        sessions,
        lambda: zendesk_client(zendesk_settings(fake)),
        policy,
        matrix,
        notifier or LogReviewNotifier(),
    )
    drafter = Drafter(sessions, model)
    drafting = DraftingActivities(drafter)
    disputes = DisputeActivities(
        sessions,
        Outbox(sessions, FileTransport(tmp_path / "outbox"), "billing@example.com"),
        drafter,
    )
    # The bot's server as production builds it in Socket Mode: health check and webhooks.
    route = zendesk_webhook_route(WEBHOOK_SECRET, _returns(env.client), queue, lambda: NOW)
    app = create_asgi_app(None, AckFirst(), webhooks=[route])
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with (
            Worker(
                env.client,
                task_queue=queue,
                workflows=[TicketWorkflow, DisputeWorkflow],
                activities=[*zendesk.all(), drafting.draft_message, *disputes.all()],
                activity_executor=executor,
            ),
            served(app) as url,
            aiohttp.ClientSession() as http,
        ):
            yield Queue(env.client, url.rstrip("/") + PATH, http, queue)


def _returns(client: Client):  # type: ignore[no-untyped-def]
    async def temporal() -> Client:
        return client

    return temporal


@asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        await task
