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

Interval = Literal["month", "quarter", "year"]

#: Order ids become workflow ids (``order-<id>``) and ledger keys (40 characters).
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"

_NET_DAYS = re.compile(r"^\s*(?:net\s*)?(\d{1,3})\s*(?:days?)?\s*$", re.IGNORECASE)


def _payment_terms(value: object) -> object:
    """Accept ``30`` as well as the CRM's ``"Net 30"``; anything else is left to the type check."""
    if isinstance(value, str) and (match := _NET_DAYS.match(value)):
        return int(match.group(1))
    return value


def _blank_is_none(value: object) -> object:
    """CSV cells and form fields are empty strings where nothing was entered."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


#: Counts beyond any real order are refused at the shape, before any arithmetic.
MAX_COUNT = 10_000_000

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Count = Annotated[int, Field(le=MAX_COUNT, ge=-MAX_COUNT)]
OptionalText = Annotated[Text | None, BeforeValidator(_blank_is_none)]
OptionalDate = Annotated[date | None, BeforeValidator(_blank_is_none)]
OptionalDecimal = Annotated[Decimal | None, BeforeValidator(_blank_is_none)]
OptionalCount = Annotated[Count | None, BeforeValidator(_blank_is_none)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerRef(_Part):
    """An existing customer (``id``) or a new one (``legal_name`` and a billing contact)."""

    id: OptionalText = None
    legal_name: OptionalText = None
    contact_name: OptionalText = None
    contact_email: OptionalText = None
    timezone: OptionalText = None
    po_required: bool = False


class AddOn(_Part):
    """A seat add-on (billed per seat, ``quantity`` defaults to the order's seats) or a
    usage add-on (metered; no quantity, no price on the order)."""

    code: Text
    quantity: OptionalCount = None
    unit_price: OptionalDecimal = None
    discount_percent: Decimal = Decimal(0)


class PurchaseOrder(_Part):
    number: Text
    expires_on: OptionalDate = None
    amount_cap: OptionalDecimal = None


class Address(_Part):
    """A billing address; ``region`` is an ISO 3166-2 code (``US-NY``; ``NY`` with the country)."""

    line1: Text = ""
    line2: OptionalText = None
    city: Text = ""
    region: OptionalText = None
    postal_code: OptionalText = None
    country: Text = ""


class TaxId(_Part):
    """A tax registration: ``scheme`` as in the ledger (``eu_vat``, ``gb_vat``, ``us_ein``, ...)."""

    scheme: Text
    value: Text


class Order(_Part):
    """One order: a new subscription, or (with ``amends``) a change to an existing one.

    Prices are per seat per billing interval in ``currency``; a missing
    ``unit_price`` means the price book's. ``billing_anchor`` (default: the
    term start) is the day the billing periods are counted from; the time
    before it is billed as a prorated first period.
    """

    order_id: Annotated[str, StringConstraints(strip_whitespace=True, pattern=ORDER_ID_PATTERN)]
    opportunity_id: OptionalText = None
    customer: CustomerRef
    amends: OptionalText = Field(default=None, description="subscription id this order changes")
    effective_date: OptionalDate = Field(default=None, description="amendments: first changed day")
    plan: Text
    seats: Count
    unit_price: OptionalDecimal = None
    discount_percent: Decimal = Decimal(0)
    addons: list[AddOn] = Field(default_factory=list)
    interval: Interval
    term_start: OptionalDate = None
    term_end: OptionalDate = None
    billing_anchor: OptionalDate = None
    currency: Text
    payment_terms_days: Annotated[Count, BeforeValidator(_payment_terms)] = 30
    purchase_order: PurchaseOrder | None = None
    billing_address: Address
    tax_ids: list[TaxId] = Field(default_factory=list)
    tax_exempt: bool = False
    exemption_certificate: OptionalText = None

    @property
    def is_amendment(self) -> bool:
        return self.amends is not None
