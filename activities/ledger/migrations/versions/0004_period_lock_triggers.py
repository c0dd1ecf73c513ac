"""period lock in the database

Revision ID: 0004
Revises: 0003
The period lock moves into the database: triggers on every money table refuse
a row dated inside a closed period, whatever writes it (ORM, Core, bulk, raw
SQL). A month is closed when it was signed off, or when it lies before the
last signed-off month and was never reopened (reopened_periods, append-only).
On PostgreSQL the check holds a ROW SHARE lock on closed_periods to the end of
the writer's transaction and a sign-off takes EXCLUSIVE, so a write checked
before a sign-off cannot commit after it (see activities/ledger/periods.py).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> (noun, date column, columns later dated events may move)
DATED = {
    "invoices": ("invoice", "issue_date", ("balance", "status")),
    "payments": ("payment", "received_at", ("unapplied", "refunded")),
    "payment_applications": ("payment application", "applied_at", ()),
    "credit_notes": ("credit note", "issued_at", ("unapplied",)),
    "refunds": ("refund", "refunded_at", ()),
}
#: An invoice moving between these statuses follows dated payments; others change the booking.
SETTLED = ("open", "paid", "uncollectible")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "reopened_periods",
        sa.Column("period", sa.String(length=7), nullable=False, comment="YYYY-MM"),
        sa.Column(
            "timezone", sa.String(length=64), nullable=False, comment="timezone of the bounds"
        ),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("reopened_by", sa.String(length=120), nullable=False),
        sa.Column("reopened_at", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_reopened_periods_bounds_ordered")),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_reopened_periods")),
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgresql_triggers()


# --- PostgreSQL ---------------------------------------------------------------------------------

_PG_FUNCTIONS = (
    """
