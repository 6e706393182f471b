"""Model catalogue and the seed ledger.

Revision ID: 20261126_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261126_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "catalogue_seed",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "slug", name=op.f("pk_catalogue_seed")),
    )
    op.create_table(
        "model",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("objective", sa.String(length=32), nullable=False),
        sa.Column("parameters", sa.BigInteger(), nullable=False),
        sa.Column("training_tokens", sa.BigInteger(), nullable=True),
        sa.Column("training_tokens_note", sa.Text(), nullable=True),
        sa.Column("architecture", _json(), nullable=True),
        sa.Column("precision", sa.String(length=32), nullable=True),
        sa.Column("hardware", sa.String(length=200), nullable=True),
        sa.Column("gpu_hours", sa.Float(), nullable=True),
        sa.Column("organization", sa.String(length=200), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("use_cases", _json(), nullable=False),
        sa.Column("sources", _json(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "family IN ('encoder-only', 'decoder-only', 'encoder-decoder')",
            name=op.f("ck_model_family"),
        ),
        sa.CheckConstraint(
            "objective IN ('masked-lm', 'causal-lm', 'span-corruption', 'denoising')",
            name=op.f("ck_model_objective"),
        ),
        sa.CheckConstraint("origin IN ('seed', 'api')", name=op.f("ck_model_origin")),
        sa.CheckConstraint("parameters > 0", name=op.f("ck_model_parameters_positive")),
        sa.CheckConstraint(
            "training_tokens IS NULL OR training_tokens > 0",
            name=op.f("ck_model_training_tokens_positive"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model")),
        sa.UniqueConstraint("slug", name=op.f("uq_model_slug")),
    )
    with op.batch_alter_table("model") as batch_op:
        batch_op.create_index(batch_op.f("ix_model_parameters"), ["parameters"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model") as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_parameters"))
    op.drop_table("model")
    op.drop_table("catalogue_seed")
