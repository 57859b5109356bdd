"""Log lines: text or JSON, and every secret masked — the tokens, the database URL, and its
password on its own (libraries print the URL rebuilt)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tests.factories import settings
from worker import logs
from worker.config import Settings
from worker.errors import ServiceError

NOTION_TOKEN = "ntn_" + "N0t10nS3cr3t" * 4
SLACK_TOKEN = "xoxb-111-222-" + "Sl4ckS3cr3t" * 3
DB_PASSWORD = "hunter2-Pa55w0rd"
DATABASE_URL = f"postgresql://worker:{DB_PASSWORD}@db.internal:5432/incidents"
SECRETS = (NOTION_TOKEN, SLACK_TOKEN, DB_PASSWORD)


def _secret_settings() -> Settings:
    return settings(
        NOTION_TOKEN=NOTION_TOKEN, SLACK_BOT_TOKEN=SLACK_TOKEN, DATABASE_URL=DATABASE_URL
    )


def _leaks(text: str) -> list[str]:
    return [secret[:12] + "…" for secret in SECRETS if secret in text]


def _raise(error: Exception) -> None:
    raise error


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_lines_mask_every_secret(log_format: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    s = _secret_settings()
    logs.configure(
        log_format, (s.notion_token.reveal(), s.slack_bot_token.reveal(), s.database_url.reveal())
    )
    log = logging.getLogger("worker.test_logs")
    log.warning("token %s and url %s", NOTION_TOKEN, DATABASE_URL)
    log.error("slack said no to %s", SLACK_TOKEN)
    for error in (
        ServiceError("notion", "users.me", f"echoed {NOTION_TOKEN} back"),
        ValueError(f"cannot open {DATABASE_URL}"),
    ):
        try:
            _raise(error)
        except (ServiceError, ValueError):
            log.exception("call failed")
    output = stream.getvalue()
    assert output.count("***") >= 5
    assert _leaks(output) == []
    if log_format == "json":
        entries = [json.loads(line) for line in output.splitlines()]
        assert [e["level"] for e in entries] == ["warning", "error", "error", "error"]


@pytest.mark.usefixtures("restore_logging")
def test_a_database_password_alone_is_masked_in_log_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Libraries print the URL rebuilt (another driver name, the password apart), never the
    # exact DATABASE_URL string; the password must be masked on its own as well.
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    s = _secret_settings()
    logs.configure("json", (s.notion_token.reveal(), s.database_url.reveal()))
    logging.getLogger("worker.test_logs").error(
        "could not connect to postgresql+psycopg://worker:%s@db.internal/incidents", DB_PASSWORD
    )
    assert _leaks(stream.getvalue()) == []
