"""Sandbox Slack: Socket Mode as slack_sdk's own builtin client and slack_bolt see it —
hello, envelopes, acks, redelivery, disconnect and reconnect, pings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.sandbox.slack_inbound import MODAL, button_message, wait_for
from tests.sandbox.slack_reference import SlackHarness, serve_slack
from worker.sandbox.slack.delivery import InboundOptions


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack(inbound=InboundOptions(ack_timeout_s=0.5)) as harness:
        harness.bot.conversations_join(channel=harness.channel)
        yield harness


class Recorder:
    """A builtin SocketModeClient that records requests and acks them unless told not to."""

    def __init__(self, slack: SlackHarness, *, ack: bool = True, ping_interval: float = 5) -> None:
        self.requests: list[SocketModeRequest] = []
        self.ack = ack
        self.client = SocketModeClient(
            app_token=slack.workspace.slack_app_token,
            web_client=WebClient(base_url=slack.base_url),
            ping_interval=ping_interval,
        )
        self.client.socket_mode_request_listeners.append(self._on_request)

    def _on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        self.requests.append(request)
        if self.ack:
            client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    def events(self) -> list[dict[str, Any]]:
        return [r.payload["event"] for r in self.requests if r.type == "events_api"]


@pytest.fixture
def recorder(slack: SlackHarness) -> Iterator[Recorder]:
    recorder = Recorder(slack)
    recorder.client.connect()
    wait_for(lambda: slack.emulator.socket_count() == 1)
    yield recorder
    recorder.client.close()


def test_a_persons_message_reaches_the_socket_and_the_ack_is_recorded(
    slack: SlackHarness, recorder: Recorder
) -> None:
    posted = slack.person(0).chat_postMessage(channel=slack.channel, text="db is down")

    request = wait_for(lambda: recorder.requests)[0]
    assert request.type == "events_api"
    assert request.retry_attempt == 0
    body = request.payload
    assert body["type"] == "event_callback"
    assert body["event_id"].startswith("Ev")
    assert body["api_app_id"] == slack.workspace.slack_app_id
    assert body["authorizations"][0]["user_id"] == slack.workspace.slack_bot_user_id
    assert body["event"] | {"ts": posted["ts"]} == body["event"]
    assert body["event"]["user"] == slack.person_id(0)
    assert body["event"]["channel_type"] == "channel"
    delivery = wait_for(lambda: [d for d in slack.emulator.deliveries() if d["acked"]])[0]
    assert delivery["transport"] == "socket"
    assert delivery["event_id"] == body["event_id"]


def test_an_unacked_envelope_is_redelivered_with_retry_fields(slack: SlackHarness) -> None:
    recorder = Recorder(slack, ack=False)
    recorder.client.connect()
    wait_for(lambda: slack.emulator.socket_count() == 1)
    try:
        slack.person(0).chat_postMessage(channel=slack.channel, text="anyone?")
        wait_for(lambda: len(recorder.requests) >= 2)
        first, second = recorder.requests[:2]
        assert first.envelope_id == second.envelope_id
        assert (first.retry_attempt, first.retry_reason) == (0, "")
        assert (second.retry_attempt, second.retry_reason) == (1, "timeout")
        assert first.payload["event_id"] == second.payload["event_id"]
        delivery = wait_for(lambda: [d for d in slack.emulator.deliveries() if d["finished"]], 5)
        assert len(delivery[0]["attempts"]) == 4  # the first try and 3 retries
        assert delivery[0]["acked"] is False
    finally:
        recorder.client.close()


def test_events_wait_for_a_socket_and_then_arrive_in_order(slack: SlackHarness) -> None:
    stamps = [
        slack.person(0).chat_postMessage(channel=slack.channel, text=str(i))["ts"] for i in range(3)
    ]
    recorder = Recorder(slack)
    recorder.client.connect()
    try:
        events = wait_for(lambda: len(recorder.events()) == 3 and recorder.events())
        assert [e["ts"] for e in events] == stamps
    finally:
        recorder.client.close()


def test_disconnect_makes_the_sdk_open_a_new_connection_and_events_keep_coming(
    slack: SlackHarness, recorder: Recorder
) -> None:
    opened_before = _connections_opened(slack)

    assert slack.emulator.disconnect_sockets() == 1

    wait_for(lambda: _connections_opened(slack) > opened_before)
    wait_for(lambda: slack.emulator.socket_count() >= 1)
    slack.person(1).chat_postMessage(channel=slack.channel, text="after the refresh")
    wait_for(lambda: any(e.get("text") == "after the refresh" for e in recorder.events()))


def test_pings_are_answered_with_the_same_payload(slack: SlackHarness) -> None:
    recorder = Recorder(slack, ping_interval=0.2)
    recorder.client.connect()
    try:
        session = wait_for(lambda: recorder.client.current_session)
        # The builtin client only records pongs echoing its own `<session id>:<time>` ping.
        wait_for(lambda: session.last_ping_pong_time is not None)
    finally:
        recorder.client.close()


def test_a_ticket_works_once(slack: SlackHarness) -> None:
    app = slack.client(slack.workspace.slack_app_token)
    url = app.apps_connections_open(app_token=slack.workspace.slack_app_token)["url"]
    assert url.startswith("ws://")
    assert "/link/?ticket=" in url

    with connect(url) as first:
        hello = first.recv(timeout=5)
        assert '"type": "hello"' in str(hello)
        with pytest.raises(InvalidStatus):
            connect(url)


def test_apps_connections_open_takes_the_app_level_token_only(slack: SlackHarness) -> None:
    with pytest.raises(SlackApiError) as bot_token:
        slack.bot.apps_connections_open(app_token=slack.workspace.slack_token)
    assert bot_token.value.response["error"] == "not_allowed_token_type"
    app = slack.client(slack.workspace.slack_app_token)
    with pytest.raises(SlackApiError) as app_token:
        app.chat_postMessage(channel=slack.channel, text="hi")  # an xapp- token
    assert app_token.value.response["error"] == "not_allowed_token_type"


# -- slack_bolt ----------------------------------------------------------------------------------


def bolt_app(slack: SlackHarness) -> App:
    return App(
        client=WebClient(token=slack.workspace.slack_token, base_url=slack.base_url),
        signing_secret=slack.workspace.slack_signing_secret,
    )


@pytest.fixture
def bolt(slack: SlackHarness) -> Iterator[tuple[App, SocketModeHandler]]:
    app = bolt_app(slack)
    handler = SocketModeHandler(app, app_token=slack.workspace.slack_app_token)
    yield app, handler
    handler.close()


def test_bolt_hears_events_and_its_acks_round_trip(
    slack: SlackHarness, bolt: tuple[App, SocketModeHandler]
) -> None:
    app, handler = bolt
    heard: list[dict[str, Any]] = []

    def hear(event: dict[str, Any]) -> None:
        heard.append(event)

    app.event("message")(hear)
    app.event("reaction_added")(hear)
    handler.connect()
    wait_for(lambda: slack.emulator.socket_count() == 1)

    ts = slack.person(0).chat_postMessage(channel=slack.channel, text="seeing 500s")["ts"]
    slack.person(1).reactions_add(channel=slack.channel, timestamp=ts, name="pushpin")

    wait_for(lambda: len(heard) == 2)
    assert heard[0]["text"] == "seeing 500s"
    assert heard[1]["reaction"] == "pushpin"
    assert heard[1]["item"]["ts"] == ts
    wait_for(lambda: all(d["acked"] for d in slack.emulator.deliveries()))


def test_bolt_click_opens_a_modal_and_a_submit_with_errors_keeps_it_open(
    slack: SlackHarness, bolt: tuple[App, SocketModeHandler]
) -> None:
    app, handler = bolt
    submitted: list[dict[str, Any]] = []

    @app.action("incident.post_update")
    def clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("post_update")
    def submit(ack: Ack, view: dict[str, Any]) -> None:
        text = view["state"]["values"]["status"]["text"]["value"]
        submitted.append(view)
        if text.strip() == "?":
            ack(response_action="errors", errors={"status": "Say what changed"})
        else:
            ack()

    handler.connect()
    wait_for(lambda: slack.emulator.socket_count() == 1)
    ts = button_message(slack)
    person = slack.person_id(2)

    click = slack.emulator.click(person, "incident.post_update", channel=slack.channel, ts=ts)
    assert click["acked"] is True
    views = wait_for(lambda: slack.emulator.views(person))
    assert views[0]["callback_id"] == "post_update"
    view_id = views[0]["id"]

    refused = slack.emulator.submit(person, view_id, {"status": {"text": "?"}})
    assert refused["response"] == {
        "response_action": "errors",
        "errors": {"status": "Say what changed"},
    }
    assert [v["id"] for v in slack.emulator.views(person)] == [view_id]

    accepted = slack.emulator.submit(person, view_id, {"status": {"text": "Rolled back"}})
    assert accepted["acked"] is True
    assert slack.emulator.views(person) == []
    assert submitted[-1]["private_metadata"] == '{"page": "p1"}'
    assert submitted[-1]["state"]["values"]["status"]["text"] == {
        "type": "plain_text_input",
        "value": "Rolled back",
    }


def test_bolt_command_ack_text_is_the_response(
    slack: SlackHarness, bolt: tuple[App, SocketModeHandler]
) -> None:
    app, handler = bolt

    @app.command("/incident")
    def command(ack: Ack, command: dict[str, Any]) -> None:
        ack(f"got {command['text']}")

    handler.connect()
    wait_for(lambda: slack.emulator.socket_count() == 1)

    result = slack.emulator.command(slack.person_id(0), "/incident", "status", slack.channel)

    assert result["acked"] is True
    assert result["response"]["text"] == "got status"


def test_an_unhandled_interaction_is_not_acked(
    slack: SlackHarness, bolt: tuple[App, SocketModeHandler]
) -> None:
    _, handler = bolt
    handler.connect()
    wait_for(lambda: slack.emulator.socket_count() == 1)
    ts = button_message(slack)

    click = slack.emulator.click(
        slack.person_id(0), "incident.post_update", channel=slack.channel, ts=ts
    )

    assert click["acked"] is False


def _connections_opened(slack: SlackHarness) -> int:
    return slack.emulator.inbound.connections_opened()
