"""A sales order as Sales sends it: customer, plan, seats, add-ons, term, price, PO, address, tax.

The model only fixes the *shape* (types, required fields); every business
rule (price book, seat limits, PO, address, tax ids) lives in
:mod:`activities.orders.validation`, so that one run reports every problem of
an order at once instead of stopping at the first type error.

Dates are calendar dates as printed on the order form. The term is
half-open: ``term_end`` is the first day no longer covered (a one-year term
from 2026-11-15 ends on 2027-11-15), the convention of the subscription
rows in the ledger.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from activities.orders.fields import (
    blank_is_none,
    calendar_day,
    not_boolean,
    plain_number,
    stored_in,
    true_or_false,
)

Interval = Literal["month", "quarter", "year"]

#: Order ids become workflow ids (``order-<id>``) and ledger keys (40 characters).
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"

_NET_DAYS = re.compile(r"^\s*(?:net\s*)?(\d{1,3})\s*(?:days?)?\s*$", re.IGNORECASE)


def _payment_terms(value: object) -> object:
    """Accept ``30`` as well as the CRM's ``"Net 30"``; anything else is left to the type check."""
    if isinstance(value, str) and (match := _NET_DAYS.match(value)):
        return int(match.group(1))
    return value


#: Counts beyond any real order are refused at the shape, before any arithmetic.
MAX_COUNT = 10_000_000

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Count = Annotated[
    int,
    BeforeValidator(plain_number),
    BeforeValidator(not_boolean),
    Field(le=MAX_COUNT, ge=-MAX_COUNT),
]
Amount = Annotated[Decimal, BeforeValidator(plain_number), BeforeValidator(not_boolean)]
OptionalText = Annotated[Text | None, BeforeValidator(blank_is_none)]
OptionalDate = Annotated[date | None, BeforeValidator(calendar_day)]
OptionalDecimal = Annotated[Amount | None, BeforeValidator(blank_is_none)]
OptionalCount = Annotated[Count | None, BeforeValidator(blank_is_none)]
#: ``true`` or ``false`` (a CSV cell: the words), never ``1`` or ``"yes"``: whether a
#: customer needs a PO or pays no tax is not guessed from a truthy value.
Flag = Annotated[bool, BeforeValidator(true_or_false)]
#: ``true`` or ``false``; ``None`` when the order leaves it out.
OptionalFlag = Annotated[
    bool | None, BeforeValidator(true_or_false), BeforeValidator(blank_is_none)
]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerRef(_Part):
    """An existing customer (``id``) or a new one (``legal_name`` and a billing contact)."""

    id: Annotated[OptionalText, stored_in("customer.id")] = None
    legal_name: Annotated[OptionalText, stored_in("customer.legal_name")] = None
    contact_name: Annotated[OptionalText, stored_in("customer.contact_name")] = None
    contact_email: Annotated[OptionalText, stored_in("customer.contact_email")] = None
    timezone: Annotated[OptionalText, stored_in("customer.timezone")] = None
    po_required: Flag = False


class AddOn(_Part):
    """A seat add-on (billed per seat, ``quantity`` defaults to the order's seats) or a
    usage add-on (metered; no quantity, no price on the order)."""

    code: Annotated[Text, stored_in("addons.code")]
    quantity: OptionalCount = None
    unit_price: OptionalDecimal = None
    discount_percent: Amount = Decimal(0)
    in_arrears: OptionalFlag = Field(
        default=None, description="a seat add-on billed at the period end for the time held"
    )


class PurchaseOrder(_Part):
    number: Annotated[Text, stored_in("purchase_order.number")]
    expires_on: OptionalDate = None
    amount_cap: OptionalDecimal = None


class MinimumCommitment(_Part):
    """A minimum spend over the term, before discounts and tax, in the order's currency:
    what the term's invoices bill short of it is trued up at the term end. Counted over
    ``item_codes`` (the plan's or add-ons' codes) only when given; else over every item."""

    amount: Amount
    item_codes: list[Annotated[Text, stored_in("minimum_commitment.item_codes")]] = Field(
        default_factory=list
    )


class Address(_Part):
    """A billing address; ``region`` is an ISO 3166-2 code (``US-NY``; ``NY`` with the country)."""

    line1: Annotated[Text, stored_in("billing_address.line1")] = ""
    line2: Annotated[OptionalText, stored_in("billing_address.line2")] = None
    city: Annotated[Text, stored_in("billing_address.city")] = ""
    region: Annotated[OptionalText, stored_in("billing_address.region")] = None
    postal_code: Annotated[OptionalText, stored_in("billing_address.postal_code")] = None
    country: Annotated[Text, stored_in("billing_address.country")] = ""


class TaxId(_Part):
    """A tax registration: ``scheme`` as in the ledger (``eu_vat``, ``gb_vat``, ``us_ein``, ...)."""

    scheme: Annotated[Text, stored_in("tax_ids.scheme")]
    value: Annotated[Text, stored_in("tax_ids.value")]


class Order(_Part):
    """One order: a new subscription, or (with ``amends``) a change to an existing one.

    Prices are per seat per billing period in ``currency``; a missing
    ``unit_price`` means the price book's (times ``interval_count``, the intervals a
    period lasts: 1 unless given). ``in_arrears`` bills the plan (an add-on's own flag,
    the add-on) at the end of each period for the time held, instead of in advance.
    ``billing_anchor`` (default: the term start) is the day the billing periods are
    counted from; the time before it is billed as a prorated first period.
    """

    order_id: Annotated[str, StringConstraints(strip_whitespace=True, pattern=ORDER_ID_PATTERN)]
    opportunity_id: Annotated[OptionalText, stored_in("opportunity_id")] = None
    customer: CustomerRef
    amends: Annotated[OptionalText, stored_in("amends")] = Field(
        default=None, description="subscription id this order changes"
    )
    effective_date: OptionalDate = Field(default=None, description="amendments: first changed day")
    plan: Annotated[Text, stored_in("plan")]
    seats: Count
    unit_price: OptionalDecimal = None
    discount_percent: Amount = Decimal(0)
    addons: list[AddOn] = Field(default_factory=list)
    interval: Interval
    interval_count: OptionalCount = Field(
        default=None, description="intervals per billing period (new orders; default 1)"
    )
    in_arrears: OptionalFlag = Field(default=None, description="the plan billed in arrears")
    term_start: OptionalDate = None
    term_end: OptionalDate = None
    billing_anchor: OptionalDate = None
    currency: Annotated[Text, stored_in("currency")]
    payment_terms_days: Annotated[Count, BeforeValidator(_payment_terms)] = 30
    purchase_order: PurchaseOrder | None = None
    minimum_commitment: MinimumCommitment | None = None
    billing_address: Address
    tax_ids: list[TaxId] = Field(default_factory=list)
    tax_exempt: Flag = False
    exemption_certificate: Annotated[OptionalText, stored_in("exemption_certificate")] = None

    @property
    def is_amendment(self) -> bool:
        return self.amends is not None
