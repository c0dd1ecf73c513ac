"""``CODE=N``: how the CLI and Slack name an add-on change (activities/recurring/changes.py).

Before add-ons had quantities, ``CODE=1`` added a per-seat add-on and ``CODE=0`` removed
one; both still mean that. Any other N is the add-on's own quantity. Kept apart from
changes.py so the Slack command parser does not import the ledger to read it.
"""

from __future__ import annotations

#: The most units an add-on's own quantity may have (ChangeRequest's limit).
MOST = 1_000_000


def parse_addon(text: str, field: str) -> tuple[str, int]:
    """``CODE=N`` as (code, N): 0 removes the add-on; 1 adds one per seat (as before add-ons
    had quantities) or sets an add-on's own quantity to 1; N >= 2 adds it with its own
    quantity N, or sets its own quantity. ``field`` names the input in the error."""
    code, sign, count = text.partition("=")
    if not code or not sign:
        raise ValueError(f"{field}: {text!r} is not CODE=N (CODE=0 removes the add-on)")
    if not (count.isascii() and count.isdigit() and int(count) <= MOST):
        raise ValueError(
            f"{field}: quantity {count!r} must be a whole number from 0 to {MOST} "
            "(0 removes the add-on)"
        )
    return code, int(count)
