"""Training plans.

Revision ID: 20261126_0004
Revises: 20261126_0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261126_0004"
down_revision: str | None = "20261126_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "plan",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("model_source", sa.String(length=32), nullable=False),
        sa.Column("gpu", sa.String(length=64), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("fits", sa.Boolean(), nullable=False),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("results", _json(), nullable=False),
        sa.Column("estimator_version", sa.String(length=64), nullable=False),
        sa.Column("recomputed_from", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recomputed_from"],
            ["plan.id"],
            name=op.f("fk_plan_recomputed_from_plan"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
    )
    with op.batch_alter_table("plan") as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_model"), ["model"])
        batch_op.create_index(batch_op.f("ix_plan_gpu"), ["gpu"])
        batch_op.create_index(batch_op.f("ix_plan_fits"), ["fits"])
        batch_op.create_index(batch_op.f("ix_plan_recomputed_from"), ["recomputed_from"])
        batch_op.create_index(batch_op.f("ix_plan_created_at"), ["created_at"])


def downgrade() -> None:
    op.drop_table("plan")
