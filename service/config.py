"""Settings, read from the environment (prefix ``PLANNER_``) when :func:`get_settings` is called.

Nothing is read at import time: the app factory and the command line build a :class:`Settings`
explicitly, and tests pass their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The embedded default: an SQLite file in ``./data`` beside the working directory.
DEFAULT_DATA_DIR = Path("data")


def _default_database_url() -> str:
    return f"sqlite:///{(DEFAULT_DATA_DIR / 'planner.sqlite3').as_posix()}"


class Settings(BaseSettings):
    """Every setting of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="PLANNER_", extra="ignore", frozen=True)

    database_url: str = Field(
        default_factory=_default_database_url,
        description="SQLAlchemy URL. SQLite (embedded default) or postgresql+psycopg://...",
    )
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        repr=False,
        description="Comma-separated keys allowed to write. Empty: every write is refused (401).",
    )
    environment: Literal["development", "production"] = "development"
    log_level: str = "INFO"
    db_pool_size: int = Field(default=5, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=500)
    db_pool_timeout_s: float = Field(default=5.0, gt=0, le=120)
    db_connect_timeout_s: int = Field(default=5, ge=1, le=120)
    auto_migrate: bool | None = Field(
        default=None,
        description=(
            "Apply migrations and seed the catalogue when the app starts. Unset: on for SQLite "
            "(the embedded single-node default), off for PostgreSQL, where several replicas "
            "share one database and `python -m service migrate` runs once before them."
        ),
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @property
    def migrate_on_startup(self) -> bool:
        """Whether the app migrates and seeds by itself when it starts."""
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (embedded mode)."""
        return self.database_url.startswith("sqlite")


def get_settings() -> Settings:
    """Build settings from the current environment."""
    return Settings()
