"""document renderer

Revision ID: 0017
Revises: 0016
Each document records what rendered it (``documents.renderer``: our renderer's
version, the libraries writing the bytes, a digest of the embedded fonts), so a
re-rendering either reproduces the stored hash or says the renderer changed.
Existing documents keep NULL: what rendered them was not recorded, and a
re-rendering of one is reported as such rather than compared.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renderer", sa.String(length=255), nullable=True))


def downgrade() -> None:
    """Downgrade schema: the recorded renderers are dropped."""
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("renderer")
