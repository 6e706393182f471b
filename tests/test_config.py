"""Settings come from PLANNER_* variables; keys never show in reprs."""

from __future__ import annotations

import pytest

from service.config import Settings, get_settings


def test_defaults_are_the_embedded_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PLANNER_DATABASE_URL", "PLANNER_API_KEYS", "PLANNER_AUTO_MIGRATE"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    assert settings.database_url == "sqlite:///data/planner.sqlite3"
    assert settings.api_keys == ()
    assert settings.migrate_on_startup is True


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANNER_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("PLANNER_API_KEYS", " alpha , beta,,")
    settings = get_settings()
    assert settings.api_keys == ("alpha", "beta")
    assert not settings.is_sqlite
    assert settings.migrate_on_startup is False
    assert "alpha" not in repr(settings)


def test_explicit_auto_migrate_wins() -> None:
    assert Settings(database_url="postgresql+psycopg://x/y", auto_migrate=True).migrate_on_startup
    assert not Settings(database_url="sqlite://", auto_migrate=False).migrate_on_startup


def test_bad_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="db_pool_size"):
        Settings(db_pool_size=0)


def test_readme_documents_every_setting() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"`PLANNER_{name.upper()}`" in readme, name
