"""Review of issue 15 (helper R): Slack's routine `disconnect` (refresh_requested, every
few hours) while a handler is at work. The envelope is left for Slack to send again (its
work is recorded, so that changes nothing twice) — an ordinary moment, not an error with a
traceback in the operator's log."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from tests.e2e.harness import Harness
from tests.e2e.test_timeline_notes import (
    box,
    delivered,
    incident,
    listening,
    notes,
    person,
    reply,
    wait_for,
)
from worker.inbound.notes import Notes

__all__ = ["box"]  # the fixture used here


def test_a_refresh_while_a_handler_works_logs_no_error_and_loses_nothing(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = Notes._change
    refreshed: list[bool] = []

    def slow(self: Notes, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if not refreshed:  # Slack asks for a refresh while this envelope is being handled
            refreshed.append(True)
            h.box.slack.disconnect_sockets()
            time.sleep(1.0)  # the client has moved to a new connection meanwhile
        return result

    monkeypatch.setattr(Notes, "_change", slow)
    with caplog.at_level(logging.INFO), listening(h, "socket"):
        page, thread = incident(h)
        ts = reply(h, "Ben", thread, "Failover done")
        person(h, "Chidi").pins_add(channel=h.channel, timestamp=ts)
        wait_for(lambda: refreshed)
        wait_for(lambda: h.box.slack.socket_count() > 0)
        delivered(h)
    (entry,) = notes(h, page)
    assert "Failover done" in entry
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [f"{r.name}: {r.getMessage()[:100]}" for r in errors]
