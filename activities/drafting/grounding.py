"""The grounding check: every figure in a model's draft must be one of the facts.

What a draft may state is the facts the deterministic activities computed
plus whatever the template-only draft states in its own words (it is rendered
from those same facts, and it holds the template's wording such as "within 7
days"). Outside text the template shows quoted (a name, a claim, a note) is
left out of the reference: a figure that appears only there is not a fact.
Amounts are compared by value and currency, dates by the parts written,
document numbers and links exactly, and any other number must be a known
figure too. Anything else is a :class:`Mismatch` that names what was written
and what the facts say, so the model can be told precisely what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from activities.billing.money import format_money
from activities.drafting import figures
from activities.drafting.facts import DraftFacts, DraftText
from activities.drafting.mentions import AmountMention, DateMention, Mentions, find_mentions
from activities.drafting.untrusted import without_quotes


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: str
    written: str
    reason: str

    def describe(self) -> str:
        return f'{self.kind} "{self.written}" {self.reason}'


@dataclass(slots=True)
class Grounds:
    """What a draft may state, gathered from the facts and the template-only draft."""

    amounts: set[tuple[Decimal, str | None]] = field(default_factory=set)
    dates: set[date] = field(default_factory=set)
    partial_dates: list[DateMention] = field(default_factory=list)
    percentages: set[Decimal] = field(default_factory=set)
    documents: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    numbers: set[Decimal] = field(default_factory=set)
    #: The currencies of the facts: a ``$`` in a trusted text means one of these.
    currencies: frozenset[str] = frozenset()

    @classmethod
    def of(cls, facts: DraftFacts, reference: DraftText) -> Grounds:
        grounds = cls(
            currencies=frozenset(i.currency for i in facts.invoices)
            | frozenset(m.currency for m in facts.amounts.values())
        )
        for invoice in facts.invoices:
            grounds.documents.add(invoice.number)
            grounds._amount(invoice.balance, invoice.currency)
            if invoice.total is not None:
                grounds._amount(invoice.total, invoice.currency)
            for day in (invoice.due_date, invoice.issue_date):
                if day is not None:
                    grounds._date(day)
        for money in facts.amounts.values():
            grounds._amount(money.amount, money.currency)
        for day in facts.dates.values():
            grounds._date(day)
        for percent in facts.percentages.values():
            grounds.percentages.add(percent)
            grounds.numbers.add(percent)
        grounds.numbers.update(Decimal(n) for n in facts.counts.values())
        if facts.invoices:  # "2 invoices"; never a 0 that no fact states
            grounds.numbers.add(Decimal(len(facts.invoices)))
        # The customer's name is not here: like all outside text it is never a fact.
        for text in (facts.customer_id or "", *facts.references.values()):
            grounds._quoted_text(text)
        grounds._quoted_text(without_quotes(_as_text(reference)))
        return grounds

    def _amount(self, amount: Decimal, currency: str | None) -> None:
        self.amounts.add((abs(amount), currency))
        self.numbers.add(abs(amount))

    def _date(self, day: date) -> None:
        self.dates.add(day)
        self.numbers.update(Decimal(part) for part in (day.year, day.month, day.day))

    def _quoted_text(self, text: str) -> None:
        """Allow what a trusted text states: the template-only draft, a name, a reference."""
        found = find_mentions(text)
        self.links.update(found.links)
        self.documents.update(found.documents)
        for amount in found.amounts:
            currencies = (amount.currencies & self.currencies) or amount.currencies
            for value in amount.values:
                for currency in currencies or {None}:
                    self._amount(value, currency)
        for mention in found.dates:
            exact = [r.as_date() for r in mention.readings]
            for day in exact:
                if day is not None:
                    self._date(day)
            if None in exact:
                self.partial_dates.append(mention)
        for percent in found.percentages:
            self.percentages.update(percent.values)
            self.numbers.update(percent.values)
        for number in found.numbers:
            self.numbers.update(number.values)


def check(draft: DraftText, facts: DraftFacts, reference: DraftText) -> list[Mismatch]:
    """Every figure in ``draft`` that the facts do not support; empty when it is grounded.

    The draft is read as written and again with its number words as digits
    (:func:`figures.in_digits`): ``zero dollars`` is held to the facts like ``$0``.
    """
    grounds = Grounds.of(facts, reference)
    text = _as_text(draft)
    problems: dict[Mismatch, None] = {}
    for reading in (text, *figures.in_digits(text)):
        found = find_mentions(reading)
        problems |= dict.fromkeys(
            [
                *_check_amounts(found, grounds),
                *_check_dates(found, grounds),
                *_check_percentages(found, grounds),
                *_check_documents(found, grounds),
                *_check_links(found, grounds),
                *_check_numbers(found, grounds),
            ]
        )
    return list(problems)


def _as_text(draft: DraftText) -> str:
    return "\n".join((draft.subject, draft.body, draft.approver_summary))


def _check_amounts(found: Mentions, grounds: Grounds) -> list[Mismatch]:
    problems = []
    for mention in found.amounts:
        if _amount_known(mention, grounds):
            continue
        same_value = sorted(
            {c for v, c in grounds.amounts if v in {abs(x) for x in mention.values} and c}
        )
        if same_value:
            reason = f"is in the wrong currency: the facts have it in {', '.join(same_value)}"
        else:
            reason = f"is not one of the facts ({_known_amounts(grounds)})"
        problems.append(Mismatch("amount", mention.text, reason))
    return problems


def _amount_known(mention: AmountMention, grounds: Grounds) -> bool:
    for value in mention.values:
        for known, currency in grounds.amounts:
            if abs(value) != known:
                continue
            if not mention.currencies or currency is None or currency in mention.currencies:
                return True
    return False


def _known_amounts(grounds: Grounds) -> str:
    shown = sorted({format_money(v, c) for v, c in grounds.amounts if c is not None})
    return ", ".join(shown) or "no amounts"


def _check_dates(found: Mentions, grounds: Grounds) -> list[Mismatch]:
    problems = []
    for mention in found.dates:
        exact = [day for day in (r.as_date() for r in mention.readings) if day is not None]
        if (
            mention.weekday is not None
            and exact
            and all(day.weekday() != mention.weekday for day in exact)
        ):
            problems.append(
                Mismatch("date", mention.text, f"names the wrong weekday ({exact[0]:%A})")
            )
            continue
        if any(r.matches(day) for r in mention.readings for day in grounds.dates):
            continue
        if any(
            reading == known_reading
            for known in grounds.partial_dates
            for known_reading in known.readings
            for reading in mention.readings
        ):
            continue
        known = ", ".join(sorted(d.isoformat() for d in grounds.dates)) or "no dates"
        problems.append(Mismatch("date", mention.text, f"is not one of the facts ({known})"))
    return problems


def _check_percentages(found: Mentions, grounds: Grounds) -> list[Mismatch]:
    known = ", ".join(f"{p.normalize():f} %" for p in sorted(grounds.percentages)) or "none"
    return [
        Mismatch("percentage", mention.text, f"is not one of the facts ({known})")
        for mention in found.percentages
        if not mention.values & grounds.percentages
    ]


def _check_documents(found: Mentions, grounds: Grounds) -> list[Mismatch]:
    known = ", ".join(sorted(grounds.documents)) or "none"
    return [
        Mismatch("document number", written, f"is not one of the facts ({known})")
        for written in found.documents
        if written not in grounds.documents
    ]


def _check_links(found: Mentions, grounds: Grounds) -> list[Mismatch]:
    return [
        Mismatch("link", written, "is not a link or address from the facts")
        for written in found.links
        if written not in grounds.links
    ]


def _check_numbers(found: Mentions, grounds: Grounds) -> list[Mismatch]:
    return [
        Mismatch("number", mention.text, "is not a figure from the facts")
        for mention in found.numbers
        if not mention.values & grounds.numbers
    ]
