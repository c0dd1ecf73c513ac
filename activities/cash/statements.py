"""Bank statement files read into credit lines: ISO 20022 camt.053, BAI2, and CSV exports.

Only credits (money in) become lines; debits, balances and summaries are
skipped. Each line carries the bank's own reference, which makes importing the
same statement twice (or two overlapping statements) change nothing. A file
that does not follow its format is refused whole with one line that names the
entry and the rule; nothing of it is imported.

The camt.053 reader checks the structure it relies on strictly (namespace,
required elements, amounts, dates) instead of validating against the XSD,
which we cannot ship; entity expansion and network access are off, so a
hostile file cannot read local files or fetch anything.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field

from activities.billing.money import check_currency, is_rounded, quantum

Format = Literal["camt053", "bai2", "csv"]
#: The bank's reference is the idempotency key: bounded so it fits the unique column.
MAX_REFERENCE = 140
MAX_TEXT = 1000
_CAMT = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)")


class StatementError(ValueError):
    """The file does not follow its format; the message names the entry and the rule."""


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One credit on our account. Payer fields and remittance are untrusted text."""

    bank_reference: str
    statement_id: str
    account: str
    booked_on: date
    amount: Decimal
    currency: str
    payer_name: str
    payer_account: str
    remittance: str


class CsvColumns(BaseModel):
    """Which column of the bank's CSV export holds what (config/cash.yaml ``csv``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bank_reference: str
    booked_on: str
    amount: str
    currency: str | None = None
    payer_name: str | None = None
    payer_account: str | None = None
    remittance: str | None = None


class CsvFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: CsvColumns
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    date_format: str = "%Y-%m-%d"
    decimal_comma: bool = False
    currency: str = "USD"
    account: str = "csv"


def detect(path: Path, head: bytes) -> Format:
    """The format of a statement file, from its content (the extension can lie)."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<"):
        return "camt053"
    if start.startswith(b"01,"):
        return "bai2"
    if path.suffix.lower() in (".csv", ".txt"):
        return "csv"
    raise StatementError(f"{path.name}: neither camt.053 XML, BAI2 nor a .csv export")


def read_statement(path: Path, csv_format: CsvFormat | None) -> list[StatementLine]:
    """Every credit line of the file at ``path``; refuses a malformed file whole."""
    data = path.read_bytes()
    kind = detect(path, data[:64])
    if kind == "camt053":
        return parse_camt053(data)
    text = _decode(data, path.name)
    if kind == "bai2":
        return parse_bai2(text)
    if csv_format is None:
        raise StatementError("csv: config/cash.yaml has no `csv` column mapping")
    return parse_csv(text, csv_format, path.stem)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise StatementError(f"{name}: not UTF-8 text (byte {error.start})") from None


def _amount(raw: str, currency: str, where: str) -> Decimal:
    try:
        amount = Decimal(raw.strip())
    except InvalidOperation:
        raise StatementError(f"{where}: amount {raw!r} is not a number") from None
    if not amount.is_finite():
        raise StatementError(f"{where}: amount {raw!r} is not a finite number")
    if not is_rounded(amount, currency):
        raise StatementError(f"{where}: amount {raw} has more decimals than {currency} allows")
    return amount.quantize(quantum(currency))


def _currency(raw: str, where: str) -> str:
    try:
        return check_currency(raw.strip().upper())
    except ValueError:
        raise StatementError(f"{where}: currency {raw!r} is not an ISO 4217 code") from None


def _reference(raw: str, where: str) -> str:
    reference = " ".join(raw.split())
    if not reference:
        raise StatementError(f"{where}: the bank reference is missing (it makes import idempotent)")
    if len(reference) > MAX_REFERENCE:
        raise StatementError(f"{where}: the bank reference is longer than {MAX_REFERENCE}")
    return reference


def _text(raw: str | None) -> str:
    return " ".join((raw or "").split())[:MAX_TEXT]


# --- camt.053 ------------------------------------------------------------------------


