"""period lock: inserts checked once per statement

Revision ID: 0021
Revises: 0020
The period lock of migration 0004 checked every inserted row in its own PL/pgSQL call
(``to_jsonb`` of the row, and per invoice line a lookup of its invoice): about half of
the database's work in a bill run's batch (bench/README.md). On PostgreSQL an insert
into a dated table (invoices, invoice lines, payments, payment applications, credit
notes, refunds) is now checked by a statement-level trigger over the statement's
transition table: one query for the whole statement (a multi-row INSERT, a COPY), which
first takes the same ROW SHARE lock on closed_periods and reads the last signed-off
month; rows dated after it cannot be closed and need nothing more, the others go
through the same ``ledger_closed_on`` / ``ledger_closed_at`` as before, with the same
refusal. Updates and deletes keep 0004's row triggers unchanged. SQLite keeps its
triggers (it has no statement-level ones).

The check now runs after the statement's rows are written and before the statement
returns (an AFTER STATEMENT trigger; transition tables exist only there): a refusal
aborts the statement as before, so nothing of it remains.

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> (noun, date column, columns later dated events may move): migration 0004's.
DATED = {
    "invoices": ("invoice", "issue_date", ("balance", "status")),
    "payments": ("payment", "received_at", ("unapplied", "refunded")),
    "payment_applications": ("payment application", "applied_at", ()),
    "credit_notes": ("credit note", "issued_at", ("unapplied",)),
    "refunds": ("refund", "refunded_at", ()),
}

_FUNCTIONS = (
    # Invoices are dated by day: only a day in a month up to the last signed-off one can
    # be closed, and each such day is asked once.
    """
CREATE FUNCTION ledger_period_lock_invoices_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  horizon text;
  hit record;
  closed text;
BEGIN
  -- Held to the end of the writer's transaction, as in ledger_closed_on (migration 0004).
  LOCK TABLE closed_periods IN ROW SHARE MODE;
  horizon := (SELECT max(period) FROM closed_periods);
  IF horizon IS NULL THEN
    RETURN NULL;  -- nothing was ever signed off: nothing is closed
  END IF;
  FOR hit IN
    SELECT DISTINCT ON (issue_date) issue_date, number, id FROM inserted_rows
    WHERE status <> 'draft'
      AND issue_date < (to_date(horizon, 'YYYY-MM') + interval '1 month')
    ORDER BY issue_date, id
  LOOP
    closed := ledger_closed_on(hit.issue_date);
    IF closed IS NOT NULL THEN
      RAISE EXCEPTION 'invoice % dated %: period % is closed; book this in the open period',
        coalesce(hit.number, '#' || hit.id), hit.issue_date, closed;
    END IF;
  END LOOP;
  RETURN NULL;
END $$
""",
    # Payments, applications, credit notes, refunds are dated by instant (TG_ARGV[1]):
    # only an instant before the end of the last signed-off month can be closed.
    """
CREATE FUNCTION ledger_period_lock_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  noun text := TG_ARGV[0];
  dated text := TG_ARGV[1];
  horizon_end timestamptz;
  hit record;
  closed text;
BEGIN
  LOCK TABLE closed_periods IN ROW SHARE MODE;
  horizon_end := (SELECT max(ends_at) FROM closed_periods);
  IF horizon_end IS NULL THEN
    RETURN NULL;
  END IF;
  FOR hit IN EXECUTE format(
      'SELECT DISTINCT ON (%1$I) %1$I AS at, to_jsonb(r) AS state FROM inserted_rows r '
      'WHERE %1$I < $1 ORDER BY %1$I', dated) USING horizon_end
  LOOP
    closed := ledger_closed_at(hit.at);
    IF closed IS NOT NULL THEN
      RAISE EXCEPTION '% % dated %: period % is closed; book this in the open period',
        noun, coalesce(hit.state->>'number', hit.state->>'processor_id',
                       '#' || (hit.state->>'id')),
        hit.state->>dated, closed;
    END IF;
  END LOOP;
  RETURN NULL;
END $$
""",
    # Lines are dated by their invoice: the statement's invoices are read once, by id.
    """
CREATE FUNCTION ledger_period_lock_lines_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  horizon text;
  invoice record;
  closed text;
BEGIN
  LOCK TABLE closed_periods IN ROW SHARE MODE;
  horizon := (SELECT max(period) FROM closed_periods);
  IF horizon IS NULL THEN
    RETURN NULL;
  END IF;
  FOR invoice IN
    SELECT DISTINCT ON (issue_date) number, issue_date FROM invoices
    WHERE id = ANY (ARRAY(SELECT DISTINCT invoice_id FROM inserted_rows))
      AND status <> 'draft'
      AND issue_date < (to_date(horizon, 'YYYY-MM') + interval '1 month')
    ORDER BY issue_date, id
  LOOP
    closed := ledger_closed_on(invoice.issue_date);
    IF closed IS NOT NULL THEN
      RAISE EXCEPTION 'line of invoice % dated %: period % is closed; book this in the open period',
        invoice.number, invoice.issue_date, closed;
    END IF;
  END LOOP;
  RETURN NULL;
END $$
""",
)


def _per_statement(table: str, function: str) -> str:
    return (
        f"CREATE TRIGGER {table}_period_lock_insert AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}"
    )


def _per_row(table: str, events: str) -> str:
    if table == "invoice_lines":
        function = "ledger_period_lock_lines()"
    else:
        noun, column, free = DATED[table]
        function = f"ledger_period_lock('{noun}', '{column}', '{','.join(free)}')"
    return (
        f"CREATE TRIGGER {table}_period_lock BEFORE {events} ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}"
    )


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in _FUNCTIONS:
        op.execute(function)
    for table in (*DATED, "invoice_lines"):
        op.execute(f"DROP TRIGGER {table}_period_lock ON {table}")
        op.execute(_per_row(table, "UPDATE OR DELETE"))
        if table == "invoices":
            op.execute(_per_statement(table, "ledger_period_lock_invoices_inserted()"))
        elif table == "invoice_lines":
            op.execute(_per_statement(table, "ledger_period_lock_lines_inserted()"))
        else:
            noun, column, _ = DATED[table]
            op.execute(_per_statement(table, f"ledger_period_lock_inserted('{noun}', '{column}')"))


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in (*DATED, "invoice_lines"):
        op.execute(f"DROP TRIGGER {table}_period_lock_insert ON {table}")
        op.execute(f"DROP TRIGGER {table}_period_lock ON {table}")
        op.execute(_per_row(table, "INSERT OR UPDATE OR DELETE"))
    for function in (
        "ledger_period_lock_invoices_inserted()",
        "ledger_period_lock_inserted()",
        "ledger_period_lock_lines_inserted()",
    ):
        op.execute(f"DROP FUNCTION {function}")
