"""User-fitted scaling laws.

Revision ID: 20261126_0003
Revises: 20261126_0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261126_0003"
down_revision: str | None = "20261126_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "scaling_law",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("citation", sa.Text(), nullable=False),
        sa.Column("constants", _json(), nullable=False),
        sa.Column("fit", _json(), nullable=False),
        sa.Column("runs", _json(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaling_law")),
        sa.UniqueConstraint("slug", name=op.f("uq_scaling_law_slug")),
    )


def downgrade() -> None:
    op.drop_table("scaling_law")
