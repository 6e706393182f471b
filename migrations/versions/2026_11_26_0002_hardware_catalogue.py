"""Hardware catalogue.

Revision ID: 20261126_0002
Revises: 20261126_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261126_0002"
down_revision: str | None = "20261126_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "hardware",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("vendor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("form_factor", sa.String(length=64), nullable=True),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("peak_tflops", _json(), nullable=False),
        sa.Column("sparse_peak_tflops", _json(), nullable=False),
        sa.Column("memory_bandwidth_gbps", sa.Float(), nullable=True),
        sa.Column("interconnect_bandwidth_gbps", sa.Float(), nullable=True),
        sa.Column("power_watts", sa.Float(), nullable=True),
        sa.Column("price_per_hour_usd", sa.Float(), nullable=True),
        sa.Column("price_date", sa.String(length=10), nullable=True),
        sa.Column("price_source", sa.Text(), nullable=True),
        sa.Column("sources", _json(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('gpu', 'tpu', 'accelerator')", name=op.f("ck_hardware_kind")),
        sa.CheckConstraint("origin IN ('seed', 'api')", name=op.f("ck_hardware_origin")),
        sa.CheckConstraint("memory_bytes > 0", name=op.f("ck_hardware_memory_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hardware")),
        sa.UniqueConstraint("slug", name=op.f("uq_hardware_slug")),
    )
    with op.batch_alter_table("hardware") as batch_op:
        batch_op.create_index(batch_op.f("ix_hardware_memory_bytes"), ["memory_bytes"])


def downgrade() -> None:
    with op.batch_alter_table("hardware") as batch_op:
        batch_op.drop_index(batch_op.f("ix_hardware_memory_bytes"))
    op.drop_table("hardware")
