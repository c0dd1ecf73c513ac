"""Ledger errors that an analyst can read: each names the record or the rule."""

from __future__ import annotations

import re

from sqlalchemy.exc import DataError, IntegrityError


class LedgerError(ValueError):
    """A request the ledger refuses; nothing was written."""


#: Exception type names that mean "the data is wrong" (pydantic's ValidationError: data that
#: does not fit its model): an activity that raises one (as such, or wrapped in an
#: ApplicationError of that type) is never retried. Every workflow's
#: retry policy lists them, so no data error can retry forever.
DATA_ERRORS = ["LedgerError", "NotFound", "IntegrityError", "DataError", "ValidationError"]


class NotFound(LedgerError):
    """The named record does not exist."""


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
    name = _constraint_name(error)
    if name == "FOREIGN KEY" or (name and name.startswith("fk_")):
        return LedgerError("the record refers to something that does not exist (foreign key)")
    rule = _RULES.get(name or "")
    if rule:
        return LedgerError(f"{rule} (constraint {name})")
    detail = str(error.orig).splitlines()[0] if error.orig else str(error)
    return LedgerError(f"the ledger refused the change: {detail}")


def _constraint_name(error: IntegrityError) -> str | None:
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


def explain_data(error: DataError) -> LedgerError:
    """A value the database cannot store (too long, out of range, a NUL byte) as a one-line
    :class:`LedgerError`: a data error, never a transient one."""
    detail = str(error.orig).splitlines()[0] if error.orig else str(error)
    return LedgerError(f"the ledger refused a value: {detail}")
