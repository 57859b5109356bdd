"""End to end, over both of Slack's ways in (Socket Mode and signed HTTP): people answer the
worker's reminders with its buttons in the sandbox's Slack, as a Slack client would (a click,
a modal submitted), and what they did lands in Notion and the thread — or, on a stale
message or for someone of another workspace, nothing changes and they alone are told why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import Harness, message_text, people, select
from tests.test_inbound_buttons import Clock
from tests.waiting import wait_until
from worker.buttons_blocks import UPDATE_BLOCK, UPDATE_INPUT
from worker.inbound.service import Inbound
from worker.web import WebServer, create_app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["socket", "http"])
def inbound(request: pytest.FixtureRequest, h: Harness, clock: Clock) -> Iterator[Inbound]:
    """The worker's inbound app listening to the sandbox's Slack over one transport."""
    workspace = h.box.workspace
    if request.param == "socket":
        h.env["SLACK_APP_TOKEN"] = workspace.slack_app_token
    else:
        h.env["SLACK_SIGNING_SECRET"] = workspace.slack_signing_secret
    h.restart()
    h.runtime.slack.auth()
    built = Inbound.build(h.settings(), [h.runtime], h.runtime.slack, clock=clock)
    assert built is not None
    server = None
    if request.param == "http":
        app = create_app(h.runtime.metrics, h.runtime.health, routes=built.routes)
        server = WebServer(app, host="127.0.0.1", port=0).start()
        h.box.slack.set_events_url(f"http://127.0.0.1:{server.port}/slack/events")
    built.start()
    if request.param == "socket":
        wait_until("a Socket Mode connection", lambda: h.box.slack.socket_count() > 0)
    yield built
    built.stop()
    if server is not None:
        h.box.slack.set_events_url(None)
        server.stop()


def _declare(h: Harness, clock: Clock, **props: Any) -> str:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"), **props)
    h.runtime.poll(clock.at(0))
    h.runtime.poll(clock.at(0.1))
    return page


def _actions(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def _with_button(h: Harness, page: str, action_id: str) -> str:
    found = [m for m in h.thread_of(page) if action_id in _actions(m)]
    assert found, f"no message of the thread has {action_id}"
    return str(found[-1]["ts"])


def _click(h: Harness, who: str, ts: str, action_id: str) -> dict[str, Any]:
    answer = h.box.slack.click(h.person(who).slack_id, action_id, channel=h.channel, ts=ts)
    assert answer["acked"], "the app acknowledged the click"
    return answer


def _told(h: Harness, slack_id: str) -> list[str]:
    return [m["text"] for m in h.box.slack.ephemeral_messages() if m["user"] == slack_id]


def test_a_snooze_from_the_reminder(h: Harness, inbound: Inbound, clock: Clock) -> None:
    page = _declare(h, clock, Commander=people(h.person("Ben")))
    h.runtime.nag(clock.at(31))
    reminder = _with_button(h, page, "incident.snooze.30")
    clock.now = clock.at(32)
    _click(h, "Ben", reminder, "incident.snooze.30")
    h.runtime.nag(clock.at(32.5))
    ben = h.person("Ben").slack_id
    assert f"snoozed for 30 min by <@{ben}>" in h.replies_text(page)[-1]
    h.runtime.nag(clock.at(61))
    assert sum("overdue" in t for t in h.replies_text(page)) == 1
    h.runtime.nag(clock.at(62.5))
    assert sum("overdue" in t for t in h.replies_text(page)) == 2


def test_an_update_posted_from_the_parent_message(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock, Commander=people(h.person("Ben")))
    parent = str(h.thread_of(page)[0]["ts"])
    ben = h.person("Ben").slack_id
    clicked = _click(h, "Ben", parent, "incident.post_update")
    assert clicked["acked"]
    (view,) = h.box.slack.views(ben)
    assert view["callback_id"] == "incident.post_update"
    clock.now = clock.at(5)
    text = "Rolled back the deploy.\nCheckout errors are back to normal."
    values = {UPDATE_BLOCK: {UPDATE_INPUT: text}}
    submitted = h.box.slack.submit(ben, view["id"], values)
    assert submitted["acked"]
    assert h.box.slack.views(ben) == []  # the modal closed
    h.runtime.poll(clock.at(5.5))
    h.runtime.poll(clock.at(6))
    update = h.row(page)["properties"]["Status update"]["rich_text"]
    assert "".join(t["plain_text"] for t in update) == text
    replies = [m for m in h.thread_of(page)[1:] if "Rolled back the deploy" in message_text(m)]
    assert len(replies) == 1
    assert f"Posted from Slack by <@{ben}>" in message_text(replies[0])


def test_taking_command_matched_and_unmatched(h: Harness, inbound: Inbound, clock: Clock) -> None:
    page = _declare(h, clock)
    h.runtime.nag(clock.at(6))
    reminder = _with_button(h, page, "incident.take_command")
    # The guest of another workspace is refused politely, and changes nothing.
    guest = h.box.workspace.slack_guest
    assert guest is not None
    refused = h.box.slack.click(
        guest.slack_id, "incident.take_command", channel=h.channel, ts=reminder
    )
    assert refused["acked"]
    assert any("only members" in t for t in _told(h, guest.slack_id))
    clock.now = clock.at(7)
    _click(h, "Ben", reminder, "incident.take_command")
    h.runtime.nag(clock.at(7.5))
    h.runtime.deliver(clock.at(7.6))
    commander = h.row(page)["properties"]["Commander"]["people"]
    assert [p["id"] for p in commander] == [h.person("Ben").notion_id]
    ben = h.person("Ben").slack_id
    assert any(f"Changed from Slack by <@{ben}>" in t for t in h.replies_text(page))
    # Too late for Chidi: Ben commands now.
    _click(h, "Chidi", reminder, "incident.take_command")
    assert any("already commands" in t for t in _told(h, h.person("Chidi").slack_id))


def test_a_stale_click_changes_nothing(h: Harness, inbound: Inbound, clock: Clock) -> None:
    page = _declare(h, clock, Commander=people(h.person("Ben")))
    h.runtime.nag(clock.at(31))
    reminder = _with_button(h, page, "incident.snooze.60")
    h.edit("Aiko", page, Status=select("Resolved"))
    h.runtime.poll(clock.at(32))
    clock.now = clock.at(33)
    _click(h, "Ben", reminder, "incident.snooze.60")
    _click(h, "Ben", reminder, "incident.post_update")
    ben = h.person("Ben").slack_id
    told = _told(h, ben)
    assert len([t for t in told if "resolved" in t]) == 2
    assert h.box.slack.views(ben) == []
    h.runtime.nag(clock.at(34))
    assert not any("snoozed for" in t for t in h.replies_text(page))


def test_taking_command_when_slack_keeps_the_email_to_itself(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock)
    h.runtime.nag(clock.at(6))
    reminder = _with_button(h, page, "incident.take_command")
    h.box.slack.set_bot_scopes(h.box.slack.bot_scopes - {"users:read.email"})
    clock.now = clock.at(7)
    _click(h, "Ben", reminder, "incident.take_command")
    assert any("users:read.email" in t for t in _told(h, h.person("Ben").slack_id))
    h.runtime.nag(clock.at(7.5))
    assert h.row(page)["properties"]["Commander"]["people"] == []
