"""A realistic demo book: customers across plans, intervals, currencies and countries,
three months of invoices computed by the invoicing engine, and payments that
behave like real customers (prompt, late, partial, never).

Deterministic: the same seed and ``today`` give the same book, so demos,
screenshots and close tests can rely on it. Whatever ``today`` is, the last account is
a key account in final notice (:func:`_key_account`): the documented Temporal UI filter
"collections in final-notice stage over $10,000" always has a row to show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activities.billing import invoicing
from activities.billing.money import round_money
from activities.billing.pricebook import load_pricebook
from activities.billing.proration import Interval as BillingInterval
from activities.billing.proration import shift_months
from activities.billing.tax import load_tax_table, tax_treatment
from activities.ledger import customers as customer_store
from activities.ledger.invoices import issue_invoice
from activities.ledger.models import (
    BillingContact,
    ContractType,
    Customer,
    Interval,
    Invoice,
    InvoiceStatus,
    ItemKind,
    PromiseStatus,
    PromiseToPay,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
    TaxId,
)
from activities.ledger.payments import PaymentIn, record_payment
from activities.recurring.demo import seed_current_periods

ACTOR = "system:seed-demo"


@dataclass(frozen=True, slots=True)
class Place:
    country: str
    currency: str
    timezone: str
    city: str
    region: str | None
    postal_code: str
    street: str
    legal_suffix: str
    tax_scheme: str | None
    tax_id: str | None


#: One valid address (and a checksum-valid tax id) per market the demo sells in.
PLACES = (
    Place(
        "US",
        "USD",
        "America/New_York",
        "New York",
        "US-NY",
        "10013",
        "155 Hudson St",
        "Inc.",
        "us_ein",
        "04-2103594",
    ),
    Place(
        "US",
        "USD",
        "America/Chicago",
        "Austin",
        "US-TX",
        "78701",
        "600 Congress Ave",
        "LLC",
        "us_ein",
        "91-1144442",
    ),
    Place(
        "US",
        "USD",
        "America/Los_Angeles",
        "Seattle",
        "US-WA",
        "98101",
        "1301 5th Ave",
        "Inc.",
        None,
        None,
    ),
    Place(
        "CA",
        "USD",
        "America/Toronto",
        "Toronto",
        "CA-ON",
        "M5V 2T6",
        "200 Front St W",
        "Ltd.",
        None,
        None,
    ),
    Place(
        "GB",
        "GBP",
        "Europe/London",
        "London",
        None,
        "EC2A 4NE",
        "10 Finsbury Sq",
        "Ltd",
        "gb_vat",
        "GB980780684",
    ),
    Place(
        "DE",
        "EUR",
        "Europe/Berlin",
        "Berlin",
        "DE-BE",
        "10117",
        "Friedrichstraße 68",
        "GmbH",
        "eu_vat",
        "DE136695976",
    ),
    Place(
        "FR",
        "EUR",
        "Europe/Paris",
        "Paris",
        None,
        "75002",
        "12 Rue de la Paix",
        "SAS",
        "eu_vat",
        "FR40303265045",
    ),
    Place(
        "NL",
        "EUR",
        "Europe/Amsterdam",
        "Amsterdam",
        "NL-NH",
        "1017 CE",
        "Herengracht 420",
        "B.V.",
        "eu_vat",
        "NL004495445B01",
    ),
    Place(
        "IE",
        "EUR",
        "Europe/Dublin",
        "Dublin",
        None,
        "D02 X285",
        "1 Grand Canal Sq",
        "Ltd",
        "eu_vat",
        "IE6388047V",
    ),
    Place(
        "JP",
        "JPY",
        "Asia/Tokyo",
        "Tokyo",
        "JP-13",
        "100-0005",
        "1-1 Marunouchi",
        "K.K.",
        None,
        None,
    ),
    Place(
        "AU",
        "USD",
        "Australia/Sydney",
        "Sydney",
        "AU-NSW",
        "2000",
        "1 Martin Pl",
        "Pty Ltd",
        None,
        None,
    ),
)
PLACE_WEIGHTS = (14, 8, 8, 4, 12, 10, 6, 5, 3, 6, 4)

WORDS_A = (
    "North",
    "Blue",
    "Bright",
    "Quiet",
    "Iron",
    "Silver",
    "Cedar",
    "Harbor",
    "Summit",
    "Lumen",
    "Atlas",
    "Orbit",
    "Pioneer",
    "Maple",
    "Delta",
    "Nimbus",
    "Vector",
    "Coral",
)
WORDS_B = (
    "wind",
    "stone",
    "field",
    "bridge",
    "works",
    "leaf",
    "point",
    "forge",
    "line",
    "gate",
    "path",
    "wave",
    "craft",
    "peak",
    "labs",
    "grid",
    "loop",
    "yard",
)
WORDS_C = (
    "Analytics",
    "Logistics",
    "Health",
    "Robotics",
    "Media",
    "Foods",
    "Energy",
    "Software",
    "Retail",
    "Studios",
    "Capital",
    "Bio",
    "Systems",
    "Travel",
)
OWNERS = (
    "ana.silva@example.com",
    "ben.okafor@example.com",
    "chloe.martin@example.com",
    "dev.patel@example.com",
)

#: How customers pay, with weights: prompt payers dominate, a few never pay.
BEHAVIOURS = (("prompt", 62), ("late", 18), ("partial", 8), ("never", 8), ("overpay", 4))


def seed_demo_book(session: Session, *, count: int, seed: int, today: date) -> str:
    """Write the demo book; refuses to seed twice so a re-run never doubles the ledger."""
    existing = session.scalar(select(func.count()).select_from(Customer))
    if existing:
        return f"the ledger already holds {existing} customers; nothing seeded"
    rng = random.Random(seed)
    now = datetime.combine(today, time(9, 0), tzinfo=UTC)
    invoices = payments = 0
    for index in range(1, count + 1):
        if index == count:
            (customer, subscription), behaviour = _key_account(session, index, today), "never"
        else:
            customer, subscription, behaviour = _account(session, rng, index, today, now)
        for issued in _billing_dates(subscription, today):
            invoice = _invoice(session, customer, subscription, issued, now)
            invoices += 1
            payments += _pay(session, rng, customer, invoice, behaviour, today)
        if behaviour == "never" and index != count and rng.random() < 0.3:
            _promise(session, rng, customer, today, now)
        if rng.random() < 0.15:
            customer_store.add_note(session, customer.id, rng.choice(OWNERS), _note(rng), now)
    changes, usage = seed_current_periods(session, seed=seed, now=now)
    return (
        f"seeded {count} customers, {invoices} invoices, {payments} payments, "
        f"{changes} subscription changes and {usage} usage events "
        f"(as of {today.isoformat()}); try `billing-ops customer show CUS-0001`, "
        "`billing-ops invoices list --overdue`, `billing-ops aging`"
    )


def _account(
    session: Session, rng: random.Random, index: int, today: date, now: datetime
) -> tuple[Customer, Subscription, str]:
    place = rng.choices(PLACES, weights=PLACE_WEIGHTS)[0]
    plan, seats = rng.choices(
        (
            ("plus", rng.randint(1, 40)),
            ("business", rng.randint(5, 180)),
            ("enterprise", rng.randint(25, 900)),
        ),
        weights=(45, 40, 15),
    )[0]
    annual = plan == "enterprise" or rng.random() < 0.25
    behaviour = rng.choices([b for b, _ in BEHAVIOURS], weights=[w for _, w in BEHAVIOURS])[0]
    name = f"{rng.choice(WORDS_A)}{rng.choice(WORDS_B)} {rng.choice(WORDS_C)} {place.legal_suffix}"
    customer_id = f"CUS-{index:04d}"
    exempt = place.country == "US" and rng.random() < 0.05
    customer = Customer(
        id=customer_id,
        legal_name=name,
        country=place.country,
        timezone=place.timezone,
        currency=place.currency,
        payment_terms_days=30 if annual else rng.choice((0, 15, 30)),
        address_line1=place.street,
        address_line2=f"Suite {rng.randint(100, 999)}" if rng.random() < 0.4 else None,
        city=place.city,
        region=place.region,
        postal_code=place.postal_code,
        tax_exempt=exempt,
        tax_exemption_certificate=f"EXM-{index:05d}" if exempt else None,
        po_required=annual and rng.random() < 0.5,
        do_not_dun=rng.random() < 0.02,
        strategic=plan == "enterprise" and seats >= 400,
        account_owner=rng.choice(OWNERS),
        created_at=now - timedelta(days=400),
        contacts=[
            BillingContact(
                name="Accounts Payable", primary=True, email=f"ap@{name.split()[0].lower()}.example"
            )
        ],
        tax_ids=[TaxId(scheme=place.tax_scheme, value=place.tax_id)]
        if place.tax_scheme and place.tax_id
        else [],
    )
    session.add(customer)
    interval = Interval.YEAR if annual else Interval.MONTH
    # Anchors spread over the past so that periods renew on different days.
    if annual:
        start = datetime.combine(today - timedelta(days=rng.randint(1, 364)), time(), tzinfo=UTC)
        end = shift_months(start, 12)
    else:
        start = datetime.combine(
            today.replace(day=1) - timedelta(days=rng.randint(90, 700)), time(), tzinfo=UTC
        ).replace(day=rng.randint(1, 28))
        end = shift_months(start, 12 * 3)
    subscription = Subscription(
        id=f"SUB-{index:04d}",
        customer_id=customer_id,
        plan=plan,
        interval=interval,
        contract_type=ContractType.ANNUAL_INVOICED if annual else ContractType.SELF_SERVE_MONTHLY,
        status=SubscriptionStatus.ACTIVE,
        currency=place.currency,
        term_start=start,
        term_end=end,
        billing_anchor=start,
        created_at=start,
        items=[
            SubscriptionItem(
                item_code=plan,
                kind=ItemKind.PLAN,
                quantity=seats,
                unit_price=load_pricebook()
                .plan_price(plan, _engine_interval(interval), place.currency)
                .unit_amount,
            )
        ],
    )
    session.add(subscription)
    session.flush()
    return customer, subscription, behaviour


#: The key account: a 240-seat Business customer in New York on monthly invoices, net 15,
#: that signed 58 days before ``today`` and has paid nothing since.
KEY_ACCOUNT_SEATS = 240
KEY_ACCOUNT_SIGNED_DAYS_AGO = 58


def _key_account(session: Session, index: int, today: date) -> tuple[Customer, Subscription]:
    """An account whose cadence is past its final notice on any ``today``, in USD, over $10,000.

    Drawn from no random stream (so the accounts before it stay as the seed made them) and
    dated from ``today``: its two monthly invoices of about $6,000 fell due 43 and about 13
    days ago. The self-serve cadence's final notice is due 21 days after the oldest due
    date and its suspension, at 30 days, waits for a person: the cadence's stage is
    ``final_notice`` with $12,480.00 past due however long after ``today`` the worker runs,
    until a person approves the suspension.
    """
    place = PLACES[0]
    signed = datetime.combine(
        today - timedelta(days=KEY_ACCOUNT_SIGNED_DAYS_AGO), time(), tzinfo=UTC
    )
    customer = Customer(
        id=f"CUS-{index:04d}",
        legal_name=f"Ironforge Logistics {place.legal_suffix}",
        country=place.country,
        timezone=place.timezone,
        currency=place.currency,
        payment_terms_days=15,
        address_line1=place.street,
        city=place.city,
        region=place.region,
        postal_code=place.postal_code,
        tax_exempt=False,
        po_required=False,
        do_not_dun=False,
        strategic=False,
        account_owner=OWNERS[0],
        created_at=signed,
        contacts=[
            BillingContact(name="Accounts Payable", primary=True, email="ap@ironforge.example")
        ],
        tax_ids=[TaxId(scheme=place.tax_scheme, value=place.tax_id)]
        if place.tax_scheme and place.tax_id
        else [],
    )
    session.add(customer)
    subscription = Subscription(
        id=f"SUB-{index:04d}",
        customer_id=customer.id,
        plan="business",
        interval=Interval.MONTH,
        contract_type=ContractType.SELF_SERVE_MONTHLY,
        status=SubscriptionStatus.ACTIVE,
        currency=place.currency,
        term_start=signed,
        term_end=shift_months(signed, 12),
        billing_anchor=signed,
        created_at=signed,
        items=[
            SubscriptionItem(
                item_code="business",
                kind=ItemKind.PLAN,
                quantity=KEY_ACCOUNT_SEATS,
                unit_price=load_pricebook()
                .plan_price("business", "month", place.currency)
                .unit_amount,
            )
        ],
    )
    session.add(subscription)
    session.flush()
    return customer, subscription


_ENGINE_INTERVALS: dict[Interval, BillingInterval] = {
    Interval.MONTH: "month",
    Interval.QUARTER: "quarter",
    Interval.YEAR: "year",
}


def _engine_interval(interval: Interval) -> BillingInterval:
    return _ENGINE_INTERVALS[interval]


def _billing_dates(subscription: Subscription, today: date) -> list[date]:
    """Period starts in the last three months (an annual contract bills once a year)."""
    window_start = (today.replace(day=1) - timedelta(days=62)).replace(day=1)
    months = 12 if subscription.interval == Interval.YEAR else 1
    dates = []
    step = 0
    while (start := shift_months(subscription.billing_anchor, step * months)).date() <= today:
        if start.date() >= window_start:
            dates.append(start.date())
        step += 1
    return dates


def _invoice(
    session: Session, customer: Customer, subscription: Subscription, issued: date, now: datetime
) -> tuple[str, Decimal, date]:
    """The period starting on ``issued``, billed in advance by the invoicing engine."""
    months = 12 if subscription.interval == Interval.YEAR else 1
    start = datetime.combine(issued, time(), tzinfo=UTC)
    plan_item = subscription.items[0]
    vat_id = next((t.value for t in customer.tax_ids if t.scheme in ("eu_vat", "gb_vat")), None)
    jurisdiction = customer.region if customer.country in ("US", "CA") else customer.country
    draft = invoicing.draft_invoice(
        invoicing.Subscription(
            currency=subscription.currency,
            anchor=subscription.billing_anchor,
            interval=_engine_interval(subscription.interval),
            plan=load_pricebook().plan_price(
                subscription.plan, _engine_interval(subscription.interval), subscription.currency
            ),
            seats=plan_item.quantity,
            period_start=shift_months(start, -months),
        ),
        terms=invoicing.InvoiceTerms(
            issue_date=issued,
            payment_terms_days=customer.payment_terms_days,
            po_number=f"PO-{customer.id[4:]}-{issued.year}" if customer.po_required else None,
            tax=tax_treatment(
                load_tax_table(),
                jurisdiction or customer.country,
                exempt=customer.tax_exempt,
                vat_id=vat_id,
            ),
        ),
        renew=True,
    )
    invoice = issue_invoice(
        session,
        customer.id,
        draft,
        source_key=f"seed:{subscription.id}:{issued.isoformat()}",
        actor=ACTOR,
        now=min(now, datetime.combine(issued, time(6, 0), tzinfo=UTC)),
        subscription_id=subscription.id,
    )
    return invoice.number or "", invoice.amount_due, invoice.due_date


def _pay(
    session: Session,
    rng: random.Random,
    customer: Customer,
    invoice_amount_due: tuple[str, Decimal, date],
    behaviour: str,
    today: date,
) -> int:
    number, amount_due, due = invoice_amount_due
    if behaviour == "never" or amount_due == 0:
        return 0
    offsets = {"prompt": (-12, 0), "late": (5, 45), "partial": (-5, 20), "overpay": (-10, 0)}
    low, high = offsets[behaviour]
    paid_on = due + timedelta(days=rng.randint(low, high))
    paid_on = max(paid_on, due - timedelta(days=customer.payment_terms_days))  # not before issue
    if paid_on > today:
        return 0
    amount = amount_due
    if behaviour == "partial":
        amount = round_money(
            amount_due * Decimal(rng.choice(("0.25", "0.5", "0.75"))), customer.currency
        )
    elif behaviour == "overpay":
        amount = amount_due + round_money(Decimal(rng.randint(1, 50)), customer.currency)
    if amount <= 0:
        return 0
    record_payment(
        session,
        PaymentIn(
            customer_id=customer.id,
            processor_id=f"demo_{number}",
            amount=amount,
            currency=customer.currency,
            received_at=datetime.combine(paid_on, time(14, 30), tzinfo=UTC),
            method=rng.choice(("card", "ach", "wire")),
            invoice_number=number,
        ),
        ACTOR,
    )
    return 1


def _promise(
    session: Session, rng: random.Random, customer: Customer, today: date, now: datetime
) -> None:
    balance = session.scalar(
        select(func.sum(Invoice.balance)).where(
            Invoice.customer_id == customer.id, Invoice.status == InvoiceStatus.OPEN
        )
    )
    if not balance:
        return
    session.add(
        PromiseToPay(
            customer_id=customer.id,
            currency=customer.currency,
            amount=balance,
            promised_date=today + timedelta(days=rng.randint(-3, 14)),
            grace_days=3,
            status=PromiseStatus.OPEN,
            recorded_by=rng.choice(OWNERS),
            recorded_at=now,
        )
    )


def _note(rng: random.Random) -> str:
    return rng.choice(
        (
            "AP contact changed; send invoices to the new shared mailbox.",
            "Asked for a copy of the last invoice with the PO on it.",
            "Renewal conversation with Sales in progress.",
            "Customer moving to annual billing next term.",
            "Card expired last month; customer updating payment method.",
        )
    )
