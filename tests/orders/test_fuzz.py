"""5,000 random orders: the validator never raises, and whatever it passes can be invoiced."""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import random
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from activities.billing.invoicing import InvoiceTerms, draft_invoice
from activities.orders.changes import engine_subscription, first_invoice_events, subscription_items
from activities.orders.fields import column_length, forbidden_character
from activities.orders.intake import (
    CorrectionError,
    apply_correction,
    check_document,
    parse_csv,
    parse_json,
)
from activities.orders.validation import (
    CustomerFacts,
    LedgerFacts,
    OrderRules,
    SubscriptionFacts,
    SubscriptionItemFacts,
    load_order_rules,
    validate_order,
)
from tests.orders.conftest import TODAY

RULES: OrderRules = load_order_rules()

EXAMPLES = Path(__file__).with_name("examples")
BASES = [
    json.loads((EXAMPLES / name).read_text(), parse_float=Decimal)
    for name in ("new_customer.json", "amendment.json")
]
BASES.append({**BASES[0], "currency": "USD", "billing_address": BASES[1]["billing_address"]})

#: Where mutations land: every field of the examples, and a few containers.
PATHS = [
    "order_id",
    "customer",
    "customer.id",
    "customer.legal_name",
    "customer.contact_email",
    "customer.timezone",
    "customer.po_required",
    "amends",
    "effective_date",
    "plan",
    "seats",
    "unit_price",
    "discount_percent",
    "addons",
    "addons[0]",
    "addons[0].code",
    "addons[0].quantity",
    "addons[0].unit_price",
    "addons[1].code",
    "addons[1].discount_percent",
    "interval",
    "term_start",
    "term_end",
    "billing_anchor",
    "currency",
    "payment_terms_days",
    "purchase_order",
    "purchase_order.number",
    "purchase_order.expires_on",
    "purchase_order.amount_cap",
    "billing_address",
    "billing_address.line1",
    "billing_address.city",
    "billing_address.region",
    "billing_address.postal_code",
    "billing_address.country",
    "tax_ids",
    "tax_ids[0].scheme",
    "tax_ids[0].value",
    "tax_exempt",
    "exemption_certificate",
    "colour",
]
#: Plausible values, near misses and junk, for any field.
POOL: list[Any] = [
    None,
    "",
    " ",
    True,
    False,
    0,
    1,
    -1,
    5,
    20,
    25,
    51,
    501,
    10**12,
    "20",
    "twenty",
    "0",
    "23.00",
    "25.00",
    "12.345",
    "-5.00",
    "1E+40",
    "NaN",
    "Infinity",
    "100",
    "150",
    "2026-11-15",
    "2027-11-15",
    "2026-12-01",
    "2027-11-14",
    "2026-13-01",
    "1999-01-01",
    "2099-12-31",
    "9999-12-31",
    "month",
    "quarter",
    "year",
    "week",
    "plus",
    "business",
    "enterprise",
    "platinum",
    "advanced_security",
    "data_residency",
    "api_calls",
    "sms",
    "USD",
    "EUR",
    "JPY",
    "CHF",
    "XYZ",
    "DE",
    "US",
    "GB",
    "AU",
    "BR",
    "XX",
    "de",
    "US-NY",
    "NY",
    "CA-ON",
    "ZZ",
    "10117",
    "10001",
    "1011",
    "SW1A 1AA",
    "eu_vat",
    "us_ein",
    "nope",
    "DE136695976",
    "DE136695977",
    "91-1144442",
    "Net 45",
    "CUS-USD",
    "CUS-NOPE",
    "SUB-1",
    "SUB-2",
    "Mars/Olympus",
    "ap@acme.example",
    "x" * 300,
    [],
    [1],
    {},
    {"code": "plus"},
    Decimal("NaN"),
    Decimal("-Infinity"),
    Decimal("1E+999999"),
    Decimal("0.00001"),
    2.5,
    "\x00",
    "é",
    "٣",
    "２０",
    {"number": "PO-1"},
    [{"scheme": "eu_vat", "value": "DE136695976"}],
    [{"code": "sms"}],
]


