"""What the bot's listeners call: the ledger, Temporal, the approval matrix, the cadences
and the clock.

One :class:`Services` is built at start (:func:`from_settings`) or by a test,
and handed to :func:`bot.app.create_app`; listeners reach everything through
it, so a test swaps the ledger, the Temporal server or the clock without
patching any code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from activities import temporal_runtime
from activities.approvals.matrix import ApprovalMatrix, Person, load_matrix
from activities.billing.pricebook import load_pricebook
from activities.billing.tax import load_tax_table
from activities.collections.cadence import CadenceBook, load_cadences
from activities.ledger.db import open_ledger, transaction
from activities.paths import CONFIG_DIR
from activities.recurring.bill_run import Billing
from activities.recurring.policy import load_policy
from activities.settings import Settings
from bot import roles
from bot.ack_first import AckFirst
from bot.sealed import button_key as derive_button_key
from bot.sealed import settings_key

T = TypeVar("T")

#: Ledger threads: enough for a team's lookups; more would only contend for the GIL.
LEDGER_THREADS = 2


def default_billing(config_dir: Path = CONFIG_DIR) -> Billing:
    """The price book, tax table and recurring policy, as the CLI and the worker load them."""
    return Billing(
        load_pricebook(config_dir / "pricebook.yaml"),
        load_tax_table(config_dir / "tax_rates.yaml"),
        load_policy(config_dir),
    )


@dataclass
class TemporalConnection:
    """Connects on first use and keeps the client, so the bot starts even while Temporal is down."""

    settings: Settings
    _client: Client | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def __call__(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await temporal_runtime.connect(self.settings)
            return self._client


@dataclass(frozen=True)
class Services:
    sessions: sessionmaker[Session]
    matrix: ApprovalMatrix
    cadences: CadenceBook
    temporal: Callable[[], Awaitable[Client]]
    clock: Callable[[], datetime]
    task_queue: str = "billing-ops"
    #: Price book, tax table and recurring policy: what pricing a subscription change needs.
    billing: Billing = field(default_factory=default_billing)
    ack_first: AckFirst = field(default_factory=AckFirst)
    #: Seals the button values the bot must get back unedited (:mod:`bot.sealed`).
    button_key: bytes = field(default_factory=derive_button_key)
    _ledger_threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(LEDGER_THREADS, thread_name_prefix="ledger")
    )
    _ledger_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(LEDGER_THREADS)
    )

    async def ledger(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one ledger transaction, off the event loop (the ORM blocks).

        Each piece of work takes a thread only when Slack's requests have paused
        (:mod:`bot.ack_first`), checked again for every piece, so an ack waits at
        most for the pieces already running.
        """

        def run() -> T:
            with transaction(self.sessions) as session:
                return work(session)

        async with self._ledger_slots:
            await self.ack_first.wait()
            return await asyncio.get_running_loop().run_in_executor(self._ledger_threads, run)

    def person(self, slack_user_id: str) -> Person | None:
        """Who a Slack user is in the approval matrix, with their roles; None if not there."""
        return roles.person_of(self.matrix, slack_user_id)

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("clock: must return a timezone-aware time")
        return moment


def wall_clock() -> datetime:
    """The bot is an edge of the system: the one place besides the CLI that reads the clock."""
    return datetime.now(UTC)


def from_settings(settings: Settings) -> Services:
    """The production wiring: the configured ledger and matrix, Temporal on first use."""
    return Services(
        sessions=open_ledger(settings.ledger_url),
        matrix=load_matrix(settings.config_dir),
        cadences=load_cadences(settings.config_dir / "cadences.yaml"),
        temporal=TemporalConnection(settings),
        clock=wall_clock,
        task_queue=settings.temporal_task_queue,
        billing=default_billing(settings.config_dir),
        button_key=settings_key(settings),
    )
