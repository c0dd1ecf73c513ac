"""Ledger errors that an analyst can read: each names the record or the rule."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import String
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

if TYPE_CHECKING:  # the ORM is not loaded by Core-only reads (activities/ledger/engine.py)
    from sqlalchemy.orm import InstrumentedAttribute


class LedgerError(ValueError):
    """A request the ledger refuses; nothing was written."""


#: Exception type names that mean "the data is wrong" (pydantic's ValidationError: data that
#: does not fit its model): an activity that raises one (as such, or wrapped in an
#: ApplicationError of that type) is never retried. Every workflow's
#: retry policy lists them, so no data error can retry forever.
DATA_ERRORS = ["LedgerError", "NotFound", "IntegrityError", "DataError", "ValidationError"]


class NotFound(LedgerError):
    """The named record does not exist."""


class LedgerBusy(RuntimeError):
    """Another writer held the rows too long (or the database could not be reached in time).

    Not a :class:`LedgerError`: nothing is wrong with the request, so it is retried
    (a Temporal activity retries it; a person is told to try again).
    """


class LedgerUnavailable(RuntimeError):
    """The ledger database cannot be reached or opened; the message says what to check."""


#: Constraint names (see models.NAMING_CONVENTION) and what they mean to a person.
_RULES = {
    "uq_invoices_number": "invoice numbers are unique",
    "uq_invoices_source_key": "an invoice for this source already exists",
    "uq_payments_processor_id": "a payment with this processor id is already recorded",
    "uq_refunds_processor_id": "a refund with this processor id is already recorded",
    "uq_credit_notes_number": "credit note numbers are unique",
    "uq_credit_notes_idempotency_key": "this credit note was already issued",
    "ck_invoices_balance_non_negative": "an invoice's open balance cannot go below zero",
    "ck_invoices_balance_within_due": "an invoice's open balance cannot exceed its amount due",
    "ck_invoices_issued_has_number": "an issued invoice needs a number",
    "ck_invoices_due_after_issue": "the due date cannot be before the issue date",
    "ck_payments_unapplied_non_negative": "a payment cannot apply more than was received",
    "ck_payments_refund_within_amount": "a refund cannot exceed the payment",
    "ck_credit_notes_unapplied_within_amount": "account credit cannot go below zero",
    "ck_customers_exempt_needs_certificate": "a tax-exempt customer needs a certificate reference",
}

_SQLITE_PATTERNS = (
    re.compile(r"CHECK constraint failed: (\w+)"),
    re.compile(r"UNIQUE constraint failed: (\w+)\.(\w+)"),
    re.compile(r"(FOREIGN KEY) constraint failed"),
)


def explain(error: IntegrityError) -> LedgerError:
    """Turn a database constraint violation into a one-line :class:`LedgerError`."""
    name = constraint_name(error)
    if name == "FOREIGN KEY" or (name and name.startswith("fk_")):
        return LedgerError("the record refers to something that does not exist (foreign key)")
    rule = _RULES.get(name or "")
    if rule:
        return LedgerError(f"{rule} (constraint {name})")
    detail = str(error.orig).splitlines()[0] if error.orig else str(error)
    return LedgerError(f"the ledger refused the change: {detail}")


def check_length(field: str, value: str, column: InstrumentedAttribute[str]) -> None:
    """Refuse a value longer than its column holds (SQLite would store it, PostgreSQL refuse)."""
    kind = column.type
    limit = kind.length if isinstance(kind, String) else None
    if limit is not None and len(value) > limit:
        raise LedgerError(f"{field}: {len(value)} characters, at most {limit} are allowed")


#: The largest amount a money column holds (NUMERIC(19, 4)): below 10^15.
MAX_AMOUNT = Decimal(10) ** 15


def check_amount(field: str, amount: Decimal) -> None:
    """Refuse NaN, infinities and amounts too large for the ledger, naming the field."""
    if not amount.is_finite():
        raise LedgerError(f"{field}: {amount} is not a finite amount")
    if abs(amount) >= MAX_AMOUNT:
        raise LedgerError(f"{field}: {amount} is too large; the ledger holds amounts below 10^15")


def constraint_name(error: IntegrityError) -> str | None:
    """The name of the constraint a write violated, on either database."""
    diag = getattr(error.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return str(diag.constraint_name)
    message = str(error.orig)
    for pattern in _SQLITE_PATTERNS:
        match = pattern.search(message)
        if match:
            groups = match.groups()
            return f"uq_{groups[0]}_{groups[1]}" if len(groups) == 2 else groups[0]
    return None


#: Idempotency keys two writers can claim at the same instant: the loser's retry finds the
#: winner's record and returns it, so the violation is transient, not a refusal.
_RACED_KEYS = {
    "uq_invoices_source_key": "invoice (source key)",
    "uq_refunds_processor_id": "refund (processor id)",
    "uq_credit_notes_idempotency_key": "credit note (idempotency key)",
    "uq_payments_processor_id": "payment (processor id)",
}

#: PostgreSQL SQLSTATEs of a wait that gave up: lock timeout, deadlock, serialization, cancel.
_BUSY_STATES = {"55P03", "40P01", "40001", "57014"}
_BUSY_WORDS = ("database is locked", "database table is locked", "database is busy")

BUSY = (
    "the ledger is busy: another writer held the records this needs for too long; "
    "nothing was written, try again"
)

#: (words in the driver's message, what to tell the person); the first match wins.
_UNAVAILABLE = (
    (
        re.compile(r'database "([^"]+)" does not exist'),
        "the ledger database {0!r} named in DATABASE_URL does not exist: create it "
        "(e.g. `createdb {0}`) or correct DATABASE_URL, then run `billing-ops init-db`",
    ),
    (
        re.compile(r'password authentication failed|role "[^"]+" does not exist'),
        "the ledger database refused the login in DATABASE_URL: check the user and password",
    ),
    (
        re.compile(r"unable to open database file"),
        "cannot open the SQLite ledger file named in DATABASE_URL: check the path and "
        "that its folder is writable",
    ),
    (
        re.compile(r'no such table|relation "[^"]+" does not exist|UndefinedTable'),
        "the ledger has no schema yet: run `billing-ops init-db`",
    ),
)


def from_database(error: DBAPIError) -> Exception:
    """One line for a person from a database failure, without SQL text or parameters.

    A constraint or value the ledger refuses is a :class:`LedgerError` (the request
    is wrong); a lock wait that gave up is :class:`LedgerBusy` and an unreachable
    database :class:`LedgerUnavailable` (both transient: try again).
    """
    if isinstance(error, IntegrityError):
        raced = _RACED_KEYS.get(constraint_name(error) or "")
        if raced:
            return LedgerBusy(
                f"another writer recorded the same {raced} at the same moment; nothing was "
                "written: try again, and the retry finds it"
            )
        return explain(error)
    state = getattr(error.orig, "sqlstate", None)
    message = str(error.orig)
    if state == "P0001":  # raised by one of our triggers, in words we wrote
        return LedgerError(message.splitlines()[0])
    if state in _BUSY_STATES or any(word in message for word in _BUSY_WORDS):
        return LedgerBusy(BUSY)
    if isinstance(error, DataError):
        return explain_data(error)
    for pattern, advice in _UNAVAILABLE:
        match = pattern.search(message) or pattern.search(type(error.orig).__name__)
        if match:
            return LedgerUnavailable(advice.format(*match.groups()))
    if error.connection_invalidated or "connect" in message.lower():
        return LedgerUnavailable(
            "cannot reach the ledger database named in DATABASE_URL: check that the server "
            "is running and the host and port are right"
        )
    return LedgerUnavailable(
        f"the ledger database failed ({type(error.orig).__name__}); nothing was written: "
        "try again, and report it if it persists"
    )


def explain_data(error: DataError) -> LedgerError:
    """A value the database cannot store (too long, out of range, a NUL byte) as a one-line
    :class:`LedgerError`: a data error, never a transient one."""
    detail = str(error.orig).splitlines()[0] if error.orig else str(error)
    return LedgerError(f"the ledger refused a value: {detail}")