def mutations(seed: int) -> list[tuple[str, Any]]:
    """Up to three (path, value) changes, chosen from ``seed``.

    Drawing one integer per example instead of a structure keeps Hypothesis's
    own cost low enough for 5,000 examples in a few seconds; the changes are
    noted, so a failure prints them.
    """
    pick = random.Random(seed)
    changes = []
    for _ in range(pick.randint(0, 3)):
        value = pick.choice(POOL) if pick.random() < 0.85 else pick.randint(-(10**20), 10**20)
        changes.append((pick.choice(PATHS), value))
    return changes


def mutate(base: dict[str, Any], changes: list[tuple[str, Any]]) -> dict[str, Any]:
    order = copy.deepcopy(base)
    for path, value in changes:
        with contextlib.suppress(CorrectionError):
            order = apply_correction(order, {path: value})
    return order


START = datetime(2026, 10, 1, tzinfo=UTC)
LEDGERS = st.sampled_from(
    [
        LedgerFacts(),
        LedgerFacts(
            customer=CustomerFacts(
                id="CUS-USD",
                currency="USD",
                country="US",
                payment_terms_days=30,
                po_required=True,
                tax_exempt=False,
            ),
            subscription=SubscriptionFacts(
                id="SUB-1",
                customer_id="CUS-USD",
                plan="business",
                interval="month",
                currency="USD",
                status="active",
                term_start=START,
                term_end=datetime(2027, 10, 1, tzinfo=UTC),
                billing_anchor=START,
                items=[
                    SubscriptionItemFacts(
                        item_code="business", kind="plan", quantity=10, unit_price=Decimal(25)
                    )
                ],
            ),
        ),
    ]
)


@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), seed=st.integers(0, 2**32), facts=LEDGERS)
def test_the_validator_never_crashes(base: dict[str, Any], seed: int, facts: LedgerFacts) -> None:
    changes = mutations(seed)
    note(f"changes: {changes!r}")
    report = validate_order(mutate(base, changes), RULES, facts, TODAY)
    for problem in report.problems:
        assert problem.field and problem.rule and problem.message
    if not report.ok:
        return
    order = report.order
    assert order is not None
    if order.is_amendment:
        return
    # Valid means invoiceable: the engine prices the first invoice without complaint.
    items = subscription_items(order, RULES.book)
    assert items[0].quantity == order.seats
    assert order.term_start is not None
    anchor = order.billing_anchor or order.term_start
    facts_after = SubscriptionFacts(
        id="SUB-NEW",
        customer_id="CUS-NEW",
        plan=order.plan,
        interval=order.interval,
        currency=order.currency,
        status="active",
        term_start=datetime(
            order.term_start.year, order.term_start.month, order.term_start.day, tzinfo=UTC
        ),
        term_end=START,
        billing_anchor=datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC),
        items=items,
    )
    draft = draft_invoice(
        engine_subscription(facts_after, RULES.book),
        first_invoice_events(facts_after),
        terms=InvoiceTerms(issue_date=TODAY, payment_terms_days=order.payment_terms_days),
    )
    assert draft.total >= 0


# --- Issue 14: what a careless or hostile sales desk sends ---------------------------------

#: Text that must never pass: bidi overrides and isolates, zero-width characters, a BOM,
#: C0 and C1 controls, NUL, Slack mentions.
HOSTILE_TEXT = [
    "Acme \u202eHbmG",
    "Jana\u200dWeber",
    "Zero\u200bWidth",
    "\ufeffAcme",
    "Ber\u0085lin",
    "Nul\x00l",
    "Tab\there",
    "Left\u2066to\u2069",
    "Acme <!channel>",
    "<@U012AB3CD>",
]
TEXT_FIELDS = [
    "customer.legal_name",
    "customer.contact_name",
    "customer.contact_email",
    "purchase_order.number",
    "billing_address.line1",
    "billing_address.line2",
    "billing_address.city",
    "billing_address.postal_code",
    "exemption_certificate",
    "opportunity_id",
    "tax_ids[0].value",
]


