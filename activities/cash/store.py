"""Bank statement lines in the ledger: import, the matcher's verdict, and people's decisions.

Every money movement goes through the ledger's public payment API
(:func:`activities.ledger.payments.record_payment`), with a processor id
derived from the bank's reference, so applying a line twice (a retried
command, two analysts at once) records nothing twice. A line's status moves
once, by a conditional UPDATE whose row count is checked: the second of two
concurrent decisions is refused, not applied on top of the first.

Short and over payments (docs/cash.md): a short payment is applied and the
rest of the invoice stays open (flagged as a write-off candidate below the
configured threshold, which then needs approval); cash beyond the selected
invoices follows the ledger's rule (the customer's oldest open invoices in
that currency) and what is left is kept as unapplied cash or account credit,
as config/cash.yaml says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from activities.billing.money import ZERO, quantum
from activities.cash.matcher import (
    Book,
    Line,
    OpenInvoice,
    Proposal,
    decide,
    match,
    normalize_account,
    normalize_name,
)
from activities.cash.policy import CashPolicy
from activities.cash.statements import StatementLine
from activities.collections.store import settle_promise
from activities.ledger import audit, locks
from activities.ledger.errors import LedgerError, NotFound, check_amount
from activities.ledger.models import (
    BankStatementLine,
    Base,
    Customer,
    Dispute,
    DisputedInvoice,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    PayerMapping,
    PayerMappingKind,
    Payment,
    PromiseStatus,
    PromiseToPay,
    StatementLineStatus,
)
from activities.ledger.payments import PaymentIn, PaymentResult, record_payment

#: Proposals kept on a line for review, best first.
KEPT_PROPOSALS = 5
_INSERT_CHUNK = 500


def insert_ignoring_duplicates(
    session: Session, model: type[Base], rows: list[dict[str, Any]], keys: list[str]
) -> list[int]:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, returning the ids of the rows inserted:
    a concurrent import of the same lines inserts each once, and neither fails."""
    table = model.__table__
    assert isinstance(table, Table)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted: list[int] = []
    for start in range(0, len(rows), _INSERT_CHUNK):
        statement = (
            insert(table)
            .values(rows[start : start + _INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c.id)
        )
        inserted.extend(session.execute(statement).scalars())
    return inserted


def import_lines(session: Session, lines: Sequence[StatementLine], now: datetime) -> list[int]:
    """Store the lines the ledger does not have yet (by bank reference); their ids.

    The reference keys the line: the same credit again (a statement imported twice, or
    repeated in one file) is stored once, but another credit under a reference already
    held is refused (:func:`_same_credit`), never dropped as a duplicate: its cash would
    not reach the ledger.
    """
    seen: dict[str, StatementLine] = {}
    rows = []
    for line in lines:
        first = seen.setdefault(line.bank_reference, line)
        if first is not line:
            if _credit(first) != _credit(line):
                raise LedgerError(
                    f"bank_reference: {line.bank_reference} is in the file twice, as "
                    f"{_describe(*_credit(first))} and {_describe(*_credit(line))}; "
                    "nothing was imported"
                )
            continue  # the same line twice in one file: the bank repeated itself
        rows.append(
            {
                "bank_reference": line.bank_reference,
                "statement_id": line.statement_id[:140],
                "account": line.account[:64],
                "booked_on": line.booked_on,
                "currency": line.currency,
                "amount": line.amount,
                "payer_name": line.payer_name,
                "payer_account": line.payer_account[:64],
                "remittance": line.remittance,
                "status": StatementLineStatus.REVIEW.value,
                "imported_at": now,
            }
        )
    if not rows:
        return []
    inserted = insert_ignoring_duplicates(session, BankStatementLine, rows, ["bank_reference"])
    if len(inserted) < len(rows):
        _same_credit(session, seen)
    return inserted


def _credit(line: StatementLine) -> tuple[Decimal, str, str]:
    """What makes a statement line the credit it is: amount, currency, account credited."""
    return line.amount, line.currency, line.account[:64]


def _describe(amount: Decimal, currency: str, account: str) -> str:
    return f"{_in_currency(amount, currency)} {currency} to {account}"


def _same_credit(session: Session, lines: dict[str, StatementLine]) -> None:
    """Refuse the import if a reference the ledger held already names another credit.

    Read after the insert, which waited for any import of the same references in flight:
    what it compares with is committed."""
    held = session.execute(
        select(
            BankStatementLine.bank_reference,
            BankStatementLine.amount,
            BankStatementLine.currency,
            BankStatementLine.account,
        ).where(BankStatementLine.bank_reference.in_(list(lines)))
    ).all()
    for reference, amount, currency, account in held:
        if (amount, currency, account) != _credit(lines[reference]):
            raise LedgerError(
                f"bank_reference: {reference} is already imported as "
                f"{_describe(amount, currency, account)}; the file has "
                f"{_describe(*_credit(lines[reference]))} under it (nothing was imported)"
            )


def load_book(session: Session) -> Book:
    """Open, undisputed invoices with a balance; customer names and learned aliases; learned
    payer accounts. Read as plain rows: a book of 50,000 invoices loads in a second."""
    held = (
        select(DisputedInvoice.invoice_id)
        .join(Dispute, Dispute.id == DisputedInvoice.dispute_id)
        .where(Dispute.status == DisputeStatus.OPEN)
    )
    rows = session.execute(
        select(
            Invoice.number,
            Invoice.customer_id,
            Invoice.currency,
            Invoice.balance,
            Invoice.due_date,
        ).where(
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.balance > ZERO,
            Invoice.number.is_not(None),
            Invoice.id.not_in(held),
        )
    ).all()
    invoices = [
        OpenInvoice(
            r.number or "",
            r.customer_id,
            r.currency,
            _in_currency(r.balance, r.currency),
            r.due_date,
        )
        for r in rows
    ]
    names: dict[str, list[str]] = {}
    for customer_id, legal_name in session.execute(select(Customer.id, Customer.legal_name)):
        names[customer_id] = [legal_name]
    accounts: dict[str, str] = {}
    for kind, key, customer_id in session.execute(
        select(PayerMapping.kind, PayerMapping.key, PayerMapping.customer_id).where(
            PayerMapping.kind.in_((PayerMappingKind.ACCOUNT, PayerMappingKind.NAME))
        )
    ):
        if kind == PayerMappingKind.ACCOUNT:
            accounts[key] = customer_id
        else:
            names.setdefault(customer_id, []).append(key)
    return Book(invoices, names, accounts)


def _in_currency(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(quantum(currency))


def _line_for_matcher(row: BankStatementLine) -> Line:
    return Line(row.amount, row.currency, row.payer_name, row.payer_account, row.remittance)


def _proposal_json(proposal: Proposal) -> dict[str, Any]:
    return {
        "customer_id": proposal.customer_id,
        "allocations": [
            {"invoice": a.invoice_number, "amount": str(a.amount)} for a in proposal.allocations
        ],
        "remainder": str(proposal.remainder),
        "shortfall": str(proposal.shortfall),
        "confidence": proposal.confidence,
        "reasons": list(proposal.reasons),
    }


@dataclass
class Applied:
    """What applying one line did, for the caller to report and to wake cadences."""

    line_id: int
    customer_id: str
    received_at: datetime
    payments: list[PaymentResult] = field(default_factory=list)
    promises_kept: list[int] = field(default_factory=list)


@dataclass
class MatchSummary:
    applied: list[Applied] = field(default_factory=list)
    for_review: list[int] = field(default_factory=list)


def match_lines(
    session: Session,
    line_ids: Iterable[int],
    book: Book,
    policy: CashPolicy,
    now: datetime,
    actor: str,
) -> MatchSummary:
    """Propose for each line; apply the sure ones, keep the rest (with proposals) for review.

    Each application runs in a savepoint: a line the ledger refuses (an invoice
    paid meanwhile, a closed period) goes to review with the reason instead of
    stopping the batch. A line whose sure proposal pays an invoice that an earlier
    line of the batch already paid (a customer paying twice) goes to review too: the
    book it was matched against no longer holds.
    """
    summary = MatchSummary()
    touched: set[str] = set()  # invoices an earlier line of this batch paid: the book is stale
    for line_id in line_ids:
        row = session.get(BankStatementLine, line_id)
        if row is None or row.status != StatementLineStatus.REVIEW:
            continue
        proposals = match(_line_for_matcher(row), book)
        row.proposals = {"proposals": [_proposal_json(p) for p in proposals[:KEPT_PROPOSALS]]}
        sure = decide(proposals, policy.auto_apply_confidence)
        if sure is not None and touched.intersection(sure.invoices):
            row.proposals = {
                **row.proposals,
                "refused": "an earlier line of the same import paid "
                + ", ".join(sorted(touched.intersection(sure.invoices))),
            }
            sure = None
        if sure is None:
            summary.for_review.append(line_id)
            continue
        try:
            with session.begin_nested():
                applied = apply_line(
                    session,
                    line_id,
                    sure.customer_id,
                    [a.invoice_number for a in sure.allocations],
                    policy,
                    actor,
                    now,
                    reason=f"automatic, confidence {sure.confidence}: " + "; ".join(sure.reasons),
                    learn=any("remittance names" in r for r in sure.reasons),
                )
        except LedgerError as refused:
            row.proposals = {**row.proposals, "refused": str(refused)}
            summary.for_review.append(line_id)
            continue
        summary.applied.append(applied)
        touched.update(a.invoice_number for p in applied.payments for a in p.applications)
    return summary


def apply_line(
    session: Session,
    line_id: int,
    customer_id: str,
    invoice_numbers: Sequence[str],
    policy: CashPolicy,
    actor: str,
    now: datetime,
    *,
    amounts: Sequence[Decimal] | None = None,
    reason: str,
    learn: bool = True,
) -> Applied:
    """Apply the line's cash to ``customer_id``'s invoices, in the order given.

    Without ``amounts`` each invoice takes up to its balance (a split names the
    amounts). One ledger payment per invoice (``bank:<reference>#n``), so each
    lands on its own invoice; cash beyond them is one more payment that follows
    the ledger's rule and the overpayment policy. A confirmed match teaches the
    payer's account and name when ``learn``.
    """
    row = _take(session, line_id, StatementLineStatus.APPLIED, actor, now)
    # The plan is made from the invoices as they are under the customer's lock: a card
    # payment or credit note of the same invoice committed a moment ago is seen, not
    # overwritten (the ledger's lock order: customer, payment, invoices).
    customer = locks.customer(session, customer_id)
    plan = _plan(session, row, customer.id, invoice_numbers, amounts)
    received_at = datetime.combine(row.booked_on, time(12), tzinfo=UTC)
    applied = Applied(line_id, customer.id, received_at)
    base = f"bank:{row.bank_reference}"
    for position, (number, amount) in enumerate(plan, start=1):
        processor_id = base if len(plan) == 1 and number else f"{base}#{position}"
        applied.payments.append(
            record_payment(
                session,
                PaymentIn(
                    customer_id=customer.id,
                    processor_id=processor_id[:100],
                    amount=amount,
                    currency=row.currency,
                    received_at=received_at,
                    method="bank_transfer",
                    invoice_number=number,
                    overpayment=policy.overpayment,
                ),
                actor,
            )
        )
    row.customer_id = customer.id
    row.decision = {
        "invoices": [n for n, _ in plan if n],
        "payments": [p.processor_id for p in applied.payments],
        "reason": reason,
    }
    audit.record(
        session,
        at=now,
        actor=actor,
        action="cash.applied",
        subject_type="bank_line",
        subject_id=row.bank_reference[:64],
        after={
            "customer_id": customer.id,
            "amount": row.amount,
            "currency": row.currency,
            "plan": [[n, a] for n, a in plan],
        },
        reason=reason,
    )
    if learn:
        _learn(session, row, customer.id, actor, now)
    applied.promises_kept = release_kept_promise(session, customer.id, actor, now)
    return applied


def _take(
    session: Session, line_id: int, to: StatementLineStatus, actor: str, now: datetime
) -> BankStatementLine:
    """Move the line out of review: a conditional UPDATE, so only one decision wins."""
    moved = cast(
        CursorResult[Any],
        session.execute(
            update(BankStatementLine)
            .where(
                BankStatementLine.id == line_id,
                BankStatementLine.status == StatementLineStatus.REVIEW,
            )
            .values(status=to, decided_by=actor, decided_at=now)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    row = session.get(BankStatementLine, line_id)
    if row is None:
        raise NotFound(f"line {line_id}: no such statement line")
    session.refresh(row)
    if moved != 1:
        raise LedgerError(
            f"line {line_id}: already {row.status.value} (by {row.decided_by}); nothing changed"
        )
    return row


def _plan(
    session: Session,
    row: BankStatementLine,
    customer_id: str,
    numbers: Sequence[str],
    amounts: Sequence[Decimal] | None,
) -> list[tuple[str | None, Decimal]]:
    """(invoice, amount) payments for the line; the last one without an invoice is over
    payment. Checks every invoice against the ledger, never against the payer's text."""
    if len(set(numbers)) != len(numbers):
        raise LedgerError("invoices: an invoice is named twice")
    if amounts is not None and len(amounts) != len(numbers):
        raise LedgerError("amounts: one amount per invoice")
    plan: list[tuple[str | None, Decimal]] = []
    remaining = row.amount
    for index, number in enumerate(numbers):
        invoice = session.scalar(
            select(Invoice)
            .where(Invoice.number == number)
            .execution_options(populate_existing=True)
        )
        if invoice is None or invoice.customer_id != customer_id:
            raise NotFound(f"invoices: {number!r} is not an invoice of {customer_id}")
        if invoice.status != InvoiceStatus.OPEN or invoice.balance <= ZERO:
            raise LedgerError(f"invoices: {number} is {invoice.status.value}, nothing to apply")
        if invoice.currency != row.currency:
            raise LedgerError(
                f"currency: {number} is in {invoice.currency}, the line in {row.currency}"
            )
        if amounts is None:
            take = min(remaining, invoice.balance)
        else:
            take = amounts[index]
            check_amount("amounts", take)
            if take <= ZERO or take > invoice.balance:
                raise LedgerError(
                    f"amounts: {take} on {number} must be positive and at most its balance "
                    f"{invoice.balance}"
                )
        if take > remaining:
            raise LedgerError(f"amounts: they add up to more than the line's {row.amount}")
        if take > ZERO:
            plan.append((number, take))
        remaining -= take
    if remaining > ZERO:
        plan.append((None, remaining))
    return plan


def _learn(
    session: Session, row: BankStatementLine, customer_id: str, actor: str, now: datetime
) -> None:
    """Remember the payer's account and name for this customer; a key already mapped to
    another customer is left as it is (ambiguous payers stay for people)."""
    rows = []
    if account := normalize_account(row.payer_account):
        rows.append((PayerMappingKind.ACCOUNT, account))
    if name := normalize_name(row.payer_name):
        rows.append((PayerMappingKind.NAME, name[:200]))
    for kind, key in rows:
        learned = insert_ignoring_duplicates(
            session,
            PayerMapping,
            [
                {
                    "kind": kind.value,
                    "key": key,
                    "customer_id": customer_id,
                    "learned_by": actor,
                    "learned_at": now,
                }
            ],
            ["kind", "key"],
        )
        if not learned:
            continue
        audit.record(
            session,
            at=now,
            actor=actor,
            action="cash.payer_learned",
            subject_type="customer",
            subject_id=customer_id,
            after={"kind": kind, "key": key, "line": row.bank_reference},
        )


def release_kept_promise(
    session: Session, customer_id: str, actor: str, now: datetime
) -> list[int]:
    """Mark the account's open promise to pay kept once the cash since it covers it.

    Only a kept promise is settled here (a promise not yet covered keeps waiting for its
    deadline, which the cadence checks)."""
    promise = session.scalar(
        select(PromiseToPay).where(
            PromiseToPay.customer_id == customer_id, PromiseToPay.status == PromiseStatus.OPEN
        )
    )
    if promise is None:
        return []
    paid = session.scalar(
        select(func.coalesce(func.sum(Payment.amount - Payment.refunded), 0)).where(
            Payment.customer_id == customer_id,
            Payment.currency == promise.currency,
            Payment.received_at >= promise.recorded_at,
        )
    )
    if Decimal(paid or 0) < promise.amount:
        return []
    latest = session.scalar(
        select(func.max(Payment.received_at)).where(Payment.customer_id == customer_id)
    )
    deadline = max(now, latest or now)
    status = settle_promise(
        session, promise.id, deadline=deadline + timedelta(microseconds=1), actor=actor, now=now
    )
    return [promise.id] if status == PromiseStatus.KEPT else []


def set_aside(
    session: Session,
    line_id: int,
    to: StatementLineStatus,
    actor: str,
    now: datetime,
    reason: str,
) -> BankStatementLine:
    """Leave the line as unapplied (suspense) cash, or mark it to be returned to the payer."""
    if to not in (StatementLineStatus.UNAPPLIED, StatementLineStatus.RETURNED):
        raise LedgerError(f"status: {to.value} is not a set-aside decision")
    if not reason.strip():
        raise LedgerError("reason: say why the cash is left unapplied or returned")
    row = _take(session, line_id, to, actor, now)
    row.decision = {"reason": reason.strip()}
    audit.record(
        session,
        at=now,
        actor=actor,
        action=f"cash.{to.value}",
        subject_type="bank_line",
        subject_id=row.bank_reference[:64],
        after={"amount": row.amount, "currency": row.currency},
        reason=reason.strip(),
    )
    return row


def review_queue(session: Session, limit: int | None = 50) -> list[BankStatementLine]:
    """Lines waiting for a person, oldest first."""
    return list(
        session.scalars(
            select(BankStatementLine)
            .where(BankStatementLine.status == StatementLineStatus.REVIEW)
            .order_by(BankStatementLine.booked_on, BankStatementLine.id)
            .limit(limit)
        )
    )


def review_count(session: Session) -> int:
    """How many lines wait for a person: the review list says what its limit left out."""
    waiting = BankStatementLine.status == StatementLineStatus.REVIEW
    return session.scalar(select(func.count()).select_from(BankStatementLine).where(waiting)) or 0


def get_line(session: Session, line_id: int) -> BankStatementLine:
    row = session.get(BankStatementLine, line_id)
    if row is None:
        raise NotFound(f"line {line_id}: no such statement line")
    return row
