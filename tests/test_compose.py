"""The compose file is the production path; no container engine runs here: check it statically."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from service.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_services_and_their_order() -> None:
    services = _compose()["services"]
    assert set(services) == {"db", "migrate", "api"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["migrate"]["command"][-1] == "migrate"
    api_deps = services["api"]["depends_on"]
    assert api_deps["db"]["condition"] == "service_healthy"
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_environment_names_are_real_settings() -> None:
    known = {f"PLANNER_{name.upper()}" for name in Settings.model_fields}
    for name, service in _compose()["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("PLANNER_"):
                assert variable in known, f"{name}: {variable} is not a setting"
    api_env = _compose()["services"]["api"]["environment"]
    assert api_env["PLANNER_AUTO_MIGRATE"] == "false"
    assert api_env["PLANNER_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users
    assert users[-1] not in {"root", "0"}
    assert "HEALTHCHECK" in dockerfile
    assert "/readyz" in dockerfile
    for copied in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile, re.MULTILINE):
        for path in copied.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
