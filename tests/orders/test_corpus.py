"""The bad-order corpus: every file gets exactly its expected errors, and nothing is written."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from activities.orders.intake import OrderDocument, check_document, read_orders
from activities.orders.store import ledger_facts
from activities.orders.validation import OrderRules, Problem
from tests.orders.conftest import TODAY, row_counts

CORPUS = Path(__file__).with_name("corpus")
EXAMPLES = Path(__file__).with_name("examples")
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def errors_of(
    path: Path, sessions: sessionmaker[Session], rules: OrderRules
) -> set[tuple[str, str]]:
    return {(p.field, p.rule) for p in problems_of(path, sessions, rules)}


def problems_of(path: Path, sessions: sessionmaker[Session], rules: OrderRules) -> list[Problem]:
    found = []
    for document in read_orders(path):
        with sessions() as session:
            facts = ledger_facts(session, document.raw)
        found += check_document(document, rules, facts, TODAY).errors
    return found


def test_the_corpus_is_big_enough_and_complete() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.suffix in (".json", ".csv")}
    assert files == set(EXPECTED)
    single = [name for name, case in EXPECTED.items() if len(case["errors"]) == 1]
    several = [name for name, case in EXPECTED.items() if len(case["errors"]) > 1]
    assert len(single) >= 40
    assert len(several) >= 3


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_order_gets_its_errors_and_writes_nothing(
    name: str, corpus_ledger: sessionmaker[Session], rules: OrderRules
) -> None:
    before = row_counts(corpus_ledger)
    problems = problems_of(CORPUS / name, corpus_ledger, rules)
    found = {(p.field, p.rule) for p in problems}
    assert found == {tuple(error) for error in EXPECTED[name]["errors"]}, EXPECTED[name]["why"]
    if "messages" in EXPECTED[name]:
        assert [p.message for p in problems] == EXPECTED[name]["messages"]
    assert row_counts(corpus_ledger) == before


def test_issue_14_grew_the_corpus_by_thirty_with_exact_messages() -> None:
    assert sum("messages" in case for case in EXPECTED.values()) >= 30


@pytest.mark.parametrize(
    ("name", "read_as"),
    [
        (
            "csv_semicolon_bom_decimal_comma.csv",
            "CSV, semicolon-separated, UTF-8 with BOM, decimal comma",
        ),
        ("csv_tab_separated_bad_currency.csv", "CSV, tab-separated, UTF-8"),
        ("csv_bad_postal_code.csv", "CSV, comma-separated, UTF-8"),
        ("seats_boolean.json", "JSON, UTF-8"),
    ],
)
def test_intake_says_how_it_read_the_file(name: str, read_as: str) -> None:
    assert [d.read_as for d in read_orders(CORPUS / name)] == [read_as]


def test_a_decimal_comma_is_read_as_the_amount_it_means() -> None:
    (document,) = read_orders(CORPUS / "csv_semicolon_bom_decimal_comma.csv")
    assert document.raw["unit_price"] == "23.00"
    assert document.raw["purchase_order"]["amount_cap"] == "10000.00"


def test_a_csv_commitment_is_read_with_its_items(
    tmp_path: Path, corpus_ledger: sessionmaker[Session], rules: OrderRules
) -> None:
    lines = (EXAMPLES / "new_customer.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    path = tmp_path / "committed.csv"
    path.write_text(
        "\n".join(
            [header + ",Minimum Commitment,Commitment Items"]
            + [row + ',"9000.00","business; api_calls"' for row in rows]
        )
    )
    (document,) = read_orders(path)
    assert document.raw["minimum_commitment"] == {
        "amount": "9000.00",
        "item_codes": ["business", "api_calls"],
    }
    with corpus_ledger() as session:
        facts = ledger_facts(session, document.raw)
    report = check_document(document, rules, facts, TODAY)
    assert report.errors == []
    assert report.order is not None and report.order.minimum_commitment is not None
    assert report.order.minimum_commitment.amount == Decimal("9000.00")


def test_a_commitment_the_terms_charges_already_reach_is_a_warning(
    corpus_ledger: sessionmaker[Session], rules: OrderRules
) -> None:
    """20 business seats at 20.70 EUR a month (23.00 less 10 %) and Advanced Security at
    5.50 bill 6,288.00 EUR over the year: a commitment of 5,000.00 over every item can
    never true up, which the analyst should see before Sales' order is provisioned."""
    raw = json.loads((EXAMPLES / "new_customer.json").read_text())
    raw["minimum_commitment"] = {"amount": "5000.00"}
    with corpus_ledger() as session:
        facts = ledger_facts(session, raw)
    report = check_document(OrderDocument(raw=raw), rules, facts, TODAY)
    assert report.errors == []
    assert [(w.field, w.rule, w.message) for w in report.warnings] == [
        (
            "minimum_commitment.amount",
            "commitment_below_charges",
            "the term's charges (6288.00 EUR) already reach the minimum commitment of "
            "5000.00: it will never true up",
        )
    ]


def test_a_huge_cell_is_named_by_row_and_column() -> None:
    (document,) = read_orders(CORPUS / "csv_huge_cell.csv")
    assert document.source_of("customer.legal_name") == "row 2, column 'Account Name'"


@pytest.mark.parametrize("name", ["new_customer.json", "new_customer.csv", "amendment.json"])
def test_the_examples_are_valid(
    name: str, corpus_ledger: sessionmaker[Session], rules: OrderRules
) -> None:
    assert errors_of(EXAMPLES / name, corpus_ledger, rules) == set()
