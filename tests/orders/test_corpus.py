"""The bad-order corpus: every file gets exactly its expected errors, and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from activities.orders.intake import check_document, read_orders
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


def test_a_huge_cell_is_named_by_row_and_column() -> None:
    (document,) = read_orders(CORPUS / "csv_huge_cell.csv")
    assert document.source_of("customer.legal_name") == "row 2, column 'Account Name'"


@pytest.mark.parametrize("name", ["new_customer.json", "new_customer.csv", "amendment.json"])
def test_the_examples_are_valid(
    name: str, corpus_ledger: sessionmaker[Session], rules: OrderRules
) -> None:
    assert errors_of(EXAMPLES / name, corpus_ledger, rules) == set()
