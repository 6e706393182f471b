"""Logging set-up: JSON lines in production, readable text in development.

Called by the app's lifespan and the command line, never at import. Log records carry only the
fields put there on purpose (request id, method, route, status, duration); no header, body or
key is ever logged.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from service.config import Settings

#: Attributes every LogRecord has; anything else on a record came through ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        line = f"{record.levelname} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


_HANDLER_NAME = "planner"


def configure_logging(settings: Settings) -> None:
    """Install one stream handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if settings.json_logs else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Our access log replaces uvicorn's; Alembic's per-call INFO lines are noise in probes.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
