"""Money recorded, then Temporal: `payments record` and cash applied from a statement tell the
collections cadence only after the ledger committed, so whatever Temporal does then (not
running, accepting connections but never answering, the cadence finished or never started,
a worker running or not) the command says what was saved, exits 0, adds at most one warning
line, and the money is recorded exactly once (a rerun changes nothing)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from activities.collections.client import start_or_nudge
from activities.collections.messages import workflow_id
from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import Payment
from activities.settings import settings
from tests.cli.conftest import BILLING_OPS, CliResult
from tests.ledger import factories
from tests.workflows.harness import worker

Cli = Callable[..., CliResult]
NOT_TOLD = "warning: collections not told"
TODAY = datetime.now(UTC).date()


@pytest.fixture
def book(cli: Cli, ledger_env: dict[str, str]) -> str:
    """CUS-1 owes INV-… $100.00, 20 days overdue; returns the invoice number."""
    assert cli("init-db")[0] == 0
    with transaction(session_factory(make_engine(ledger_env["DATABASE_URL"]))) as session:
        factories.customer(session, "CUS-1")
        invoice = factories.open_invoice(session, "CUS-1", "100.00", TODAY - timedelta(20))
        assert invoice.number is not None
        return invoice.number


def payments(ledger_env: dict[str, str]) -> int:
    with session_factory(make_engine(ledger_env["DATABASE_URL"]))() as session:
        return int(session.scalar(select(func.count()).select_from(Payment)) or 0)


def statement(folder: Path, invoice: str) -> Path:
    """A bank export with one line naming the invoice and paying what is left of it once
$40.00 is paid ($60.00): applied by itself."""
    path = folder / "export.csv"
    path.write_text(
        "Reference,Booking date,Amount,Currency,Counterparty,Counterparty account,Description\n"
        f"CSV-1,{TODAY},60.00,USD,CUS-1 Ltd,,{invoice}\n"
    )
    return path


@pytest.fixture
def silent_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """TEMPORAL_ADDRESS at a socket that accepts connections and never answers (a server
    that hangs, a stopped process)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(50)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("TEMPORAL_ADDRESS", address)
        settings.cache_clear()
        yield address
    settings.cache_clear()


def saved(result: CliResult, words: str, warning: str | None) -> None:
    """Exit 0, what was saved on stdout, and stderr empty or exactly one warning line."""
    status, out, err = result
    assert status == 0, result
    assert words in out, (words, out)
    assert "Traceback" not in out + err and "error" not in err, err
    if warning is None:
        assert err.strip() == "", err
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(NOT_TOLD) and warning in lines[0], err


def test_without_temporal_the_payment_and_the_cash_are_saved_once_with_one_warning(
    cli: Cli, book: str, ledger_env: dict[str, str], tmp_path: Path
) -> None:
    record = ("payments", "record", "CUS-1", "40.00", "USD", "--processor-id", "ch_1")
    saved(cli(*record), "payment ch_1 recorded for CUS-1: $40.00", "Temporal is not running")
    saved(cli(*record), "payment ch_1 was already recorded; nothing changed", None)
    assert payments(ledger_env) == 1

    file = statement(tmp_path, book)
    saved(cli("cash", "import", str(file)), "1 applied automatically", "Temporal is not running")
    saved(cli("cash", "import", str(file)), "0 new, 1 already imported", None)
    assert payments(ledger_env) == 2


def test_a_temporal_that_never_answers_costs_ten_seconds_not_the_payment(
    book: str, ledger_env: dict[str, str], silent_server: str, tmp_path: Path
) -> None:
    """The console script itself: its exit code, and it does not wait for the hung connect."""

    def run(*args: str) -> tuple[CliResult, float]:
        started = time.monotonic()
        done = subprocess.run(
            [str(BILLING_OPS), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **ledger_env, "TEMPORAL_ADDRESS": silent_server, "COLUMNS": "200"},
            timeout=300,
            check=False,
        )
        return (done.returncode, done.stdout, done.stderr), time.monotonic() - started

    result, _ = run("payments", "record", "CUS-1", "40.00", "USD", "--processor-id", "ch_2")
    saved(result, "payment ch_2 recorded", "Temporal did not answer within 10 s")
    result, _ = run("cash", "import", str(statement(tmp_path, book)))
    saved(result, "1 applied automatically", "Temporal did not answer within 10 s")
    assert payments(ledger_env) == 2


async def test_with_a_server_the_cadence_is_told_when_it_runs_and_never_fails_the_payment(
    cli: Cli,
    book: str,
    ledger_env: dict[str, str],
    dev_server_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    client = dev_server_env.client
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    settings.cache_clear()

    def record(processor_id: str) -> CliResult:
        return cli("payments", "record", "CUS-1", "10.00", "USD", "--processor-id", processor_id)

    # No cadence ever started, no worker.
    result = await asyncio.to_thread(record, "ch_a")
    saved(result, "no collections cadence is running for CUS-1", None)
    # A cadence running, no worker polling its queue: the server keeps the signal.
    await start_or_nudge(client, "CUS-1", "nobody-polls", "test")
    result = await asyncio.to_thread(record, "ch_b")
    saved(result, "collections cadence of CUS-1 told about the payment", None)
    # The cadence finished (terminated here): nothing to tell, nothing failed.
    await client.get_workflow_handle(workflow_id("CUS-1")).terminate("test")
    result = await asyncio.to_thread(record, "ch_c")
    saved(result, "no collections cadence is running for CUS-1", None)
    # A worker running the cadence, and cash applied from a statement.
    sessions = session_factory(make_engine(ledger_env["DATABASE_URL"]))
    async with worker(client, sessions, tmp_path / "worker") as queue:
        await start_or_nudge(client, "CUS-1", queue, "test")
        result = await asyncio.to_thread(record, "ch_d")
        saved(result, "collections cadence of CUS-1 told about the payment", None)
        file = statement(tmp_path, book)
        result = await asyncio.to_thread(cli, "cash", "import", str(file))
        saved(result, "1 applied automatically", None)
    assert payments(ledger_env) == 5
