"""The inbound app's filters and HTTP transport, before any feature handler: what is not the
worker's business is acknowledged and left alone; a bad signature is refused and said."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from slack_bolt import App
from slack_sdk.signature import SignatureVerifier

from tests.e2e.harness import Harness, title
from worker.inbound.intake import Found, Intake
from worker.inbound.service import Inbound
from worker.web import WebServer, create_app

SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def seen() -> list[tuple[str, Found | None]]:
    return []


@pytest.fixture
def inbound(h: Harness, seen: list[tuple[str, Found | None]]) -> Iterator[Inbound]:
    """The worker's inbound app with one handler that notes every reaction it is given."""
    h.env["SLACK_SIGNING_SECRET"] = SECRET
    h.restart()

    def register(app: App, intake: Intake) -> None:
        @app.event("reaction_added")
        def noted(body: dict[str, Any], ack: Callable[[], None]) -> None:
            event = body["event"]
            item = event["item"]
            seen.append((event["reaction"], intake.incident_at(item["channel"], item["ts"])))
            ack()

    built = Inbound.build(
        h.settings(), [h.runtime], h.runtime.slack, clock=h.runtime.clock, registrars=[register]
    )
    assert built is not None
    h.runtime.slack.auth()
    yield built
    built.stop()


def signed(body: str, *, secret: str = SECRET, age_s: float = 0) -> dict[str, str]:
    timestamp = str(int(time.time() - age_s))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
        "content-type": "application/json",
    }


def event(h: Harness, **fields: Any) -> str:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": h.box.workspace.slack_team_id,
            "api_app_id": h.box.workspace.slack_app_id,
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "event": fields,
        }
    )


@pytest.fixture
def served(h: Harness, inbound: Inbound) -> Iterator[httpx.Client]:
    """The worker's web surface (as `serve` runs it), with /slack/events, on a free port."""
    app = create_app(h.runtime.metrics, h.runtime.health, routes=inbound.routes)
    server = WebServer(app, host="127.0.0.1", port=0).start()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as http:
        yield http
    server.stop()


def reaction(h: Harness, channel: str, ts: str, **extra: Any) -> str:
    return event(
        h,
        type="reaction_added",
        user=h.person("Ben").slack_id,
        reaction="pushpin",
        item={"type": "message", "channel": channel, "ts": ts},
        event_ts=f"{time.time():.6f}",
        **extra,
    )


def test_a_reaction_in_an_incident_thread_reaches_the_handler_with_its_incident(
    h: Harness, served: httpx.Client, seen: list[tuple[str, Found | None]]
) -> None:
    page = h.declare("Aiko", "Checkout down", Name=title("Checkout down"))
    h.poll()
    thread_ts = h.runtime.store.get_record(page).thread_ts  # type: ignore[union-attr]
    assert thread_ts
    body = reaction(h, h.channel, thread_ts)
    answer = served.post("/slack/events", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert [(r, f.record.page_id if f else None) for r, f in seen] == [("pushpin", page)]


def test_events_of_other_channels_are_acknowledged_and_left_alone(
    h: Harness, served: httpx.Client, seen: list[tuple[str, Found | None]]
) -> None:
    body = reaction(h, h.box.slack.general_channel_id, "1700000000.000100")
    answer = served.post("/slack/events", content=body, headers=signed(body))
    assert answer.status_code == 200  # acknowledged: Slack does not send it again
    assert seen == []


def test_an_event_nobody_handles_is_acknowledged_all_the_same(
    h: Harness, served: httpx.Client
) -> None:
    body = event(h, type="member_joined_channel", user="U1", channel=h.channel)
    answer = served.post("/slack/events", content=body, headers=signed(body))
    assert answer.status_code == 200


def test_a_guest_from_another_workspace_is_refused_politely(
    h: Harness, served: httpx.Client, seen: list[tuple[str, Found | None]]
) -> None:
    body = reaction(h, h.channel, "1700000000.000100", user_team="TOTHERTEAM1")
    answer = served.post("/slack/events", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert seen == []
    told = [m for m in h.box.slack.ephemeral_messages() if "only members" in m.get("text", "")]
    assert len(told) == 1
    assert told[0]["user"] == h.person("Ben").slack_id


@pytest.mark.parametrize(
    ("headers_of", "why"),
    [
        (lambda body: signed(body, secret="f" * 32), "another app's secret"),
        (lambda body: signed(body, age_s=6 * 60), "six minutes old"),
        (lambda body: {"content-type": "application/json"}, "no signature"),
    ],
)
def test_a_request_whose_signature_fails_is_refused_with_one_log_line(
    h: Harness,
    served: httpx.Client,
    *,
    seen: list[tuple[str, Found | None]],
    caplog: pytest.LogCaptureFixture,
    headers_of: Callable[[str], dict[str, str]],
    why: str,
) -> None:
    body = reaction(h, h.channel, "1700000000.000100")
    with caplog.at_level(logging.WARNING, logger="worker.inbound"):
        answer = served.post("/slack/events", content=body, headers=headers_of(body))
    assert answer.status_code == 401, why
    assert seen == []
    lines = [r for r in caplog.records if r.name == "worker.inbound"]
    assert len(lines) == 1
    assert "SLACK_SIGNING_SECRET" in lines[0].getMessage()
    assert SECRET not in caplog.text


def test_url_verification_is_answered_with_the_challenge(served: httpx.Client) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"})
    answer = served.post("/slack/events", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert answer.json() == {"challenge": "c-123"}
