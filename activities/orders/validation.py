"""Order validation: every rule an order must pass before anything is provisioned.

Each failure is a :class:`Problem` that names the field and the rule, so
that the analyst (and Sales) can fix the order without guessing. Errors
stop the order; warnings are reported apart and let it go on; prices
deeper than their discount band are :class:`PriceException` s that wait
for an approval instead of a fix.

Everything here is pure and deterministic: the price book, the discount
bands, what the ledger knows about the customer and the subscription, and
today's date are parameters (the provisioning activity loads them). The
function never raises on bad input, whatever the input: a malformed order
is a list of problems.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.billing.money import ZERO, minor_digits, round_money
from activities.billing.pricebook import PriceBook, load_pricebook
from activities.billing.proration import INTERVAL_MONTHS, MAX_INTERVAL_MONTHS, shift_months
from activities.billing.tax import TaxError, TaxTable, load_tax_table, tax_treatment
from activities.orders.addresses import check_address, normalize_postal_code, normalize_region
from activities.orders.model import Order
from activities.orders.pricing import (
    DiscountBands,
    PriceException,
    discount_off_book,
    effective_unit_price,
    line_value,
    load_discount_bands,
    midnight,
    periods_between,
)
from activities.orders.tax_ids import check_tax_id

Severity = Literal["error", "warning"]

#: The earliest and latest dates an order may carry; outside them it is a typo.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
MAX_TERM_YEARS = 10
#: How far from today a new term may start. A term that began over a year ago would
#: invoice every period since at once (a wrong year, or a contract to re-paper); one a
#: year or more away is a typo or a deal not yet closed.
MAX_BACKDATE = timedelta(days=365)
MAX_LEAD = timedelta(days=365)
#: IANA areas whose zones name a place (``Europe/Berlin``); ``EST``, ``Etc/GMT+5`` and
#: ``US/Eastern`` are abbreviations, fixed offsets (with the sign inverted) or old links.
_ZONE_AREAS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)
MAX_AMOUNT = Decimal("1e12")
MAX_PAYMENT_TERMS_DAYS = 120
#: A per-seat price after discount is kept to four places, as the ledger stores unit prices.
UNIT_PRICE_PLACES = 4
#: A billing email as mail servers take it: dot-separated ASCII words before the ``@``
#: (no leading, trailing or doubled dot, no quoting), a domain of letter-digit-hyphen
#: labels under a real top-level domain. An internationalised domain is written in its
#: ``xn--`` form, so a Cyrillic ``а`` cannot pass for a Latin ``a`` and send the
#: customer's invoices to a lookalike domain.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})$"
)


def _email_problem(email: str) -> str | None:
    """Why ``email`` is no address a mail server delivers to; None when it is one."""
    name = email.rpartition("@")[0]
    if _EMAIL.match(email):
        # RFC 5321: a mailbox name is at most 64 characters; servers refuse longer ones
        return (
            f"the part before @ has {len(name)} characters, at most 64" if len(name) > 64 else None
        )
    odd = next((c for c in email if not c.isascii()), None)
    if odd is not None:
        return (
            f"{odd} (U+{ord(odd):04X} {unicodedata.name(odd, '')}) is not ASCII; write an "
            "internationalised domain in its xn-- form"
        )
    if not name:
        return "it needs one name@domain"
    if ".." in email or name.startswith(".") or name.endswith("."):
        return "a dot starts, ends or doubles a part"
    return "expected name@example.com, one address"


#: What people type where they have no reference yet.
_PLACEHOLDERS = frozenset(
    {"n/a", "na", "none", "nil", "null", "tbd", "tba", "tbc", "pending", "unknown", "todo", "xxx"}
)
_ADDRESS_PARTS = {"line1": "street", "city": "city"}


def _has_letters(text: str) -> bool:
    """A name, street or city is written with at least one letter or digit ("-" is none)."""
    return any(character.isalnum() for character in text)


def _name_key(name: str) -> str:
    """A legal name as compared: case and runs of spaces do not make another entity."""
    return " ".join(name.split()).casefold()


class Problem(BaseModel):
    """One broken rule: the field (``billing_address.postal_code``), the rule, and why."""

    model_config = ConfigDict(frozen=True)

    field: str
    rule: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.field}: {self.message} [{self.rule}]"


class CustomerFacts(BaseModel):
    """What the ledger knows about an existing customer."""

    model_config = ConfigDict(frozen=True)

    id: str
    currency: str
    country: str
    payment_terms_days: int
    legal_name: str = ""
    region: str | None = None
    tax_ids: list[tuple[str, str]] = Field(
        default_factory=list, description="(scheme, value) on file; its invoices quote these"
    )
    po_required: bool
    tax_exempt: bool
    timezone: str = "UTC"
    address_line1: str = ""
    address_line2: str | None = None
    city: str = ""
    postal_code: str | None = None
    exemption_certificate: str | None = None
    contact_emails: list[str] = Field(default_factory=list)
    contact_names: list[str] = Field(default_factory=list)


class SubscriptionItemFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_code: str
    kind: str  # plan, seat_addon, usage_addon
    quantity: int
    unit_price: Decimal
    in_arrears: bool = False


class SubscriptionFacts(BaseModel):
    """The subscription an amendment changes, as the ledger holds it."""

    model_config = ConfigDict(frozen=True)

    id: str
    customer_id: str
    plan: str
    interval: str
    interval_count: int = 1
    currency: str
    status: str
    term_start: datetime
    term_end: datetime
    billing_anchor: datetime
    items: list[SubscriptionItemFacts] = Field(default_factory=list)

    def quantity(self, code: str) -> int:
        return sum(item.quantity for item in self.items if item.item_code == code)


class LedgerFacts(BaseModel):
    """The ledger's side of an order: the customer and the subscription it names, if found."""

    model_config = ConfigDict(frozen=True)

    customer: CustomerFacts | None = None
    subscription: SubscriptionFacts | None = None
    email_owners: list[str] = Field(
        default_factory=list, description="customers already billed at the order's email"
    )
    opportunity_orders: list[str] = Field(
        default_factory=list,
        description="other orders of the order's opportunity, provisioned or awaiting approval",
    )
    active_subscriptions: list[SubscriptionFacts] = Field(
        default_factory=list, description="the customer's active subscriptions"
    )


