"""What each field of an order accepts: text as long as its ledger column, plain characters,
numbers that are numbers, dates written as dates.

The length of every text field comes from the column it is stored in
(:data:`TEXT_COLUMNS`, read from :mod:`activities.ledger.models`), so that
validation and storage cannot disagree: text that passes here fits the column
on PostgreSQL, and nothing is silently kept on SQLite that PostgreSQL would
refuse. Names, addresses and every other text refuse control, bidirectional
and invisible characters (a right-to-left override makes an invoice lie about
what it says) and Slack markup (``<!channel>`` in a company name would page a
channel when the name is posted).

Each refusal is a :class:`~pydantic_core.PydanticCustomError` whose type is the
rule's name, so the order's problem names the field and the rule.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import String

from activities.ledger import models as ledger

#: Order field (as problems name it, list indexes dropped) -> the ledger column it lands in.
TEXT_COLUMNS: dict[str, Any] = {
    "order_id": ledger.Order.__table__.c["id"],
    "opportunity_id": ledger.Order.__table__.c["opportunity_id"],
    "customer.id": ledger.Customer.__table__.c["id"],
    "customer.legal_name": ledger.Customer.__table__.c["legal_name"],
    "customer.contact_name": ledger.BillingContact.__table__.c["name"],
    "customer.contact_email": ledger.BillingContact.__table__.c["email"],
    "customer.timezone": ledger.Customer.__table__.c["timezone"],
    "amends": ledger.Subscription.__table__.c["id"],
    "plan": ledger.Subscription.__table__.c["plan"],
    "addons.code": ledger.SubscriptionItem.__table__.c["item_code"],
    "minimum_commitment.item_codes": ledger.SubscriptionItem.__table__.c["item_code"],
    "currency": ledger.Customer.__table__.c["currency"],
    "purchase_order.number": ledger.Invoice.__table__.c["po_number"],
    "billing_address.line1": ledger.Customer.__table__.c["address_line1"],
    "billing_address.line2": ledger.Customer.__table__.c["address_line2"],
    "billing_address.city": ledger.Customer.__table__.c["city"],
    "billing_address.region": ledger.Customer.__table__.c["region"],
    "billing_address.postal_code": ledger.Customer.__table__.c["postal_code"],
    "billing_address.country": ledger.Customer.__table__.c["country"],
    "tax_ids.scheme": ledger.TaxId.__table__.c["scheme"],
    "tax_ids.value": ledger.TaxId.__table__.c["value"],
    "exemption_certificate": ledger.Customer.__table__.c["tax_exemption_certificate"],
}

#: Fields whose own rule already fixes their length and tells more than "too long"
#: ("Germany" is better refused as not an ISO 3166 code than as 7 characters for 2).
_OWN_RULE = {"currency", "billing_address.country", "order_id"}


#: References typed from another system's document: ASCII, so a lookalike is no other
#: reference (a PO "РО-77" in Cyrillic is not PO-77, and the customer's AP finds neither).
_REFERENCES = {
    "opportunity_id",
    "customer.id",
    "amends",
    "purchase_order.number",
    "exemption_certificate",
    "tax_ids.scheme",
    "tax_ids.value",
    "addons.code",
    "plan",
    "minimum_commitment.item_codes",
}


def column_length(field: str) -> int:
    """The characters the ledger column of ``field`` holds."""
    column_type = TEXT_COLUMNS[field].type
    assert isinstance(column_type, String) and column_type.length is not None
    return int(column_type.length)


def _column_name(field: str) -> str:
    column = TEXT_COLUMNS[field]
    return f"{column.table.name}.{column.name}"


#: Unicode categories no order text may hold: controls (C0, C1), format characters
#: (bidi overrides and isolates, zero-width spaces and joiners, BOM, soft hyphen),
#: surrogates, private use, and line/paragraph separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
#: Slack's mention and link markup (``<!channel>``, ``<@U123>``, ``<#C1>``, ``<http://x|y>``)
#: and the plain-text broadcasts; names are shown as text, never as markup.
_SLACK_MARKUP = re.compile(r"<[!@#][^>]*>|<[a-z][a-z0-9+.-]*:[^>]*>|@(?:channel|here|everyone)\b")


#: Characters that show nothing, outside the categories above: Unicode's default-ignorable
#: marks and fillers (combining grapheme joiner, variation selectors, Hangul fillers,
#: Khmer inherent vowels, Mongolian selectors) and the blank Braille pattern. "Acme" with
#: one of them inside looks like "Acme" and is another name to every comparison.
_INVISIBLE = frozenset(
    (
        0x034F,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x2800,
        0x3164,
        0xFFA0,
        *range(0x180B, 0x1810),
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
    )
)
#: Cyrillic and Greek letters drawn like Latin ones (Unicode's confusables for a-z, A-Z).
_LATIN_LOOKALIKES = frozenset(
    "АВЕЅІЈКМНОРСТХУаеѕіјорсхуԁԛԝһӏѵүҮ"  # Cyrillic
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧοιν"  # Greek
)


def forbidden_character(text: str) -> str | None:
    """The first control, bidi or invisible character in ``text``, described; else None."""
    for character in text:
        if unicodedata.category(character) in _FORBIDDEN_CATEGORIES or ord(character) in (
            _INVISIBLE
        ):
            name = unicodedata.name(character, "a control character")
            return f"U+{ord(character):04X} ({name})"
    return None


def _described(character: str) -> str:
    return f"{character} (U+{ord(character):04X} {unicodedata.name(character, '')})"


def lookalike(text: str) -> str | None:
    """Why ``text`` passes for other text; None when it does not. A space other than the
    plain one, a full-width letter or digit (Ａｃｍｅ), or a word that writes Latin letters
    with a Cyrillic or Greek one drawn like a Latin letter (Аcme with a Cyrillic А): each
    looks like a name already on file and compares as another, so one company becomes two
    customers and a search for it misses. Names wholly in one script pass (Ωmega too:
    Ω is drawn like no Latin letter)."""
    for character in text:
        if character != " " and unicodedata.category(character) == "Zs":
            return f"has the space {_described(character)}; write a plain space"
        if 0xFF01 <= ord(character) <= 0xFF5E:
            return f"has the full-width {_described(character)}; write it as plain text"
    for word in re.findall(r"[^\W\d_]+", text):
        latin = any(c.isascii() for c in word)
        odd = next((c for c in word if c in _LATIN_LOOKALIKES), None)
        if latin and odd is not None:
            return (
                f"'{word[:40]}' mixes Latin letters with {_described(odd)}, drawn like a "
                "Latin letter; write the word in one script"
            )
    return None


def stored_in(field: str) -> AfterValidator:
    """The rules of a text field stored in ``field``'s ledger column: its length, plain
    characters, no Slack markup. Used as ``Annotated[OptionalText, stored_in("plan")]``."""
    limit = None if field in _OWN_RULE else column_length(field)
    ascii_only = field in _REFERENCES
    # an email's own rule (ASCII, xn-- domains) says more than "lookalike"
    lookalikes = field != "customer.contact_email"

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        # "é" as e + a combining accent is "é": one text, compared and stored composed
        value = unicodedata.normalize("NFC", value)
        if limit is not None and len(value) > limit:
            raise PydanticCustomError(
                "max_length",
                "at most {limit} characters (the ledger column {column}), got {length}",
                {"limit": limit, "column": _column_name(field), "length": len(value)},
            )
        if (found := forbidden_character(value)) is not None:
            raise PydanticCustomError(
                "control_character",
                "contains {found}: control, bidi and invisible characters are not allowed",
                {"found": found},
            )
        if lookalikes and (why := lookalike(value)) is not None:
            raise PydanticCustomError("lookalike", "{why}", {"why": why})
        if ascii_only and not value.isascii():
            odd = next(c for c in value if not c.isascii())
            raise PydanticCustomError(
                "not_ascii",
                "{character} is not ASCII: a reference is written in letters A-Z, digits and "
                "punctuation, so that one drawn alike is the same reference",
                {"character": _described(odd)},
            )
        if (markup := _SLACK_MARKUP.search(value)) is not None:
            raise PydanticCustomError(
                "markup",
                "contains '{markup}', which Slack reads as a mention or link; "
                "write names as plain text",
                {"markup": markup.group(0)},
            )
        return value

    return AfterValidator(check)


def blank_is_none(value: object) -> object:
    """CSV cells and form fields are empty strings where nothing was entered."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


