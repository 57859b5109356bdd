"""The buttons' handlers in the real inbound app, given Slack's own request bodies (shaped as
reference/slack/inbound.md §5 says: `block_actions` built from the message as posted, and
`view_submission`), on the sandbox: what lands in Notion and the thread, what only the
clicker is told, and that a stale or repeated click changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt.request import BoltRequest

from tests.e2e.harness import Harness, message_text, people, select
from worker.buttons_blocks import UPDATE_BLOCK, UPDATE_INPUT, UPDATE_VIEW, UpdateOrigin
from worker.inbound.service import Inbound


class Clock:
    """The time the handlers read (the intake's clock), moved along with the test's passes;
    it starts when the test does (the rows' Notion times are real ones)."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC).replace(microsecond=0)
        self.now = self.start

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbound(h: Harness, clock: Clock) -> Iterator[Inbound]:
    h.env["SLACK_SIGNING_SECRET"] = "0123456789abcdef0123456789abcdef"
    h.restart()
    built = Inbound.build(h.settings(), [h.runtime], h.runtime.slack, clock=clock)
    assert built is not None
    h.runtime.slack.auth()
    yield built
    built.stop()


def _declare(h: Harness, clock: Clock, **props: Any) -> str:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"), **props)
    h.runtime.poll(clock.at(0))
    h.runtime.poll(clock.at(0.1))
    return page


def _buttons(message: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """action id → (block id, button) of a message as Slack shows it."""
    return {
        element["action_id"]: (block["block_id"], element)
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    }


def _with_button(h: Harness, page: str, action_id: str) -> dict[str, Any]:
    """The latest message of the incident's thread with this button."""
    found = [m for m in h.thread_of(page) if action_id in _buttons(m)]
    assert found, f"no message of the thread has {action_id}"
    return found[-1]


def _dispatch(inbound: Inbound, body: dict[str, Any]) -> tuple[int, str]:
    response = inbound.app.dispatch(BoltRequest(body=body, mode="socket_mode"))
    return response.status, response.body


def _user(h: Harness, who: str, team: str | None = None) -> dict[str, Any]:
    person = h.person(who)
    handle = person.email.split("@")[0]
    team_id = team or h.box.workspace.slack_team_id
    return {"id": person.slack_id, "username": handle, "name": handle, "team_id": team_id}


def click(
    h: Harness, inbound: Inbound, who: str, message: dict[str, Any], action_id: str, **user: str
) -> tuple[int, str]:
    """`who` clicks the button of `message` as Slack would send it (`block_actions`)."""
    return _dispatch(inbound, click_body(h, who, message, action_id, **user))


def click_body(
    h: Harness, who: str, message: dict[str, Any], action_id: str, **user: str
) -> dict[str, Any]:
    block_id, button = _buttons(message)[action_id]
    body = {
        "type": "block_actions",
        "user": _user(h, who, **user),
        "api_app_id": h.box.workspace.slack_app_id,
        "token": "verification-token",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": h.channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{time.time_ns()}.trigger",
        "team": {"id": h.box.workspace.slack_team_id, "domain": "sandbox"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": h.channel, "name": "incidents"},
        "message": message,
        "state": {"values": {}},
        "response_url": "https://hooks.slack.invalid/actions/1",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "text": button["text"],
                "value": button["value"],
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return body


def submit(
    h: Harness, inbound: Inbound, who: str, page: str, text: str, *, view_id: str = "V0UPDATE1"
) -> tuple[int, str]:
    """`who` submits the Post update modal the worker opened for `page`."""
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.thread_ts is not None
    origin = UpdateOrigin(page, h.channel, record.thread_ts)
    body = {
        "type": "view_submission",
        "user": _user(h, who),
        "api_app_id": h.box.workspace.slack_app_id,
        "token": "verification-token",
        "trigger_id": f"{time.time_ns()}.trigger",
        "team": {"id": h.box.workspace.slack_team_id, "domain": "sandbox"},
        "view": {
            "id": view_id,
            "type": "modal",
            "callback_id": UPDATE_VIEW,
            "private_metadata": origin.encode(),
            "hash": "1.abc",
            "state": {
                "values": {
                    UPDATE_BLOCK: {UPDATE_INPUT: {"type": "plain_text_input", "value": text}}
                }
            },
        },
        "response_urls": [],
    }
    return _dispatch(inbound, body)


def _told(h: Harness, who: str) -> list[str]:
    user = h.person(who).slack_id
    return [m["text"] for m in h.box.slack.ephemeral_messages() if m["user"] == user]


def _reminders(h: Harness, page: str) -> list[str]:
    return [t for t in h.replies_text(page) if "overdue" in t]


def test_a_snooze_puts_the_reminder_off_and_says_who_in_the_thread(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock, Commander=people(h.person("Ben")))
    h.runtime.nag(clock.at(31))
    reminder = _with_button(h, page, "incident.snooze.30")
    clock.now = clock.at(32)
    body = click_body(h, "Ben", reminder, "incident.snooze.30")
    assert _dispatch(inbound, body) == (200, "")
    assert _dispatch(inbound, body) == (200, "")  # delivered again (no ack seen): once
    h.runtime.nag(clock.at(32.5))
    ben = h.person("Ben").slack_id
    assert f"snoozed for 30 min by <@{ben}>" in h.replies_text(page)[-1]
    h.runtime.nag(clock.at(61))  # the next period began at 60: it waits for the snooze
    assert len(_reminders(h, page)) == 1
    h.runtime.nag(clock.at(62.5))
    assert len(_reminders(h, page)) == 2
    assert sum("snoozed for" in t for t in h.replies_text(page)) == 1


def test_a_posted_update_lands_in_notion_credited_to_who_wrote_it_once(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock, Commander=people(h.person("Ben")))
    clock.now = clock.at(5)
    assert submit(h, inbound, "Ben", page, "Rolled back the deploy.\nErrors are down.") == (200, "")
    assert submit(h, inbound, "Ben", page, "Rolled back the deploy.\nErrors are down.")[0] == 200
    h.runtime.poll(clock.at(5.5))
    h.runtime.poll(clock.at(6))
    update = h.row(page)["properties"]["Status update"]["rich_text"]
    assert "".join(t["plain_text"] for t in update) == "Rolled back the deploy.\nErrors are down."
    replies = h.thread_of(page)[1:]  # the parent shows the latest update too
    posted = [m for m in replies if "Rolled back the deploy" in message_text(m)]
    assert len(posted) == 1
    ben = h.person("Ben").slack_id
    assert f"Posted from Slack by <@{ben}>" in message_text(posted[0])


def test_an_empty_update_keeps_the_modal_open_with_why(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock)
    status, body = submit(h, inbound, "Ben", page, "   \n ")
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    assert "empty status update" in answer["errors"][UPDATE_BLOCK]


def test_taking_command_sets_the_commander_to_the_clicker(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock)
    h.runtime.nag(clock.at(6))  # no commander after the 5-minute grace
    reminder = _with_button(h, page, "incident.take_command")
    clock.now = clock.at(7)
    assert click(h, inbound, "Ben", reminder, "incident.take_command")[0] == 200
    h.runtime.nag(clock.at(7.5))  # written, and read back: the thread's reply is planned
    h.runtime.deliver(clock.at(7.6))
    commander = h.row(page)["properties"]["Commander"]["people"]
    assert [p["id"] for p in commander] == [h.person("Ben").notion_id]
    ben = h.person("Ben").slack_id
    assert any(f"Changed from Slack by <@{ben}>" in t for t in h.replies_text(page))
    # Someone else clicking the same reminder now is told, and nothing changes.
    assert click(h, inbound, "Chidi", reminder, "incident.take_command")[0] == 200
    assert any("already commands" in t for t in _told(h, "Chidi"))


def test_taking_command_without_a_notion_person_is_explained(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock)
    h.runtime.nag(clock.at(6))
    reminder = _with_button(h, page, "incident.take_command")
    # Ben's Slack account has an address the Notion workspace does not know.
    directory = h.box.slack._directory  # the sandbox's cast, changed for this test
    ben = h.person("Ben").slack_id
    directory.users[ben] = replace(directory.users[ben], email="ben@elsewhere.example")
    clock.now = clock.at(7)
    assert click(h, inbound, "Ben", reminder, "incident.take_command")[0] == 200
    h.runtime.nag(clock.at(7.5))
    assert h.row(page)["properties"]["Commander"]["people"] == []
    assert any("ben@elsewhere.example" in t for t in _told(h, "Ben"))


def test_without_the_email_scope_taking_command_is_explained(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock)
    h.runtime.nag(clock.at(6))
    reminder = _with_button(h, page, "incident.take_command")
    h.box.slack.set_bot_scopes(h.box.slack.bot_scopes - {"users:read.email"})
    clock.now = clock.at(7)
    assert click(h, inbound, "Ben", reminder, "incident.take_command")[0] == 200
    assert any("users:read.email" in t for t in _told(h, "Ben"))
    h.runtime.nag(clock.at(7.5))
    assert h.row(page)["properties"]["Commander"]["people"] == []


def test_a_click_on_a_stale_reminder_changes_nothing_and_says_why(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock, Commander=people(h.person("Ben")))
    h.runtime.nag(clock.at(31))
    reminder = _with_button(h, page, "incident.snooze.60")
    clock.now = clock.at(33)
    assert submit(h, inbound, "Ben", page, "Mitigated by a rollback")[0] == 200
    h.runtime.poll(clock.at(33.5))
    assert click(h, inbound, "Ben", reminder, "incident.snooze.60")[0] == 200
    assert any("no longer current" in t for t in _told(h, "Ben"))
    h.edit("Aiko", page, Status=select("Resolved"))
    h.runtime.poll(clock.at(34))
    assert click(h, inbound, "Ben", reminder, "incident.post_update")[0] == 200
    assert any("resolved" in t for t in _told(h, "Ben"))
    assert not any("snoozed for" in t for t in h.replies_text(page))
    # The parent shows no Post update any more.
    assert "incident.post_update" not in _buttons(h.thread_of(page)[0])


def test_someone_of_another_workspace_is_refused_politely(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock, Commander=people(h.person("Ben")))
    h.runtime.nag(clock.at(31))
    reminder = _with_button(h, page, "incident.snooze.30")
    clock.now = clock.at(32)
    assert click(h, inbound, "Ben", reminder, "incident.snooze.30", team="T0THEIRS01")[0] == 200
    assert any("only members of this workspace" in t for t in _told(h, "Ben"))
    h.runtime.nag(clock.at(32.5))
    assert not any("snoozed for" in t for t in h.replies_text(page))


def test_a_reminder_queued_before_the_snooze_is_not_sent(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock, Commander=people(h.person("Ben")))
    h.runtime.nag(clock.at(31))
    reminder = _with_button(h, page, "incident.snooze.60")
    h.runtime.nag(clock.at(61), deliver=False)  # the next one is queued, not sent yet
    clock.now = clock.at(61.2)
    assert click(h, inbound, "Ben", reminder, "incident.snooze.60")[0] == 200
    h.runtime.nag(clock.at(61.5))
    h.runtime.nag(clock.at(61.6))
    assert len(_reminders(h, page)) == 1
    assert "snoozed for 1 h" in h.replies_text(page)[-1]
    h.runtime.nag(clock.at(121))  # inside the snooze (until 121.2): its escalation waits too
    assert not any("No status update" in t for t in h.replies_text(page))
    h.runtime.nag(clock.at(121.5))
    assert "No status update" in h.replies_text(page)[-1]
