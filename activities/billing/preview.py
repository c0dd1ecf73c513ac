"""The invoice preview contract: what a change would be invoiced, as JSON, computing only.

``billing-ops preview FILE.json``, the Slack ``/billing preview`` command and
the assistant all send a :class:`PreviewRequest` to :func:`preview_invoice`
and show the :class:`PreviewResponse`. The request carries everything the
engine needs (currency, proration policy, the subscription with what was
already invoiced for its current period, the customer's tax position,
discounts, account credit, and the events with their times); prices the
request leaves out come from the price book. Amounts are decimal strings in
both directions, never JSON numbers, so no amount ever passes through a float.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from activities.billing.invoicing import (
    AddonAdded,
    AddonQuantityChanged,
    AddonRemoved,
    Cancelled,
    Commitment,
    Discount,
    Event,
    InvoicedItem,
    InvoiceDraft,
    InvoiceTerms,
    Paused,
    PlanChanged,
    QuarterlyTrueUp,
    Resumed,
    SeatsAdded,
    SeatsRemoved,
    Started,
    Subscription,
    draft_invoice,
)
from activities.billing.money import check_currency, round_money
from activities.billing.pricebook import PriceBook, PriceBookError, SeatPrice, load_pricebook
from activities.billing.proration import PRESETS, Interval, ProrationPolicy, policy_named
from activities.billing.tax import TaxTable, load_tax_table, tax_treatment
from activities.billing.usage import Tier, UsageCharge, UsageModel, UsagePrice


class PreviewError(ValueError):
    """A request that is well-formed but cannot be priced; the message names the field."""


# --- Request ------------------------------------------------------------------------


def _decimal_text(value: object) -> object:
    if isinstance(value, float):
        raise ValueError('give amounts as decimal strings such as "12.50", not JSON numbers')
    return value


_DECIMAL_SCHEMA = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["12.50"]}
Amount = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    Field(ge=0, allow_inf_nan=False),
    WithJsonSchema(_DECIMAL_SCHEMA),
]
Units = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    Field(ge=0, allow_inf_nan=False),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, _DECIMAL_SCHEMA]}),
]


def _known_policy(name: str) -> str:
    policy_named(name)
    return name


PolicyName = Annotated[
    str, AfterValidator(_known_policy), WithJsonSchema({"type": "string", "enum": list(PRESETS)})
]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Instant = Annotated[AwareDatetime, AfterValidator(_utc)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemIn(_Request):
    """A plan or per-seat add-on; price and name come from the price book unless given."""

    code: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=120)
    unit_amount: Amount | None = Field(default=None, description="per seat per billing interval")
    in_arrears: bool = Field(
        default=False,
        description="billed at the period end (or when it ends) for the time held, by quantity "
        "(seat-days), instead of in advance",
    )


class AddonIn(ItemIn):
    """A per-seat add-on, or with ``quantity`` one billed per unit of its own quantity."""

    quantity: int | None = Field(
        default=None,
        ge=0,
        description="its own quantity (e.g. storage packs); omit to follow the plan's seats",
    )


class InvoicedIn(_Request):
    """What was already invoiced for one item in the current billing period."""

    item_code: str = Field(min_length=1, max_length=64)
    quantity: int = Field(
        ge=0,
        description="seats paid for the rest of the period (the most); 0 while paused when "
        "the policy credited the pause",
    )
    amount: Amount = Field(description="charged for the item in the period so far")
    credited: Amount = Field(default=Decimal(0), description="credited back in the period so far")
    unit_amount: Amount | None = Field(
        default=None, description="defaults to the subscription's price for the item"
    )
    name: str | None = Field(default=None, max_length=120)


class ArrearsBilledIn(_Request):
    """What earlier invoices of the current period billed in arrears for one item."""

    item_code: str = Field(min_length=1, max_length=64)
    amount: Amount


class SubscriptionIn(_Request):
    plan: ItemIn
    addons: list[AddonIn] = Field(
        default_factory=list, description="add-ons: per seat, or with their own quantity"
    )
    seats: int = Field(ge=0)
    interval: Interval
    interval_count: int = Field(
        default=1,
        ge=1,
        description="intervals per billing period (2 with week: every two weeks); at most "
        "three years; a price for more than one interval is given as unit_amount",
    )
    billing_anchor: Instant
    current_period_start: Instant | None = Field(
        default=None,
        description="defaults to a 'started' event's time, or the anchor-aligned period "
        "holding the first event",
    )
    invoiced: list[InvoicedIn] | None = Field(
        default=None, description="omit to assume the full current period was invoiced"
    )
    arrears_billed: list[ArrearsBilledIn] = Field(
        default_factory=list,
        description="billed in arrears for the current period by earlier invoices (e.g. the "
        "used part of a plan replaced mid-period); deducted so nothing is billed twice",
    )
    paused: bool = False
    quarterly_true_up: bool = Field(
        default=False, description="annual contract: seats added are billed at quarterly true-ups"
    )
    trial_end: Instant | None = Field(
        default=None, description="free trial: nothing billed before it (needs a 'started' event)"
    )
    amount_paid: Amount | None = Field(
        default=None,
        description="paid toward the period's invoiced charges, tax included; a refunded "
        "cancellation refunds at most this less the used time, the rest is account credit",
    )


class CustomerIn(_Request):
    jurisdiction: str = Field(description="ISO 3166 country or subdivision: GB, US-NY, CA-ON")
    tax_exempt: bool = False
    vat_id: str | None = Field(default=None, max_length=32)
    account_credit: Amount = Field(default=Decimal(0), description="credit balance to apply")


class _EventIn(_Request):
    at: Instant


class StartedIn(_EventIn):
    type: Literal["started"]


class SeatsAddedIn(_EventIn):
    type: Literal["seats_added"]
    seats: int = Field(ge=1)


class SeatsRemovedIn(_EventIn):
    type: Literal["seats_removed"]
    seats: int = Field(ge=1)


class PlanChangedIn(_EventIn):
    """A new plan and/or interval; add-on prices in a new interval come from the price book
    unless ``addons`` lists them."""

    type: Literal["plan_changed"]
    plan: ItemIn | None = Field(default=None, description="omit to keep the plan")
    interval: Interval | None = Field(default=None, description="omit to keep the interval")
    interval_count: int | None = Field(
        default=None, ge=1, description="omit to keep it when the interval is kept, else 1"
    )
    addons: list[ItemIn] | None = None


class AddonAddedIn(_EventIn):
    type: Literal["addon_added"]
    addon: AddonIn


class AddonQuantityChangedIn(_EventIn):
    """An add-on with its own quantity now has ``quantity`` units (seats are unchanged)."""

    type: Literal["addon_quantity_changed"]
    code: str
    quantity: int = Field(ge=1)


class AddonRemovedIn(_EventIn):
    type: Literal["addon_removed"]
    code: str


class PausedIn(_EventIn):
    type: Literal["paused"]


class ResumedIn(_EventIn):
    type: Literal["resumed"]


class CancelledIn(_EventIn):
    type: Literal["cancelled"]


class QuarterlyTrueUpIn(_EventIn):
    type: Literal["quarterly_true_up"]
    peak_seats: int | None = Field(default=None, ge=0)


EventIn = Annotated[
    StartedIn
    | SeatsAddedIn
    | SeatsRemovedIn
    | PlanChangedIn
    | AddonAddedIn
    | AddonRemovedIn
    | AddonQuantityChangedIn
    | PausedIn
    | ResumedIn
    | CancelledIn
    | QuarterlyTrueUpIn,
    Field(discriminator="type"),
]

_EVENT_MODELS = (
    StartedIn,
    SeatsAddedIn,
    SeatsRemovedIn,
    PlanChangedIn,
    AddonAddedIn,
    AddonRemovedIn,
    AddonQuantityChangedIn,
    PausedIn,
    ResumedIn,
    CancelledIn,
    QuarterlyTrueUpIn,
)
_EVENT_TYPES = frozenset(
    get_args(model.model_fields["type"].annotation)[0] for model in _EVENT_MODELS
)


class TierIn(_Request):
    """Units up to ``up_to`` (inclusive; null on the last tier) at ``unit_amount`` each, or
    per started block of ``block_size`` units; ``flat_amount`` once when usage reaches it."""

    up_to: Units | None
    unit_amount: Amount
    flat_amount: Amount = Decimal(0)
    block_size: Units | None = Field(default=None, gt=0)


class UsagePriceIn(_Request):
    """A usage price given in the request instead of the price book's, as another system
    holds it: ``per_unit`` (``unit_amount``), ``package`` (``unit_amount`` per started
    block of ``block_size``), ``graduated`` or ``volume`` (``tiers``)."""

    model: Literal["per_unit", "package", "graduated", "volume"]
    unit_amount: Amount | None = None
    block_size: Units | None = Field(default=None, gt=0)
    tiers: list[TierIn] | None = None
    name: str | None = Field(default=None, max_length=120)
    unit: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _shape(self) -> UsagePriceIn:
        needs = {
            "per_unit": {"unit_amount"},
            "package": {"unit_amount", "block_size"},
            "graduated": {"tiers"},
            "volume": {"tiers"},
        }[self.model]
        for name in ("unit_amount", "block_size", "tiers"):
            given = getattr(self, name) is not None
            if name in needs and not given:
                raise ValueError(f"the {self.model} model needs {name}")
            if given and name not in needs:
                raise ValueError(f"{name} is not used by the {self.model} model")
        tiers = self.tiers or []
        if self.tiers is not None and not tiers:
            raise ValueError("tiers: give at least one tier")
        previous = Decimal(0)
        for number, tier in enumerate(tiers):
            last = number == len(tiers) - 1
            if (tier.up_to is None) != last:
                raise ValueError(f"tiers[{number}].up_to: only the last tier is unlimited (null)")
            if tier.up_to is not None:
                if tier.up_to <= previous:
                    raise ValueError(f"tiers[{number}].up_to: must be above {previous}")
                previous = tier.up_to
        return self

    def usage_price(self, included: Decimal) -> UsagePrice:
        if self.model in ("per_unit", "package"):
            assert self.unit_amount is not None
            model: UsageModel = "per_unit" if self.model == "per_unit" else "block"
            size = self.block_size if self.block_size is not None else Decimal(1)
            return UsagePrice(model, included, self.unit_amount, size)
        tiers = tuple(
            Tier(tier.up_to, tier.unit_amount, tier.flat_amount, tier.block_size)
            for tier in self.tiers or ()
        )
        tiered: UsageModel = "graduated" if self.model == "graduated" else "volume"
        return UsagePrice(tiered, included, tiers=tiers)


class UsageIn(_Request):
    """Metered units of a usage add-on for one usage period (billed in arrears)."""

    code: str
    units: Units = Field(description="total for the period so far")
    invoiced_units: Units = Field(default=Decimal(0), description="already invoiced")
    period_start: Instant
    period_end: Instant
    included_units: Units | None = Field(
        default=None, description="defaults to what the plan includes in the price book"
    )
    price: UsagePriceIn | None = Field(
        default=None,
        description="the price to use instead of the price book's (the code need not be in it)",
    )

    @model_validator(mode="after")
    def _period(self) -> UsageIn:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class DiscountIn(_Request):
    """``percent`` off the lines of ``item_codes`` (every line when empty), or
    ``amount_off`` per billing period of each listed item, pro rata on prorated lines."""

    name: str = Field(min_length=1, max_length=120)
    percent: Amount | None = Field(default=None, le=100)
    amount_off: Amount | None = None
    item_codes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> DiscountIn:
        if (self.percent is None) == (self.amount_off is None):
            raise ValueError("give either percent or amount_off")
        if self.amount_off is not None and not self.item_codes:
            raise ValueError("amount_off needs the item_codes it applies to")
        return self


class CommitmentIn(_Request):
    """A minimum spend for a period, before discounts and tax."""

    amount: Amount
    period_start: Instant
    period_end: Instant
    billed_to_date: Amount = Field(default=Decimal(0), description="billed earlier in the period")
    item_codes: list[str] = Field(default_factory=list, description="all items when empty")
    active_from: Instant | None = Field(
        default=None, description="started inside the period: the commitment is prorated"
    )
    active_until: Instant | None = Field(
        default=None, description="ended inside the period: the commitment is prorated"
    )


class PreviewRequest(_Request):
    """Everything needed to price a change; only prices left out come from the price book."""

    currency: str = Field(description="ISO 4217 code")
    policy: PolicyName | ProrationPolicy = Field(
        default="daily", description="a preset name, or a full policy object"
    )
    issue_date: date
    payment_terms_days: int = Field(default=30, ge=0, le=365, description="net N days")
    po_number: str | None = Field(default=None, max_length=64)
    customer: CustomerIn
    subscription: SubscriptionIn
    events: list[EventIn] = Field(default_factory=list)
    usage: list[UsageIn] = Field(default_factory=list)
    discounts: list[DiscountIn] = Field(default_factory=list)
    commitment: CommitmentIn | None = None
    renew: bool = Field(default=False, description="also bill the next period in advance")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)


# --- Response -------------------------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class LineOut(_Response):
    kind: Literal["charge", "credit"]
    description: str
    item_code: str
    period_start: datetime
    period_end: datetime
    quantity: Decimal
    unit_amount: Decimal
    proration_fraction: Decimal
    amount: Decimal = Field(description="signed: credits are negative")
    discount_amount: Decimal = Field(description="same sign as amount")
    tax_rate: Decimal
    tax_amount: Decimal


class TaxOut(_Response):
    label: str
    rate: Decimal


class PreviewResponse(_Response):
    """The invoice the request would produce; nothing was written anywhere."""

    currency: str
    policy: ProrationPolicy
    issue_date: date
    due_date: date
    po_number: str | None
    period_start: datetime | None
    period_end: datetime | None
    lines: list[LineOut]
    subtotal: Decimal
    discount_total: Decimal
    tax: TaxOut
    tax_total: Decimal
    total: Decimal
    credit_applied: Decimal = Field(description="account credit used against the total")
    amount_due: Decimal
    credit_to_balance: Decimal = Field(description="a net credit added to the account credit")
    refund_due: Decimal = Field(description="a net credit refunded (cancellation with refund)")
    notes: list[str]


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad field of a request: ``events[2].seats: ...``.

    The event type that pydantic puts into the path of a tagged union is left
    out: the index already says which event it is.
    """
    problems = error.errors()
    first = problems[0]
    path = ""
    previous: object = None
    for part in first["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not (isinstance(previous, int) and part in _EVENT_TYPES):
            path += f".{part}" if path else str(part)
        previous = part
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{path or 'request'}: {first['msg']}{more}"


def preview_schemas() -> dict[str, Any]:
    """The JSON Schemas of the request and the response, as published."""
    return {
        "request": PreviewRequest.model_json_schema(),
        "response": PreviewResponse.model_json_schema(mode="serialization"),
    }


# --- Resolving the request against the price book ----------------------------------------


class _Prices:
    def __init__(self, book: PriceBook, currency: str) -> None:
        self.book = book
        self.currency = currency

    def seat_price(
        self,
        item: ItemIn,
        where: str,
        interval: Interval,
        plan: str | None = None,
        interval_count: int = 1,
    ) -> SeatPrice:
        """``item``'s price: as given, or from the book (``plan`` set for an add-on).

        The book prices one month, quarter or year; a period of several intervals
        (every 2 weeks, every 6 months) has no price there and must be given."""
        if item.unit_amount is None and interval_count != 1:
            raise PreviewError(
                f"{where}.unit_amount: required for a period of {interval_count} {interval}s; "
                "the price book prices one month, quarter or year"
            )
        if item.unit_amount is not None:
            amount = item.unit_amount
            if amount != round_money(amount, self.currency):
                raise PreviewError(
                    f"{where}.unit_amount: {amount} has more decimal places than {self.currency}"
                )
            name = item.name or self.name_of(item.code)
            return SeatPrice(item.code, name, amount, item.in_arrears)
        try:
            if plan is None:
                price = self.book.plan_price(item.code, interval, self.currency)
            else:
                price = self.book.addon_price(item.code, interval, self.currency, plan)
        except PriceBookError as error:
            raise PreviewError(f"{where}.code: {error}") from None
        if item.in_arrears:
            price = replace(price, in_arrears=True)
        return replace(price, name=item.name) if item.name else price

    def name_of(self, code: str) -> str:
        for table in (self.book.plans, self.book.seat_addons):
            if code in table:
                return table[code].name
        return code.replace("_", " ").capitalize()


def _events(request: PreviewRequest, prices: _Prices) -> list[Event]:
    """The request's events as the engine's, with every price resolved.

    Walks the events in time order to know the plan, interval and add-ons in
    force at each change (their prices in a new interval come from the book).
    """
    sub = request.subscription
    plan = sub.plan
    interval = sub.interval
    count = sub.interval_count
    addons: dict[str, ItemIn] = {addon.code: addon for addon in sub.addons}
    order = sorted(range(len(request.events)), key=lambda number: request.events[number].at)
    resolved: dict[int, Event] = {}
    for number in order:
        event = request.events[number]
        where = f"events[{number}]"
        at = event.at
        if isinstance(event, StartedIn):
            resolved[number] = Started(at)
        elif isinstance(event, SeatsAddedIn):
            resolved[number] = SeatsAdded(at, event.seats)
        elif isinstance(event, SeatsRemovedIn):
            resolved[number] = SeatsRemoved(at, event.seats)
        elif isinstance(event, PlanChangedIn):
            new_plan = event.plan or ItemIn(code=plan.code, name=plan.name)
            new_interval = event.interval or interval
            new_count = event.interval_count or (count if new_interval == interval else 1)
            moved = (new_interval, new_count) != (interval, count)
            if moved and event.plan is None and plan.unit_amount is not None:
                raise PreviewError(f"{where}.plan: give the plan's price in the new interval")
            if event.addons is not None:
                addons = {addon.code: addon for addon in event.addons}
            elif moved:
                for code, addon in addons.items():
                    if addon.unit_amount is not None:
                        raise PreviewError(
                            f"{where}.addons: give {code!r}'s price in the new interval"
                        )
            plan_price = prices.seat_price(
                new_plan, f"{where}.plan", new_interval, interval_count=new_count
            )
            # Add-ons are resolved again for a new plan too: the book says which plans offer them.
            changes_addons = event.addons is not None or moved or new_plan.code != plan.code
            resolved[number] = PlanChanged(
                at,
                plan_price,
                new_interval,
                tuple(
                    prices.seat_price(
                        addon, f"{where}.addons", new_interval, new_plan.code, new_count
                    )
                    for addon in addons.values()
                )
                if changes_addons
                else None,
                new_count,
            )
            plan, interval, count = new_plan, new_interval, new_count
        elif isinstance(event, AddonAddedIn):
            addons[event.addon.code] = event.addon
            price = prices.seat_price(event.addon, f"{where}.addon", interval, plan.code, count)
            if event.addon.quantity == 0:
                raise PreviewError(f"{where}.addon.quantity: must be at least 1")
            resolved[number] = AddonAdded(at, price, event.addon.quantity)
        elif isinstance(event, AddonRemovedIn):
            addons.pop(event.code, None)
            resolved[number] = AddonRemoved(at, event.code)
        elif isinstance(event, AddonQuantityChangedIn):
            resolved[number] = AddonQuantityChanged(at, event.code, event.quantity)
        elif isinstance(event, PausedIn):
            resolved[number] = Paused(at)
        elif isinstance(event, ResumedIn):
            resolved[number] = Resumed(at)
        elif isinstance(event, CancelledIn):
            resolved[number] = Cancelled(at)
        else:
            resolved[number] = QuarterlyTrueUp(at, event.peak_seats)
    return [resolved[number] for number in range(len(request.events))]


def _subscription(request: PreviewRequest, prices: _Prices) -> Subscription:
    sub = request.subscription
    count = sub.interval_count
    plan = prices.seat_price(sub.plan, "subscription.plan", sub.interval, interval_count=count)
    addons = tuple(
        prices.seat_price(
            addon, f"subscription.addons[{number}]", sub.interval, sub.plan.code, count
        )
        for number, addon in enumerate(sub.addons)
    )
    known = {price.code: price for price in (plan, *addons)}
    invoiced = None
    if sub.invoiced is not None:
        items = []
        for number, item in enumerate(sub.invoiced):
            current = known.get(item.item_code)
            unit_amount = item.unit_amount
            if unit_amount is None:
                if current is None:
                    raise PreviewError(
                        f"subscription.invoiced[{number}].unit_amount: required for an item "
                        "the subscription no longer has"
                    )
                unit_amount = current.unit_amount
            name = item.name or (current.name if current else prices.name_of(item.item_code))
            price = SeatPrice(item.item_code, name, unit_amount)
            items.append(InvoicedItem(price, item.quantity, item.amount, item.credited))
        invoiced = tuple(items)
    return Subscription(
        currency=request.currency,
        anchor=sub.billing_anchor,
        interval=sub.interval,
        plan=plan,
        seats=sub.seats,
        addons=addons,
        period_start=sub.current_period_start,
        invoiced=invoiced,
        paused=sub.paused,
        quarterly_true_up=sub.quarterly_true_up,
        trial_end=sub.trial_end,
        amount_paid=sub.amount_paid,
        interval_count=count,
        arrears_billed=tuple(
            (
                billed.item_code,
                _money(
                    billed.amount, request.currency, f"subscription.arrears_billed[{number}].amount"
                ),
            )
            for number, billed in enumerate(sub.arrears_billed)
        ),
        addon_quantities=tuple(
            (addon.code, addon.quantity) for addon in sub.addons if addon.quantity is not None
        ),
    )


def _usage(request: PreviewRequest, book: PriceBook) -> list[UsageCharge]:
    charges = []
    for number, usage in enumerate(request.usage):
        where = f"usage[{number}]"
        if usage.price is not None:
            charges.append(_usage_priced_in_request(usage, request.currency, where))
            continue
        try:
            addon = book.usage_addon(usage.code)
            if usage.included_units is None:
                plan = request.subscription.plan.code
                if plan not in book.plans:
                    raise PreviewError(
                        f"{where}.included_units: needed, as the plan {plan!r} is not in the "
                        "price book"
                    )
                price = book.usage_price(usage.code, request.currency, plan)
            else:
                price = book.usage_price(usage.code, request.currency, None)
                price = replace(price, included=usage.included_units)
        except PriceBookError as error:
            raise PreviewError(f"{where}.code: {error}") from None
        charges.append(
            UsageCharge(
                addon.code,
                addon.name,
                addon.unit,
                usage.period_start,
                usage.period_end,
                usage.units,
                price,
                usage.invoiced_units,
            )
        )
    return charges


def _usage_priced_in_request(usage: UsageIn, currency: str, where: str) -> UsageCharge:
    price = usage.price
    assert price is not None
    for number, tier in enumerate(price.tiers or ()):
        _money(tier.flat_amount, currency, f"{where}.price.tiers[{number}].flat_amount")
    if price.model == "package" and price.unit_amount is not None:
        _money(price.unit_amount, currency, f"{where}.price.unit_amount")
    included = usage.included_units if usage.included_units is not None else Decimal(0)
    return UsageCharge(
        usage.code,
        price.name or usage.code,
        price.unit or "unit",
        usage.period_start,
        usage.period_end,
        usage.units,
        price.usage_price(included),
        usage.invoiced_units,
    )


def _money(value: Decimal, currency: str, where: str) -> Decimal:
    if value != round_money(value, currency):
        raise PreviewError(f"{where}: {value} has more decimal places than {currency}")
    return value


def preview_invoice(
    request: PreviewRequest,
    *,
    pricebook: PriceBook | None = None,
    tax_table: TaxTable | None = None,
) -> PreviewResponse:
    """Price the request's changes and return the invoice they would produce.

    Computes only: nothing is stored, sent or numbered. Raises
    :class:`PreviewError` (or another ``ValueError`` from the engine) with a
    message that names the offending field.
    """
    book = pricebook or load_pricebook()
    table = tax_table or load_tax_table()
    currency = request.currency
    policy = (
        request.policy
        if isinstance(request.policy, ProrationPolicy)
        else policy_named(request.policy)
    )
    prices = _Prices(book, currency)
    customer = request.customer
    tax = tax_treatment(
        table, customer.jurisdiction, exempt=customer.tax_exempt, vat_id=customer.vat_id
    )
    terms = InvoiceTerms(
        issue_date=request.issue_date,
        payment_terms_days=request.payment_terms_days,
        po_number=request.po_number,
        tax=tax,
        discounts=tuple(
            Discount(
                discount.name,
                discount.percent,
                None
                if discount.amount_off is None
                else _money(discount.amount_off, currency, f"discounts[{number}].amount_off"),
                frozenset(discount.item_codes),
            )
            for number, discount in enumerate(request.discounts)
        ),
        account_credit=_money(customer.account_credit, currency, "customer.account_credit"),
    )
    commitment = None
    if request.commitment is not None:
        given = request.commitment
        commitment = Commitment(
            _money(given.amount, currency, "commitment.amount"),
            given.period_start,
            given.period_end,
            _money(given.billed_to_date, currency, "commitment.billed_to_date"),
            frozenset(given.item_codes),
            given.active_from,
            given.active_until,
        )
    draft = draft_invoice(
        _subscription(request, prices),
        _events(request, prices),
        terms=terms,
        policy=policy,
        usage=_usage(request, book),
        commitment=commitment,
        renew=request.renew,
    )
    return _response(draft, policy, tax.label, tax.rate)


def _response(
    draft: InvoiceDraft, policy: ProrationPolicy, label: str, rate: Decimal
) -> PreviewResponse:
    return PreviewResponse(
        currency=draft.currency,
        policy=policy,
        issue_date=draft.issue_date,
        due_date=draft.due_date,
        po_number=draft.po_number,
        period_start=draft.period_start,
        period_end=draft.period_end,
        lines=[
            LineOut(
                kind=line.kind,
                description=line.description,
                item_code=line.item_code,
                period_start=line.period_start,
                period_end=line.period_end,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                proration_fraction=line.proration_fraction,
                amount=line.amount,
                discount_amount=line.discount_amount,
                tax_rate=line.tax_rate,
                tax_amount=line.tax_amount,
            )
            for line in draft.lines
        ],
        subtotal=draft.subtotal,
        discount_total=draft.discount_total,
        tax=TaxOut(label=label, rate=rate),
        tax_total=draft.tax_total,
        total=draft.total,
        credit_applied=draft.credit_applied,
        amount_due=draft.amount_due,
        credit_to_balance=draft.credit_to_balance,
        refund_due=draft.refund_due,
        notes=list(draft.notes),
    )