CREATE FUNCTION ledger_closed_at(at timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  found text;
BEGIN
  -- Held to the end of the writer's transaction: a sign-off (EXCLUSIVE) waits for
  -- this writer to finish, and a writer arriving during a sign-off waits, then sees it.
  LOCK TABLE closed_periods IN ROW SHARE MODE;
  SELECT period INTO found FROM closed_periods WHERE at >= starts_at AND at < ends_at;
  IF found IS NOT NULL THEN
    RETURN found;
  END IF;
  IF at < (SELECT max(ends_at) FROM closed_periods) AND NOT EXISTS (
       SELECT 1 FROM reopened_periods WHERE at >= starts_at AND at < ends_at) THEN
    RETURN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM') || ' (never signed off, before '
      || (SELECT max(period) FROM closed_periods) || ' which was)';
  END IF;
  RETURN NULL;
END $$
""",
    """
CREATE FUNCTION ledger_closed_on(day date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  month text := to_char(day, 'YYYY-MM');
  horizon text;
BEGIN
  LOCK TABLE closed_periods IN ROW SHARE MODE;
  IF EXISTS (SELECT 1 FROM closed_periods WHERE period = month) THEN
    RETURN month;
  END IF;
  horizon := (SELECT max(period) FROM closed_periods);
  IF month < horizon AND NOT EXISTS (SELECT 1 FROM reopened_periods WHERE period = month) THEN
    RETURN month || ' (never signed off, before ' || horizon || ' which was)';
  END IF;
  RETURN NULL;
END $$
""",
    f"""
CREATE FUNCTION ledger_period_lock() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  noun text := TG_ARGV[0];
  dated text := TG_ARGV[1];
  free text[] := string_to_array(TG_ARGV[2], ',');
  settled text[] := ARRAY{list(SETTLED)!r};
  old_row jsonb;
  new_row jsonb;
  states jsonb[] := ARRAY[]::jsonb[];
  state jsonb;
  closed text;
BEGIN
  IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
  IF TG_OP = 'INSERT' THEN
    states := ARRAY[new_row];
  ELSIF TG_OP = 'DELETE' THEN
    states := ARRAY[old_row];
  ELSIF (old_row - free) IS DISTINCT FROM (new_row - free)
     OR (old_row->>'status' IS DISTINCT FROM new_row->>'status'
         AND NOT (old_row->>'status' = ANY(settled) AND new_row->>'status' = ANY(settled))) THEN
    states := ARRAY[old_row, new_row];
  END IF;
  FOREACH state IN ARRAY states LOOP
    CONTINUE WHEN state->>'status' = 'draft';
    IF dated = 'issue_date' THEN
      closed := ledger_closed_on((state->>dated)::date);
    ELSE
      closed := ledger_closed_at((state->>dated)::timestamptz);
    END IF;
    IF closed IS NOT NULL THEN
      RAISE EXCEPTION '% % dated %: period % is closed; book this in the open period',
        noun, coalesce(state->>'number', state->>'processor_id', '#' || (state->>'id')),
        state->>dated, closed;
    END IF;
  END LOOP;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$
""",
    """
CREATE FUNCTION ledger_period_lock_lines() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  invoice record;
  closed text;
BEGIN
  FOR invoice IN SELECT number, status, issue_date FROM invoices WHERE id IN (
      CASE WHEN TG_OP <> 'INSERT' THEN OLD.invoice_id END,
      CASE WHEN TG_OP <> 'DELETE' THEN NEW.invoice_id END) LOOP
    CONTINUE WHEN invoice.status = 'draft';
    closed := ledger_closed_on(invoice.issue_date);
    IF closed IS NOT NULL THEN
      RAISE EXCEPTION 'line of invoice % dated %: period % is closed; book this in the open period',
        invoice.number, invoice.issue_date, closed;
    END IF;
  END LOOP;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$
""",
    """
CREATE FUNCTION reopened_periods_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'reopened_periods is append-only: a reopening is kept as it was approved';
END $$
""",
)


def _postgresql_triggers() -> None:
    for function in _PG_FUNCTIONS:
        op.execute(function)
    for table, (noun, column, free) in DATED.items():
        op.execute(
            f"CREATE TRIGGER {table}_period_lock BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ledger_period_lock('{noun}', '{column}', "
            f"'{','.join(free)}')"
        )
    op.execute(
        "CREATE TRIGGER invoice_lines_period_lock BEFORE INSERT OR UPDATE OR DELETE "
        "ON invoice_lines FOR EACH ROW EXECUTE FUNCTION ledger_period_lock_lines()"
    )
    op.execute(
        "CREATE TRIGGER reopened_periods_append_only "
        "BEFORE UPDATE OR DELETE OR TRUNCATE ON reopened_periods "
        "FOR EACH STATEMENT EXECUTE FUNCTION reopened_periods_append_only()"
    )


# --- SQLite -------------------------------------------------------------------------------------


def _closed_at(value: str) -> str:
    at = f"datetime({value})"
    return (
        f"(EXISTS (SELECT 1 FROM closed_periods c WHERE {at} >= datetime(c.starts_at) "
        f"AND {at} < datetime(c.ends_at)) OR ({at} < (SELECT max(datetime(ends_at)) "
        "FROM closed_periods) AND NOT EXISTS (SELECT 1 FROM reopened_periods r "
        f"WHERE {at} >= datetime(r.starts_at) AND {at} < datetime(r.ends_at))))"
    )


def _closed_on(value: str) -> str:
    month = f"substr({value}, 1, 7)"
    return (
        f"(EXISTS (SELECT 1 FROM closed_periods c WHERE c.period = {month}) OR ({month} < "
        "(SELECT max(period) FROM closed_periods) AND NOT EXISTS (SELECT 1 FROM "
        f"reopened_periods r WHERE r.period = {month})))"
    )


def _sqlite_trigger(name: str, when: str, table: str, condition: str, message: str) -> None:
    op.execute(
        f"CREATE TRIGGER {name} BEFORE {when} ON {table} WHEN {condition} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )


def _sqlite_triggers() -> None:
    inspector = sa.inspect(op.get_bind())
    settled = ", ".join(f"'{status}'" for status in SETTLED)
    for table, (noun, column, free) in DATED.items():

        def state(row: str, table: str = table, column: str = column) -> str:
            """The row as ``row`` (OLD or NEW) is booked inside a closed period."""
            if table == "invoices":
                return f"({row}.status <> 'draft' AND {_closed_on(f'{row}.{column}')})"
            return _closed_at(f"{row}.{column}")

        message = (
            f"{noun} dated inside a closed period (signed off, or before the last signed-off "
            "month and not reopened): book it in the open period"
        )
        kept = [c["name"] for c in inspector.get_columns(table) if c["name"] not in free]
        changed = " OR ".join(f"OLD.{name} IS NOT NEW.{name}" for name in kept)
        if "status" in free:
            changed += (
                f" OR (OLD.status IS NOT NEW.status AND NOT (OLD.status IN ({settled}) "
                f"AND NEW.status IN ({settled})))"
            )
        _sqlite_trigger(f"{table}_period_lock_insert", "INSERT", table, state("NEW"), message)
        _sqlite_trigger(f"{table}_period_lock_delete", "DELETE", table, state("OLD"), message)
        _sqlite_trigger(
            f"{table}_period_lock_update",
            "UPDATE",
            table,
            f"({changed}) AND ({state('OLD')} OR {state('NEW')})",
            message,
        )
    line_message = (
        "line of an invoice dated inside a closed period: book the change in the open period"
    )
    for when, rows in (("INSERT", ("NEW",)), ("DELETE", ("OLD",)), ("UPDATE", ("OLD", "NEW"))):
        condition = " OR ".join(
            f"EXISTS (SELECT 1 FROM invoices i WHERE i.id = {row}.invoice_id "
            f"AND i.status <> 'draft' AND {_closed_on('i.issue_date')})"
            for row in rows
        )
        _sqlite_trigger(
            f"invoice_lines_period_lock_{when.lower()}",
            when,
            "invoice_lines",
            condition,
            line_message,
        )
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER reopened_periods_no_{verb.lower()} BEFORE {verb} ON reopened_periods "
            "BEGIN SELECT RAISE(ABORT, 'reopened_periods is append-only: a reopening is kept "
            "as it was approved'); END"
        )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "sqlite":
        for table in (*DATED, "invoice_lines"):
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_period_lock_{verb}")
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER reopened_periods_no_{verb}")
    else:
        for table in (*DATED, "invoice_lines"):
            op.execute(f"DROP TRIGGER {table}_period_lock ON {table}")
        op.execute("DROP TRIGGER reopened_periods_append_only ON reopened_periods")
        for function in (
            "ledger_period_lock()",
            "ledger_period_lock_lines()",
            "ledger_closed_at(timestamptz)",
            "ledger_closed_on(date)",
            "reopened_periods_append_only()",
        ):
            op.execute(f"DROP FUNCTION {function}")
    op.drop_table("reopened_periods")
