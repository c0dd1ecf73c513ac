"""5,000 random orders: the validator never raises, and whatever it passes can be invoiced."""

from __future__ import annotations

import contextlib
import copy
import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from activities.billing.invoicing import InvoiceTerms, draft_invoice
from activities.orders.changes import engine_subscription, first_invoice_events, subscription_items
from activities.orders.intake import CorrectionError, apply_correction
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
