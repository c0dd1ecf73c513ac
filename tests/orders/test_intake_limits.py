"""Whole-file refusals through the real command: too big, too long, not text, keys given twice,
an order id already used for another order. One line on stderr, exit 1, nothing written or
started."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import transaction
from activities.orders import store
from activities.orders.intake import MAX_CSV_LINES, MAX_FILE_BYTES, read_orders
from cli.main import run
from cli.orders import check_submission
from tests.orders.conftest import row_counts
from tests.orders.test_cli import ledger  # noqa: F401  (the fixture)

HERE = Path(__file__).parent
EXAMPLE = HERE / "examples" / "new_customer.json"


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the command; it must exit 1 with exactly one line on stderr."""
    status = run(list(args))
    err = capsys.readouterr().err
    assert status == 1, err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("command", ["validate", "submit"])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    command: str,
    ledger: sessionmaker[Session],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    big = tmp_path / "orders.json"
    order = json.loads(EXAMPLE.read_text())
    order["customer"]["legal_name"] = "x" * MAX_FILE_BYTES
    big.write_text(json.dumps(order))
    before = row_counts(ledger)
    err = refused(capsys, "order", command, str(big))
    assert "an order file holds at most 1,000,000 bytes (1 MB)" in err
    assert row_counts(ledger) == before


def test_a_csv_over_the_line_limit_is_refused(
    ledger: sessionmaker[Session],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    header, row = (HERE / "examples" / "new_customer.csv").read_text().splitlines()[:2]
    long = tmp_path / "orders.csv"
    long.write_text("\n".join([header, *[row] * MAX_CSV_LINES]) + "\n")
    err = refused(capsys, "order", "validate", str(long))
    assert "a CSV order file holds at most 1,000 lines, this one has 1,001" in err


def test_a_file_that_is_not_utf8_is_refused(
    ledger: sessionmaker[Session],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    latin = tmp_path / "orders.csv"
    latin.write_bytes("Order ID,Account Name\nORD-1,Société Générale\n".encode("latin-1"))
    err = refused(capsys, "order", "validate", str(latin))
    assert "not UTF-8 text (byte 0xe9 at offset 32)" in err


def test_excels_utf16_text_is_read(tmp_path: Path) -> None:
    text = (HERE / "examples" / "new_customer.csv").read_text().replace(",", "\t")
    unicode_text = tmp_path / "orders.csv"
    unicode_text.write_bytes(text.encode("utf-16"))
    (document,) = read_orders(unicode_text)
    assert document.read_as == "CSV, tab-separated, UTF-16 with BOM"
    assert document.raw["seats"] == "20" and not document.problems


def test_submit_refuses_a_file_whose_keys_are_given_twice(
    ledger: sessionmaker[Session],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """json keeps the last value silently; submitting it would provision 25 seats."""
    err = refused(capsys, "order", "submit", str(HERE / "corpus" / "dup_key_seats.json"))
    assert "ORD-1001: nothing submitted, the file has errors: error: seats: 'seats' is " in err
    assert "[duplicate_key]" in err


def test_submit_refuses_two_orders_with_one_id(
    ledger: sessionmaker[Session],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys, "order", "submit", str(HERE / "corpus" / "duplicate_order_ids.json"))
    assert "[duplicate_order_id]" in err


def test_an_order_id_submitted_again_with_other_content_is_refused_showing_the_difference(
    ledger: sessionmaker[Session],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = json.loads(EXAMPLE.read_text())
    with transaction(ledger) as session:
        store.receive(session, "ORD-1001", first, "cli:ana", datetime(2026, 11, 2, tzinfo=UTC))
    # The same order again is fine (the workflow then says where it is).
    check_submission(read_orders(EXAMPLE), ledger)
    changed = {**first, "seats": 50, "customer": {**first["customer"], "legal_name": "Acme AG"}}
    again = tmp_path / "again.json"
    again.write_text(json.dumps(changed))
    before = row_counts(ledger)
    err = refused(capsys, "order", "submit", str(again))
    assert "ORD-1001 was already submitted with other content (received)" in err
    assert "customer.legal_name: 'Acme GmbH' -> 'Acme AG'; seats: 20 -> 50" in err
    assert row_counts(ledger) == before
