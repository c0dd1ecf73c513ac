"""money adds up: the database checks each payment and invoice a transaction moved

Revision ID: 0025
Revises: 0024
Every money movement locks its rows in one order (activities/ledger/locks.py) and
writes figures computed from them; the CHECKs of 0001 stop a balance below zero or a
refund above its payment. What they cannot see is a lost update: two writers that
read the same balance and both wrote theirs leave every column in range while cash
was applied twice, or vanished. These triggers are the last guard against such a
bug: at COMMIT (constraint triggers, deferred), for every payment and invoice the
transaction touched,

- a payment adds up: its refunds are its ``refunded`` column, and applications +
  ``unapplied`` + ``refunded`` + what its overpayment put on the account as credit
  = ``amount`` (activities/ledger/invariants.py checks the same over the whole book);
- an invoice was never paid more than it asked: the net of its payment applications is
  between 0 and ``amount_due - balance`` (credit notes pay the rest), and 0 on a void
  invoice (it was re-issued unpaid, and a payment never lands on it).

A violation rolls the whole transaction back with the figures (SQLSTATE P0001, which
the ledger reports as a refusal naming the record). Inserted invoices are not checked
(nothing is applied to them yet), so a bill run's COPY pays nothing for this.

PostgreSQL only: SQLite has no deferred triggers, and its writers hold the database's
single write lock from their first read (activities/ledger/db.py), so the lost update
these guard against cannot happen there.

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTIONS = (
    """
CREATE FUNCTION ledger_payment_adds_up(checked integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  p record;
  applied numeric;
  refunds numeric;
  credit numeric;
BEGIN
  SELECT processor_id, amount, unapplied, refunded, currency INTO p
  FROM payments WHERE id = checked;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  applied := (SELECT coalesce(sum(amount), 0) FROM payment_applications
              WHERE payment_id = checked);
  refunds := (SELECT coalesce(sum(amount), 0) FROM refunds WHERE payment_id = checked);
  credit := (SELECT coalesce(sum(amount), 0) FROM credit_notes
             WHERE idempotency_key = 'overpayment:' || p.processor_id);
  IF refunds <> p.refunded OR applied + p.unapplied + p.refunded + credit <> p.amount THEN
    RAISE EXCEPTION 'payment %: applied % + unapplied % + refunded % (refund rows %) + '
      'to account credit % does not add up to the % % received; nothing was written',
      p.processor_id, round(applied, 2), round(p.unapplied, 2), round(p.refunded, 2),
      round(refunds, 2), round(credit, 2), round(p.amount, 2), p.currency;
  END IF;
END $$
""",
    """
CREATE FUNCTION ledger_invoice_paid_within(checked integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  i record;
  applied numeric;
BEGIN
  SELECT number, status, amount_due, balance, currency INTO i FROM invoices WHERE id = checked;
  IF NOT FOUND OR i.status = 'draft' THEN
    RETURN;
  END IF;
  applied := (SELECT coalesce(sum(amount), 0) FROM payment_applications
              WHERE invoice_id = checked);
  IF applied < 0
     OR (i.status = 'void' AND applied <> 0)
     OR (i.status <> 'void' AND applied > i.amount_due - i.balance) THEN
    RAISE EXCEPTION 'invoice %: payments applied % % while it is % with % of % due left '
      'open; nothing was written',
      coalesce(i.number, '#' || checked), round(applied, 2), i.currency, i.status,
      round(i.balance, 2), round(i.amount_due, 2);
  END IF;
END $$
""",
    """
CREATE FUNCTION ledger_money_adds_up() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  r := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  IF TG_TABLE_NAME = 'payments' THEN
    PERFORM ledger_payment_adds_up(r.id);
  ELSIF TG_TABLE_NAME = 'refunds' THEN
    PERFORM ledger_payment_adds_up(r.payment_id);
  ELSIF TG_TABLE_NAME = 'payment_applications' THEN
    PERFORM ledger_payment_adds_up(r.payment_id);
    PERFORM ledger_invoice_paid_within(r.invoice_id);
  ELSE
    PERFORM ledger_invoice_paid_within(r.id);
  END IF;
  RETURN NULL;
END $$
""",
)

#: table -> the writes that can break its sums.
_TRIGGERS = {
    "payments": "INSERT OR UPDATE",
    "refunds": "INSERT OR UPDATE OR DELETE",
    "payment_applications": "INSERT OR UPDATE OR DELETE",
    "invoices": "UPDATE",
}


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in _FUNCTIONS:
        op.execute(function)
    for table, events in _TRIGGERS.items():
        op.execute(
            f"CREATE CONSTRAINT TRIGGER ledger_money_adds_up AFTER {events} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_money_adds_up()"
        )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TRIGGERS:
        op.execute(f"DROP TRIGGER ledger_money_adds_up ON {table}")
    op.execute("DROP FUNCTION ledger_money_adds_up()")
    op.execute("DROP FUNCTION ledger_invoice_paid_within(integer)")
    op.execute("DROP FUNCTION ledger_payment_adds_up(integer)")