def parse_camt053(data: bytes) -> list[StatementLine]:
    """Credit entries of a camt.053 (versions .001.02 to .001.13), one line per transaction."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise StatementError(f"camt.053: not well-formed XML ({error})") from None
    namespace = etree.QName(root).namespace or ""
    if not _CAMT.fullmatch(namespace) or etree.QName(root).localname != "Document":
        raise StatementError(
            f"camt.053: root must be a camt.053.001.xx Document, got {{{namespace}}}"
            f"{etree.QName(root).localname}"
        )
    ns = {"c": namespace}
    statements = root.findall("c:BkToCstmrStmt/c:Stmt", ns)
    if not statements:
        raise StatementError("camt.053: BkToCstmrStmt/Stmt is missing")
    lines: list[StatementLine] = []
    for statement in statements:
        statement_id = _required(statement, "c:Id", ns, "Stmt")
        account = _first(statement, ("c:Acct/c:Id/c:IBAN", "c:Acct/c:Id/c:Othr/c:Id"), ns)
        if not account:
            raise StatementError(f"camt.053: Stmt {statement_id}: Acct/Id is missing")
        for index, entry in enumerate(statement.findall("c:Ntry", ns), start=1):
            where = f"camt.053 Stmt {statement_id} Ntry {index}"
            indicator = _required(entry, "c:CdtDbtInd", ns, where)
            if indicator not in ("CRDT", "DBIT"):
                raise StatementError(f"{where}: CdtDbtInd must be CRDT or DBIT, got {indicator}")
            if indicator == "DBIT" or _is_reversal(entry, ns):
                continue
            status = _first(entry, ("c:Sts/c:Cd", "c:Sts"), ns)
            if status and status not in ("BOOK", "BOOKED"):
                continue  # pending and informational entries are not cash yet
            lines.extend(_camt_entry(entry, ns, where, statement_id, account))
    return lines


def _camt_entry(
    entry: etree._Element, ns: dict[str, str], where: str, statement_id: str, account: str
) -> Iterator[StatementLine]:
    amount_element = entry.find("c:Amt", ns)
    if amount_element is None or not amount_element.get("Ccy"):
        raise StatementError(f"{where}: Amt with a Ccy attribute is required")
    currency = _currency(amount_element.get("Ccy", ""), where)
    entry_amount = _amount(amount_element.text or "", currency, where)
    booked = _date(_first(entry, ("c:BookgDt/c:Dt", "c:BookgDt/c:DtTm"), ns), where)
    entry_ref = _first(entry, ("c:AcctSvcrRef", "c:NtryRef"), ns)
    details = entry.findall("c:NtryDtls/c:TxDtls", ns)
    if not details:
        yield StatementLine(
            _reference(entry_ref, where),
            statement_id,
            account,
            booked,
            entry_amount,
            currency,
            "",
            "",
            _text(" ".join(_texts(entry, "c:AddtlNtryInf/text()", ns))),
        )
        return
    for position, detail in enumerate(details, start=1):
        here = f"{where} TxDtls {position}"
        amount, tx_currency = entry_amount, currency
        own = detail.find("c:AmtDtls/c:TxAmt/c:Amt", ns)
        if own is None:
            own = detail.find("c:Amt", ns)
        if own is not None:
            tx_currency = _currency(own.get("Ccy", currency), here)
            amount = _amount(own.text or "", tx_currency, here)
        elif len(details) > 1:
            raise StatementError(f"{here}: a batch entry needs each transaction's amount")
        reference = _first(detail, ("c:Refs/c:AcctSvcrRef", "c:Refs/c:TxId"), ns)
        if not reference:
            reference = f"{entry_ref}/{position}" if entry_ref else ""
        payer = _first(
            detail,
            (
                "c:RltdPties/c:Dbtr/c:Nm",
                "c:RltdPties/c:Dbtr/c:Pty/c:Nm",
                "c:RltdPties/c:UltmtDbtr/c:Nm",
            ),
            ns,
        )
        payer_account = _first(
            detail,
            ("c:RltdPties/c:DbtrAcct/c:Id/c:IBAN", "c:RltdPties/c:DbtrAcct/c:Id/c:Othr/c:Id"),
            ns,
        )
        remittance = _texts(
            detail,
            "c:RmtInf/c:Ustrd/text() | c:RmtInf/c:Strd//c:Ref/text() | c:Refs/c:EndToEndId/text()",
            ns,
        )
        yield StatementLine(
            _reference(reference, here),
            statement_id,
            account,
            booked,
            amount,
            tx_currency,
            _text(payer),
            _text(payer_account),
            _text(" ".join(r for r in remittance if r != "NOTPROVIDED")),
        )


def _texts(element: etree._Element, path: str, ns: dict[str, str]) -> list[str]:
    found = element.xpath(path, namespaces=ns)
    return [str(t) for t in found if isinstance(t, str)] if isinstance(found, list) else []


def _is_reversal(entry: etree._Element, ns: dict[str, str]) -> bool:
    return (entry.findtext("c:RvslInd", default="", namespaces=ns) or "").lower() == "true"


def _first(element: etree._Element, paths: Sequence[str], ns: dict[str, str]) -> str:
    for path in paths:
        found = element.findtext(path, namespaces=ns)
        if found and found.strip():
            return found.strip()
    return ""


def _required(element: etree._Element, path: str, ns: dict[str, str], where: str) -> str:
    value = _first(element, (path,), ns)
    if not value:
        raise StatementError(f"camt.053 {where}: {path.replace('c:', '')} is required")
    return value


def _date(raw: str, where: str) -> date:
    if not raw:
        raise StatementError(f"{where}: BookgDt is required")
    try:
        return datetime.fromisoformat(raw).date() if "T" in raw else date.fromisoformat(raw)
    except ValueError:
        raise StatementError(f"{where}: BookgDt {raw!r} is not an ISO date") from None


# --- BAI2 ----------------------------------------------------------------------------


def parse_bai2(text: str) -> list[StatementLine]:
    """Credit transactions (type codes 100-399) of a BAI2 file, totals checked."""
    from bai2 import bai2 as reader
    from bai2.constants import TypeCodeTransaction
    from bai2.exceptions import IntegrityException, NotSupportedYetException, ParsingException

    try:
        document = reader.parse_from_string(text, check_integrity=True)
    except (
        ParsingException,
        IntegrityException,
        NotSupportedYetException,
        ValueError,
        IndexError,
        KeyError,
        AttributeError,
    ) as error:
        raise StatementError(f"bai2: {error}") from None
    lines: list[StatementLine] = []
    for group in document.children:
        group_currency = group.header.currency or "USD"
        as_of = group.header.as_of_date
        for account in group.children:
            number = str(account.header.customer_account_number)
            currency = _currency(account.header.currency or group_currency, f"bai2 {number}")
            for index, tx in enumerate(account.children, start=1):
                where = f"bai2 account {number} transaction {index}"
                if tx.type_code.transaction != TypeCodeTransaction.credit:
                    continue
                amount = (Decimal(tx.amount) * quantum(currency)).quantize(quantum(currency))
                reference = tx.bank_reference or tx.customer_reference or ""
                yield_line = StatementLine(
                    _reference(reference, where),
                    f"bai2:{document.header.file_id}",
                    number,
                    as_of,
                    amount,
                    currency,
                    "",
                    "",
                    _text(" ".join(x for x in (tx.customer_reference, tx.text) if x)),
                )
                lines.append(_bai2_parties(yield_line))
    return lines


def _bai2_parties(line: StatementLine) -> StatementLine:
    """Wire details in a BAI2 text often carry ``ORIG=name;`` (or ``ORIGINATOR:``, ``OBI:``)
    and ``ACCT=number;``: take them out when present (still untrusted text)."""
    name = re.search(r"\b(?:ORIGINATOR|ORIG|OBI)\s*[:=]\s*([^;]+)", line.remittance, re.I)
    account = re.search(r"\b(?:ACCT|ACCOUNT|IBAN)\s*[:=]\s*([^;]+)", line.remittance, re.I)
    return StatementLine(
        line.bank_reference,
        line.statement_id,
        line.account,
        line.booked_on,
        line.amount,
        line.currency,
        _text(name.group(1)) if name else "",
        _text(account.group(1))[:64] if account else "",
        line.remittance,
    )


# --- CSV -----------------------------------------------------------------------------


def parse_csv(text: str, fmt: CsvFormat, statement_id: str) -> list[StatementLine]:
    """Credit rows (positive amounts) of a bank's CSV export, columns as configured."""
    reader = csv.DictReader(io.StringIO(text), delimiter=fmt.delimiter)
    headers = set(reader.fieldnames or ())
    wanted = {v for v in fmt.columns.model_dump().values() if v}
    if missing := sorted(wanted - headers):
        raise StatementError(f"csv: column(s) {', '.join(missing)} not in the header")
    cols = fmt.columns
    lines: list[StatementLine] = []
    for row_number, row in enumerate(reader, start=2):
        where = f"csv row {row_number}"
        currency = _currency(row[cols.currency] if cols.currency else fmt.currency, where)
        raw = row[cols.amount] or ""
        if fmt.decimal_comma:
            raw = raw.replace(".", "").replace(" ", "").replace(",", ".")
        else:
            raw = raw.replace(",", "").replace(" ", "")
        amount = _amount(raw, currency, where)
        if amount <= 0:
            continue
        try:
            booked = datetime.strptime(row[cols.booked_on].strip(), fmt.date_format).date()  # noqa: DTZ007
        except ValueError:
            raise StatementError(
                f"{where}: {cols.booked_on} {row[cols.booked_on]!r} is not a date "
                f"({fmt.date_format})"
            ) from None
        lines.append(
            StatementLine(
                _reference(row[cols.bank_reference] or "", where),
                statement_id,
                fmt.account,
                booked,
                amount,
                currency,
                _text(row[cols.payer_name] if cols.payer_name else ""),
                _text(row[cols.payer_account] if cols.payer_account else ""),
                _text(row[cols.remittance] if cols.remittance else ""),
            )
        )
    return lines
