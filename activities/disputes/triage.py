"""What a dispute is about: its category and the facts its resolution needs.

Pure. Intake (the CLI now; Slack and Zendesk later) records the customer's
claim and the invoices; triage names the category and the one or two facts
that let a deterministic activity propose the resolution. A triage missing a
fact is refused naming the field, before the workflow records it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Category = Literal[
    "pricing_error", "seat_count", "duplicate_charge", "tax", "po_or_address", "service_issue"
]

CATEGORIES: dict[Category, str] = {
    "pricing_error": "billed at the wrong per-seat price: credit the difference",
    "seat_count": "billed for the wrong number of seats: credit the difference",
    "duplicate_charge": "a payment taken twice: refund the duplicate",
    "tax": "taxed at the wrong rate (or exempt): credit the difference",
    "po_or_address": "wrong PO number or billing address: re-issue the invoice",
    "service_issue": "an outage or a service problem: a goodwill credit",
}

#: The fact each category cannot do without.
REQUIRED: dict[Category, tuple[str, ...]] = {
    "pricing_error": ("unit_amount",),
    "seat_count": ("seats",),
    "duplicate_charge": ("payment",),
    "tax": ("tax_rate",),
    "po_or_address": (),  # a PO number or an address field, checked below
    "service_issue": ("amount",),
}


class Address(BaseModel):
    """The fields of the customer's billing address to correct; unset ones stay as they are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line1: str | None = Field(default=None, min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=8)
    postal_code: str | None = Field(default=None, max_length=20)

    def changes(self) -> dict[str, str]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


class Triage(BaseModel):
    """The category and its facts: corrected seats, the agreed per-seat price, the right
    tax rate, the duplicate payment's processor id, the PO number or address, or the
    goodwill amount (in the invoice's currency)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: Category
    seats: int | None = Field(default=None, ge=0)
    unit_amount: Decimal | None = Field(default=None, ge=0)
    tax_rate: Decimal | None = Field(default=None, ge=0, lt=1)
    payment: str | None = Field(default=None, min_length=1)
    po_number: str | None = Field(default=None, min_length=1, max_length=64)
    address: Address | None = None
    amount: Decimal | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _has_what_the_category_needs(self) -> Triage:
        for name in REQUIRED[self.category]:
            if getattr(self, name) is None:
                raise ValueError(
                    f"{name}: a {self.category} dispute needs it ({CATEGORIES[self.category]})"
                )
        if self.category == "po_or_address" and not (
            self.po_number or (self.address and self.address.changes())
        ):
            raise ValueError("po_number or address: a po_or_address dispute needs the correction")
        return self
