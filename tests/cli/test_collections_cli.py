"""`collections pause | resume` from the command line: the same audited dunning hold as Slack's
`/billing dunning`, written only once Temporal answers, and a resume of nothing is one line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import AuditEntry, Customer
from activities.settings import settings
from tests.cli.conftest import CliResult
from tests.ledger import factories

Cli = Callable[..., CliResult]


def _state(url: str) -> tuple[datetime | None, list[tuple[str, str]]]:
    with session_factory(make_engine(url))() as session:
        customer = session.get(Customer, "CUS-1")
        assert customer is not None
        audit = session.execute(
            select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.subject_id == "CUS-1")
        ).all()
        return customer.dunning_paused_until, [(a, b) for a, b in audit]


async def test_pause_and_resume_are_the_audited_dunning_hold(
    time_skipping_env: WorkflowEnvironment,
    cli: Cli,
    ledger_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (await asyncio.to_thread(cli, "init-db"))[0] == 0
    url = ledger_env["DATABASE_URL"]
    with transaction(session_factory(make_engine(url))) as session:
        factories.customer(session, "CUS-1")
    monkeypatch.setenv(
        "TEMPORAL_ADDRESS", time_skipping_env.client.service_client.config.target_host
    )
    settings.cache_clear()
    until = (datetime.now(UTC) + timedelta(days=7)).date()

    status, out, err = await asyncio.to_thread(
        cli, "collections", "pause", "CUS-1", "--until", until.isoformat(), "--reason", "CFO away"
    )
    assert status == 0, err
    assert f"CUS-1: dunning paused until {until.isoformat()}" in out
    assert "no cadence is running for the account" in out
    held, audit = _state(url)
    assert held is not None and audit == [("dunning.paused", "cli:ana")]

    status, out, err = await asyncio.to_thread(cli, "collections", "resume", "CUS-1", "--as", "ben")
    assert status == 0, err
    held, audit = _state(url)
    assert held is None and audit[-1] == ("dunning.resumed", "cli:ben")

    status, out, err = await asyncio.to_thread(cli, "collections", "resume", "CUS-1")
    assert status == 1 and err.strip() == "error: dunning for CUS-1 is not paused"
    assert _state(url) == (None, audit)
