"""Settings, read from the environment (prefix ``PLANNER_``) when :func:`get_settings` is called.

Nothing is read at import time: the app factory and the command line build a :class:`Settings`
explicitly, and tests pass their own.
"""

from __future__ import annotations

import re
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
        description=(
            "Comma-separated keys allowed to write, each either the key itself or "
            "'sha256:<hex digest of the key>'. Empty: every write is refused (401)."
        ),
    )
    environment: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] | None = Field(
        default=None, description="Unset: JSON in production, text in development."
    )
    docs_enabled: bool = Field(
        default=True, description="Serve /docs, /redoc and /openapi.json (turn off to hide them)."
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated origins allowed by CORS; empty: CORS is off."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=1_073_741_824, description="Larger bodies get 413."
    )
    db_pool_size: int = Field(default=5, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=500)
    db_pool_timeout_s: float = Field(default=5.0, gt=0, le=120)
    db_connect_timeout_s: int = Field(default=5, ge=1, le=120)
    db_statement_timeout_s: float = Field(
        default=15.0,
        ge=1,
        le=600,
        description="PostgreSQL statement timeout; also bounds a silent network (TCP).",
    )
    catalogue_refresh_s: float = Field(
        default=1.0,
        ge=0.05,
        le=3600,
        description="How often each process revalidates its in-memory catalogue snapshot.",
    )
    route_fast_path: bool = Field(
        default=True,
        description=(
            "Answer valid requests to the estimates, scaling answers and catalogue listings "
            "without FastAPI's general dependency solver (service/api/routing.py); off: "
            "every request takes FastAPI's own handler, with the same answers."
        ),
    )
    auto_migrate: bool | None = Field(
        default=None,
        description=(
            "Apply migrations and seed the catalogue when the app starts. Unset: on for SQLite "
            "(the embedded single-node default), off for PostgreSQL, where several replicas "
            "share one database and `python -m service migrate` runs once before them."
        ),
    )

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_hashes(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            if key.startswith("sha256:") and not re.fullmatch(r"sha256:[0-9a-f]{64}", key):
                raise ValueError("a hashed key is 'sha256:' followed by 64 lower-case hex digits")
        return keys

    @property
    def json_logs(self) -> bool:
        """Whether log lines are JSON objects."""
        if self.log_format is None:
            return self.environment == "production"
        return self.log_format == "json"

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
