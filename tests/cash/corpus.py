"""A generated statement corpus over a book of open invoices, with the truth of every line.

Each line is what a bank would report for one kind of payment a B2B customer
makes; ``truth`` is the customer and the invoices a careful analyst would apply
it to, or ``None`` when nobody should apply it without asking (an unknown payer,
cash in another currency, a payer paying someone else's invoice). The same
generator feeds the matcher test (tests/cash/test_corpus.py) and the benchmark
(bench/cash_match.py).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from activities.billing.money import quantum
from activities.cash.matcher import Book, Line, OpenInvoice, decide, match

Truth = tuple[str, frozenset[str]] | None

#: Kinds of line and their weights in the corpus.
KINDS = (
    ("exact", 26),
    ("format", 10),
    ("typo", 10),
    ("amount_only", 9),
    ("several_named", 6),
    ("several_unnamed", 5),
    ("partial", 8),
    ("over", 5),
    ("account_only", 5),
    ("unknown_payer", 8),
    ("foreign_currency", 5),
    ("someone_elses_invoice", 3),
)
_OTHER = {"USD": "EUR", "EUR": "USD", "GBP": "USD", "JPY": "USD", "CAD": "USD"}


@dataclass(frozen=True, slots=True)
class CorpusLine:
    kind: str
    line: Line
    truth: Truth


def iban(customer_id: str) -> str:
    """A stable fake payer account per customer."""
    digits = "".join(c for c in customer_id if c.isdigit()).rjust(10, "0")
    return f"DE89 3704 0044 {digits[:4]} {digits[4:]}"


def _number_as_written(number: str, rng: random.Random) -> str:
    digits = number.split("-")[1]
    short = str(int(digits))
    return rng.choice(
        (
            f"inv {short}",
            f"INV{digits}",
            f"Invoice no. {short}",
            f"INV-{digits}".replace("0", "O", 2),
            f"1NV-{digits}",
            f"RECHNUNG {digits}",
            f"Facture N° {short}",
            f"I N V - {digits}",
        )
    )


def _typo(number: str, rng: random.Random) -> str:
    digits = list(number.split("-")[1])
    significant = [i for i, d in enumerate(digits) if d != "0"] or [len(digits) - 1]
    at = rng.choice(significant)
    if rng.random() < 0.5 and at + 1 < len(digits) and digits[at] != digits[at + 1]:
        digits[at], digits[at + 1] = digits[at + 1], digits[at]
    else:
        digits[at] = rng.choice([d for d in "0123456789" if d != digits[at]])
    return "INV-" + "".join(digits)


def _payer_name(legal_name: str, rng: random.Random) -> str:
    words = legal_name.split()
    return rng.choice(
        (
            legal_name,
            legal_name.upper(),
            " ".join(words[:-1]) if len(words) > 1 else legal_name,
            legal_name.upper().replace(".", ""),
        )
    )


def generate(
    invoices: Sequence[OpenInvoice],
    names: dict[str, str],
    learned: set[str],
    count: int,
    seed: int = 19,
) -> list[CorpusLine]:
    """``count`` lines over ``invoices``; ``names`` customer id -> legal name; customers in
    ``learned`` have their payer account remembered in the book."""
    rng = random.Random(seed)
    pools: dict[tuple[str, str], list[OpenInvoice]] = {}
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.number)):
        pools.setdefault((invoice.customer_id, invoice.currency), []).append(invoice)
    several = [p for p in pools.values() if len(p) >= 2]
    by_number = {i.number: i for i in invoices}
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    lines: list[CorpusLine] = []
    while len(lines) < count:
        kind = rng.choices(kinds, weights)[0]
        invoice = rng.choice(invoices)
        customer = invoice.customer_id
        payer = _payer_name(names[customer], rng)
        account = iban(customer) if rng.random() < 0.7 else ""
        one = (customer, frozenset({invoice.number}))
        step = quantum(invoice.currency)
        if kind == "exact":
            lines.append(
                CorpusLine(
                    kind,
                    Line(
                        invoice.balance,
                        invoice.currency,
                        payer,
                        account,
                        f"Payment {invoice.number} thank you",
                    ),
                    one,
                )
            )
        elif kind == "format":
            text = _number_as_written(invoice.number, rng)
            lines.append(
                CorpusLine(
                    kind,
                    Line(
                        invoice.balance,
                        invoice.currency,
                        payer,
                        account,
                        f"{text} / {rng.randint(1000, 9999)}",
                    ),
                    one,
                )
            )
        elif kind == "typo":
            written = _typo(invoice.number, rng)
            # a typo that writes another open invoice of the same customer and balance names
            # that invoice: anyone reading the line would apply it there
            twin = by_number.get(written)
            if twin and (twin.customer_id, twin.balance) == (customer, invoice.balance):
                one = (customer, frozenset({written}))
            lines.append(
                CorpusLine(
                    kind,
                    Line(invoice.balance, invoice.currency, payer, account, f"ref {written}"),
                    one,
                )
            )
        elif kind == "amount_only":
            pool = pools[(customer, invoice.currency)]
            oldest = next(i for i in pool if i.balance == invoice.balance)
            lines.append(
                CorpusLine(
                    kind,
                    Line(invoice.balance, invoice.currency, payer, account, "monthly subscription"),
                    (customer, frozenset({oldest.number})),
                )
            )
        elif kind in ("several_named", "several_unnamed") and several:
            pool = rng.choice(several)
            chosen = pool[: rng.randint(2, min(4, len(pool)))]
            owner = chosen[0].customer_id
            total = sum((i.balance for i in chosen), Decimal(0))
            text = (
                ", ".join(i.number for i in chosen)
                if kind == "several_named"
                else "payment of open invoices"
            )
            truth: Truth = (owner, frozenset(i.number for i in chosen))
            if kind == "several_unnamed" and _ambiguous_set(pool, total, len(chosen)):
                truth = None
            lines.append(
                CorpusLine(
                    kind,
                    Line(
                        total, chosen[0].currency, _payer_name(names[owner], rng), iban(owner), text
                    ),
                    truth,
                )
            )
        elif kind == "partial":
            share = Decimal(rng.randint(30, 90)) / 100
            amount = max((invoice.balance * share).quantize(step), step)
            lines.append(
                CorpusLine(
                    kind,
                    Line(
                        amount, invoice.currency, payer, account, f"part payment {invoice.number}"
                    ),
                    one,
                )
            )
        elif kind == "over":
            amount = invoice.balance + Decimal(rng.randint(1, 50))
            lines.append(
                CorpusLine(
                    kind,
                    Line(amount, invoice.currency, payer, account, f"{invoice.number} incl. fees"),
                    one,
                )
            )
        elif kind == "account_only" and customer in learned:
            pool = pools[(customer, invoice.currency)]
            oldest = next(i for i in pool if i.balance == invoice.balance)
            lines.append(
                CorpusLine(
                    kind,
                    Line(
                        invoice.balance,
                        invoice.currency,
                        f"ACH CREDIT {rng.randint(10000, 99999)}",
                        iban(customer),
                        "ACH PMT",
                    ),
                    (customer, frozenset({oldest.number})),
                )
            )
        elif kind == "unknown_payer":
            amount = Decimal(rng.randint(100, 900_000)) / 100
            lines.append(
                CorpusLine(
                    kind,
                    Line(
                        amount.quantize(step),
                        invoice.currency,
                        f"Unrelated Trading {rng.randint(1, 999)} GmbH",
                        f"FR76 {rng.randint(10**9, 10**10)}",
                        "consulting fees",
                    ),
                    None,
                )
            )
        elif kind == "foreign_currency":
            currency = _OTHER.get(invoice.currency, "USD")
            amount = invoice.balance.quantize(quantum(currency))
            lines.append(
                CorpusLine(
                    kind, Line(amount, currency, payer, account, f"Payment {invoice.number}"), None
                )
            )
        elif kind == "someone_elses_invoice":
            target = rng.choice(invoices)
            while names[target.customer_id] == names[customer]:  # another customer's, by name
                target = rng.choice(invoices)
            lines.append(
                CorpusLine(
                    kind,
                    Line(
                        target.balance,
                        target.currency,
                        names[customer],
                        iban(customer),
                        f"{target.number} PAID IN FULL, mark as paid and close all open items",
                    ),
                    None,
                )
            )
    return lines


def _ambiguous_set(pool: Sequence[OpenInvoice], total: Decimal, size: int) -> bool:
    """Another set of this customer's open invoices adds up to the same total."""
    from itertools import combinations

    sums = Counter(
        sum((i.balance for i in combo), Decimal(0))
        for k in range(1, min(4, len(pool)) + 1)
        for combo in combinations(pool[:16], k)
    )
    return sums[total] > 1 or (
        sum((i.balance for i in pool), Decimal(0)) == total and size < len(pool)
    )


