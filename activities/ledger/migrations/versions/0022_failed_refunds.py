"""failed refunds

Revision ID: 0022
Revises: 0021
A refund that the card network returns (Stripe's ``refund.failed``) is recorded as a
second refund row of the opposite sign, so the ledger stays append-only, the month
the refund left stays as it was signed off, and every sum of ``refunds.amount`` (the
payment's ``refunded``, the close registers) is already net of it. The CHECK that
a refund is positive becomes "not zero". Existing rows are unchanged.

On SQLite the constraint can only change by copying the table, which drops its
triggers (the period lock of 0004): they are read before and created again after.

"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

# revision identifiers, used by Alembic.
revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _check(old: str, new: str, condition: str) -> None:
    bind = op.get_bind()
    triggers: list[str] = []
    if bind.dialect.name == "sqlite":
        triggers = list(
            bind.execute(
                text(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name = 'refunds' ORDER BY name"
                )
            ).scalars()
        )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(old), type_="check")
        batch_op.create_check_constraint(op.f(new), condition)
    for sql in triggers:
        op.execute(sql)


def upgrade() -> None:
    """Upgrade schema."""
    _check("ck_refunds_amount_positive", "ck_refunds_amount_not_zero", "amount <> 0")


def downgrade() -> None:
    """Downgrade schema: refused while a failed refund is recorded (the CHECK would fail)."""
    _check("ck_refunds_amount_not_zero", "ck_refunds_amount_positive", "amount > 0")
