"""Typed SQLAlchemy 2 tables. Alembic migrations own the schema; this mirrors it exactly.

Naming follows the project's conventions: singular snake_case table names, ``_at`` timestamps,
constraint names from one ``naming_convention`` so migrations can address them on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

FAMILIES = ("encoder-only", "decoder-only", "encoder-decoder")
OBJECTIVES = ("masked-lm", "causal-lm", "span-corruption", "denoising")
ORIGINS = ("seed", "api")


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the tables use."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored with their zone where the backend can, and always read back as UTC.

    SQLite has no zone-aware type and returns naive values; normalising here keeps the API's
    timestamps identical on both backends.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def json_column() -> Any:
    """JSON everywhere, JSONB on PostgreSQL."""
    return JSON().with_variant(JSONB(), "postgresql")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ModelRow(Base):
    """One language model of the catalogue."""

    __tablename__ = "model"
    __table_args__ = (
        CheckConstraint(_in("family", FAMILIES), name="family"),
        CheckConstraint(_in("objective", OBJECTIVES), name="objective"),
        CheckConstraint(_in("origin", ORIGINS), name="origin"),
        CheckConstraint("parameters > 0", name="parameters_positive"),
        CheckConstraint(
            "training_tokens IS NULL OR training_tokens > 0", name="training_tokens_positive"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(32))
    objective: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[int] = mapped_column(BigInteger, index=True)
    training_tokens: Mapped[int | None] = mapped_column(BigInteger)
    training_tokens_note: Mapped[str | None] = mapped_column(Text)
    architecture: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    precision: Mapped[str | None] = mapped_column(String(32))
    hardware: Mapped[str | None] = mapped_column(String(200))
    gpu_hours: Mapped[float | None] = mapped_column(Float)
    organization: Mapped[str | None] = mapped_column(String(200))
    year: Mapped[int | None] = mapped_column(Integer)
    domain: Mapped[str] = mapped_column(String(64), default="general")
    use_cases: Mapped[list[str]] = mapped_column(json_column(), default=list)
    sources: Mapped[list[str]] = mapped_column(json_column(), default=list)
    origin: Mapped[str] = mapped_column(String(16), default="api")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy's own idiom)


class CatalogueSeedRow(Base):
    """What the seed loader applied, so re-running it never overwrites edits made via the API."""

    __tablename__ = "catalogue_seed"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    row_version: Mapped[int] = mapped_column(Integer)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


HARDWARE_KINDS = ("gpu", "tpu", "accelerator")


class HardwareRow(Base):
    """One accelerator of the hardware catalogue."""

    __tablename__ = "hardware"
    __table_args__ = (
        CheckConstraint(_in("kind", HARDWARE_KINDS), name="kind"),
        CheckConstraint(_in("origin", ORIGINS), name="origin"),
        CheckConstraint("memory_bytes > 0", name="memory_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    vendor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    form_factor: Mapped[str | None] = mapped_column(String(64))
    memory_bytes: Mapped[int] = mapped_column(BigInteger, index=True)
    peak_tflops: Mapped[dict[str, float | None]] = mapped_column(json_column())
    sparse_peak_tflops: Mapped[dict[str, float]] = mapped_column(json_column(), default=dict)
    memory_bandwidth_gbps: Mapped[float | None] = mapped_column(Float)
    interconnect_bandwidth_gbps: Mapped[float | None] = mapped_column(Float)
    power_watts: Mapped[float | None] = mapped_column(Float)
    price_per_hour_usd: Mapped[float | None] = mapped_column(Float)
    price_date: Mapped[str | None] = mapped_column(String(10))
    price_source: Mapped[str | None] = mapped_column(Text)
    sources: Mapped[list[str]] = mapped_column(json_column(), default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16), default="api")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy's own idiom)


class ScalingLawRow(Base):
    """A scaling law fitted by a user from their own runs (built-in laws live in the code)."""

    __tablename__ = "scaling_law"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    citation: Mapped[str] = mapped_column(Text)
    constants: Mapped[dict[str, float]] = mapped_column(json_column())
    fit: Mapped[dict[str, Any]] = mapped_column(json_column())
    runs: Mapped[list[dict[str, float]]] = mapped_column(json_column())
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy's own idiom)


class PlanRow(Base):
    """A training plan: its inputs, the results computed from them, and the code that did it.

    Results are stored, not recomputed on read, so a plan reads the same after the formulas
    change; ``estimator_version`` says which code produced them. Catalogue entries are named
    by slug (no foreign key): deleting a model leaves its plans intact.
    """

    __tablename__ = "plan"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(json_column(), default=list)
    model: Mapped[str | None] = mapped_column(String(64), index=True)
    model_source: Mapped[str] = mapped_column(String(32))
    gpu: Mapped[str] = mapped_column(String(64), index=True)
    gpus: Mapped[int] = mapped_column(Integer)
    fits: Mapped[bool] = mapped_column(Boolean, index=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(json_column())
    results: Mapped[dict[str, Any]] = mapped_column(json_column())
    estimator_version: Mapped[str] = mapped_column(String(64))
    recomputed_from: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("plan.id", ondelete="SET NULL"), index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy's own idiom)
