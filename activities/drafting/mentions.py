"""Finding the amounts, dates, percentages, document numbers, links and other numbers in a text.

The grounding check holds every one of them to the facts, so reading must be
forgiving about style and strict about value: ``$1,234.50``, ``1.234,50 €``,
``USD 1 234.50``, ``¥12,000`` and ``12,000 yen`` are all read; a number
whose separator is ambiguous (``1.234``: one thousand two hundred and
thirty-four, or one point two three four) keeps every reading, and the
check accepts a mention when any reading is a fact. A span is read once:
links first, then document numbers, dates, percentages, amounts, and what
is left over as plain numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache

from babel.numbers import list_currencies

_DOLLARS = frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"})

#: Currency signs and words, and the currencies each may stand for.
_SIGNS: dict[str, frozenset[str]] = {
    "US$": frozenset({"USD"}),
    "CA$": frozenset({"CAD"}),
    "C$": frozenset({"CAD"}),
    "AU$": frozenset({"AUD"}),
    "A$": frozenset({"AUD"}),
    "NZ$": frozenset({"NZD"}),
    "HK$": frozenset({"HKD"}),
    "S$": frozenset({"SGD"}),
    "R$": frozenset({"BRL"}),
    "$": _DOLLARS,
    "€": frozenset({"EUR"}),
    "£": frozenset({"GBP"}),
    "¥": frozenset({"JPY", "CNY"}),
    "￥": frozenset({"JPY", "CNY"}),
    "₹": frozenset({"INR"}),
    "₩": frozenset({"KRW"}),
    "zł": frozenset({"PLN"}),
    "kr": frozenset({"SEK", "NOK", "DKK", "ISK"}),
}
_WORDS: dict[str, frozenset[str]] = {
    "dollars": _DOLLARS,
    "dollar": _DOLLARS,
    "euros": frozenset({"EUR"}),
    "euro": frozenset({"EUR"}),
    "pounds": frozenset({"GBP"}),
    "pound": frozenset({"GBP"}),
    "sterling": frozenset({"GBP"}),
    "yen": frozenset({"JPY"}),
    "dólares": _DOLLARS,
    "dollari": _DOLLARS,
    "reais": frozenset({"BRL"}),
    "złotych": frozenset({"PLN"}),
    "円": frozenset({"JPY"}),
    "元": frozenset({"CNY"}),
    "ユーロ": frozenset({"EUR"}),
    "欧元": frozenset({"EUR"}),
    "ドル": _DOLLARS,
    "美元": frozenset({"USD"}),
    "يورو": frozenset({"EUR"}),
    "دولار": _DOLLARS,
}

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tues", "tue"),
            ("wednesday", "wed"),
            ("thursday", "thurs", "thur", "thu"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation that tries longer words first (``US$`` before ``$``)."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


#: Digits with thousands separators (``,`` ``.`` apostrophes, thin and no-break
#: spaces, a plain space before exactly three digits) and a decimal part.
_NUMBER = r"\d+(?:(?:[.,'’\u00a0\u202f]|[ ](?=\d{3}(?!\d)))\d+)*"
_MONTH = rf"(?P<month>{_alternation(_MONTHS)})\.?"
_WEEKDAY = rf"(?:(?P<weekday>{_alternation(_WEEKDAYS)})\.?,?\s+)?"
_ORDINAL = r"(?:st|nd|rd|th)?"

_LINK = re.compile(r"https?://[^\s<>\"')\]]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_DOCUMENT = re.compile(r"(?<![\w-])[A-Z][A-Z0-9]{1,9}(?:-[A-Z0-9]+)*-\d[A-Z0-9]*(?![\w-])")
_DATES = (
    re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?!\d)"),
    re.compile(
        rf"\b{_WEEKDAY}{_MONTH}\s+(?P<day>\d{{1,2}}){_ORDINAL}(?:,?\s+(?P<year>\d{{4}}))?(?!\d)",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b{_WEEKDAY}(?:the\s+)?(?P<day>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?{_MONTH}"
        rf"(?:,?\s+(?P<year>\d{{4}}))?(?![\w])",
        re.IGNORECASE,
    ),
    re.compile(rf"\b{_MONTH}\s+(?P<year>\d{{4}})(?!\d)", re.IGNORECASE),
    re.compile(r"(?<![\d.])(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})(?!\d)"),
    re.compile(
        r"(?<![\d.])(?P<first>\d{1,2})(?P<sep>[/.])(?P<second>\d{1,2})(?P=sep)"
        r"(?P<year>\d{4})(?!\d)"
    ),
)
_PERCENT = re.compile(
    rf"(?<![\d.,])(?P<number>{_NUMBER})\s?(?:%|per\s?cent\b|pct\b)", re.IGNORECASE
)
#: Beside a letter of a script without spaces (``0円``, ``残高0``) a number is still read.
_PLAIN = re.compile(
    r"(?<![A-Za-z\d_.,])(?P<number>\d+(?:[.,'’]\d+)*)(?:st|nd|rd|th)?(?![A-Za-z\d_])"
)


@cache
def _amount_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    codes = _alternation(list_currencies())
    signs = _alternation(_SIGNS)
    words = _alternation(_WORDS)
    before = re.compile(
        rf"(?:(?<![A-Za-z])(?P<code>{codes})(?![A-Za-z])|(?P<sign>{signs}))"
        rf"\s?(?P<minus>[-−])?(?P<number>{_NUMBER})"
    )
    after = re.compile(
        rf"(?<![\d.,])(?P<number>{_NUMBER})\s?"
        rf"(?:(?-i:(?P<code>{codes}))(?![A-Za-z])|(?P<word>{words})(?![A-Za-z])"
        rf"|(?P<sign>{signs}))",
        re.IGNORECASE,
    )
    return before, after


def number_readings(raw: str) -> frozenset[Decimal]:
    """Every value ``raw`` can mean: ``1,234.50`` -> 1234.50; ``1.234`` -> 1234 or 1.234.

    With both ``.`` and ``,`` the last one is the decimal separator; a single
    separator followed by exactly three digits may be either; a separator used
    twice groups thousands. An unreadable number has no reading.
    """
    text = re.sub(r"[ '’\u00a0\u202f]", "", raw)
    try:
        separators = [c for c in text if c in ".,"]
        if not separators:
            return frozenset({Decimal(text)})
        if len(set(separators)) == 2:
            decimal_mark = separators[-1]
            if separators.count(decimal_mark) > 1:
                return frozenset()
            grouping = "," if decimal_mark == "." else "."
            return frozenset({Decimal(text.replace(grouping, "").replace(decimal_mark, "."))})
        mark = separators[0]
        if len(separators) > 1:
            return frozenset({Decimal(text.replace(mark, ""))})
        whole, fraction = text.split(mark)
        as_decimal = Decimal(f"{whole}.{fraction}")
        if len(fraction) == 3 and whole.strip("0"):
            return frozenset({Decimal(whole + fraction), as_decimal})
        return frozenset({as_decimal})
    except InvalidOperation:
        return frozenset()


@dataclass(frozen=True, slots=True)
class AmountMention:
    text: str
    values: frozenset[Decimal]
    #: The currencies the sign or code may stand for; empty when none was written.
    currencies: frozenset[str]


@dataclass(frozen=True, slots=True)
class DateReading:
    """One reading of a written date; a part not written (a year, a day) is ``None``."""

    year: int | None
    month: int
    day: int | None

    def matches(self, value: date) -> bool:
        return (
            self.month == value.month
            and (self.year is None or self.year == value.year)
            and (self.day is None or self.day == value.day)
        )

    def as_date(self) -> date | None:
        if self.year is None or self.day is None:
            return None
        try:
            return date(self.year, self.month, self.day)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class DateMention:
    text: str
    readings: tuple[DateReading, ...]
    #: 0 for Monday when the text names the weekday, else None.
    weekday: int | None = None


@dataclass(frozen=True, slots=True)
class NumberMention:
    text: str
    values: frozenset[Decimal]


@dataclass(slots=True)
class Mentions:
    amounts: list[AmountMention] = field(default_factory=list)
    dates: list[DateMention] = field(default_factory=list)
    percentages: list[NumberMention] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    numbers: list[NumberMention] = field(default_factory=list)


def find_mentions(text: str) -> Mentions:
    """Everything in ``text`` that the grounding check compares with the facts."""
    found = Mentions()
    reader = _Reader(text)
    found.links = [m.group(0).rstrip(".,;:!?").lower() for m in reader.take(_LINK)]
    found.documents = [m.group(0) for m in reader.take(_DOCUMENT)]
    for pattern in _DATES:
        found.dates += [d for d in map(_date_mention, reader.take(pattern)) if d is not None]
    found.percentages = [
        NumberMention(m.group(0), number_readings(m.group("number"))) for m in reader.take(_PERCENT)
    ]
    for pattern in _amount_patterns():
        found.amounts += [_amount_mention(m) for m in reader.take(pattern)]
    found.numbers = [
        NumberMention(m.group(0), number_readings(m.group("number"))) for m in reader.take(_PLAIN)
    ]
    return found


class _Reader:
    """A text read pattern by pattern, each match blanked out once taken.

    Blanking keeps later patterns from reading the same characters again (the
    day of a date as a plain number) while positions stay put.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def take(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        matches = list(pattern.finditer(self.text))
        for match in matches:
            start, end = match.span()
            self.text = self.text[:start] + " " * (end - start) + self.text[end:]
        return matches


def _amount_mention(match: re.Match[str]) -> AmountMention:
    groups = match.groupdict()
    currencies: frozenset[str] = frozenset()
    if groups.get("code"):
        currencies = frozenset({groups["code"].upper()})
    elif groups.get("sign"):
        currencies = _SIGNS[groups["sign"]]
    elif groups.get("word"):
        currencies = _WORDS[groups["word"].lower()]
    return AmountMention(match.group(0), number_readings(groups["number"]), currencies)


def _date_mention(match: re.Match[str]) -> DateMention | None:
    groups = match.groupdict()
    year = int(groups["year"]) if groups.get("year") else None
    weekday = _WEEKDAYS[groups["weekday"].lower()] if groups.get("weekday") else None
    if groups.get("first"):  # 03/11/2026: day first or month first; 03.11.2026: day first
        first, second = int(groups["first"]), int(groups["second"])
        orders = [(second, first)] if groups["sep"] == "." else [(second, first), (first, second)]
        readings = tuple(DateReading(year, month, day) for month, day in orders if 1 <= month <= 12)
        return DateMention(match.group(0), readings, weekday) if readings else None
    month_text = groups["month"]
    month = int(month_text) if month_text.isdigit() else _MONTHS[month_text.lower()]
    day = int(groups["day"]) if groups.get("day") else None
    return DateMention(match.group(0), (DateReading(year, month, day),), weekday)