class ValidationReport(BaseModel):
    """Everything wrong with one order, and the order as normalised when it parsed."""

    order_id: str | None
    problems: list[Problem] = Field(default_factory=list)
    price_exceptions: list[PriceException] = Field(default_factory=list)
    order: Order | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings and price exceptions may remain)."""
        return not self.errors


# --- Parsing ----------------------------------------------------------------

_PYDANTIC_RULES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "literal_error": "one_of",
    "string_pattern_mismatch": "format",
    "less_than_equal": "range",
    "greater_than_equal": "range",
}
#: Rules raised by :mod:`activities.orders.fields` under their own names.
_FIELD_RULES = frozenset(
    {
        "max_length",
        "control_character",
        "markup",
        "boolean",
        "date_format",
        "timestamp",
        "excel_serial_date",
        "true_or_false",
        "number_format",
        "lookalike",
        "not_ascii",
    }
)


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "order"


def parse_order(raw: Any) -> tuple[Order | None, list[Problem]]:
    """The order with its types checked, or the problems that kept it from parsing."""
    if not isinstance(raw, Mapping):
        return None, [Problem(field="order", rule="type", message="an order is a JSON object")]
    try:
        return Order.model_validate(dict(raw)), []
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            # Unions report each member; the first is the useful one.
            location = tuple(p for p in item["loc"] if not str(p).startswith(("function-", "lax-")))
            kind = item["type"]
            rule = kind if kind in _FIELD_RULES else _PYDANTIC_RULES.get(kind, "type")
            shown = (
                "" if kind == "missing" or rule in _FIELD_RULES else repr(item.get("input"))[:60]
            )
            message = item["msg"] if not shown else f"{item['msg']} (got {shown})"
            problems.append(Problem(field=_field_path(location), rule=rule, message=message))
        return None, _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for problem in problems:
        if (problem.field, problem.rule) not in seen:
            seen.add((problem.field, problem.rule))
            kept.append(problem)
    return kept


# --- The rules --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    """A seat-priced line of the order (the plan, or a seat add-on)."""

    field: str  # where its price is: unit_price, addons[1].unit_price
    code: str
    quantity: int
    unit_price: Decimal | None
    discount_percent: Decimal
    book: Decimal | None  # the price book's per-seat price, when there is one


@dataclass(frozen=True, slots=True)
class OrderRules:
    """The configuration orders are checked against: price book, discount bands, tax table."""

    book: PriceBook
    bands: DiscountBands
    tax: TaxTable


def load_order_rules() -> OrderRules:
    """The rules from ``CONFIG_DIR`` (each file read once per process)."""
    return OrderRules(load_pricebook(), load_discount_bands(), load_tax_table())


class _Check:
    """One order's checks; each method appends what it finds to ``problems``."""

    def __init__(self, order: Order, rules: OrderRules, facts: LedgerFacts, today: date) -> None:
        self.order = order
        self.book = rules.book
        self.bands = rules.bands
        self.tax_table = rules.tax
        self.facts = facts
        self.today = today
        self.problems: list[Problem] = []
        self.exceptions: list[PriceException] = []

    def error(self, field: str, rule: str, message: str) -> None:
        self.problems.append(Problem(field=field, rule=rule, message=message))

    def warn(self, field: str, rule: str, message: str) -> None:
        self.problems.append(Problem(field=field, rule=rule, message=message, severity="warning"))

    @property
    def currency_ok(self) -> bool:
        return self.order.currency in self.book.currencies

    @property
    def plan_ok(self) -> bool:
        return self.order.plan in self.book.plans

    @property
    def count(self) -> int:
        """Intervals per billing period: the order's when it is a sound one, else 1 (its
        problem is reported by :meth:`billing_terms`)."""
        count = self.order.interval_count
        if (
            count is None
            or not 1 <= count <= MAX_INTERVAL_MONTHS // INTERVAL_MONTHS[self.order.interval]
        ):
            return 1
        return count

    # how the subscription is billed ----------------------------------------------

    def billing_terms(self) -> None:
        """``interval_count`` from 1 to three years' worth; ``in_arrears`` only on the plan
        and seat add-ons; neither on an amendment, which keeps how the subscription is billed."""
        order = self.order
        count = order.interval_count
        if order.is_amendment:
            held = self.facts.subscription
            if held is not None and held.interval_count != 1:
                self.error(
                    "amends",
                    "amendment_unsupported",
                    f"subscription {held.id} is billed every {held.interval_count} "
                    f"{held.interval}s at the contract's own prices; amend it by contract",
                )
            if count is not None:
                self.error(
                    "interval_count",
                    "amendment_unsupported",
                    "an amendment keeps the subscription's billing period; leave interval_count "
                    "out (change it with subscription change --interval)",
                )
            flagged = [
                *(["in_arrears"] if order.in_arrears is not None else []),
                *(
                    f"addons[{index}].in_arrears"
                    for index, addon in enumerate(order.addons)
                    if addon.in_arrears is not None
                ),
            ]
            for field in flagged:
                self.error(
                    field,
                    "amendment_unsupported",
                    "an amendment keeps how each item is billed; leave in_arrears out",
                )
            return
        if count is not None:
            longest = MAX_INTERVAL_MONTHS // INTERVAL_MONTHS[order.interval]
            if count < 1:
                self.error(
                    "interval_count", "positive", f"interval_count must be at least 1, got {count}"
                )
            elif count > longest:
                self.error(
                    "interval_count",
                    "interval_count_limit",
                    f"{count} {order.interval}s is more than three years; a billing period is at "
                    f"most {longest} {order.interval}s",
                )
        for index, addon in enumerate(order.addons):
            if addon.in_arrears is not None and addon.code in self.book.usage_addons:
                self.error(
                    f"addons[{index}].in_arrears",
                    "usage_addon_in_arrears",
                    f"{addon.code} is metered and always billed from usage in arrears; leave "
                    "in_arrears out",
                )

    # customer --------------------------------------------------------------

    def customer(self) -> None:
        ref, known = self.order.customer, self.facts.customer
        others = [owner for owner in self.facts.email_owners if owner != ref.id]
        if ref.contact_email and others:
            # One billing address, one customer: the Zendesk queue and the invoice emails
            # find the account by it.
            self.error(
                "customer.contact_email",
                "email_taken",
                f"{ref.contact_email} is the billing email of {', '.join(others)}; name that "
                "customer (customer.id) to order for it, or give this customer its own address",
            )
        if ref.contact_email and (why := _email_problem(ref.contact_email)):
            self.error(
                "customer.contact_email",
                "email",
                f"{ref.contact_email!r} is not an email address: {why}",
            )
        if ref.timezone:
            try:
                ZoneInfo(ref.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.error(
                    "customer.timezone",
                    "iana_timezone",
                    f"{ref.timezone!r} is not an IANA timezone (e.g. Europe/Berlin)",
                )
            else:
                if ref.timezone != "UTC" and ref.timezone.split("/")[0] not in _ZONE_AREAS:
                    # EST keeps winter time all summer: emails an hour off half the year
                    self.error(
                        "customer.timezone",
                        "zone_of_a_place",
                        f"{ref.timezone!r} is an abbreviation, a fixed offset or an old alias, "
                        "not a place; name the customer's zone as Area/City "
                        "(America/New_York), which follows daylight saving",
                    )
        if ref.id is not None:
            if known is None:
                self.error(
                    "customer.id", "unknown_customer", f"no customer {ref.id!r} in the ledger"
                )
            else:
                self.same_customer(known)
            return
        if self.order.is_amendment:
            self.error("customer.id", "required", "an amendment names the existing customer's id")
        if not ref.legal_name:
            self.error("customer.legal_name", "required", "a new customer needs a legal name")
        elif not _has_letters(ref.legal_name):
            self.error(
                "customer.legal_name",
                "no_letters",
                f"{ref.legal_name!r} has no letter or digit: write the customer's legal name",
            )
        if not ref.contact_email:
            self.error("customer.contact_email", "required", "a new customer needs a billing email")

    def same_customer(self, known: CustomerFacts) -> None:
        """An order for an existing customer is billed, and taxed, as the ledger has the
        customer: a legal name or a billing country (or state) the ledger does not have
        means the order is for another legal entity, or the account needs updating first.
        Provisioning would otherwise drop what the order says without a word."""
        ref, address = self.order.customer, self.order.billing_address
        if ref.legal_name and _name_key(ref.legal_name) != _name_key(known.legal_name):
            self.error(
                "customer.legal_name",
                "customer_mismatch",
                f"customer {known.id} is {known.legal_name!r} in the ledger, not "
                f"{ref.legal_name!r}: another legal entity is another customer; name it, "
                "or leave legal_name out",
            )
        if address.country and address.country != known.country:
            self.error(
                "billing_address.country",
                "customer_mismatch",
                f"customer {known.id} is billed and taxed in {known.country}, not "
                f"{address.country}; update the customer's address first, or name the "
                "customer in that country",
            )
        elif known.region and address.region and address.region != known.region:
            self.error(
                "billing_address.region",
                "customer_mismatch",
                f"customer {known.id} is billed and taxed in {known.region}, not "
                f"{address.region}; update the customer's address first",
            )
        # a field already refused (a malformed email), or the address of another country or
        # state (said once, above), is not compared again part by part
        refused = {p.field for p in self.problems}
        moved = bool(refused & {"billing_address.country", "billing_address.region"})
        for field, given, on_file in self.record_differences(known):
            if field in refused or (moved and field.startswith("billing_address.")):
                continue
            self.error(
                field,
                "customer_mismatch",
                f"customer {known.id} has {on_file} on file, the order says {given}: "
                "provisioning keeps the customer's record, so the order's would be dropped "
                "unseen; update the customer first, or leave the field out",
            )

    def record_differences(self, known: CustomerFacts) -> list[tuple[str, str, str]]:
        """The customer fields the order gives otherwise than the ledger has them (field,
        the order's value, the ledger's), compared as written: case and runs of spaces
        aside, postal codes normalised, emails among the customer's billing contacts."""
        ref, address = self.order.customer, self.order.billing_address

        def shown(value: object) -> str:
            return repr(value) if isinstance(value, str) else str(value).lower()

        found: list[tuple[str, str, str]] = []
        texts = (
            ("customer.timezone", ref.timezone, [known.timezone]),
            ("customer.contact_email", ref.contact_email, known.contact_emails),
            ("customer.contact_name", ref.contact_name, known.contact_names),
            ("billing_address.line1", address.line1 or None, [known.address_line1]),
            ("billing_address.line2", address.line2, [known.address_line2 or ""]),
            ("billing_address.city", address.city or None, [known.city]),
            (
                "exemption_certificate",
                self.order.exemption_certificate,
                [known.exemption_certificate or ""],
            ),
        )
        for field, given, held in texts:
            if given is not None and _name_key(given) not in {_name_key(h) for h in held}:
                on_file = " or ".join(repr(h) for h in held if h) or "none"
                found.append((field, shown(given), on_file))
        postal = address.postal_code
        if postal is not None and postal != normalize_postal_code(known.postal_code or ""):
            found.append(("billing_address.postal_code", shown(postal), repr(known.postal_code)))
        flags = (
            ("customer.po_required", "po_required", ref, known.po_required),
            ("tax_exempt", "tax_exempt", self.order, known.tax_exempt),
        )
        for field, name, part, held_flag in flags:
            given_flag = getattr(part, name)
            if name in part.model_fields_set and given_flag != held_flag:
                found.append((field, shown(given_flag), shown(held_flag)))
        return found

    def active_subscription(self) -> None:
        """One customer, one running subscription of the product: a new order for an
        existing customer whose active subscription overlaps the new term would bill the
        same seats twice (an upgrade or more seats is an amendment, a renewal starts when
        the term ends)."""
        order = self.order
        if order.is_amendment or order.term_start is None or order.term_end is None:
            return
        start, end = midnight(order.term_start), midnight(order.term_end)
        for held in self.facts.active_subscriptions:
            if held.term_start < end and start < held.term_end:
                self.error(
                    "customer.id",
                    "active_subscription",
                    f"customer {held.customer_id} already has subscription {held.id} "
                    f"({held.plan}, {held.term_start.date()} to {held.term_end.date()}), "
                    "active over this term; amend it (amends) instead of ordering again",
                )

    def opportunity(self) -> None:
        """One deal, one subscription: a new order for an opportunity already provisioned
        (or waiting for its approval) under another order id would provision and invoice
        the deal twice. An amendment changes that subscription and may name its deal."""
        others = self.facts.opportunity_orders
        if self.order.opportunity_id and others and not self.order.is_amendment:
            self.error(
                "opportunity_id",
                "opportunity_ordered",
                f"opportunity {self.order.opportunity_id} is already ordered as "
                f"{', '.join(others)}; amend that subscription, or give this order its own "
                "opportunity",
            )

    # currency --------------------------------------------------------------

    def currency(self) -> None:
        currency = self.order.currency
        if not self.currency_ok:
            try:
                minor_digits(currency)
            except ValueError:
                self.error("currency", "iso4217", f"{currency!r} is not an ISO 4217 currency code")
                return
            self.error(
                "currency",
                "not_in_price_book",
                f"{currency} is not sold; the price book has {', '.join(self.book.currencies)}",
            )
            return
        known = self.facts.customer
        if known is not None and known.currency != currency:
            self.error(
                "currency",
                "customer_currency",
                f"customer {known.id} is billed in {known.currency}, the order is in {currency}",
            )

    # plan, seats, add-ons, prices --------------------------------------------

    def plan_and_addons(self) -> list[_Line]:
        order = self.order
        lines: list[_Line] = []
        plan = self.book.plans.get(order.plan)
        if plan is None:
            self.error(
                "plan",
                "unknown_plan",
                f"{order.plan!r} is not a plan ({', '.join(self.book.plans)})",
            )
        if order.seats < 1:
            self.error("seats", "positive", f"seats must be at least 1, got {order.seats}")
        elif plan is not None:
            if order.seats < plan.min_seats:
                self.error(
                    "seats",
                    "seat_limit",
                    f"{order.seats} seats is below the {plan.name} plan's minimum of "
                    f"{plan.min_seats}",
                )
            elif plan.max_seats is not None and order.seats > plan.max_seats:
                self.error(
                    "seats",
                    "seat_limit",
                    f"{order.seats} seats is above the {plan.name} plan's maximum of "
                    f"{plan.max_seats}",
                )
        book_price = None
        if plan is not None and self.currency_ok:
            book_price = plan.prices[order.interval, order.currency] * self.count
        lines.append(
            _Line(
                "unit_price",
                order.plan,
                order.seats,
                order.unit_price,
                order.discount_percent,
                book_price,
            )
        )
        seen: set[str] = set()
        for index, addon in enumerate(order.addons):
            at = f"addons[{index}]"
            if addon.code in seen:
                self.error(f"{at}.code", "duplicate", f"add-on {addon.code!r} is listed twice")
                continue
            seen.add(addon.code)
            seat_addon = self.book.seat_addons.get(addon.code)
            if addon.code in self.book.usage_addons:
                if (
                    addon.quantity is not None
                    or addon.unit_price is not None
                    or addon.discount_percent
                ):
                    self.error(
                        f"{at}.quantity",
                        "usage_addon_priced",
                        f"{addon.code} is metered and billed from usage in arrears; "
                        "leave its quantity, price and discount empty",
                    )
                continue
            if seat_addon is None:
                known = ", ".join([*self.book.seat_addons, *self.book.usage_addons])
                self.error(
                    f"{at}.code", "unknown_addon", f"{addon.code!r} is not an add-on ({known})"
                )
                continue
            if self.plan_ok and order.plan not in seat_addon.plans:
                offered = ", ".join(sorted(seat_addon.plans))
                self.error(
                    f"{at}.code",
                    "addon_not_on_plan",
                    f"{addon.code} is not available on the {order.plan} plan (only on {offered})",
                )
            missing = sorted(seat_addon.requires - {a.code for a in order.addons})
            if missing and order.plan in seat_addon.plans:
                self.error(
                    f"{at}.code",
                    "addon_requires",
                    f"{addon.code} requires {', '.join(missing)} on the same subscription; "
                    "add it to the order",
                )
            if addon.quantity is not None and addon.quantity != order.seats:
                self.error(
                    f"{at}.quantity",
                    "addon_quantity",
                    f"{addon.code} covers every seat of the plan: {order.seats}, not "
                    f"{addon.quantity} (leave the quantity empty)",
                )
            addon_book = None
            if self.currency_ok:
                addon_book = seat_addon.prices[order.interval, order.currency] * self.count
            lines.append(
                _Line(
                    f"{at}.unit_price",
                    addon.code,
                    order.seats,
                    addon.unit_price,
                    addon.discount_percent,
                    addon_book,
                )
            )
        return lines

    def amounts(self, lines: list[_Line]) -> list[_Line]:
        """Price and discount shapes; returns the lines whose prices can be compared."""
        comparable = []
        for line in lines:
            fine = True
            if line.unit_price is not None:
                fine = self.amount(line.field, line.unit_price, allow_zero=True)
            discount_field = line.field.replace("unit_price", "discount_percent")
            if not line.discount_percent.is_finite() or not 0 <= line.discount_percent <= 100:
                self.error(
                    discount_field,
                    "range",
                    f"a discount is 0 to 100 %, got {line.discount_percent}",
                )
                fine = False
            elif line.discount_percent != round(line.discount_percent, 4):
                self.error(discount_field, "precision", "a discount has at most 4 decimal places")
                fine = False
            if fine and line.book is not None:
                net = effective_unit_price(line.book, line.unit_price, line.discount_percent)
                if net != round(net, UNIT_PRICE_PLACES):
                    self.error(
                        discount_field,
                        "precision",
                        f"the discounted per-seat price {net.normalize():f} has more than "
                        f"{UNIT_PRICE_PLACES} decimal places; quote the per-seat price instead",
                    )
                    continue
                comparable.append(line)
        return comparable

    def amount(self, field: str, value: Decimal, allow_zero: bool) -> bool:
        if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
            floor = "zero or more" if allow_zero else "above zero"
            self.error(field, "range", f"must be {floor}, got {value}")
            return False
        if value >= MAX_AMOUNT:
            self.error(field, "range", f"{value} is beyond any order we sell")
            return False
        if self.currency_ok and value != round_money(value, self.order.currency):
            places = minor_digits(self.order.currency)
            self.error(
                field,
                "precision",
                f"{value} has more than {places} decimal places for {self.order.currency}",
            )
            return False
        return True

    def prices(self, lines: list[_Line], periods: Decimal | None) -> None:
        for line in lines:
            assert line.book is not None
            effective = effective_unit_price(line.book, line.unit_price, line.discount_percent)
            off = discount_off_book(line.book, effective)
            if off < 0:
                self.warn(
                    line.field,
                    "above_price_book",
                    f"{line.code} at {effective.normalize():f} is above the book price {line.book}",
                )
                continue
            band = self.bands.limit(line.code)
            if off <= band:
                continue
            given = line_value(
                line.book - effective, line.quantity, periods or Decimal(1), self.order.currency
            )
            self.exceptions.append(
                PriceException(
                    field=line.field,
                    item_code=line.code,
                    currency=self.order.currency,
                    book_unit_price=line.book,
                    unit_price=round_money(effective, self.order.currency),
                    discount_percent=off,
                    band_percent=band,
                    quantity=line.quantity,
                    amount=given,
                )
            )

    # term -------------------------------------------------------------------

    def dates(self) -> bool:
        """Every date within the years we sell; False stops the date arithmetic."""
        order, fine = self.order, True
        named: dict[str, date | None] = {
            "term_start": order.term_start,
            "term_end": order.term_end,
            "billing_anchor": order.billing_anchor,
            "effective_date": order.effective_date,
            "purchase_order.expires_on": order.purchase_order.expires_on
            if order.purchase_order
            else None,
        }
        for field, day in named.items():
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                self.error(field, "date_range", f"{day} is not between {FIRST_DAY} and {LAST_DAY}")
                fine = False
        return fine

    def term(self) -> tuple[date, date, date] | None:
        """A new order's term: start, end and anchor when they fit the interval."""
        order = self.order
        if order.effective_date is not None:
            # Dropped silently, it would leave Sales believing the service starts then.
            self.error(
                "effective_date",
                "amendment_only",
                f"effective_date ({order.effective_date}) is for amendments; a new "
                f"subscription starts on term_start ({order.term_start})",
            )
        missing = False
        for field in ("term_start", "term_end"):
            if getattr(order, field) is None:
                self.error(field, "required", f"a new subscription needs {field}")
                missing = True
        if missing or order.term_start is None or order.term_end is None:
            return None
        start, end = order.term_start, order.term_end
        if end <= start:
            self.error("term_end", "term_order", f"term_end {end} is not after term_start {start}")
            return None
        if (end - start).days > 366 * MAX_TERM_YEARS:
            self.error("term_end", "term_length", f"terms are at most {MAX_TERM_YEARS} years")
            return None
        step = INTERVAL_MONTHS[order.interval] * self.count
        span = f"{self.count} {order.interval}s"
        period = order.interval if self.count == 1 else f"period of {span}"
        periods = f"{order.interval}s" if self.count == 1 else f"periods of {span}"
        anchor = order.billing_anchor or start
        first_renewal = shift_months(midnight(start), step).date()
        if not start <= anchor < first_renewal:
            self.error(
                "billing_anchor",
                "anchor_in_first_period",
                f"the billing anchor {anchor} must fall in the first {period} of the "
                f"term, from {start} to before {first_renewal}",
            )
            return None
        months = (end.year - start.year) * 12 + end.month - start.month
        whole = months // step
        renewals = [
            shift_months(midnight(start), k * step).date() for k in (whole, whole + 1) if k >= 1
        ]
        if end not in renewals:
            exclusive = ""
            if date.fromordinal(end.toordinal() + 1) in renewals:
                exclusive = " (term_end is the first day after the term)"
            self.error(
                "term_end",
                "term_interval",
                f"a term of whole {periods} from {start} ends on "
                f"{' or '.join(map(str, renewals))}, not {end}{exclusive}",
            )
            return None
        if start < self.today - MAX_BACKDATE or start > self.today + MAX_LEAD:
            self.error(
                "term_start",
                "start_window",
                f"{start} is more than {MAX_BACKDATE.days} days from today ({self.today}); "
                "a new term starts within a year either side (check the year)",
            )
            return None
        if start < self.today:
            self.warn("term_start", "backdated", f"the term started on {start}, before today")
        return start, end, anchor

    def amendment(self, lines: list[_Line]) -> tuple[date, date, date] | None:
        """An amendment's changed piece: effective date, term end and the subscription's anchor."""
        order, subscription = self.order, self.facts.subscription
        if subscription is None:
            self.error("amends", "unknown_subscription", f"no subscription {order.amends!r}")
            return None
        if order.customer.id is not None and subscription.customer_id != order.customer.id:
            self.error(
                "amends",
                "subscription_customer",
                f"subscription {subscription.id} belongs to {subscription.customer_id}, "
                f"not {order.customer.id}",
            )
        if subscription.status != "active":
            self.error(
                "amends",
                "subscription_status",
                f"subscription {subscription.id} is "
                f"{subscription.status}; only active subscriptions are amended",
            )
        if subscription.interval != order.interval:
            self.error(
                "interval",
                "interval_change",
                f"the subscription is billed every {subscription.interval}; an amendment keeps "
                "the interval (change it at renewal)",
            )
        if self.currency_ok and subscription.currency != order.currency:
            self.error(
                "currency",
                "subscription_currency",
                f"subscription {subscription.id} is in {subscription.currency}",
            )
        term_start, term_end = subscription.term_start.date(), subscription.term_end.date()
        for field, given, held in (
            ("term_start", order.term_start, term_start),
            ("term_end", order.term_end, term_end),
            ("billing_anchor", order.billing_anchor, subscription.billing_anchor.date()),
        ):
            if given is not None and given != held:
                self.error(
                    field, "term_mismatch", f"the subscription's {field} is {held}, not {given}"
                )
        self.decreases(subscription)
        self.price_cuts(subscription, lines)
        effective = order.effective_date
        if effective is None:
            self.error("effective_date", "required", "an amendment needs its effective date")
            return None
        if not term_start <= effective < term_end:
            self.error(
                "effective_date",
                "effective_in_term",
                f"{effective} is outside the subscription's term {term_start} to {term_end}",
            )
            return None
        if effective < self.today:
            self.warn(
                "effective_date",
                "backdated",
                f"the change takes effect on {effective}, before today",
            )
        return effective, term_end, subscription.billing_anchor.date()

    def decreases(self, subscription: SubscriptionFacts) -> None:
        """Mid-term amendments add; reductions and downgrades wait for the renewal."""
        order = self.order
        changed = False
        if order.plan != subscription.plan:
            changed = True
            old = self.book.plans.get(subscription.plan)
            new = self.book.plans.get(order.plan)
            if old is not None and new is not None and self.currency_ok:
                key = (order.interval, order.currency)
                if new.prices[key] < old.prices[key]:
                    self.error(
                        "plan",
                        "amendment_decrease",
                        f"{order.plan} is a downgrade from {subscription.plan}; "
                        "downgrades take effect at renewal",
                    )
        held = subscription.quantity(subscription.plan)
        if order.seats < held:
            self.error(
                "seats",
                "amendment_decrease",
                f"{order.seats} seats is fewer than the {held} held; seat reductions take effect "
                "at renewal",
            )
        changed |= order.seats != held
        wanted = {
            a.code: a.quantity if a.quantity is not None else order.seats
            for a in order.addons
            if a.code in self.book.seat_addons
        }
        for item in subscription.items:
            if item.kind != "seat_addon":
                continue
            if wanted.get(item.item_code, 0) < item.quantity:
                self.error(
                    "addons",
                    "amendment_decrease",
                    f"{item.item_code} would drop below its {item.quantity} seats; removals take "
                    "effect at renewal",
                )
        current = {i.item_code: i.quantity for i in subscription.items if i.kind == "seat_addon"}
        changed |= wanted != current
        usage = {a.code for a in order.addons if a.code in self.book.usage_addons}
        changed |= usage != {i.item_code for i in subscription.items if i.kind == "usage_addon"}
        if not changed:
            self.error("amends", "no_change", "the order changes nothing on the subscription")

    def price_cuts(self, subscription: SubscriptionFacts, lines: list[_Line]) -> None:
        held = {item.item_code: item.unit_price for item in subscription.items}
        addons = {item.item_code for item in subscription.items if item.kind == "seat_addon"}
        for line in lines:
            assert line.book is not None
            net = effective_unit_price(line.book, line.unit_price, line.discount_percent)
            if line.code in addons and net != held[line.code]:
                self.error(
                    line.field,
                    "amendment_reprice",
                    f"{line.code} is paid at {held[line.code]} per seat; add-on prices change "
                    "at renewal",
                )
            elif line.code in held and net < held[line.code]:
                self.error(
                    line.field,
                    "amendment_decrease",
                    f"{line.code} at {net.normalize():f} per seat is below the "
                    f"{held[line.code]} the subscription pays; price cuts take effect at renewal",
                )

    # PO, payment terms, tax ---------------------------------------------------

    def payment_terms(self) -> None:
        days = self.order.payment_terms_days
        if not 0 <= days <= MAX_PAYMENT_TERMS_DAYS:
            self.error(
                "payment_terms_days",
                "range",
                f"payment terms are 0 to {MAX_PAYMENT_TERMS_DAYS} days, got {days}",
            )
        known = self.facts.customer
        if (
            known is not None
            and "payment_terms_days" in self.order.model_fields_set
            and known.payment_terms_days != days
        ):
            # every invoice is due on the customer's terms: an order cannot give one other
            # terms (longer ones extend credit, which the customer's record decides)
            self.error(
                "payment_terms_days",
                "customer_terms",
                f"customer {known.id} has net {known.payment_terms_days} on file; "
                f"the order says net {days}: its invoices are due on the customer's terms "
                "(change them on the customer first, or leave payment_terms_days out)",
            )

    def commitment(self, value: Decimal | None) -> Decimal | None:
        """A minimum commitment's amount when it is valid. It binds a new subscription's
        term (an amendment cannot move it), counts only the order's own items, and one
        the term's charges already exceed will never true up: said as a warning."""
        order = self.order
        committed = order.minimum_commitment
        if committed is None:
            return None
        field = "minimum_commitment"
        if order.is_amendment:
            self.error(
                field,
                "commitment_on_amendment",
                f"a minimum commitment is agreed with a new subscription for its term; "
                f"this order amends {order.amends}",
            )
            return None
        fine = self.amount(f"{field}.amount", committed.amount, allow_zero=False)
        on_order = {order.plan, *(addon.code for addon in order.addons)}
        seen: set[str] = set()
        for index, code in enumerate(committed.item_codes):
            at = f"{field}.item_codes[{index}]"
            if code in seen:
                self.error(at, "duplicate", f"{code!r} is listed twice")
                fine = False
            elif code not in on_order:
                self.error(
                    at,
                    "not_on_order",
                    f"{code!r} is not an item of this order ({', '.join(sorted(on_order))})",
                )
                fine = False
            seen.add(code)
        if not fine:
            return None
        if value is not None and not committed.item_codes and value >= committed.amount:
            self.warn(
                f"{field}.amount",
                "commitment_below_charges",
                f"the term's charges ({value} {order.currency}) already reach the minimum "
                f"commitment of {committed.amount}: it will never true up",
            )
        return committed.amount

    def purchase_order(self, window: tuple[date, date, date] | None, value: Decimal | None) -> None:
        order, known = self.order, self.facts.customer
        required = known.po_required if known is not None else order.customer.po_required
        po = order.purchase_order
        if po is None or not po.number:
            if required:
                self.error(
                    "purchase_order.number", "po_required", "this customer requires a PO number"
                )
            elif po is not None and (po.expires_on is not None or po.amount_cap is not None):
                # an expiry or a cap without the number would be dropped, and the cap unchecked
                self.error(
                    "purchase_order.number",
                    "required",
                    "the PO has an expiry or a cap but no number; write the PO number",
                )
            return
        if not _has_letters(po.number) or po.number.casefold() in _PLACEHOLDERS:
            # a customer who requires POs pays only invoices that quote a real one
            self.error(
                "purchase_order.number",
                "placeholder",
                f"{po.number!r} is a placeholder, not a PO number; write the number on the "
                "customer's purchase order, or leave the PO out",
            )
            return
        if po.expires_on is not None:
            if po.expires_on < self.today:
                self.error(
                    "purchase_order.expires_on",
                    "po_expired",
                    f"PO {po.number} expired on {po.expires_on}",
                )
            elif window is not None and po.expires_on < window[0]:
                # the first invoice is issued when the service starts: no PO would cover it
                self.error(
                    "purchase_order.expires_on",
                    "po_expires_before_start",
                    f"PO {po.number} expires on {po.expires_on}, before the "
                    f"{'change takes effect' if order.is_amendment else 'term starts'} on "
                    f"{window[0]}: no invoice could quote it",
                )
            elif window is not None and po.expires_on < window[1]:
                self.warn(
                    "purchase_order.expires_on",
                    "po_expires_in_term",
                    f"PO {po.number} expires on {po.expires_on}, before the term ends "
                    f"on {window[1]}",
                )
        if (
            po.amount_cap is not None
            and self.amount("purchase_order.amount_cap", po.amount_cap, allow_zero=False)
            and value is not None
            and value > po.amount_cap
        ):
            self.error(
                "purchase_order.amount_cap",
                "po_over_cap",
                f"the order is worth {value} {order.currency} over its term, above PO "
                f"{po.number}'s cap of {po.amount_cap}",
            )

    def tax(self) -> Order:
        """Tax ids and exemption; returns the order with ids and address normalised."""
        order = self.order
        country = order.billing_address.country
        country_ok = bool(country) and not any(
            p.field == "billing_address.country" for p in self.problems
        )
        normalised = []
        seen: set[tuple[str, str]] = set()
        for index, tax_id in enumerate(order.tax_ids):
            at = f"tax_ids[{index}]"
            result = check_tax_id(tax_id.scheme, tax_id.value)
            if result.rule is not None:
                field = f"{at}.scheme" if result.rule == "unknown_scheme" else f"{at}.value"
                self.error(field, result.rule, result.message or "")
                normalised.append(tax_id)
                continue
            if (tax_id.scheme, result.value) in seen:
                self.error(f"{at}.value", "duplicate", f"{tax_id.value} is listed twice")
            elif tax_id.scheme in {scheme for scheme, _ in seen}:
                # one registration per scheme: the invoice quotes one, and which is a guess
                self.error(
                    f"{at}.value",
                    "one_per_scheme",
                    f"a second {tax_id.scheme} id ({tax_id.value}); a customer has one "
                    f"{tax_id.scheme} registration in its billing country: give the one its "
                    "invoices quote",
                )
            seen.add((tax_id.scheme, result.value))
            normalised.append(tax_id.model_copy(update={"value": result.value}))
            known = self.facts.customer
            if known is not None and (tax_id.scheme, result.value) not in {
                (scheme, check_tax_id(scheme, value).value) for scheme, value in known.tax_ids
            }:
                # provisioning keeps the ledger's ids: this one would be dropped unseen,
                # and with it the reverse charge or the exemption it was given for
                on_file = ", ".join(f"{s} {v}" for s, v in known.tax_ids) or "none"
                self.error(
                    f"{at}.value",
                    "customer_mismatch",
                    f"customer {known.id} does not have {tax_id.scheme} {tax_id.value} on file "
                    f"(it has {on_file}); add it to the customer first, or leave tax_ids out",
                )
            if country_ok and result.country and result.country != country:
                # A VAT id of another country than the address decides the invoice's tax
                # (reverse charge or not) on a claim the address contradicts: refused.
                self.error(
                    f"{at}.value",
                    "tax_country_mismatch",
                    f"the tax id is from {result.country}, the billing address is in "
                    f"{country}; give the id registered in the billing country",
                )
        if (
            country in self.tax_table.reverse_charge_countries
            and not order.tax_exempt
            and not any(t.scheme == "eu_vat" for t in order.tax_ids)
        ):
            self.warn(
                "tax_ids",
                "no_vat_id",
                f"no EU VAT id for a customer in {country}: VAT is charged, no reverse charge",
            )
        if order.tax_exempt and not order.exemption_certificate:
            self.error(
                "exemption_certificate",
                "exemption_needs_certificate",
                "a tax-exempt order needs the exemption certificate's reference",
            )
        certificate = order.exemption_certificate
        if certificate and (
            not _has_letters(certificate) or certificate.casefold() in _PLACEHOLDERS
        ):
            # an exemption is audited by its certificate: a placeholder is no certificate
            self.error(
                "exemption_certificate",
                "placeholder",
                f"{certificate!r} is a placeholder, not a certificate's reference; give the "
                "number on the exemption certificate",
            )
        if order.exemption_certificate and not order.tax_exempt:
            self.warn(
                "exemption_certificate",
                "certificate_without_exemption",
                "a certificate is given but the order is not marked tax-exempt",
            )
        self.jurisdiction()
        return order.model_copy(update={"tax_ids": normalised})

    def jurisdiction(self) -> None:
        """An order we cannot tax cannot be invoiced: its country needs a rate in the table."""
        address = self.order.billing_address
        if self.order.tax_exempt or any(
            p.field == "billing_address.country" for p in self.problems
        ):
            return
        jurisdiction = address.country
        if address.region and not any(p.field == "billing_address.region" for p in self.problems):
            jurisdiction = address.region
        try:
            tax_treatment(self.tax_table, jurisdiction)
        except TaxError:
            self.error(
                "billing_address.country",
                "tax_jurisdiction",
                f"no tax rate for {jurisdiction} in config/tax_rates.yaml; add it before "
                "selling there",
            )

    def market(self) -> None:
        """The order's currency is one the price book sells to its billing country (a yen
        price for a German customer is a quote from another market). Said only when the
        currency and the country are otherwise sound: an unknown country, or a currency
        other than the customer's, is its own problem."""
        currency, country = self.order.currency, self.order.billing_address.country
        if not self.currency_ok or not country or self.book.sold_to(currency, country):
            return
        if any(p.field in ("currency", "billing_address.country") for p in self.problems):
            return
        self.error(
            "currency",
            "currency_market",
            f"{currency} is not sold to customers billed in {country} (config/pricebook.yaml "
            "markets); quote the currency of the customer's market",
        )

    def address(self) -> None:
        issues = check_address(self.order.billing_address)
        for issue in issues:
            self.error(f"billing_address.{issue.part}", issue.rule, issue.message)
        address = self.order.billing_address
        for part, text in (("line1", address.line1), ("city", address.city)):
            if text and not _has_letters(text) and not any(i.part == part for i in issues):
                self.error(
                    f"billing_address.{part}",
                    "no_letters",
                    f"{text!r} has no letter or digit: write the {_ADDRESS_PARTS[part]} "
                    "the invoice is addressed to",
                )


def _normalised_address(order: Order) -> Order:
    address = order.billing_address
    update: dict[str, str] = {"country": address.country.upper()}
    if address.region:
        update["region"] = normalize_region(address.region, update["country"])
    if address.postal_code:
        update["postal_code"] = normalize_postal_code(address.postal_code)
    return order.model_copy(update={"billing_address": address.model_copy(update=update)})


def check_order(
    order: Order, rules: OrderRules, facts: LedgerFacts, today: date
) -> ValidationReport:
    """Every rule for a parsed order. Never raises on the order's content."""
    order = _normalised_address(order)
    check = _Check(order, rules, facts, today)
    check.customer()
    check.active_subscription()
    check.opportunity()
    check.currency()
    check.billing_terms()
    lines = check.plan_and_addons()
    comparable = check.amounts(lines)
    window = None
    if check.dates():
        window = check.amendment(comparable) if order.is_amendment else check.term()
    periods = None
    if window is not None:
        start, end, anchor = window
        periods = periods_between(start, end, anchor, order.interval, check.count)
    check.prices(comparable, periods)
    value = None
    if len(comparable) == len(lines):
        value = _order_value(comparable, order, facts, periods)
    check.payment_terms()
    committed = check.commitment(value)
    if value is not None and committed is not None:
        value = max(value, committed)
    check.purchase_order(window, value)
    check.address()
    check.market()
    order = check.tax()
    return ValidationReport(
        order_id=order.order_id,
        problems=check.problems,
        price_exceptions=check.exceptions,
        order=order,
    )


def _order_value(
    lines: list[_Line], order: Order, facts: LedgerFacts, periods: Decimal | None
) -> Decimal | None:
    """What the order adds over its term, before tax: the amount a PO cap must cover.

    For an amendment that is the increase in the recurring charge over the rest
    of the term; for a new subscription, the whole term.
    """
    if periods is None:
        return None
    total = ZERO
    for line in lines:
        assert line.book is not None
        unit = effective_unit_price(line.book, line.unit_price, line.discount_percent)
        total += line_value(unit, line.quantity, periods, order.currency)
    subscription = facts.subscription
    if order.is_amendment and subscription is not None:
        for item in subscription.items:
            total -= line_value(item.unit_price, item.quantity, periods, order.currency)
    return max(total, ZERO)


def validate_order(
    raw: Any, rules: OrderRules, facts: LedgerFacts, today: date
) -> ValidationReport:
    """Parse and check ``raw`` (a decoded JSON object): every problem, never an exception."""
    order, problems = parse_order(raw)
    if order is None:
        order_id = raw.get("order_id") if isinstance(raw, Mapping) else None
        return ValidationReport(
            order_id=order_id if isinstance(order_id, str) else None, problems=problems
        )
    return check_order(order, rules, facts, today)
