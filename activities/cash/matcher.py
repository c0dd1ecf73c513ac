"""Which customer and invoices a bank statement line pays: proposals, best first.

Pure: the ledger's open invoices, the customers' names and the payer accounts
learned from earlier confirmed matches come in as a :class:`Book`; nothing here
reads a database or a clock. Evidence is weighed in this order:

1. an invoice number in the remittance text (spacing, prefixes and OCR-like
   confusions tolerated: ``INV 123``, ``inv-000123``, ``1NV-OOO123``; one typo
   is a weaker hint that needs the amount and the payer to agree);
2. the exact amount of one open invoice, or of a set of open invoices of one
   customer (a bounded subset sum);
3. the payer's name against the customers' legal names and aliases (rapidfuzz);
4. the payer's bank account, remembered from earlier confirmed matches.

The remittance text is untrusted: it can only *select* among the ledger's own
open invoices. Amounts in a proposal are the line's amount spread over the
selected invoices' ledger balances; a status or amount the text claims is never
read.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import combinations

from rapidfuzz import fuzz, process

from activities.billing.money import ZERO

#: Confidence at or above which the caller may apply without a person (config/cash.yaml
#: can only raise it: below this, a proposal is never sure enough).
SURE = 0.9
#: Name similarity (0-100) that counts as "this payer is that customer".
NAME_MATCH = 88
#: The subset sum looks at this many oldest open invoices, in sets of at most this size.
SUBSET_POOL = 16
SUBSET_SIZE = 4

#: Words that come before an invoice number in remittance texts, in the languages we bill in.
_INVOICE_WORDS = r"(?:INVOICES?|INVS?|RECHNUNG|RECH|RG|FACTURES?|FACTURAS?|FATTURA|FAKTURA|FACT)"
_OCR_DIGITS = str.maketrans(
    {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "S": "5", "B": "8", "Z": "2"}
)
_OCR_LETTERS = {"I": "[I1L|]", "O": "[O0Q]", "S": "[S5]", "B": "[B8]", "Z": "[Z2]"}
_NUMBER = (
    r"[\s\-_#:./]{0,3}(?:NO\.?|NR\.?|N°|NUMBER)?[\s\-_#:./]{0,3}([0-9OQDIL|SBZ]{1,10})(?![A-Z0-9])"
)
_LEGAL_FORMS = frozenset(
    [
        "inc",
        "incorporated",
        "llc",
        "ltd",
        "limited",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "bv",
        "nv",
        "plc",
        "corp",
        "corporation",
        "co",
        "company",
        "kk",
        "pty",
        "srl",
        "spa",
        "oy",
        "ab",
        "as",
        "aps",
        "kg",
        "ug",
        "llp",
        "lp",
    ]
)
_NOISE = frozenset(
    ["the", "payment", "payments", "pmt", "ref", "transfer", "wire", "ach", "from", "by", "via"]
)


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    number: str
    customer_id: str
    currency: str
    balance: Decimal
    due_date: date


@dataclass(frozen=True, slots=True)
class Line:
    """What the matcher reads of a statement line (payer fields are untrusted text)."""

    amount: Decimal
    currency: str
    payer_name: str = ""
    payer_account: str = ""
    remittance: str = ""


@dataclass(frozen=True, slots=True)
class Allocation:
    invoice_number: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Proposal:
    """Pay ``allocations`` of ``customer_id``'s invoices. ``remainder`` is what the line
    pays beyond the selected invoices' balances, ``shortfall`` what it leaves open."""

    customer_id: str
    currency: str
    allocations: tuple[Allocation, ...]
    remainder: Decimal
    shortfall: Decimal
    confidence: float
    reasons: tuple[str, ...]

    @property
    def invoices(self) -> tuple[str, ...]:
        return tuple(a.invoice_number for a in self.allocations)


def normalize_account(account: str) -> str:
    """A bank account as a key: letters and digits only, upper case (IBAN spacing varies)."""
    return re.sub(r"[^0-9A-Z]", "", account.upper())


