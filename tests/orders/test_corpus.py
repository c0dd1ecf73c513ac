"""The bad-order corpus: every file gets exactly its expected errors, and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from activities.orders.intake import check_document, read_orders
from activities.orders.store import ledger_facts
from activities.orders.validation import OrderRules
from tests.orders.conftest import TODAY, row_counts

CORPUS = Path(__file__).with_name("corpus")
EXAMPLES = Path(__file__).with_name("examples")
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def errors_of(
    path: Path, sessions: sessionmaker[Session], rules: OrderRules
) -> set[tuple[str, str]]:
    found = set()
    for document in read_orders(path):
        with sessions() as session:
            facts = ledger_facts(session, document.raw)
        report = check_document(document, rules, facts, TODAY)
        found |= {(p.field, p.rule) for p in report.errors}
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
    found = errors_of(CORPUS / name, corpus_ledger, rules)
    assert found == {tuple(error) for error in EXPECTED[name]["errors"]}, EXPECTED[name]["why"]
    assert row_counts(corpus_ledger) == before


@pytest.mark.parametrize("name", ["new_customer.json", "new_customer.csv", "amendment.json"])
def test_the_examples_are_valid(
    name: str, corpus_ledger: sessionmaker[Session], rules: OrderRules
) -> None:
    assert errors_of(EXAMPLES / name, corpus_ledger, rules) == set()
