"""credit note applications

Revision ID: 0015
Revises: 0010
Account credit spent on an invoice: which credit note, how much, when. The bill run
draws customers' unapplied credit down onto their next invoice; each row says where
a note's credit went (activities/recurring/credits.py).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import Money, UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "credit_note_applications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("credit_note_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("applied_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_note_applications_amount_positive")),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_credit_note_applications_credit_note_id_credit_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_credit_note_applications_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note_applications")),
        sa.UniqueConstraint(
            "credit_note_id", "invoice_id", name=op.f("uq_credit_note_applications_credit_note_id")
        ),
    )
    with op.batch_alter_table("credit_note_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_note_applications_credit_note_id"),
            ["credit_note_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_credit_note_applications_invoice_id"), ["invoice_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("credit_note_applications")