def normalize_name(name: str) -> str:
    """A payer or customer name as compared: no accents, case, punctuation or legal form."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", " ", plain).split()
    return " ".join(w for w in words if w not in _LEGAL_FORMS and w not in _NOISE)


def _number_key(number: str) -> tuple[str, int] | None:
    match = re.fullmatch(r"([A-Z]+)-?0*(\d+)", number.upper())
    return (match.group(1), int(match.group(2))) if match else None


class Book:
    """The ledger's open invoices and who the customers are, indexed for matching."""

    def __init__(
        self,
        invoices: Iterable[OpenInvoice],
        names: Mapping[str, Sequence[str]],
        accounts: Mapping[str, str],
    ) -> None:
        """``names``: customer id -> legal name and aliases; ``accounts``: payer account
        (normalised) -> customer id, from earlier confirmed matches."""
        self.by_key: dict[tuple[str, int], OpenInvoice] = {}
        self.by_customer: dict[tuple[str, str], list[OpenInvoice]] = defaultdict(list)
        self.by_amount: dict[tuple[str, Decimal], list[OpenInvoice]] = defaultdict(list)
        for invoice in invoices:
            if invoice.balance <= ZERO:
                continue
            key = _number_key(invoice.number)
            if key is not None:
                self.by_key[key] = invoice
            self.by_customer[(invoice.customer_id, invoice.currency)].append(invoice)
            self.by_amount[(invoice.currency, invoice.balance)].append(invoice)
        for pool in (*self.by_customer.values(), *self.by_amount.values()):
            pool.sort(key=lambda i: (i.due_date, i.number))
        self.accounts = {normalize_account(k): v for k, v in accounts.items() if k.strip()}
        self._name_owners: dict[str, set[str]] = defaultdict(set)
        for customer_id, customer_names in names.items():
            for name in customer_names:
                if normalized := normalize_name(name):
                    self._name_owners[normalized].add(customer_id)
        # names with their words sorted: fuzz.ratio on them is token_sort_ratio, without
        # re-sorting 50,000 names for every payer
        self._sorted_owners: dict[str, set[str]] = defaultdict(set)
        for name, owners in self._name_owners.items():
            self._sorted_owners[_sorted_words(name)] |= owners
        self._choices = list(self._sorted_owners)
        prefixes = {key[0] for key in self.by_key} or {"INV"}
        self._default_prefix = "INV" if "INV" in prefixes else sorted(prefixes)[0]
        alternatives = "|".join(
            r"\s?".join(_OCR_LETTERS.get(c, re.escape(c)) for c in p)
            for p in sorted(prefixes, key=len, reverse=True)
        )
        self._prefixed = re.compile(rf"(?<![A-Z0-9])({alternatives}){_NUMBER}")
        self._worded = re.compile(rf"(?<![A-Z0-9]){_INVOICE_WORDS}\.?{_NUMBER}")
        self._prefixes = frozenset(prefixes)

    def name_scores(self, payer_name: str) -> dict[str, float]:
        """Customers whose name or alias resembles ``payer_name``: id -> score (0-100)."""
        query = normalize_name(payer_name)
        if not query:
            return {}
        if query in self._name_owners:
            return dict.fromkeys(self._name_owners[query], 100.0)
        scores: dict[str, float] = {}
        for choice, score, _ in process.extract(
            _sorted_words(query),
            self._choices,
            scorer=fuzz.ratio,
            score_cutoff=NAME_MATCH,
            limit=5,
        ):
            for owner in self._sorted_owners[choice]:
                scores[owner] = max(scores.get(owner, 0.0), score)
        return scores

    def referenced(self, remittance: str) -> tuple[list[OpenInvoice], list[OpenInvoice], int]:
        """Open invoices the text names exactly (after OCR repair), those one typo away, and
        how many invoice numbers the text holds at all (open or not)."""
        text = remittance.upper()
        keys: list[tuple[str, int]] = []
        for pattern, fixed in ((self._prefixed, None), (self._worded, self._default_prefix)):
            for match in pattern.finditer(text):
                prefix = fixed or _repair_prefix(match.group(1), self._prefixes)
                digits = match.groups()[-1]
                if prefix is None or not any(c.isdigit() for c in digits):
                    continue
                key = (prefix, int(digits.translate(_OCR_DIGITS)))
                if key not in keys:
                    keys.append(key)
        exact = [self.by_key[k] for k in keys if k in self.by_key]
        near: list[OpenInvoice] = []
        for prefix, number in (k for k in keys if k not in self.by_key):
            for neighbour in _one_typo_away(number):
                invoice = self.by_key.get((prefix, neighbour))
                if invoice is not None and invoice not in near and invoice not in exact:
                    near.append(invoice)
        return exact, near, len(keys)


def _sorted_words(name: str) -> str:
    return " ".join(sorted(name.split()))


