"""Sandbox Slack: inbound over HTTP — signed POSTs (checked with slack_sdk's own
SignatureVerifier), Slack's retries with their headers, and a slack_bolt app behind
Starlette receiving events, clicks and submissions."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from slack_bolt import Ack, App
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.sandbox.slack_inbound import MODAL, button_message, wait_for
from tests.sandbox.slack_reference import SlackHarness, serve_slack
from worker.sandbox.server import ServedApp
from worker.sandbox.slack.delivery import InboundOptions

FAST = InboundOptions(ack_timeout_s=1.0, http_timeout_s=0.5, retry_delays_s=(0.0, 0.2, 0.3))


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An app's request URL that records what arrives and answers as scripted."""

    answers: list[int] = field(default_factory=list)  # status codes; 0 = never answer in time
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append(Received(dict(request.headers), body))
            status = self.answers.pop(0) if self.answers else 200
        if status == 0:
            time.sleep(1.0)  # longer than the sandbox's 0.5 s timeout
            status = 200
        return PlainTextResponse("", status_code=status)


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack(inbound=FAST) as harness:
        harness.bot.conversations_join(channel=harness.channel)
        yield harness


@pytest.fixture
def receiver(slack: SlackHarness) -> Iterator[Receiver]:
    receiver = Receiver()
    server = ServedApp(
        Starlette(routes=[Route("/slack/events", receiver.endpoint, methods=["POST"])])
    )
    server.start()
    slack.emulator.set_events_url(server.url + "/slack/events")
    yield receiver
    slack.emulator.set_events_url(None)
    server.stop()


def test_events_are_posted_signed_with_the_signing_secret(
    slack: SlackHarness, receiver: Receiver
) -> None:
    slack.person(0).chat_postMessage(channel=slack.channel, text="checkout is slow")

    arrived = wait_for(lambda: receiver.received)[0]
    verifier = SignatureVerifier(slack.workspace.slack_signing_secret)
    assert verifier.is_valid_request(arrived.body, arrived.headers)
    assert arrived.headers["content-type"] == "application/json"
    assert "x-slack-retry-num" not in arrived.headers
    body = json.loads(arrived.body)
    assert body["type"] == "event_callback"
    assert body["event"]["text"] == "checkout is slow"
    wrong = SignatureVerifier("0" * 32)
    assert not wrong.is_valid_request(arrived.body, arrived.headers)


def test_an_error_answer_and_a_slow_one_are_retried_with_slacks_headers(
    slack: SlackHarness, receiver: Receiver
) -> None:
    receiver.answers = [500, 0, 200]

    slack.person(0).chat_postMessage(channel=slack.channel, text="retry me")

    arrived = wait_for(lambda: len(receiver.received) >= 3 and receiver.received)
    retries = [
        (r.headers.get("x-slack-retry-num"), r.headers.get("x-slack-retry-reason")) for r in arrived
    ]
    assert retries == [(None, None), ("1", "http_error"), ("2", "http_timeout")]
    assert len({json.loads(r.body)["event_id"] for r in arrived}) == 1
    delivery = wait_for(lambda: [d for d in slack.emulator.deliveries() if d["acked"]])[0]
    assert [a["outcome"] for a in delivery["attempts"]] == ["http_error", "http_timeout", "acked"]


def test_delivery_gives_up_after_three_retries(slack: SlackHarness, receiver: Receiver) -> None:
    receiver.answers = [503, 503, 503, 503, 503]

    slack.person(0).chat_postMessage(channel=slack.channel, text="nobody home")

    delivery = wait_for(lambda: [d for d in slack.emulator.deliveries() if d["finished"]])[0]
    assert len(delivery["attempts"]) == 4
    assert delivery["acked"] is False
    assert len(receiver.received) == 4


def test_a_click_is_posted_as_a_signed_payload_form(
    slack: SlackHarness, receiver: Receiver
) -> None:
    ts = button_message(slack)

    result = slack.emulator.click(
        slack.person_id(1), "incident.post_update", channel=slack.channel, ts=ts
    )

    assert result["acked"] is True
    arrived = next(r for r in receiver.received if b"payload=" in r.body)
    assert arrived.headers["content-type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(slack.workspace.slack_signing_secret).is_valid_request(
        arrived.body, arrived.headers
    )
    payload = json.loads(urllib.parse.parse_qs(arrived.body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["actions"][0]["block_id"] == "reminder"
    assert payload["actions"][0]["value"] == '{"page": "p1"}'
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": slack.channel,
        "is_ephemeral": False,
    }
    assert payload["user"]["team_id"] == payload["team"]["id"]


def test_interactions_are_not_retried(slack: SlackHarness, receiver: Receiver) -> None:
    ts = button_message(slack)
    wait_for(lambda: slack.emulator.deliveries()[-1]["acked"])  # the message's own event
    receiver.answers = [500]
    before = len(receiver.received)

    result = slack.emulator.click(
        slack.person_id(1), "incident.post_update", channel=slack.channel, ts=ts
    )

    assert result["acked"] is False
    time.sleep(0.5)
    assert len(receiver.received) == before + 1


# -- slack_bolt behind Starlette ----------------------------------------------------------------


@pytest.fixture
def bolt_http(slack: SlackHarness) -> Iterator[App]:
    app = App(
        client=WebClient(token=slack.workspace.slack_token, base_url=slack.base_url),
        signing_secret=slack.workspace.slack_signing_secret,
    )
    handler = SlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    server = ServedApp(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]))
    server.start()
    slack.emulator.set_events_url(server.url + "/slack/events")
    yield app
    slack.emulator.set_events_url(None)
    server.stop()


def test_bolt_over_http_hears_events_clicks_and_submissions(
    slack: SlackHarness, bolt_http: App
) -> None:
    heard: list[dict[str, Any]] = []

    @bolt_http.event("message")
    def message(event: dict[str, Any]) -> None:
        heard.append(event)

    @bolt_http.action("incident.post_update")
    def clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        ack()

    @bolt_http.view("post_update")
    def submitted(ack: Ack) -> None:
        ack()

    ts = button_message(slack)  # the bot's own post: Bolt ignores its own events
    said = slack.person(0).chat_postMessage(channel=slack.channel, text="on it")["ts"]
    wait_for(lambda: heard)
    assert [e["ts"] for e in heard] == [said]
    person = slack.person_id(0)

    assert slack.emulator.click(person, "incident.post_update", channel=slack.channel, ts=ts)[
        "acked"
    ]
    (view,) = slack.emulator.views(person)
    assert slack.emulator.submit(person, view["id"], {"status": {"text": "Fixed"}})["acked"]
    assert slack.emulator.views(person) == []


def test_a_wrong_signature_is_refused_by_bolt(slack: SlackHarness, bolt_http: App) -> None:
    url = f"{slack.emulator.inbound.events_url}"
    body = json.dumps({"type": "event_callback", "event": {"type": "message"}}).encode()
    headers = {
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
        "Content-Type": "application/json",
    }

    answer = httpx.post(url, content=body, headers=headers, trust_env=False)

    assert answer.status_code == 401
