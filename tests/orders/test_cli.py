"""`billing-ops order ...`: validate through the real command, and the Temporal side of
submit, status, correct and reject against a time-skipping server with a worker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.ledger.db import make_engine, migrate, session_factory
from activities.orders.intake import read_orders
from activities.settings import settings
from cli.orders import (
    _parse_assignment,
    correct_order,
    order_status,
    register,
    reject_order,
    submit_documents,
)
from tests.orders.conftest import row_counts, seed_corpus_ledger
from tests.orders.harness import eventually, new_customer_order, order_worker

HERE = Path(__file__).parent


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    """A seeded SQLite ledger that the command's settings point at."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        seed_corpus_ledger(session)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    settings.cache_clear()
    yield sessions
    settings.cache_clear()
    engine.dispose()


def invoke(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_validate_prints_every_problem_with_its_cell_and_exits_1(
    ledger: sessionmaker[Session],
) -> None:
    before = row_counts(ledger)
    status, out = invoke(
        "order",
        "validate",
        str(HERE / "corpus" / "csv_bad_postal_code.csv"),
        "--today",
        "2026-11-02",
    )
    assert status == 1
    assert "ORD-3001: 1 error(s)" in out
    assert "billing_address.postal_code" in out and "[postal_format]" in out
    assert "(row 2, column 'Billing Postal Code')" in out
    status, out = invoke(
        "order", "validate", str(HERE / "corpus" / "several_errors.json"), "--today", "2026-11-02"
    )
    assert status == 1 and "4 error(s)" in out
    assert row_counts(ledger) == before


def test_validate_passes_a_good_order_and_shows_warnings_and_approvals(
    ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    status, out = invoke(
        "order", "validate", str(HERE / "examples" / "new_customer.csv"), "--today", "2026-11-02"
    )
    assert status == 0, out
    assert "ORD-3001: 0 error(s), 0 warning(s)" in out
    deep = json.loads((HERE / "examples" / "new_customer.json").read_text())
    deep.update(discount_percent="30", tax_ids=[])
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(deep))
    status, out = invoke("order", "validate", str(path), "--today", "2026-11-02", "--json")
    assert status == 0
    [report] = json.loads(out)
    assert [p["rule"] for p in report["problems"]] == ["no_vat_id"]
    assert report["price_exceptions"][0]["item_code"] == "business"


async def test_submit_status_correct_and_reject_through_temporal(
    env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    today = (await env.get_current_time()).date()
    good = new_customer_order(today, order_id="ORD-CLI-1")
    held = new_customer_order(today, order_id="ORD-CLI-2")
    held["billing_address"]["postal_code"] = "1000"
    held["customer"]["contact_email"] = "ap@initech.example"
    doomed = new_customer_order(today, order_id="ORD-CLI-3", plan="platinum")
    doomed["customer"]["contact_email"] = "ap@hooli.example"
    file = tmp_path / "orders.json"
    file.write_text(json.dumps([good, held, doomed], default=str))
    async with order_worker(env.client, ledger, tmp_path / "outbox") as queue:
        monkeypatch.setenv("TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
        monkeypatch.setenv("TEMPORAL_TASK_QUEUE", queue)
        settings.cache_clear()
        # The commands run their own event loop, so they run in a thread beside the worker's.
        # A file with bad orders is refused whole: every problem printed, nothing started,
        # nothing written (no order row, no audit entry, no workflow).
        before = row_counts(ledger)
        status, out = await asyncio.to_thread(invoke, "order", "submit", str(file), "--as", "ana")
        assert status == 1, out
        assert "billing_address.postal_code" in out and "[postal_format]" in out
        assert "plan: 'platinum' is not a plan" in out and "[unknown_plan]" in out
        assert row_counts(ledger) == before
        for n in (1, 2, 3):
            with pytest.raises(RPCError, match="not found"):
                await env.client.get_workflow_handle(f"order-ORD-CLI-{n}").describe()
        status, out = await asyncio.to_thread(
            invoke, "order", "submit", str(file), "--as", "ana", "--hold-exceptions"
        )
        assert status == 0, out
        assert out.splitlines() == [
            f"ORD-CLI-{n}: submitted (order-ORD-CLI-{n})" for n in (1, 2, 3)
        ]
        again = await submit_documents(env.client, read_orders(file)[:1], "cli:ana", queue)
        assert again in (
            ["ORD-CLI-1: already being provisioned (order-ORD-CLI-1)"],
            ["ORD-CLI-1: submitted (order-ORD-CLI-1)"],  # the first run had already finished
        )

        async def state(order_id: str, wanted: str) -> object:
            view = await order_status(env.client, ledger, order_id)
            return view if view.state == wanted else None

        await eventually(lambda: state("ORD-CLI-1", "provisioned"))
        status, out = await asyncio.to_thread(invoke, "order", "status", "ORD-CLI-1")
        assert status == 0 and out.startswith("ORD-CLI-1: provisioned")
        assert "invoice INV-000001" in out
        view = await eventually(lambda: state("ORD-CLI-2", "exception"))
        assert [p.rule for p in view.problems if p.severity == "error"] == ["postal_format"]
        report = await correct_order(
            env.client, "ORD-CLI-2", {"billing_address.postal_code": "10001"}, "cli:ben", "typo"
        )
        assert report.ok
        await eventually(lambda: state("ORD-CLI-2", "provisioned"))
        await eventually(lambda: state("ORD-CLI-3", "exception"))
        await reject_order(env.client, "ORD-CLI-3", "cli:ben", "no such plan")
        await eventually(lambda: state("ORD-CLI-3", "rejected"))
    with pytest.raises(ValueError, match="no such order"):
        await order_status(env.client, ledger, "ORD-NOPE")


def test_set_values_are_text_unless_json() -> None:
    assert _parse_assignment("billing_address.postal_code=01310") == (
        "billing_address.postal_code",
        "01310",
    )
    assert _parse_assignment("tax_ids=[]") == ("tax_ids", [])
    assert _parse_assignment("purchase_order=null") == ("purchase_order", None)
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        _parse_assignment("seats")
