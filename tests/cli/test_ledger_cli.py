"""The ledger commands through the real command line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from activities.ledger.db import make_engine, session_factory, transaction
from tests.cli.conftest import CliResult
from tests.ledger import factories


def _book(env: dict[str, str]) -> None:
    with transaction(session_factory(make_engine(env["DATABASE_URL"]))) as session:
        factories.customer(session, "CUS-1", do_not_dun=True, account_owner="ana@example.com")
        factories.open_invoice(session, "CUS-1", "1200.00", date(2026, 9, 30))
        factories.open_invoice(session, "CUS-1", "80.00", date(2026, 12, 31))
        factories.customer(session, "CUS-2", currency="EUR", country="DE", timezone="Europe/Berlin")
        factories.open_invoice(session, "CUS-2", "19.99", date(2026, 10, 15), currency="EUR")


def test_commands_refuse_a_ledger_without_schema(cli: Callable[..., CliResult]) -> None:
    status, _, err = cli("customer", "show", "CUS-1")
    assert status == 1
    assert "run `billing-ops init-db`" in err


def test_customer_show_invoices_list_payment_and_aging(
    cli: Callable[..., CliResult], ledger_env: dict[str, str]
) -> None:
    assert cli("init-db")[0] == 0
    _book(ledger_env)

    status, out, _ = cli("customer", "show", "CUS-1", "--as-of", "2026-11-02")
    assert status == 0
    assert "CUS-1 Ltd" in out and "do not dun" in out and "ana@example.com" in out
    assert "open balance: $1,280.00" in out
    assert "INV-000001" in out and "33" in out and "INV-000002" not in out

    status, out, _ = cli("invoices", "list", "--overdue", "--as-of", "2026-11-02")
    assert status == 0 and "2 invoice(s)" in out and "€19.99" in out

    status, out, _ = cli(
        "payments", "record", "CUS-1", "1250", "usd", "--processor-id", "ch_9", "--as", "ana"
    )
    assert status == 0
    assert "INV-000001: applied $1,200.00, balance now $0.00" in out
    assert "INV-000002: applied $50.00, balance now $30.00" in out
    status, out, _ = cli(
        "payments", "record", "CUS-1", "1250", "USD", "--processor-id", "ch_9", "--as", "ana"
    )
    assert "already recorded; nothing changed" in out

    status, out, _ = cli("aging", "--as-of", "2027-01-15", "--by", "customer")
    assert status == 0
    lines = [line for line in out.splitlines() if "CUS-1" in line or "CUS-2" in line]
    assert any("$30.00" in line for line in lines) and any("€19.99" in line for line in lines)


def test_bad_input_is_one_line_naming_the_field(
    cli_process: Callable[..., object], ledger_env: dict[str, str]
) -> None:
    import subprocess

    run = cli_process
    init = run("init-db")
    assert isinstance(init, subprocess.CompletedProcess) and init.returncode == 0, init
    _book(ledger_env)
    for args, message in [
        (
            ("payments", "record", "CUS-1", "12,50", "USD", "--processor-id", "x", "--as", "ana"),
            "amount: '12,50' is not a decimal number",
        ),
        (
            ("payments", "record", "CUS-1", "0.00", "USD", "--processor-id", "x", "--as", "ana"),
            "amount: must be positive",
        ),
        (("customer", "show", "CUS-404"), "customer 'CUS-404' not found"),
        (("aging", "--buckets", "30,x"), "--buckets"),
    ]:
        result = run(*args)
        assert isinstance(result, subprocess.CompletedProcess)
        assert result.returncode == 1, result
        assert message in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    usage = run("invoices", "list", "--status", "bogus")
    assert isinstance(usage, subprocess.CompletedProcess)
    assert usage.returncode == 2 and "bogus" in usage.stderr and "Traceback" not in usage.stderr
