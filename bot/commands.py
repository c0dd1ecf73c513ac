"""The `/billing` command's grammar: the text after `/billing` becomes one typed request.

Parsing is pure and cheap, so the listener can do it before the ack and answer
a mistake at once with the subcommand's usage line. Each request names the
subcommand it came from; :data:`USAGE` holds the one-line usage of each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

from activities.billing.money import CurrencyError, check_currency
from activities.recurring.addons import parse_addon

#: One line per subcommand, in the order `help` lists them.
USAGE: dict[str, str] = {
    "customer": "customer CUSTOMER-ID",
    "invoices": "invoices CUSTOMER-ID [open|overdue|paid|all]",
    "invoice": "invoice INVOICE-NUMBER",
    "preview": "preview SUBSCRIPTION-ID seats N | plan PLAN-CODE",
    "seats": "seats SUBSCRIPTION-ID N",
    "plan": "plan SUBSCRIPTION-ID PLAN-CODE",
    "addon": "addon SUBSCRIPTION-ID CODE=N (0 removes, 1 per seat, N its own quantity)",
    "interval": "interval SUBSCRIPTION-ID month|quarter|year",
    "cancel": "cancel SUBSCRIPTION-ID",
    "aging": "aging [CUSTOMER-ID]",
    "promise": "promise CUSTOMER-ID AMOUNT [CURRENCY] YYYY-MM-DD",
    "dunning": "dunning pause|resume CUSTOMER-ID [until YYYY-MM-DD] [REASON...]",
    "dispute": "dispute CUSTOMER-ID INVOICE[,INVOICE...] WHAT THE CUSTOMER DISPUTES",
    "order": "order ORDER-ID",
    "note": "note CUSTOMER-ID TEXT",
    "approvals": "approvals",
    "help": "help",
}

#: What each subcommand does, for `help`.
SUMMARY: dict[str, str] = {
    "customer": "account summary: plan, seats, balance, overdue, notes",
    "invoices": "a customer's invoices (open by default)",
    "invoice": "an invoice's PDF (and e-invoice XML), uploaded in a thread here",
    "preview": "the invoice a seat or plan change would produce",
    "seats": "change the seat count (preview, then Confirm)",
    "plan": "change the plan (preview, then Confirm)",
    "addon": "add (=1) or remove (=0) a per-seat add-on (preview, then Confirm)",
    "interval": "change the billing interval (preview, then Confirm)",
    "cancel": "cancel at the period end (preview, then Confirm)",
    "aging": "AR aging by bucket, for everyone or one customer",
    "promise": "record a promise to pay",
    "dunning": "pause or resume the collections cadence",
    "dispute": "open a dispute on invoices (starts the dispute workflow)",
    "order": "where an order is in validation and provisioning",
    "note": "add a note to the account",
    "approvals": "approvals waiting for you",
    "help": "this list",
}

InvoiceView = Literal["open", "overdue", "paid", "all"]
_VIEWS: dict[str, InvoiceView] = {v: v for v in ("open", "overdue", "paid", "all")}


@dataclass(frozen=True, slots=True)
class Help:
    subcommand: Literal["help"] = "help"


@dataclass(frozen=True, slots=True)
class CustomerLookup:
    customer_id: str
    subcommand: Literal["customer"] = "customer"


@dataclass(frozen=True, slots=True)
class InvoicesLookup:
    customer_id: str
    view: InvoiceView = "open"
    subcommand: Literal["invoices"] = "invoices"


@dataclass(frozen=True, slots=True)
class InvoiceDocuments:
    number: str
    subcommand: Literal["invoice"] = "invoice"


@dataclass(frozen=True, slots=True)
class PreviewChange:
    subscription_id: str
    seats: int | None = None
    plan: str | None = None
    subcommand: Literal["preview"] = "preview"


ChangeSubcommand = Literal["seats", "plan", "addon", "interval", "cancel"]


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """A change to apply (after the preview's Confirm): the subcommand names its kind."""

    subscription_id: str
    subcommand: ChangeSubcommand
    seats: int | None = None
    plan: str | None = None
    addon: str | None = None
    addon_on: bool = True
    addon_quantity: int | None = None
    interval: str | None = None


@dataclass(frozen=True, slots=True)
class AgingLookup:
    customer_id: str | None = None
    subcommand: Literal["aging"] = "aging"


@dataclass(frozen=True, slots=True)
class RecordPromise:
    customer_id: str
    amount: Decimal
    currency: str | None
    promised_date: date
    subcommand: Literal["promise"] = "promise"


@dataclass(frozen=True, slots=True)
class DunningChange:
    customer_id: str
    pause: bool
    until: date | None = None
    reason: str | None = None
    subcommand: Literal["dunning"] = "dunning"


@dataclass(frozen=True, slots=True)
class OpenDispute:
    customer_id: str
    invoice_numbers: tuple[str, ...]
    claim: str
    subcommand: Literal["dispute"] = "dispute"


@dataclass(frozen=True, slots=True)
class OrderLookup:
    order_id: str
    subcommand: Literal["order"] = "order"


@dataclass(frozen=True, slots=True)
class AddNote:
    customer_id: str
    text: str
    subcommand: Literal["note"] = "note"


@dataclass(frozen=True, slots=True)
class MyApprovals:
    subcommand: Literal["approvals"] = "approvals"


Request = (
    Help
    | CustomerLookup
    | InvoicesLookup
    | InvoiceDocuments
    | PreviewChange
    | SubscriptionChange
    | AgingLookup
    | RecordPromise
    | DunningChange
    | OpenDispute
    | OrderLookup
    | AddNote
    | MyApprovals
)

#: Subcommands that change something; the bot checks the caller's role before running them.
STATE_CHANGING = frozenset(
    {"promise", "dunning", "dispute", "note", "seats", "plan", "addon", "interval", "cancel"}
)


@dataclass(frozen=True, slots=True)
class Usage:
    """A mistake in the command: what is wrong, and the usage line that shows the right form."""

    problem: str
    usage: str

    def text(self) -> str:
        return f"{self.problem}\nUsage: `/billing {self.usage}`"


class _Bad(Exception):
    """Raised inside a parser; becomes :class:`Usage` with the subcommand's usage line."""


def parse(text: str) -> Request | Usage:
    """Turn the text after `/billing` into a request, or say what is wrong and how to write it."""
    words = text.split()
    if not words:
        return Help()
    name, args = words[0].lower(), words[1:]
    parser = _PARSERS.get(name)
    if parser is None:
        return Usage(f"`{words[0]}` is not a /billing subcommand.", "help")
    try:
        return parser(args)
    except _Bad as bad:
        return Usage(str(bad), USAGE[name])


def _help(args: list[str]) -> Help:
    return Help()


def _customer(args: list[str]) -> CustomerLookup:
    (customer_id,) = _exactly(args, 1, "a customer id")
    return CustomerLookup(customer_id)


def _invoices(args: list[str]) -> InvoicesLookup:
    if not 1 <= len(args) <= 2:
        raise _Bad("Give a customer id, and optionally open, overdue, paid or all.")
    view = _VIEWS.get(args[1].lower() if len(args) == 2 else "open")
    if view is None:
        raise _Bad(f"`{args[1]}` is not one of open, overdue, paid, all.")
    return InvoicesLookup(args[0], view)


_INVOICE_NUMBER = re.compile(r"^INV-\d+$")


def _invoice(args: list[str]) -> InvoiceDocuments:
    (number,) = _exactly(args, 1, "an invoice number")
    if not _INVOICE_NUMBER.match(number.upper()):
        raise _Bad(f"`{number}` is not an invoice number like INV-000123.")
    return InvoiceDocuments(number.upper())


def _preview(args: list[str]) -> PreviewChange:
    subscription_id, what, value = _exactly(args, 3, "a subscription id and a change")
    if what.lower() == "seats":
        return PreviewChange(subscription_id, seats=_count(value, "seats"))
    if what.lower() == "plan":
        return PreviewChange(subscription_id, plan=value)
    raise _Bad(f"`{what}` is not a change I can preview: use seats or plan.")


def _seats(args: list[str]) -> SubscriptionChange:
    subscription_id, count = _exactly(args, 2, "a subscription id and the new seat count")
    return SubscriptionChange(subscription_id, "seats", seats=_count(count, "seats"))


def _plan(args: list[str]) -> SubscriptionChange:
    subscription_id, plan = _exactly(args, 2, "a subscription id and the new plan's code")
    return SubscriptionChange(subscription_id, "plan", plan=plan)


def _addon(args: list[str]) -> SubscriptionChange:
    subscription_id, given = _exactly(args, 2, "a subscription id and CODE=N")
    try:
        code, quantity = parse_addon(given, "addon")
    except ValueError as error:
        raise _Bad(str(error)) from None
    return SubscriptionChange(
        subscription_id, "addon", addon=code, addon_on=quantity != 0, addon_quantity=quantity
    )


def _interval(args: list[str]) -> SubscriptionChange:
    subscription_id, interval = _exactly(args, 2, "a subscription id and the new interval")
    if interval.lower() not in _INTERVALS:
        raise _Bad(f"interval: `{interval}` is not one of {', '.join(_INTERVALS)}.")
    return SubscriptionChange(subscription_id, "interval", interval=interval.lower())


_INTERVALS = ("month", "quarter", "year")


def _cancel(args: list[str]) -> SubscriptionChange:
    (subscription_id,) = _exactly(args, 1, "a subscription id")
    return SubscriptionChange(subscription_id, "cancel")


def _aging(args: list[str]) -> AgingLookup:
    if len(args) > 1:
        raise _Bad("Give at most one customer id.")
    return AgingLookup(args[0] if args else None)


def _promise(args: list[str]) -> RecordPromise:
    if len(args) not in (3, 4):
        raise _Bad("Give a customer id, the amount, optionally its currency, and the date.")
    customer_id, amount_text, *middle, date_text = args
    currency = None
    if middle:
        currency = middle[0].upper()
        try:
            check_currency(currency)
        except CurrencyError:
            raise _Bad(f"currency: `{middle[0]}` is not an ISO 4217 code (e.g. USD).") from None
    return RecordPromise(customer_id, _amount(amount_text), currency, _date(date_text, "date"))


def _dunning(args: list[str]) -> DunningChange:
    if len(args) < 2 or args[0].lower() not in ("pause", "resume"):
        raise _Bad("Say pause or resume, then the customer id.")
    verb, customer_id, rest = args[0].lower(), args[1], args[2:]
    if verb == "resume":
        if rest:
            raise _Bad("resume takes only the customer id.")
        return DunningChange(customer_id, pause=False)
    until = None
    if rest and rest[0].lower() == "until":
        if len(rest) < 2:
            raise _Bad("until needs a date (YYYY-MM-DD).")
        until, rest = _date(rest[1], "until"), rest[2:]
    return DunningChange(customer_id, pause=True, until=until, reason=" ".join(rest) or None)


def _dispute(args: list[str]) -> OpenDispute:
    if len(args) < 3:
        raise _Bad("Give the customer id, the invoice number(s) and what is disputed.")
    numbers = tuple(n for n in args[1].split(",") if n)
    if not numbers:
        raise _Bad("Name at least one invoice number.")
    return OpenDispute(args[0], numbers, " ".join(args[2:]))


def _order(args: list[str]) -> OrderLookup:
    (order_id,) = _exactly(args, 1, "an order id")
    return OrderLookup(order_id)


def _note(args: list[str]) -> AddNote:
    if len(args) < 2:
        raise _Bad("Give the customer id and the note's text.")
    return AddNote(args[0], " ".join(args[1:]))


def _approvals(args: list[str]) -> MyApprovals:
    _exactly(args, 0, "nothing")
    return MyApprovals()


def _exactly(args: list[str], count: int, what: str) -> list[str]:
    if len(args) != count:
        raise _Bad(f"Expected {what}.")
    return args


def _count(text: str, field: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise _Bad(f"{field}: `{text}` is not a whole number of at least 1.")
    return int(text)


_AMOUNT = re.compile(r"^\d{1,3}(,\d{3})*(\.\d+)?$|^\d+(\.\d+)?$")


def _amount(text: str) -> Decimal:
    """``1,250.00`` or ``1250``; the currency's minor unit is checked by the ledger."""
    if not _AMOUNT.match(text):
        raise _Bad(f"amount: `{text}` is not an amount like 1250.00.")
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise _Bad(f"amount: `{text}` is not an amount like 1250.00.") from None
    if amount <= 0:
        raise _Bad("amount: must be more than zero.")
    return amount


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Bad(f"{field}: `{text}` is not a date like 2026-12-15.") from None


_PARSERS: dict[str, Callable[[list[str]], Request]] = {
    "help": _help,
    "customer": _customer,
    "invoices": _invoices,
    "invoice": _invoice,
    "preview": _preview,
    "seats": _seats,
    "plan": _plan,
    "addon": _addon,
    "interval": _interval,
    "cancel": _cancel,
    "aging": _aging,
    "promise": _promise,
    "dunning": _dunning,
    "dispute": _dispute,
    "order": _order,
    "note": _note,
    "approvals": _approvals,
}
