"""order identity: the CRM opportunity and the content hash of the order as submitted

Revision ID: 0005
Revises: 0003
An order id names one order: a resubmission with other content is refused by
comparing the hash of its canonical JSON with the one stored at first receipt.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("opportunity_id", sa.String(length=64), nullable=True, comment="the CRM's")
        )
        batch.add_column(
            sa.Column(
                "content_hash",
                sa.String(length=64),
                nullable=True,
                comment="sha256 of the order as first submitted, canonical JSON",
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("content_hash")
        batch.drop_column("opportunity_id")