def _repair_prefix(found: str, prefixes: Iterable[str]) -> str | None:
    found = "".join(found.split())
    for prefix in prefixes:
        if len(prefix) == len(found) and all(
            a == b or re.fullmatch(_OCR_LETTERS.get(a, re.escape(a)), b)
            for a, b in zip(prefix, found, strict=True)
        ):
            return prefix
    return None


def _one_typo_away(number: int) -> set[int]:
    """Numbers one keystroke from ``number`` (as written with six digits): a digit
    replaced, two neighbours swapped, one dropped or doubled."""
    text = f"{number:06d}"
    found: set[str] = set()
    for i, digit in enumerate(text):
        found.update(text[:i] + d + text[i + 1 :] for d in "0123456789" if d != digit)
        found.add(text[:i] + text[i + 1 :])
        found.add(text[:i] + digit + text[i:])
        if i + 1 < len(text):
            found.add(text[:i] + text[i + 1] + text[i] + text[i + 2 :])
    return {int(f) for f in found if f} - {number}


def allocate(
    amount: Decimal, invoices: Sequence[OpenInvoice]
) -> tuple[tuple[Allocation, ...], Decimal]:
    """Spread ``amount`` over ``invoices`` in order, each up to its ledger balance."""
    remaining = amount
    allocations = []
    for invoice in invoices:
        take = min(remaining, invoice.balance)
        allocations.append(Allocation(invoice.number, take))
        remaining -= take
    return tuple(a for a in allocations if a.amount > ZERO), remaining


