"""What a document says, as text: every figure from the ledger row, formatted in its locale.

Pure: it reads an :class:`~activities.ledger.models.Invoice` (with its lines)
or a :class:`~activities.ledger.models.CreditNote` and what the invoice kept
at issue (seller, buyer, address, tax wording, payment terms); it reads no
clock, customer record or config, so the same row always gives the same
content. The PDF layout (``pdf.py``) only places these strings.

An invoice whose total is negative (a cancellation credited by the engine)
is a credit note: it is titled so and its figures are printed as the amounts
credited, positive, as EN 16931 has them on a credit note (type 381).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, Literal
from unicodedata import normalize

from babel import Locale
from babel.dates import format_date
from babel.numbers import (
    NumberPattern,
    format_currency,
    format_decimal,
    format_percent,
    get_currency_symbol,
    parse_pattern,
)
from pycountry import countries

from activities.billing.money import ZERO, round_money
from activities.documents.fonts import needs_cjk
from activities.ledger.models import CreditNote, Invoice, InvoiceLine

Kind = Literal["invoice", "credit_note"]
_ONE_DAY = timedelta(days=1)

_SCHEME_LABEL = {
    "eu_vat": "VAT",
    "gb_vat": "VAT",
    "ch_vat": "VAT",
    "no_vat": "VAT",
    "au_abn": "ABN",
    "ca_bn": "BN",
    "us_ein": "EIN",
    "jp_cn": "Corporate number",
}


@dataclass(frozen=True, slots=True)
class Party:
    role: str
    name: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Row:
    """One printed line: the description, then its period, and its figures."""

    description: str
    period: str
    quantity: str
    unit_amount: str
    amount: str
    discount: str
    tax_rate: str
    net: str


@dataclass(frozen=True, slots=True)
class TaxRow:
    label: str
    taxable: str
    tax: str


@dataclass(frozen=True, slots=True)
class DocumentContent:
    kind: Kind
    title: str
    number: str
    filename: str
    locale: str
    created_at: datetime  # the document's fixed creation date: the issue date, 00:00 UTC
    facts: tuple[tuple[str, str], ...]
    seller: Party
    buyer: Party
    rows: tuple[Row, ...]
    tax_rows: tuple[TaxRow, ...]
    totals: tuple[tuple[str, str], ...]
    due: tuple[str, str]
    notes: tuple[str, ...]
    payment: tuple[str, ...]
    footer: str


def document_kind(invoice: Invoice) -> Kind:
    return "credit_note" if invoice.total < ZERO else "invoice"


@cache
def _locale(name: str) -> Locale:
    """The babel locale, parsed once per process (babel parses a name on every call)."""
    return Locale.parse(name)


#: The rate pattern, parsed once (babel parses a pattern given as text on every call).
_PERCENT = parse_pattern("#,##0.###%")


@cache
def _currency_pattern(currency: str, locale: str) -> NumberPattern | None:
    """The locale's standard currency pattern with the currency's sign written in, once per
    currency and locale: babel's ``format_currency`` looks up the sign, and the currency's
    name whether the pattern uses it or not, on every call (a third of its time). What
    ``apply`` then gives is what ``format_currency`` gives: the number never holds a ``¤``,
    so filling the prefix and suffix first is its own replacement done earlier. None for a
    pattern that names the currency in words (``¤¤¤``, plural by amount): babel does it."""
    pattern: NumberPattern = _locale(locale).currency_formats["standard"]
    if any("¤¤¤" in affix for affix in (*pattern.prefix, *pattern.suffix)):
        return None
    symbol = get_currency_symbol(currency, _locale(locale))

    def fill(affix: str) -> str:
        return affix.replace("¤¤", currency.upper()).replace("¤", symbol)

    filled = copy.copy(pattern)
    filled.prefix = (fill(pattern.prefix[0]), fill(pattern.prefix[1]))
    filled.suffix = (fill(pattern.suffix[0]), fill(pattern.suffix[1]))
    return filled


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """``babel.numbers.format_currency(amount, currency, locale=locale)``, faster."""
    pattern = _currency_pattern(currency, locale)
    if pattern is None:
        return str(format_currency(amount, currency, locale=_locale(locale)))
    return str(pattern.apply(amount, _locale(locale), currency=currency))


class _Format:
    def __init__(self, currency: str, locale: str) -> None:
        self.currency, self.locale_name, self.locale = currency, locale, _locale(locale)

    def money(self, amount: Decimal) -> str:
        # NFKC: the fullwidth signs of CJK locales (￥) become their plain forms (¥).
        return normalize("NFKC", format_money(amount, self.currency, self.locale_name))

    def day(self, value: date) -> str:
        text = str(format_date(value, format="medium", locale=self.locale))
        # Dates in CJK script print as ISO dates: the CJK face is for names that need it,
        # and embedding it is many times slower than the Latin one.
        return value.isoformat() if needs_cjk(text) else text

    def number(self, value: Decimal) -> str:
        return str(format_decimal(value.normalize(), locale=self.locale))

    def percent(self, rate: Decimal) -> str:
        return str(format_percent(rate, format=_PERCENT, locale=self.locale))


def _country(code: str) -> str:
    found = countries.get(alpha_2=code)
    return found.name if found is not None else code


def _address(address: dict[str, Any] | None) -> list[str]:
    if not address:
        return []
    city = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    region = address.get("region")
    if region and "-" in str(region):
        city = f"{city}, {str(region).split('-', 1)[1]}"
    return [
        line
        for line in (address.get("line1"), address.get("line2"), city, _country(address["country"]))
        if line
    ]


def _seller(seller: dict[str, Any] | None) -> Party:
    if not seller:
        return Party("From", "(seller details not recorded)", ())
    lines = _address(seller.get("address"))
    lines.append(f"VAT {seller['vat_id']}")
    if seller.get("company_id"):
        lines.append(f"Company no. {seller['company_id']}")
    lines.append(seller["email"])
    return Party("From", seller["legal_name"], tuple(lines))


def _buyer(invoice: Invoice) -> Party:
    lines = _address(invoice.billing_address)
    if invoice.buyer_tax_id:
        label = _SCHEME_LABEL.get(invoice.buyer_tax_scheme or "", "Tax id")
        lines.append(f"{label} {invoice.buyer_tax_id}")
    lines.append(f"Customer {invoice.customer_id}")
    return Party("Bill to", invoice.buyer_name or invoice.customer_id, tuple(lines))


def _period(line: InvoiceLine, fmt: _Format) -> str:
    if line.period_start is None or line.period_end is None:
        return ""
    # Periods are half-open [start, end): the last day billed is the day before the end.
    last = (
        (line.period_end - _ONE_DAY).date()
        if line.period_end.time() == time()
        else (line.period_end.date())
    )
    text = f"{fmt.day(line.period_start.date())} – {fmt.day(max(last, line.period_start.date()))}"
    if line.proration_fraction != 1:
        text += f" · prorated {fmt.percent(line.proration_fraction)}"
    return text


def _rows(lines: Iterable[InvoiceLine], fmt: _Format, sign: int) -> tuple[Row, ...]:
    return tuple(
        Row(
            description=line.description,
            period=_period(line, fmt),
            quantity=fmt.number(line.quantity),
            unit_amount=fmt.money(line.unit_amount),
            amount=fmt.money(sign * line.amount),
            discount=fmt.money(sign * line.discount_amount) if line.discount_amount else "",
            tax_rate=fmt.percent(line.tax_rate),
            net=fmt.money(sign * (line.amount - line.discount_amount)),
        )
        for line in lines
    )


def _tax_rows(invoice: Invoice, fmt: _Format, sign: int) -> tuple[TaxRow, ...]:
    """The tax breakdown by rate and category, summed from the lines as stored."""
    groups: dict[tuple[str, Decimal], list[Decimal]] = {}
    for line in invoice.lines:
        key = (line.tax_category or invoice.tax_category or "", line.tax_rate)
        taxable, tax = groups.setdefault(key, [ZERO, ZERO])
        groups[key] = [taxable + line.amount - line.discount_amount, tax + line.tax_amount]
    rows = []
    for (category, rate), (taxable, tax) in sorted(groups.items()):
        if category in ("AE", "E", "O"):
            label = {"AE": "Reverse charge", "E": "Exempt", "O": "Outside scope"}[category]
            label = f"{label} ({fmt.percent(rate)})"
        elif len(groups) == 1 and invoice.tax_label:
            label = invoice.tax_label
        else:
            label = f"Tax {fmt.percent(rate)}"
        rows.append(
            TaxRow(
                label,
                fmt.money(sign * taxable),
                fmt.money(sign * tax),
            )
        )
    return tuple(rows)


def _payment(invoice: Invoice) -> tuple[str, ...]:
    lines = [invoice.payment_terms] if invoice.payment_terms else []
    how = invoice.payment_instructions or {}
    labels = (
        ("account_name", "Account name"),
        ("bank", "Bank"),
        ("iban", "IBAN"),
        ("bic", "BIC"),
        ("account_number", "Account number"),
        ("routing_number", "Routing number"),
    )
    lines.extend(f"{label}: {how[key]}" for key, label in labels if how.get(key))
    if how:
        lines.append(f"Reference: {invoice.number}")
    return tuple(lines)


def _footer(seller: dict[str, Any] | None) -> str:
    if not seller:
        return ""
    parts = [seller["legal_name"], f"VAT {seller['vat_id']}"]
    if seller.get("company_id"):
        parts.append(f"Company no. {seller['company_id']}")
    return " · ".join(parts)


def _created(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def invoice_content(invoice: Invoice) -> DocumentContent:
    """The invoice (or, for a negative total, the credit note) as its document prints it."""
    number = invoice.number or f"draft-{invoice.id}"
    kind = document_kind(invoice)
    sign = -1 if kind == "credit_note" else 1
    locale = invoice.locale or "en_GB"
    fmt = _Format(invoice.currency, locale)
    facts: list[tuple[str, str]] = [
        ("Credit note no." if kind == "credit_note" else "Invoice no.", number),
        ("Issue date", fmt.day(invoice.issue_date)),
    ]
    if kind == "invoice":
        facts.append(("Due date", fmt.day(invoice.due_date)))
    if invoice.period_start is not None and invoice.period_end is not None:
        last = invoice.period_end - _ONE_DAY
        facts.append(
            ("Service period", f"{fmt.day(invoice.period_start.date())} – {fmt.day(last.date())}")
        )
    if invoice.po_number:
        facts.append(("PO number", invoice.po_number))
    facts.append(("Currency", invoice.currency))
    totals = [("Subtotal", fmt.money(sign * invoice.subtotal))]
    if invoice.discount_total:
        totals.append(("Discount", fmt.money(-sign * invoice.discount_total)))
    totals.append(("Net", fmt.money(sign * (invoice.subtotal - invoice.discount_total))))
    totals.append(("Tax", fmt.money(sign * invoice.tax_total)))
    totals.append(("Total", fmt.money(sign * invoice.total)))
    if invoice.credit_applied:
        totals.append(("Account credit applied", fmt.money(-invoice.credit_applied)))
    if kind == "credit_note":
        due = ("Total credited", fmt.money(-invoice.total))
    else:
        due = ("Amount due", fmt.money(invoice.amount_due))
    notes = list((invoice.notes or {}).get("notes", []))
    if invoice.tax_exemption_reason and not any(
        invoice.tax_exemption_reason in note for note in notes
    ):
        notes.append(invoice.tax_exemption_reason)
    return DocumentContent(
        kind=kind,
        title="Credit note" if kind == "credit_note" else "Invoice",
        number=number,
        filename=f"{number}.pdf",
        locale=locale,
        created_at=_created(invoice.issue_date),
        facts=tuple(facts),
        seller=_seller(invoice.seller),
        buyer=_buyer(invoice),
        rows=_rows(invoice.lines, fmt, sign),
        tax_rows=_tax_rows(invoice, fmt, sign),
        totals=tuple(totals),
        due=due,
        notes=tuple(notes),
        payment=_payment(invoice) if kind == "invoice" else (),
        footer=_footer(invoice.seller),
    )


@dataclass(frozen=True, slots=True)
class CreditSplit:
    """A credit note's gross amount split by the credited invoice's single tax rate."""

    net: Decimal
    tax: Decimal
    rate: Decimal


def split_credit(amount: Decimal, invoice: Invoice | None) -> CreditSplit:
    """Net and tax of a credit note against ``invoice`` (one rate per invoice, as the
    engine taxes); without an invoice, or with no tax on it, it is all net."""
    rates = {line.tax_rate for line in invoice.lines} if invoice is not None else set()
    if len(rates) != 1 or not (rate := next(iter(rates))):
        return CreditSplit(amount, ZERO, ZERO)
    assert invoice is not None
    net = round_money(amount / (1 + rate), invoice.currency)
    return CreditSplit(net, amount - net, rate)


def credit_note_content(note: CreditNote, invoice: Invoice | None) -> DocumentContent:
    """A credit note from the ledger's credit notes (dispute credits, overpayments)."""
    locale = (invoice.locale if invoice is not None else None) or "en_GB"
    fmt = _Format(note.currency, locale)
    split = split_credit(note.amount, invoice)
    facts = [
        ("Credit note no.", note.number),
        ("Issue date", fmt.day(note.issued_at.date())),
    ]
    if invoice is not None and invoice.number:
        facts.append(("Credits invoice", invoice.number))
    facts.append(("Currency", note.currency))
    description = f"Credit: {note.reason}"
    if invoice is not None and invoice.number:
        description = f"Credit against invoice {invoice.number}: {note.reason}"
    row = Row(
        description=description,
        period="",
        quantity="1",
        unit_amount=fmt.money(split.net),
        amount=fmt.money(split.net),
        discount="",
        tax_rate=fmt.percent(split.rate),
        net=fmt.money(split.net),
    )
    applied = note.amount - note.unapplied
    totals: Sequence[tuple[str, str]] = (
        ("Net", fmt.money(split.net)),
        ("Tax", fmt.money(split.tax)),
        ("Total", fmt.money(note.amount)),
        ("Applied to the invoice", fmt.money(applied)),
        ("Left as account credit", fmt.money(note.unapplied)),
    )
    seller = invoice.seller if invoice is not None else None
    buyer = (
        _buyer(invoice)
        if invoice is not None
        else Party("Bill to", note.customer_id, (f"Customer {note.customer_id}",))
    )
    return DocumentContent(
        kind="credit_note",
        title="Credit note",
        number=note.number,
        filename=f"{note.number}.pdf",
        locale=locale,
        created_at=note.issued_at.astimezone(UTC).replace(microsecond=0),
        facts=tuple(facts),
        seller=_seller(seller),
        buyer=buyer,
        rows=(row,),
        tax_rows=(
            TaxRow(f"Tax ({fmt.percent(split.rate)})", fmt.money(split.net), fmt.money(split.tax)),
        ),
        totals=tuple(totals),
        due=("Total credited", fmt.money(note.amount)),
        notes=(),
        payment=(),
        footer=_footer(seller),
    )
