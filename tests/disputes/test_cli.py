"""The approvals and dispute commands against a running worker: open, list, decide (and be
refused by the workflow's validator), follow, triage, withdraw."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.ledger.models import ApprovalRequest, ApprovalStatus, CreditNote
from activities.settings import settings
from cli import approvals, disputes
from tests.approvals.harness import eventually
from tests.disputes.harness import open_account, product_worker
from workflows.disputes import STATUS_QUERY, DisputeState, workflow_id

app = typer.Typer()
approvals.register(app)
disputes.register(app)


@pytest.fixture
def command_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``await run("approvals", "list")`` returns what the command printed; a user error
    raises. Commands run in a thread: each starts its own event loop, as from a shell."""

    async def run(*args: str) -> str:
        capsys.readouterr()
        await asyncio.to_thread(app, list(args), standalone_mode=False)
        return capsys.readouterr().out

    monkeypatch.setenv("COLUMNS", "200")
    return run


async def test_disputes_and_approvals_from_the_command_line(
    env: WorkflowEnvironment,
    sqlite_sessions: sessionmaker[Session],
    data_dir: Path,
    command_line: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = sqlite_sessions
    account = open_account(sessions, await env.get_current_time())
    ledger_url = sessions.kw["bind"].url.render_as_string(hide_password=False)
    async with product_worker(env.client, sessions, data_dir) as queue:
        for name, value in {
            "DATABASE_URL": ledger_url,
            "DATA_DIR": str(data_dir),
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": queue,
        }.items():
            monkeypatch.setenv(name, value)
        settings.cache_clear()

        opened = await command_line(
            "dispute",
            "open",
            account.customer_id,
            "--invoice",
            account.invoice,
            "--claim",
            "We had 8 seats",
            "--category",
            "seat_count",
            "--seats",
            "8",
            "--as",
            "ana",
        )
        assert "dispute DSP-000001 opened" in opened
        request = await eventually(lambda: _pending(sessions))

        listed = await command_line("approvals", "list", "--as", "ben")
        assert request.id in listed and "$60.97" in listed and "1 pending request(s)" in listed
        assert "0 pending request(s)" in await command_line("approvals", "list", "--as", "ana")

        with pytest.raises(ValueError, match="ana requested this credit_note and cannot decide"):
            await command_line(
                "approvals", "decide", request.id, "approve", "--as", "ana", "--reason", "ok"
            )
        with pytest.raises(ValueError, match=r"sam \(sales\) cannot decide this credit_note"):
            await command_line(
                "approvals", "decide", request.id, "approve", "--as", "sam", "--reason", "ok"
            )
        decided = await command_line(
            "approvals",
            "decide",
            request.id,
            "approve",
            "--as",
            "ben",
            "--reason",
            "seat log shows 8",
        )
        assert f"{request.id}: approved by ben (cli:ben): seat log shows 8" in decided
        await env.client.get_workflow_handle(workflow_id("DSP-000001")).result()
        status = await command_line("dispute", "status", "DSP-000001")
        assert "closed, resolved" in status and "issued: credit note CN-" in status
        state = json.loads(
            await command_line("dispute", "status", "DSP-000001", "--format", "json")
        )
        assert state["outcome"] == "resolved" and state["proposal"]["action"] == "credit_note"
        with sessions() as session:  # the credit the state shows is the ledger's credit note
            note = session.scalars(select(CreditNote)).one()
            assert (Decimal(state["proposal"]["amount"]), state["proposal"]["currency"]) == (
                note.amount,
                note.currency,
            )
        assert any(note.number in issued for issued in state["issued"])

        await command_line(
            "dispute",
            "open",
            account.customer_id,
            "--invoice",
            account.invoice,
            "--claim",
            "Still wrong",
            "--as",
            "ana",
        )
        second = env.client.get_workflow_handle(workflow_id("DSP-000002"))
        await eventually(lambda: _stage(second, "awaiting_triage"))
        with pytest.raises(ValueError, match="seats: a seat_count dispute needs it"):
            await command_line("dispute", "triage", "DSP-000002", "--category", "seat_count")
        withdrawn = await command_line(
            "dispute", "withdraw", "DSP-000002", "--reason", "customer agreed", "--as", "ana"
        )
        assert "closed, withdrawn" in withdrawn and "reason: customer agreed" in withdrawn
    settings.cache_clear()


async def _pending(sessions: sessionmaker[Session]) -> ApprovalRequest | None:
    with sessions() as session:
        return session.scalars(
            select(ApprovalRequest).where(ApprovalRequest.status == ApprovalStatus.PENDING)
        ).first()


async def _stage(handle: Any, stage: str) -> bool:
    state: DisputeState = await handle.query(STATUS_QUERY, result_type=DisputeState)
    return state.stage == stage