def match(line: Line, book: Book) -> list[Proposal]:
    """Every plausible application of ``line``, best first (empty: nobody to propose)."""
    account_owner = book.accounts.get(normalize_account(line.payer_account))
    names = book.name_scores(line.payer_name)
    exact_refs, near_refs, mentioned = book.referenced(line.remittance)
    found: dict[tuple[str, tuple[str, ...]], Proposal] = {}

    def add(
        customer_id: str, invoices: Sequence[OpenInvoice], confidence: float, *why: str
    ) -> None:
        allocations, remainder = allocate(line.amount, invoices)
        reasons = list(why)
        if account_owner == customer_id:
            reasons.append("payer account confirmed for this customer before")
        if names.get(customer_id):
            reasons.append(f"payer name resembles the customer's ({names[customer_id]:.0f}/100)")
        if remainder > ZERO:
            reasons.append(f"{remainder} {line.currency} more than the invoices' balance")
        short = sum(i.balance for i in invoices) - line.amount
        if short > ZERO:
            reasons.append(f"{short} {line.currency} short of the invoices' balance")
        if conflict(customer_id):
            confidence = min(confidence, 0.4)
            reasons.append("the payer looks like a different customer")
        proposal = Proposal(
            customer_id,
            line.currency,
            allocations,
            remainder,
            max(short, ZERO),
            round(confidence, 3),
            tuple(reasons),
        )
        key = (customer_id, proposal.invoices)
        if key not in found or found[key].confidence < proposal.confidence:
            found[key] = proposal

    def corroborated(customer_id: str) -> bool:
        return account_owner == customer_id or names.get(customer_id, 0) >= NAME_MATCH

    def elsewhere(customer_id: str, named: Sequence[OpenInvoice]) -> bool:
        pool = book.by_customer.get((customer_id, line.currency), [])
        others = [i for i in pool if i not in named]
        return any(i.balance == line.amount for i in others) or (
            _subset_paying(line.amount, others) is not None
        )

    def conflict(customer_id: str) -> bool:
        if account_owner is not None:
            return account_owner != customer_id
        return bool(names) and customer_id not in names and max(names.values()) >= 95

    # 1. invoice numbers named in the text, grouped by the customer that owns them
    for refs, typo in ((exact_refs, False), (near_refs, True)):
        by_customer: dict[str, list[OpenInvoice]] = defaultdict(list)
        for invoice in refs:
            by_customer[invoice.customer_id].append(invoice)
        for customer_id, invoices in by_customer.items():
            same = [i for i in invoices if i.currency == line.currency]
            numbers = ", ".join(i.number for i in invoices)
            said = (
                f"remittance names {numbers}"
                if not typo
                else f"remittance names {numbers} with a typo"
            )
            if not same:
                add(customer_id, [], 0.2, said, f"but the line is in {line.currency}")
                continue
            total = sum(i.balance for i in same)
            exact_amount = total == line.amount
            if typo:
                # a typo can land on any invoice in a dense series: only the amount and
                # the payer together make it sure
                confidence = 0.95 if exact_amount and corroborated(customer_id) else 0.6
            elif exact_amount:
                confidence = 0.98
            elif elsewhere(customer_id, same):
                # a short or over payment whose amount is exactly another open invoice's
                # balance: the number may be a typo for that one
                confidence = 0.6
                said += ", but the amount equals another open invoice's balance"
            else:
                confidence = 0.92 if corroborated(customer_id) else 0.7
            if exact_amount:
                said += ", amount equals their balance"
            add(customer_id, same, confidence, said)

    # 2./3./4. the payer (account or name) and the amount
    payers = dict.fromkeys(
        [c for c in (account_owner,) if c] + sorted(names, key=lambda c: -names[c])
    )
    for customer_id in payers:
        by_account = customer_id == account_owner
        strong = by_account or (names.get(customer_id, 0) >= 95 and len(names) == 1)
        pool = book.by_customer.get((customer_id, line.currency), [])
        who = "payer account known" if by_account else "payer name"
        singles = [i for i in pool if i.balance == line.amount]
        chosen = [i for i in singles if i in exact_refs] or [i for i in singles if i in near_refs]
        if singles:
            # several invoices with this balance (a monthly subscription): the one the text
            # names, else the oldest; unsure when the text names several of them, or an
            # invoice we cannot place
            pick = (chosen or singles)[0]
            unsure = len(chosen) > 1 or (
                not chosen
                and (
                    (len(singles) > 1 and mentioned > 0)
                    or bool(exact_refs)  # the text names another open invoice
                    or _subset_paying(line.amount, pool) is not None
                )
            )
            extra = "" if chosen or len(singles) == 1 else f" (oldest of {len(singles)})"
            add(
                customer_id,
                [pick],
                0.95 if strong and not unsure else 0.75,
                f"{who}; amount equals the balance of {pick.number}{extra}",
            )
            continue
        subset = _subset_paying(line.amount, pool)
        if subset is not None:
            sets, invoices = subset
            add(
                customer_id,
                invoices,
                0.93 if strong and sets == 1 and not set(exact_refs) - set(invoices) else 0.7,
                f"{who}; amount equals the balances of {', '.join(i.number for i in invoices)}"
                + ("" if sets == 1 else f" (one of {sets} sets)"),
            )
            continue
        if pool:
            add(
                customer_id,
                pool,
                0.5 if strong else 0.35,
                f"{who}; the amount matches no set of open invoices (oldest first)",
            )
        else:
            add(customer_id, [], 0.3, f"{who}; no open invoice in {line.currency}")

    # 2. nothing names the payer: the amount alone (never sure: amounts repeat)
    if not found:
        same_amount = book.by_amount.get((line.currency, line.amount), [])
        for invoice in same_amount[:3]:
            add(
                invoice.customer_id,
                [invoice],
                0.6 if len(same_amount) == 1 else 0.3,
                f"amount equals the balance of {invoice.number}"
                + ("" if len(same_amount) == 1 else f" (one of {len(same_amount)} invoices)"),
            )
    return sorted(found.values(), key=lambda p: (-p.confidence, p.customer_id, p.invoices))


def _subset_paying(
    amount: Decimal, pool: Sequence[OpenInvoice]
) -> tuple[int, list[OpenInvoice]] | None:
    """A set of 2..4 of the oldest open invoices whose balances add up to ``amount``:
    (1, the set) when it is the only one, (2, the oldest found) when there are more; None."""
    if len(pool) > 1 and sum(i.balance for i in pool) == amount:
        return 1, list(pool)
    candidates = [i for i in pool[:SUBSET_POOL] if i.balance < amount]
    found: list[OpenInvoice] | None = None
    for size in range(2, min(SUBSET_SIZE, len(candidates)) + 1):
        for combo in combinations(candidates, size):
            if sum(i.balance for i in combo) == amount:
                if found is not None:
                    return 2, found
                found = list(combo)
    return (1, found) if found is not None else None


def decide(proposals: Sequence[Proposal], threshold: float) -> Proposal | None:
    """The proposal to apply without a person, if one is sure and no rival is."""
    bar = max(threshold, SURE)
    if not proposals or proposals[0].confidence < bar or not proposals[0].allocations:
        return None
    rivals = [p for p in proposals[1:] if p.confidence >= bar]
    return None if rivals else proposals[0]
