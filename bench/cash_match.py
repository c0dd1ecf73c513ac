"""Cash matching at scale: 100,000 statement lines against 50,000 open invoices.

The lines come from the same generator as the matcher's corpus test
(tests/cash/corpus.py: exact payments, loose and mistyped invoice numbers,
payments for several invoices, short and over payments, unknown payers,
foreign currency, payers naming someone else's invoice), over a synthetic book
of open invoices and customers named like the demo book's. Only the pure
matcher runs (``activities.cash.matcher``: ``match`` then ``decide``); nothing
is stored.

The floor is measured in the same run on the same lines: reading each line's
invoice references and looking them up (``Book.referenced``), the least any
matcher must do. The figure that matters is the ratio matcher / floor.

    .venv/bin/python bench/cash_match.py                   # 100,000 lines, 50,000 invoices
    .venv/bin/python bench/cash_match.py --lines 10000     # quicker
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from activities.cash.matcher import Book, OpenInvoice, decide, match
from activities.ledger.seed import PLACES, WORDS_A, WORDS_B, WORDS_C
from tests.cash.corpus import generate, iban

CURRENCIES = (("USD", 55), ("EUR", 25), ("GBP", 12), ("JPY", 8))
PRICES = (
    Decimal("49.92"),
    Decimal("120.00"),
    Decimal("264.00"),
    Decimal("1470.00"),
    Decimal("2548.00"),
    Decimal("330.00"),
    Decimal("9800.00"),
)


def book_of(invoices: int, seed: int) -> tuple[list[OpenInvoice], dict[str, str]]:
    """About four open invoices per customer; monthly customers repeat the same balance."""
    rng = random.Random(seed)
    customers = invoices // 4
    names: dict[str, str] = {}
    open_invoices: list[OpenInvoice] = []
    number = 0
    for index in range(1, customers + 1):
        customer = f"CUS-{index:06d}"
        suffix = rng.choice(PLACES).legal_suffix
        names[customer] = (
            f"{rng.choice(WORDS_A)}{rng.choice(WORDS_B)} {rng.choice(WORDS_C)} {suffix}"
        )
        currency = rng.choices([c for c, _ in CURRENCIES], [w for _, w in CURRENCIES])[0]
        monthly = rng.random() < 0.7
        price = rng.choice(PRICES) * rng.randint(1, 20)
        for month in range(rng.randint(1, 7)):
            number += 1
            amount = price if monthly else price + Decimal(rng.randint(0, 9999)) / 100
            if currency == "JPY":
                amount = amount.quantize(Decimal(1)) * 100
            open_invoices.append(
                OpenInvoice(
                    f"INV-{number:06d}",
                    customer,
                    currency,
                    amount,
                    date(2026, 1, 15) + timedelta(days=30 * month),
                )
            )
            if len(open_invoices) == invoices:
                return open_invoices, names
    return open_invoices, names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tracemalloc", action="store_true", help="also the Python heap peak")
    args = parser.parse_args()

    invoices, names = book_of(args.invoices, args.seed)
    learned = {c for c in names if int(c[4:]) % 2 == 0}
    started = time.process_time()
    book = Book(invoices, {c: [n] for c, n in names.items()}, {iban(c): c for c in learned})
    built = time.process_time() - started
    lines = generate(invoices, names, learned, args.lines, seed=args.seed)
    print(
        f"{len(invoices):,} open invoices of {len(names):,} customers; {len(lines):,} lines; "
        f"book indexed in {built:.2f} s CPU"
    )

    if args.tracemalloc:
        tracemalloc.start()
    started = time.process_time()
    for item in lines:
        book.referenced(item.line.remittance)
    floor = time.process_time() - started

    started = time.process_time()
    automatic = 0
    for item in lines:
        automatic += decide(match(item.line, book), 0.9) is not None
    matched = time.process_time() - started
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"floor (read and look up invoice references): {len(lines) / floor:,.0f} lines/s")
    print(
        f"matcher (every proposal, then the decision): {len(lines) / matched:,.0f} lines/s, "
        f"{matched:.1f} s CPU, {matched / floor:.1f}× the floor"
    )
    print(
        f"applied automatically: {automatic:,} ({automatic / len(lines):.1%}); "
        f"peak resident memory {peak_rss:,.0f} MiB"
    )
    if args.tracemalloc:
        _, peak = tracemalloc.get_traced_memory()
        print(f"Python heap peak while matching: {peak / 2**20:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
