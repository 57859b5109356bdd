"""Sandbox Slack: the `/_sandbox/*` routes for inbound Slack, driven over HTTP as a
black-box test (or another process) would, with a slack_bolt app on Socket Mode."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from tests.sandbox.slack_inbound import MODAL, button_message, wait_for
from tests.sandbox.slack_reference import SlackHarness, serve_slack
from worker.sandbox.slack.delivery import InboundOptions


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack(inbound=InboundOptions(ack_timeout_s=1.0)) as harness:
        harness.bot.conversations_join(channel=harness.channel)
        yield harness


_HANDLERS: list[SocketModeHandler] = []


@pytest.fixture
def app(slack: SlackHarness) -> Iterator[App]:
    yield app_for(slack)
    while _HANDLERS:
        _HANDLERS.pop().close()


def connect(slack: SlackHarness, app: App) -> None:
    handler = SocketModeHandler(app, app_token=slack.workspace.slack_app_token)
    _HANDLERS.append(handler)
    handler.connect()
    wait_for(lambda: slack.emulator.socket_count() >= 1)


def post(slack: SlackHarness, path: str, payload: dict[str, Any]) -> Any:
    return slack.admin(path, payload, method="POST")


def refused(slack: SlackHarness, path: str, payload: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as failure:
        post(slack, path, payload)
    return failure.value.code, json.loads(failure.value.read())["error"]


def test_click_then_submit_over_http_and_see_the_views(slack: SlackHarness, app: App) -> None:
    @app.action("incident.post_update")
    def clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        ack()

    @app.view("post_update")
    def submitted(ack: Ack) -> None:
        ack()

    connect(slack, app)
    ts = button_message(slack)
    person = slack.person_id(0)

    click = post(
        slack,
        "/_sandbox/click",
        {"user": person, "channel": slack.channel, "ts": ts, "action_id": "incident.post_update"},
    )
    assert click["ok"] is True
    assert click["acked"] is True
    assert click["trigger_id"]
    (view,) = slack.admin(f"/_sandbox/views?user={person}")
    submit = post(
        slack,
        "/_sandbox/submit",
        {"user": person, "view_id": view["id"], "values": {"status": {"text": "Rolled back"}}},
    )
    assert submit["acked"] is True
    assert slack.admin(f"/_sandbox/views?user={person}") == []
    kinds = [d["event_type"] for d in slack.admin("/_sandbox/deliveries")]
    assert kinds.count("block_actions") == 1
    assert kinds.count("view_submission") == 1


def test_an_unknown_action_or_a_stranger_is_a_clear_400(slack: SlackHarness) -> None:
    ts = button_message(slack)
    person = slack.person_id(0)

    code, error = refused(
        slack,
        "/_sandbox/click",
        {"user": person, "channel": slack.channel, "ts": ts, "action_id": "nope"},
    )
    assert code == 400
    assert "nope" in error
    assert "incident.post_update" in error
    general = slack.emulator.create_channel("secret", members=[slack.person_id(1)])
    code, error = refused(
        slack,
        "/_sandbox/command",
        {"user": person, "command": "/incident", "text": "", "channel": general},
    )
    assert code == 400
    assert "not a member" in error


def test_message_shortcut_and_response_url(slack: SlackHarness, app: App) -> None:
    seen: list[dict[str, Any]] = []

    @app.shortcut("add_to_timeline")
    def shortcut(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        seen.append(body)
        ack()
        respond("Added to the timeline")

    connect(slack, app)
    ts = slack.person(1).chat_postMessage(channel=slack.channel, text="root cause")["ts"]

    result = post(
        slack,
        "/_sandbox/shortcut",
        {
            "user": slack.person_id(0),
            "callback_id": "add_to_timeline",
            "channel": slack.channel,
            "message_ts": ts,
        },
    )

    assert result["acked"] is True
    body = seen[0]
    assert body["type"] == "message_action"
    assert body["message"]["text"] == "root cause"
    assert body["channel"]["id"] == slack.channel
    responses = wait_for(lambda: slack.admin("/_sandbox/responses"))
    assert responses[0]["body"]["text"] == "Added to the timeline"


def test_events_url_and_disconnect_routes(slack: SlackHarness, app: App) -> None:
    assert post(slack, "/_sandbox/events-url", {"url": "http://127.0.0.1:9/slack/events"})["ok"]
    assert slack.emulator.inbound.events_url == "http://127.0.0.1:9/slack/events"
    assert post(slack, "/_sandbox/events-url", {"url": None})["url"] is None
    assert refused(slack, "/_sandbox/events-url", {"url": "ftp://x"})[0] == 400
    connect(slack, app)
    opened = slack.emulator.inbound.connections_opened()

    assert post(slack, "/_sandbox/disconnect", {})["sockets"] == 1

    wait_for(lambda: slack.emulator.inbound.connections_opened() > opened)


def test_sockets_are_refreshed_on_a_timer() -> None:
    with serve_slack(inbound=InboundOptions(socket_refresh_s=0.3)) as slack:
        try:
            connect(slack, app_for(slack))
            wait_for(lambda: slack.emulator.inbound.connections_opened() >= 2)
        finally:
            while _HANDLERS:
                _HANDLERS.pop().close()


def app_for(slack: SlackHarness) -> App:
    return App(
        client=WebClient(token=slack.workspace.slack_token, base_url=slack.base_url),
        signing_secret=slack.workspace.slack_signing_secret,
    )
