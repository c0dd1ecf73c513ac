"""closed periods

Revision ID: 0003
Revises: 0002
A signed-off month is kept as signed: triggers refuse UPDATE and DELETE on
closed_periods on both databases.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "closed_periods",
        sa.Column("period", sa.String(length=7), nullable=False, comment="YYYY-MM"),
        sa.Column(
            "timezone", sa.String(length=64), nullable=False, comment="timezone of the cut-off"
        ),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column(
            "ends_at", UtcDateTime(), nullable=False, comment="the cut-off: first instant after it"
        ),
        sa.Column("closing_ar", sa.JSON(), nullable=False, comment="currency -> decimal string"),
        sa.Column("signed_off_by", sa.String(length=120), nullable=False),
        sa.Column("signed_off_at", UtcDateTime(), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_closed_periods_bounds_ordered")),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_closed_periods")),
    )
    _forbid_reopening()


def _forbid_reopening() -> None:
    """A sign-off cannot be edited or withdrawn by any code, only corrected in the open period."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER closed_periods_no_{verb.lower()} BEFORE {verb} ON closed_periods "
                "BEGIN SELECT RAISE(ABORT, 'closed_periods is append-only: a signed-off period "
                "stays closed'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION closed_periods_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'closed_periods is append-only: a signed-off period stays closed'; "
        "END $$"
    )
    op.execute(
        "CREATE TRIGGER closed_periods_append_only "
        "BEFORE UPDATE OR DELETE OR TRUNCATE ON closed_periods "
        "FOR EACH STATEMENT EXECUTE FUNCTION closed_periods_append_only()"
    )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER closed_periods_no_update")
        op.execute("DROP TRIGGER closed_periods_no_delete")
    else:
        op.execute("DROP TRIGGER closed_periods_append_only ON closed_periods")
        op.execute("DROP FUNCTION closed_periods_append_only()")
    op.drop_table("closed_periods")
