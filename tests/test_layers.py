"""Imports flow one way: the pure core imports nothing of the web or database stack."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "pydantic", "alembic", "httpx", "uvicorn")


def test_domain_is_framework_free() -> None:
    probe = (
        "import sys, pkgutil, importlib, service.domain as d\n"
        "for m in pkgutil.walk_packages(d.__path__, 'service.domain.'):\n"
        "    importlib.import_module(m.name)\n"
        "ours = sorted(n for n in sys.modules if n.startswith('service.')"
        " and not n.startswith('service.domain'))\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(ours, bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] []", result.stdout


def test_schemas_do_not_import_persistence_or_api() -> None:
    probe = (
        "import sys, service.schemas.models, service.schemas.common\n"
        "print(sorted(n for n in sys.modules if n.startswith(('service.persistence',"
        " 'service.api', 'service.usecases', 'sqlalchemy'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
