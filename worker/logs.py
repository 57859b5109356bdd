"""Logging: one line per event, text or JSON, with every known secret masked."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class RedactSecrets(logging.Filter):
    """Replace the values of secrets anywhere in a record's final message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        values = [s for s in secrets if s and len(s) >= 8]
        # Libraries print database URLs rebuilt (another driver name, the password apart):
        # the password must be masked on its own as well.
        values += [p for p in map(_url_password, values) if p and len(p) >= 4]
        self.secrets = sorted(set(values), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "***")
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.exc_text = text
            record.exc_info = None
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _url_password(value: str) -> str | None:
    if "://" not in value:
        return None
    try:
        password = make_url(value).password
    except (ArgumentError, ValueError):
        return None
    return str(password) if password else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("incident", "request_id", "action"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_text or record.exc_info:
            entry["error"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False)


def configure(
    log_format: str = "text", secrets: Iterable[str] = (), level: int = logging.INFO
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("alembic", "apscheduler", "httpx", "httpcore", "urllib3", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
