"""Review of issue 15 (helper R): a refused request is one log line at the worker's level
(INFO), and the unverified body it carried is not written to the log."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.e2e.harness import Harness
from tests.test_inbound_app import inbound, reaction, seen, served, signed

__all__ = ["inbound", "seen", "served"]  # the fixtures used here


def test_a_forged_request_is_one_log_line_at_info_without_its_body(
    h: Harness, served: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    body = reaction(h, h.channel, "1700000000.000100", note="FORGED-BODY-MARKER")
    with caplog.at_level(logging.INFO):  # the worker's own level in production
        answer = served.post("/slack/events", content=body, headers=signed(body, secret="f" * 32))
    assert answer.status_code == 401
    refused = [r for r in caplog.records if "signature" in r.getMessage().lower()]
    assert len(refused) == 1, [f"{r.name}: {r.getMessage()[:80]}" for r in refused]
    assert "FORGED-BODY-MARKER" not in caplog.text