# --- Numbers and dates -------------------------------------------------------------------


def true_or_false(value: object) -> object:
    """A flag is ``true`` or ``false`` (JSON), or the words in a CSV cell; ``1``, ``yes``
    or ``Y`` are refused rather than guessed (``in_arrears`` decides when an item is billed)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
        return value.strip().casefold() == "true"
    raise PydanticCustomError(
        "true_or_false", "true or false is expected, not {value}", {"value": repr(value)[:40]}
    )


def not_boolean(value: object) -> object:
    """``true`` is not 1 seat: JSON booleans are refused where a number belongs."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "boolean", "a number is expected, not {value}", {"value": str(value).lower()}
        )
    return value


#: A number as a person writes it in a form or a CSV cell: ASCII digits, a sign, a point.
_PLAIN_NUMBER = re.compile(r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*$", re.ASCII)


def plain_number(value: object) -> object:
    """Text that Python reads as a number but nobody writes as one is refused, not read:
    ``int`` and ``Decimal`` take ``"2_0"`` as 20, ``"２０"`` or Arabic-Indic ``"٢٣"`` as 20
    and 23, and ``"2.3E+1"`` (a spreadsheet's scientific notation, digits lost) as 23, so
    a digit that looks like another or a stray underscore would be billed as a number
    nobody on the order form saw. Text that is no number at all (``"twenty"``) is left
    to the type check."""
    if not isinstance(value, str) or not value.strip() or _PLAIN_NUMBER.match(value):
        return value
    written = value.strip()
    try:
        Decimal(written)
    except ArithmeticError:
        return value
    odd = next((c for c in written if c.isdigit() and not c.isascii()), None)
    if odd is not None:
        why = f"has the digit {odd} (U+{ord(odd):04X} {unicodedata.name(odd, '')})"
    elif "_" in written:
        why = "has an underscore"
    elif any(c in "eE" for c in written):
        why = "is in scientific notation"
    else:
        why = "is not an amount"
    raise PydanticCustomError(
        "number_format",
        "'{value}' {why}; write numbers with the digits 0-9 and a decimal point",
        {"value": written[:40], "why": why},
    )


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DIGITS = re.compile(r"^\d+(?:\.0+)?$")
#: Excel counts days from 1899-12-30; serials 20000 to 80000 are 1954 to 2119.
EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_SERIALS = range(20_000, 80_001)


def calendar_day(value: object) -> object:
    """Dates are written ``YYYY-MM-DD``: a number (a Unix timestamp, an Excel serial) or
    another format is refused with what was expected, never guessed."""
    value = blank_is_none(value)
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, bool):
        raise PydanticCustomError("date_format", "a date is written YYYY-MM-DD, not true/false")
    if isinstance(value, int | float | Decimal):
        value = str(value)
        if not _DIGITS.match(value):
            raise PydanticCustomError(
                "date_format",
                "a date is written YYYY-MM-DD, not the number {value}",
                {"value": value},
            )
    if not isinstance(value, str):
        raise PydanticCustomError("date_format", "a date is written YYYY-MM-DD")
    written = value.strip()
    if _ISO_DAY.match(written):
        return written
    if _DIGITS.match(written):
        number = int(Decimal(written))
        if number in _EXCEL_SERIALS:
            meant = EXCEL_EPOCH + timedelta(days=number)
            raise PydanticCustomError(
                "excel_serial_date",
                "{value} is an Excel serial date number ({meant}?); write the date as YYYY-MM-DD",
                {"value": written, "meant": str(meant)},
            )
        raise PydanticCustomError(
            "timestamp",
            "{value} is a number, not a date (a Unix timestamp?); write the date as YYYY-MM-DD",
            {"value": written},
        )
    raise PydanticCustomError(
        "date_format", "'{value}' is not a date written YYYY-MM-DD", {"value": written[:40]}
    )