def _field_value(order: Any, path: str) -> Any:
    node = order
    for part in path.replace("[0]", ".0").split("."):
        if isinstance(node, list):
            node = node[int(part)] if node else None
        else:
            node = getattr(node, part, None)
        if node is None:
            return None
    return node


def _with_duplicate(text: str, keys: list[str], pick: random.Random) -> str:
    """The JSON text with one of its top-level keys given a second time, first."""
    key = pick.choice(keys)
    value = json.dumps(pick.choice([20, 50, True, "enterprise", "USD", "99.00", None]))
    return text.replace("{", f'{{"{key}": {value}, ', 1)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), seed=st.integers(0, 2**32))
def test_hostile_json_is_refused_and_what_passes_fits_the_ledger(
    base: dict[str, Any], seed: int
) -> None:
    """Duplicate keys, booleans, over-long and invisible text: every one is an error, and a
    valid order's every text fits its ledger column in plain characters."""
    pick = random.Random(seed)
    changes = mutations(seed)
    for _ in range(pick.randint(0, 2)):
        path = pick.choice(TEXT_FIELDS)
        limit = column_length(re.sub(r"\[\d+\]", "", path))
        changes.append(
            (path, pick.choice([*HOSTILE_TEXT, "x" * (limit + 1), "y" * limit, True, 0]))
        )
    duplicate = pick.random() < 0.3
    order = mutate(base, changes)
    text = json.dumps(order, default=str)
    if duplicate:
        text = _with_duplicate(text, sorted(order), pick)
    note(f"changes: {changes!r}, duplicate: {duplicate}")
    (document,) = parse_json(text)
    report = check_document(document, RULES, LedgerFacts(), TODAY)
    if duplicate:
        assert any(p.rule == "duplicate_key" for p in report.errors)
    if not report.ok:
        return
    assert report.order is not None
    for path in TEXT_FIELDS:
        value = _field_value(report.order, path)
        if isinstance(value, str):
            assert len(value) <= column_length(re.sub(r"\[\d+\]", "", path)), path
            assert forbidden_character(value) is None, path
            assert "<!" not in value and "<@" not in value, path
    assert not isinstance(report.order.seats, bool)


CSV_EXAMPLE = (EXAMPLES / "new_customer.csv").read_text(encoding="utf-8")


@settings(max_examples=300, deadline=None)
@given(
    delimiter=st.sampled_from([",", ";", "\t"]),
    bom=st.booleans(),
    crlf=st.booleans(),
    junk=st.one_of(st.none(), st.sampled_from(HOSTILE_TEXT), st.text(max_size=30)),
    column=st.integers(0, 23),
)
def test_csv_dialects_read_the_same_order(
    delimiter: str, bom: bool, crlf: bool, junk: str | None, column: int
) -> None:
    """Comma, semicolon or tab; BOM or not; CRLF or LF: the same rows give the same order,
    and a junk cell anywhere is a problem, never an exception."""
    rows = list(csv.reader(io.StringIO(CSV_EXAMPLE)))
    if delimiter == ";":  # a semicolon export writes decimal commas
        for row in rows[1:]:
            row[7] = row[7].replace(".", ",")
    if junk is not None:
        rows[1][column] = junk
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    text = ("\ufeff" if bom else "") + out.getvalue()
    documents = parse_csv(text.removeprefix("\ufeff"))
    for document in documents:
        report = check_document(document, RULES, LedgerFacts(), TODAY)
        for problem in report.problems:
            assert problem.field and problem.rule and problem.message
    if junk is None:
        (document,) = documents
        (reference,) = parse_csv(CSV_EXAMPLE)
        assert document.raw == reference.raw
        assert check_document(document, RULES, LedgerFacts(), TODAY).ok
