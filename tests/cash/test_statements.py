"""Reading statement files: camt.053, BAI2 and CSV, and refusing malformed or hostile ones."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from activities.cash.policy import load_policy
from activities.cash.statements import (
    StatementError,
    StatementLine,
    parse_bai2,
    parse_camt053,
    parse_csv,
    read_statement,
)
from activities.paths import CONFIG_DIR
from tests.cash.files import BankLine, bai2, camt053, csv_export

LINES = [
    BankLine("REF-1", Decimal("100.50"), "USD", "Acme Inc", "DE89 3704 0044", "INV-000001"),
    BankLine("REF-2", Decimal("5.00"), "USD", "Our supplier", debit=True),
    BankLine("REF-3", Decimal("7.25"), "USD", "Bob & <Co>", "", "a/b & c"),
]


def _credits(parsed: list[StatementLine]) -> list[tuple[str, Decimal, str, str, str]]:
    return [
        (p.bank_reference, p.amount, p.payer_name, p.payer_account, p.remittance) for p in parsed
    ]


def test_camt053_credits_become_lines_with_payer_and_remittance() -> None:
    parsed = parse_camt053(camt053(LINES))
    assert _credits(parsed) == [
        ("REF-1", Decimal("100.50"), "Acme Inc", "DE89 3704 0044", "INV-000001"),
        ("REF-3", Decimal("7.25"), "Bob & <Co>", "", "a/b & c"),
    ]
    assert parsed[0].account == "DE02100100100006820101"


def test_camt053_newer_versions_read_the_same() -> None:
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    assert _credits(parse_camt053(camt053(LINES, ns=ns))) == _credits(parse_camt053(camt053(LINES)))


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (b"<Document><oops", "not well-formed"),
        (b'<Document xmlns="urn:example:pain.001"/>', "camt.053.001.xx Document"),
        (
            camt053(LINES).replace(b'<Amt Ccy="USD">100.50</Amt>', b"<Amt>100.50</Amt>"),
            "Amt with a Ccy",
        ),
        (camt053(LINES).replace(b">100.50<", b">100.505<"), "more decimals than USD"),
        (camt053(LINES).replace(b">100.50<", b">1e3x<"), "is not a number"),
        (camt053(LINES).replace(b"<CdtDbtInd>CRDT", b"<CdtDbtInd>MAYBE", 1), "CRDT or DBIT"),
        (
            camt053(LINES).replace(
                b"<Dt>2026-11-02</Dt></BookgDt>", b"<Dt>02/11</Dt></BookgDt>", 1
            ),
            "not an ISO date",
        ),
        (camt053(LINES).replace(b'Ccy="USD"', b'Ccy="XYZ"', 1), "not an ISO 4217"),
    ],
)
def test_camt053_a_malformed_file_is_refused_naming_the_entry(document: bytes, error: str) -> None:
    with pytest.raises(StatementError, match=error):
        parse_camt053(document)


def test_camt053_external_entities_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = (
        camt053(LINES)
        .replace(
            b'<?xml version="1.0" encoding="UTF-8"?>',
            f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'.encode(),
        )
        .replace(b"INV-000001", b"&x;")
    )
    parsed = parse_camt053(hostile)
    assert all("TOP-SECRET" not in p.remittance for p in parsed)


def test_bai2_credits_become_lines_and_debits_are_skipped() -> None:
    parsed = parse_bai2(bai2(LINES))
    assert [(p.bank_reference, p.amount, p.payer_name, p.payer_account) for p in parsed] == [
        ("REF-1", Decimal("100.50"), "Acme Inc", "DE89 3704 0044"),
        ("REF-3", Decimal("7.25"), "Bob & <Co>", ""),
    ]
    assert "INV-000001" in parsed[0].remittance


def test_bai2_with_wrong_control_totals_is_refused() -> None:
    broken = bai2(LINES).replace("49,11275,", "49,99999,")
    with pytest.raises(StatementError, match="bai2"):
        parse_bai2(broken)


def test_csv_export_with_the_configured_columns() -> None:
    fmt = load_policy(CONFIG_DIR / "cash.yaml").csv
    assert fmt is not None
    parsed = parse_csv(csv_export(LINES), fmt, "export")
    assert _credits(parsed) == _credits(parse_camt053(camt053(LINES)))


def test_csv_missing_column_and_bad_date_are_named() -> None:
    fmt = load_policy(CONFIG_DIR / "cash.yaml").csv
    assert fmt is not None
    with pytest.raises(StatementError, match="Counterparty account"):
        parse_csv(csv_export(LINES).replace("Counterparty account", "IBAN"), fmt, "x")
    with pytest.raises(StatementError, match="csv row 2: Booking date"):
        parse_csv(csv_export(LINES).replace("2026-11-02", "2.11.2026", 1), fmt, "x")


def test_read_statement_detects_the_format_from_the_content(tmp_path: Path) -> None:
    policy = load_policy(CONFIG_DIR / "cash.yaml")
    xml = tmp_path / "statement.csv"  # the extension lies
    xml.write_bytes(camt053(LINES))
    text = tmp_path / "statement.bai"
    text.write_text(bai2(LINES))
    exported = tmp_path / "export.csv"
    exported.write_text(csv_export(LINES))
    found = [_credits(read_statement(p, policy.csv)) for p in (xml, text, exported)]
    assert found[0] == found[2]
    assert [r[0] for r in found[1]] == ["REF-1", "REF-3"]
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(StatementError, match=r"neither camt\.053"):
        read_statement(binary, policy.csv)
