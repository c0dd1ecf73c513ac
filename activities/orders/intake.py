"""Reading orders: JSON documents and the CRM's CSV export (one row per line item).

Intake only turns a file into order-shaped dictionaries; the rules are
:mod:`activities.orders.validation`'s. It remembers where each field came
from (``row 3, column 'Unit Price'``) so that a problem can point at the
cell to fix, and it never raises on a file's content: unreadable JSON, a
missing column, a key given twice or two rows that disagree are problems like
any other. Only a file beyond the size limits (:data:`MAX_FILE_BYTES`,
:data:`MAX_CSV_LINES`, :data:`MAX_ORDERS`) or not text at all is refused whole,
before it is parsed (:class:`FileRefused`).

CSV files are read as CRMs and spreadsheets export them: comma, semicolon or
tab separated (whichever splits the header into order columns), UTF-8 with or
without a byte-order mark (or UTF-16 with one), and with a decimal comma in
the amount columns when the file is semicolon-separated. What was detected is
kept on each document (``read_as``) so the analyst sees how the file was read.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from activities.orders.validation import (
    LedgerFacts,
    OrderRules,
    Problem,
    ValidationReport,
    validate_order,
)

#: CSV header -> order field, for the columns that describe the whole order.
#: Every row of an order repeats them (or leaves them blank after the first).
ORDER_COLUMNS: dict[str, str] = {
    "Order ID": "order_id",
    "Opportunity ID": "opportunity_id",
    "Customer ID": "customer.id",
    "Account Name": "customer.legal_name",
    "Billing Contact": "customer.contact_name",
    "Billing Email": "customer.contact_email",
    "Timezone": "customer.timezone",
    "PO Required": "customer.po_required",
    "Amends Subscription": "amends",
    "Effective Date": "effective_date",
    "Interval": "interval",
    "Interval Count": "interval_count",
    "Term Start": "term_start",
    "Term End": "term_end",
    "Billing Anchor": "billing_anchor",
    "Currency": "currency",
    "Payment Terms": "payment_terms_days",
    "PO Number": "purchase_order.number",
    "PO Expiry": "purchase_order.expires_on",
    "PO Amount Cap": "purchase_order.amount_cap",
    "Minimum Commitment": "minimum_commitment.amount",
    "Commitment Items": "minimum_commitment.item_codes",
    "Billing Street": "billing_address.line1",
    "Billing Street 2": "billing_address.line2",
    "Billing City": "billing_address.city",
    "Billing State": "billing_address.region",
    "Billing Postal Code": "billing_address.postal_code",
    "Billing Country": "billing_address.country",
    "Tax IDs": "tax_ids",
    "Tax Exempt": "tax_exempt",
    "Exemption Certificate": "exemption_certificate",
}

#: CSV header -> field of the line item on that row.
LINE_COLUMNS: dict[str, str] = {
    "Line Type": "type",
    "Product Code": "code",
    "Quantity": "quantity",
    "Unit Price": "unit_price",
    "Discount %": "discount_percent",
    "In Arrears": "in_arrears",
}

REQUIRED_COLUMNS = ("Order ID", "Line Type", "Product Code")
#: Columns holding amounts, where a semicolon-separated export writes a decimal comma.
AMOUNT_COLUMNS = ("Unit Price", "Discount %", "PO Amount Cap", "Minimum Commitment")

#: The limits of one order file, checked before it is parsed: 1 MB (a thousand orders of
#: ordinary size; far below Temporal's 4 MB message limit), a CSV of 1,000 lines, a JSON
#: list of 1,000 orders.
MAX_FILE_BYTES = 1_000_000
MAX_CSV_LINES = 1_000
MAX_ORDERS = 1_000
#: A CSV cell may be as long as the file: the order's own rules say which field is too
#: long, naming the row and column, instead of the csv module's "field larger than field
#: limit".
csv.field_size_limit(MAX_FILE_BYTES)
#: Byte-order marks and what they say: UTF-8 from Excel's "CSV UTF-8", UTF-16 from its
#: "Unicode text".
_ENCODINGS = (
    (b"\xef\xbb\xbf", "utf-8-sig", "UTF-8 with BOM"),
    (b"\xff\xfe", "utf-16", "UTF-16 with BOM"),
    (b"\xfe\xff", "utf-16", "UTF-16 with BOM"),
)
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_DECIMAL_COMMA = re.compile(r"^-?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$")
#: Where a plan row's line fields go on the order.
_PLAN_FIELDS = {
    "code": "plan",
    "quantity": "seats",
    "unit_price": "unit_price",
    "discount_percent": "discount_percent",
    "in_arrears": "in_arrears",
}


@dataclass
class OrderDocument:
    """One order as read: its fields, where each came from, and what intake found wrong."""

    raw: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    readable: bool = True  # False: the file itself is broken and holds no order to check
    read_as: str = "JSON"  # how the file was read: format, separator, encoding, decimals

    @property
    def order_id(self) -> str | None:
        value = self.raw.get("order_id")
        return value if isinstance(value, str) else None

    def source_of(self, field_path: str) -> str | None:
        """Where ``field_path`` (or the nearest enclosing field) came from in the file."""
        path = field_path
        while path:
            if path in self.sources:
                return self.sources[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


class FileRefused(ValueError):
    """The file is not read at all: beyond the size limits, or not text."""


def read_orders(path: Path) -> list[OrderDocument]:
    """The orders in a ``.json`` or ``.csv`` file (by suffix; else JSON if it starts so).

    The size is checked before anything is parsed; order ids must be unique in the file.
    """
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(
            f"{path.name}: an order file holds at most {MAX_FILE_BYTES:,} bytes (1 MB); "
            "split it into several files"
        )
    text, encoding = decode(data, path.name)
    if path.suffix.lower() == ".csv" or not (
        path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "["))
    ):
        lines = text.count("\n") + (not text.endswith("\n"))
        if lines > MAX_CSV_LINES:
            raise FileRefused(
                f"{path.name}: a CSV order file holds at most {MAX_CSV_LINES:,} lines, this one "
                f"has {lines:,}; split it into several files"
            )
        return unique_billing_emails(unique_order_ids(parse_csv(text, encoding)))
    return unique_billing_emails(unique_order_ids(parse_json(text, encoding)))


def decode(data: bytes, name: str) -> tuple[str, str]:
    """The text of a file and how it was encoded: UTF-8 (with or without a byte-order mark)
    or UTF-16 with one (Excel's "Unicode text"); anything else is refused."""
    codec, label = next(
        ((codec, label) for bom, codec, label in _ENCODINGS if data.startswith(bom)),
        ("utf-8", "UTF-8"),
    )
    try:
        return data.decode(codec), label
    except UnicodeDecodeError as error:
        raise FileRefused(
            f"{name}: not {label} text (byte {data[error.start]:#04x} at offset {error.start}); "
            "export the file as CSV UTF-8"
        ) from None


def unique_order_ids(documents: list[OrderDocument]) -> list[OrderDocument]:
    """An order id names one order: a second order with the same id in one file is an error."""
    first: dict[str, int] = {}
    for index, document in enumerate(documents):
        order_id = document.order_id
        if order_id is None:
            continue
        key = order_id.strip()
        if key in first:
            same = canonical(document.raw) == canonical(documents[first[key]].raw)
            document.problems.append(
                Problem(
                    field="order_id",
                    rule="duplicate_order_id",
                    message=f"{key!r} is also the id of order {first[key] + 1} in this file"
                    + (" (the same order twice)" if same else " (a different order)")
                    + "; an order id names one order",
                )
            )
        else:
            first[key] = index
    return documents


def unique_billing_emails(documents: list[OrderDocument]) -> list[OrderDocument]:
    """Two new customers in one file cannot share a billing email: it names one customer
    (the ledger's side of the rule is checked by validation and again at creation)."""
    first: dict[str, int] = {}
    for index, document in enumerate(documents):
        customer = document.raw.get("customer")
        if not isinstance(customer, dict) or customer.get("id"):
            continue
        email = customer.get("contact_email")
        if not isinstance(email, str) or not email.strip():
            continue
        key = email.strip().casefold()
        if key in first and document.order_id != documents[first[key]].order_id:
            document.problems.append(
                Problem(
                    field="customer.contact_email",
                    rule="email_taken",
                    message=f"{email.strip()} is also the billing email of the new customer of "
                    f"order {first[key] + 1} in this file; one billing email, one customer",
                )
            )
        first.setdefault(key, index)
    return documents


def canonical(raw: Any) -> str:
    """The order as canonical JSON (sorted keys, decimals as written): equal orders, equal text."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(raw: Any) -> str:
    """The sha256 of :func:`canonical`: what an order id was first submitted with."""
    return hashlib.sha256(canonical(raw).encode()).hexdigest()


class _Object(dict[str, Any]):
    """A JSON object as parsed, with the keys it gave more than once (the last value wins
    in ``json``; here it is an error)."""

    duplicates: list[tuple[str, Any, Any]]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object()
    result.duplicates = []
    for key, value in pairs:
        if key in result:
            result.duplicates.append((key, result[key], value))
        result[key] = value
    return result


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _plain_json(value: Any, path: str, problems: list[Problem]) -> Any:
    """``value`` with plain dicts, and a problem for every key an object gave twice."""
    if isinstance(value, list):
        return [_plain_json(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    for key, earlier, later in getattr(value, "duplicates", []):
        at = f"{path}.{key}" if path else key
        problems.append(
            Problem(
                field=at,
                rule="duplicate_key",
                message=f"{key!r} is given twice in one object ({_shown(earlier)}, then "
                f"{_shown(later)}); state each field once",
            )
        )
    return {k: _plain_json(v, f"{path}.{k}" if path else k, problems) for k, v in value.items()}


#: An order nests three levels (order, address, tax id); anything far deeper is not an order,
#: and walking it would exhaust Python's recursion limit.
MAX_DEPTH = 10


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels (iteratively)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(text: str, encoding: str = "UTF-8") -> list[OrderDocument]:
    """One order object, or a list of them. Decimals stay exact (never parsed as floats);
    a key given twice in an object is an error, never "the last one wins"."""
    try:
        data = json.loads(text, parse_float=Decimal, object_pairs_hook=_object)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        problem = Problem(
            field="order", rule="json", message=f"not valid JSON at {where}: {error.msg}"
        )
        return [OrderDocument(raw={}, problems=[problem], readable=False, read_as=encoding)]
    except RecursionError:
        problem = Problem(field="order", rule="json", message="JSON nested too deeply")
        return [OrderDocument(raw={}, problems=[problem], readable=False, read_as=encoding)]
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_ORDERS:
        raise FileRefused(f"an order file holds at most {MAX_ORDERS:,} orders, not {len(items):,}")
    read_as = f"JSON, {encoding}"
    documents = []
    for index, item in enumerate(items):
        if _deeper_than(item, MAX_DEPTH):
            problem = Problem(
                field="order",
                rule="json",
                message=f"item {index} is nested deeper than {MAX_DEPTH} levels; an order has 3",
            )
            documents.append(
                OrderDocument(raw={}, problems=[problem], readable=False, read_as=read_as)
            )
            continue
        if isinstance(item, dict):
            problems: list[Problem] = []
            raw = _plain_json(item, "", problems)
            documents.append(OrderDocument(raw=raw, problems=problems, read_as=read_as))
            continue
        where = f"item {index}" if isinstance(data, list) else "the document"
        problem = Problem(field="order", rule="type", message=f"{where} is not a JSON object")
        documents.append(OrderDocument(raw={}, problems=[problem], readable=False, read_as=read_as))
    return documents


def _delimiter(first_line: str) -> str:
    """The separator that splits the header into the most order columns (comma on a tie)."""
    known = {name.casefold() for name in [*ORDER_COLUMNS, *LINE_COLUMNS]}

    def matches(delimiter: str) -> int:
        cells = next(csv.reader([first_line], delimiter=delimiter), [])
        return sum(cell.strip().casefold() in known for cell in cells)

    return max(_DELIMITERS, key=matches)


def parse_csv(text: str, encoding: str = "UTF-8") -> list[OrderDocument]:
    """The CRM export: rows grouped by ``Order ID``, one row per line item."""
    delimiter = _delimiter(text.split("\n", 1)[0])
    decimal_comma = delimiter == ";"
    read_as = f"CSV, {_DELIMITERS[delimiter]}-separated, {encoding}" + (
        ", decimal comma" if decimal_comma else ""
    )
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return [_csv_failure("the CSV file is empty")]
        columns = [name.strip() for name in header]
        known = {name.casefold(): name for name in [*ORDER_COLUMNS, *LINE_COLUMNS]}
        canonical_names = [known.get(name.casefold()) for name in columns]
        missing = [name for name in REQUIRED_COLUMNS if name not in canonical_names]
        if missing:
            return [
                _csv_failure(
                    f"the CSV header lacks the column(s) {', '.join(missing)} (read as {read_as})"
                )
            ]
        unknown = [
            Problem(
                field="order",
                rule="csv_unknown_column",
                message=f"column {name!r} is not an order column and was ignored",
                severity="warning",
            )
            for name, canon in zip(columns, canonical_names, strict=True)
            if canon is None and name
        ]
        groups: dict[str, _CsvOrder] = {}
        for row_number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            cells = {
                canon: row[i].strip() if i < len(row) else ""
                for i, canon in enumerate(canonical_names)
                if canon is not None
            }
            if decimal_comma:
                for column in AMOUNT_COLUMNS:
                    if _DECIMAL_COMMA.match(cells.get(column, "")):
                        cells[column] = cells[column].replace(".", "").replace(",", ".")
            order_id = cells.get("Order ID", "")
            group = groups.setdefault(order_id, _CsvOrder(problems=list(unknown)))
            group.add_row(row_number, cells)
    except csv.Error as error:
        return [_csv_failure(f"line {reader.line_num}: {error} (read as {read_as})")]
    if not groups:
        return [_csv_failure("the CSV file has a header but no rows")]
    documents = [group.document() for group in groups.values()]
    for document in documents:
        document.read_as = read_as
    return documents


def _csv_failure(message: str) -> OrderDocument:
    problem = Problem(field="order", rule="csv", message=message)
    return OrderDocument(raw={}, problems=[problem], readable=False)


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = raw
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value


def _tax_ids(cell: str) -> list[dict[str, str]] | str:
    """``eu_vat:DE136695976; gb_vat:GB980780684`` -> scheme/value pairs (the cell if malformed)."""
    pairs = []
    for part in cell.split(";"):
        if not part.strip():
            continue
        scheme, colon, value = part.partition(":")
        if not colon:
            return cell
        pairs.append({"scheme": scheme.strip(), "value": value.strip()})
    return pairs


def _codes(cell: str) -> list[str]:
    """``pro; api_calls`` -> the item codes a minimum commitment counts."""
    return [part.strip() for part in cell.split(";") if part.strip()]


def _as_is(cell: str) -> str:
    return cell


#: Order columns that hold a list, read from one cell separated by semicolons.
_LISTS: dict[str, Callable[[str], Any]] = {
    "tax_ids": _tax_ids,
    "minimum_commitment.item_codes": _codes,
}


@dataclass
class _CsvOrder:
    """The rows of one order as they are read."""

    problems: list[Problem]
    raw: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    values: dict[str, tuple[str, int]] = field(default_factory=dict)
    plan_row: int | None = None
    addons: list[dict[str, str]] = field(default_factory=list)

    def add_row(self, row: int, cells: dict[str, str]) -> None:
        for column, path in ORDER_COLUMNS.items():
            value = cells.get(column, "")
            if not value:
                continue
            first = self.values.get(column)
            if first is None:
                self.values[column] = (value, row)
                self.sources[path] = f"row {row}, column {column!r}"
                _set(self.raw, path, _LISTS.get(path, _as_is)(value))
            elif first[0] != value:
                self.problems.append(
                    Problem(
                        field=path,
                        rule="csv_conflict",
                        message=f"row {row}, column {column!r}: {_shown(value)} differs from "
                        f"{_shown(first[0])} in row {first[1]}; an order has one {column}",
                    )
                )
        line_type = cells.get("Line Type", "").casefold()
        line = {
            LINE_COLUMNS[column]: cells[column]
            for column in LINE_COLUMNS
            if column != "Line Type" and cells.get(column)
        }
        if line_type == "plan":
            if self.plan_row is not None:
                self.problems.append(
                    Problem(
                        field="plan",
                        rule="csv_plan_rows",
                        message=f"rows {self.plan_row} and {row} both have Line Type 'plan'; "
                        "an order has one plan",
                    )
                )
                return
            self.plan_row = row
            for name, value in line.items():
                path = _PLAN_FIELDS[name]
                self.raw[path] = value
                self.sources[path] = f"row {row}, column {_column_of(name)!r}"
        elif line_type == "addon":
            index = len(self.addons)
            self.addons.append(line)
            self.sources[f"addons[{index}]"] = f"row {row}"
            for name in line:
                self.sources[f"addons[{index}].{name}"] = f"row {row}, column {_column_of(name)!r}"
        else:
            self.problems.append(
                Problem(
                    field="line_type",
                    rule="csv_line_type",
                    message=f"row {row}, column 'Line Type': {cells.get('Line Type', '')!r} "
                    "must be 'plan' or 'addon'",
                )
            )

    def document(self) -> OrderDocument:
        raw = dict(self.raw)
        if self.addons:
            raw["addons"] = self.addons
        if self.plan_row is None and not any(p.rule == "csv_plan_rows" for p in self.problems):
            self.problems.append(
                Problem(field="plan", rule="required", message="no row has Line Type 'plan'")
            )
        return OrderDocument(raw=raw, sources=self.sources, problems=self.problems)


def check_document(
    document: OrderDocument, rules: OrderRules, facts: LedgerFacts, today: date
) -> ValidationReport:
    """Validate a document read from a file; intake's own problems come first."""
    if not document.readable:
        return ValidationReport(order_id=None, problems=document.problems)
    report = validate_order(document.raw, rules, facts, today)
    seen = {(p.field, p.rule) for p in document.problems}
    fresh = [p for p in report.problems if (p.field, p.rule) not in seen]
    return report.model_copy(update={"problems": [*document.problems, *fresh]})


def _column_of(line_field: str) -> str:
    return next(column for column, name in LINE_COLUMNS.items() if name == line_field)


class CorrectionError(ValueError):
    """A correction names a field path that does not fit the order."""


_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def _path_steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        match = _PATH_PART.fullmatch(part)
        if match is None:
            raise CorrectionError(f"{path!r} is not a field path such as billing_address.city")
        steps.append(match.group(1))
        steps.extend(int(index) for index in re.findall(r"\[(\d+)\]", match.group(2)))
    return steps


def apply_correction(raw: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``path: value`` of ``fields`` set (``None`` removes the field).

    Paths are the ones problems name: ``billing_address.postal_code``,
    ``addons[1].quantity``, ``tax_ids[0].value``. A list index may be one past
    the end, to add an item.
    """
    corrected: dict[str, Any] = copy.deepcopy(raw)
    for path, value in fields.items():
        steps = _path_steps(path)
        if steps[0] == "order_id":
            raise CorrectionError("order_id cannot be corrected: it names the order")
        node: Any = corrected
        for step, following in pairwise(steps):
            node = _child(node, step, following, path)
        _assign(node, steps[-1], value, path)
    return corrected


def _child(node: Any, step: str | int, following: str | int, path: str) -> Any:
    empty: Any = [] if isinstance(following, int) else {}
    if isinstance(step, int):
        if not isinstance(node, list) or step > len(node):
            raise CorrectionError(f"{path}: there is no item {step} to correct")
        if step == len(node):
            node.append(empty)
        return node[step]
    if not isinstance(node, dict):
        raise CorrectionError(f"{path}: {step!r} is not inside an object")
    if not isinstance(node.get(step), dict | list):
        node[step] = empty
    return node[step]


def _assign(node: Any, step: str | int, value: Any, path: str) -> None:
    if isinstance(step, int):
        if not isinstance(node, list) or step > len(node):
            raise CorrectionError(f"{path}: there is no item {step} to correct")
        if value is None:
            if step < len(node):
                del node[step]
        elif step == len(node):
            node.append(value)
        else:
            node[step] = value
        return
    if not isinstance(node, dict):
        raise CorrectionError(f"{path}: {step!r} is not inside an object")
    if value is None:
        node.pop(step, None)
    else:
        node[step] = value