@dataclass(frozen=True, slots=True)
class Score:
    lines: int
    applicable: int
    automatic: int
    correct: int
    wrong: tuple[tuple[str, str], ...]
    by_kind: dict[str, tuple[int, int]]

    @property
    def precision(self) -> float:
        return self.correct / self.automatic if self.automatic else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.applicable if self.applicable else 1.0

    @property
    def review_share(self) -> float:
        return 1 - self.automatic / self.lines

    def report(self) -> str:
        kinds = ", ".join(f"{k} {auto}/{n}" for k, (auto, n) in sorted(self.by_kind.items()))
        return (
            f"{self.lines} lines: {self.automatic} applied automatically, {self.correct} of them "
            f"right (precision {self.precision:.2%}); recall {self.recall:.2%} of the "
            f"{self.applicable} lines with a right answer; {self.review_share:.1%} left for "
            f"review. Automatic by kind: {kinds}"
        )


def score(corpus: Sequence[CorpusLine], book: Book, threshold: float) -> Score:
    automatic = correct = applicable = 0
    wrong: list[tuple[str, str]] = []
    by_kind: dict[str, list[int]] = {}
    for item in corpus:
        counts = by_kind.setdefault(item.kind, [0, 0])
        counts[1] += 1
        applicable += item.truth is not None
        sure = decide(match(item.line, book), threshold)
        if sure is None:
            continue
        automatic += 1
        counts[0] += 1
        if item.truth == (sure.customer_id, frozenset(sure.invoices)):
            correct += 1
        else:
            wrong.append((item.kind, f"{item.line} -> {sure}"))
    return Score(
        len(corpus),
        applicable,
        automatic,
        correct,
        tuple(wrong),
        {k: (v[0], v[1]) for k, v in by_kind.items()},
    )
