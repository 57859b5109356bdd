"""Sandbox Slack: the events Web API calls cause, against the java-slack-sdk event samples
(union shapes of real payloads), and who hears what."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache, reduce
from typing import Any

import pytest

from tests.sandbox.slack_reference import (
    SlackHarness,
    serve_slack,
    shape_problems,
    slack_dir,
    union,
)


@cache
def event_sample(name: str) -> dict[str, Any]:
    path = slack_dir() / f"slack-fixtures/java-slack-sdk-json-logs/events/{name}Payload.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def envelope_sample() -> dict[str, Any]:
    """Every envelope key the samples show, with a free-form `event`."""
    names = ("Message", "MessageChanged", "MessageDeleted", "ReactionAdded", "PinAdded")
    merged = reduce(union, [event_sample(n) for n in names])
    return {**merged, "event": {}}


def message_sample() -> dict[str, Any]:
    merged = reduce(union, [event_sample(n)["event"] for n in ("Message", "MessageBot")])
    return dict(merged)


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack() as harness:
        harness.bot.conversations_join(channel=harness.channel)
        yield harness


def held(slack: SlackHarness) -> list[dict[str, Any]]:
    return slack.emulator.inbound.held()


def events(slack: SlackHarness) -> list[dict[str, Any]]:
    return [p["event"] for p in held(slack)]


def test_posts_replies_and_bot_posts_are_message_events_shaped_like_real_ones(
    slack: SlackHarness,
) -> None:
    parent = slack.person(0).chat_postMessage(channel=slack.channel, text="db down")["ts"]
    reply = slack.person(1).chat_postMessage(channel=slack.channel, text="on it", thread_ts=parent)
    slack.post("status → Identified", thread_ts=parent)

    first, second, third = events(slack)
    assert (first["ts"], first["user"], first["text"]) == (parent, slack.person_id(0), "db down")
    assert "thread_ts" not in first
    assert (second["thread_ts"], second["parent_user_id"]) == (parent, slack.person_id(0))
    assert second["ts"] == reply["ts"]
    assert third["bot_id"] == slack.workspace.slack_bot_id
    assert third["bot_profile"]["app_id"] == slack.workspace.slack_app_id
    for event in (first, second, third):
        assert event["channel"] == slack.channel
        assert event["event_ts"] == event["ts"]
        assert shape_problems(event, message_sample()) == []
    for payload in held(slack):
        assert shape_problems(payload, envelope_sample()) == []
    ids = [p["event_id"] for p in held(slack)]
    assert len(set(ids)) == 3
    assert all(i.startswith("Ev") for i in ids)


def test_edits_and_deletions_are_message_changed_and_message_deleted(slack: SlackHarness) -> None:
    person = slack.person(0)
    ts = person.chat_postMessage(channel=slack.channel, text="typo")["ts"]
    person.chat_update(channel=slack.channel, ts=ts, text="fixed")
    person.chat_delete(channel=slack.channel, ts=ts)

    _, changed, deleted = events(slack)
    assert changed["subtype"] == "message_changed"
    assert changed["message"]["text"] == "fixed"
    assert changed["message"]["edited"]["user"] == slack.person_id(0)
    assert changed["previous_message"]["text"] == "typo"
    assert shape_problems(changed, event_sample("MessageChanged")["event"]) == []
    assert deleted["subtype"] == "message_deleted"
    assert deleted["deleted_ts"] == ts
    assert deleted["previous_message"]["text"] == "fixed"
    assert shape_problems(deleted, event_sample("MessageDeleted")["event"]) == []


def test_reactions_and_pins_come_and_go_as_events(slack: SlackHarness) -> None:
    ts = slack.person(0).chat_postMessage(channel=slack.channel, text="root cause found")["ts"]
    marker = slack.person(1)
    marker.reactions_add(channel=slack.channel, timestamp=ts, name="pushpin")
    marker.reactions_remove(channel=slack.channel, timestamp=ts, name="pushpin")
    marker.pins_add(channel=slack.channel, timestamp=ts)
    marker.pins_remove(channel=slack.channel, timestamp=ts)

    kinds = [e["type"] for e in events(slack)]
    assert kinds == ["message", "reaction_added", "reaction_removed", "pin_added", "pin_removed"]
    _, added, removed, pinned, unpinned = events(slack)
    for reaction in (added, removed):
        assert reaction["item"] == {"type": "message", "channel": slack.channel, "ts": ts}
        assert (reaction["user"], reaction["item_user"]) == (slack.person_id(1), slack.person_id(0))
        assert reaction["reaction"] == "pushpin"
        assert shape_problems(reaction, event_sample("ReactionAdded")["event"]) == []
    assert pinned["item"]["message"]["ts"] == ts
    assert pinned["item"]["message"]["pinned_to"] == [slack.channel]
    assert "pinned_to" not in unpinned["item"]["message"]
    assert shape_problems(pinned, event_sample("PinAdded")["event"]) == []
    pin_removed_sample = union(event_sample("PinAdded")["event"], {"has_pins": False})
    assert shape_problems(unpinned, pin_removed_sample) == []


def test_the_guests_messages_carry_their_team_and_the_channel_is_shared(
    slack: SlackHarness,
) -> None:
    guest = slack.workspace.slack_guest
    assert guest is not None
    slack.client(guest.slack_token).chat_postMessage(channel=slack.channel, text="from partner")

    (payload,) = held(slack)
    assert payload["is_ext_shared_channel"] is True
    event = payload["event"]
    assert (event["user_team"], event["source_team"]) == (guest.team_id, guest.team_id)
    assert event["team"] == guest.team_id
    info = slack.bot.users_info(user=guest.slack_id)["user"]
    assert info["team_id"] == guest.team_id != slack.workspace.slack_team_id
    assert info["profile"]["email"] == guest.email


def test_channels_without_the_bot_cause_no_events(slack: SlackHarness) -> None:
    general = slack.emulator.general_channel_id
    slack.person(0).chat_postMessage(channel=general, text="lunch?")

    assert held(slack) == []


def test_messages_read_back_with_their_reactions_pins_and_files(slack: SlackHarness) -> None:
    ts = slack.person(0).chat_postMessage(channel=slack.channel, text="graph attached")["ts"]
    for index in (1, 2):
        slack.person(index).reactions_add(channel=slack.channel, timestamp=ts, name="pushpin")
    slack.person(1).pins_add(channel=slack.channel, timestamp=ts)
    slack.emulator.attach_file(slack.channel, ts, "latency.png")

    (message,) = slack.bot.conversations_replies(channel=slack.channel, ts=ts)["messages"]

    assert message["reactions"] == [
        {"name": "pushpin", "users": [slack.person_id(1), slack.person_id(2)], "count": 2}
    ]
    assert message["pinned_to"] == [slack.channel]
    assert [f["name"] for f in message["files"]] == ["latency.png"]
    got = slack.bot.reactions_get(channel=slack.channel, timestamp=ts)
    assert got["message"]["reactions"][0]["count"] == 2
    (pin,) = slack.bot.pins_list(channel=slack.channel)["items"]
    assert (pin["created_by"], pin["message"]["ts"]) == (slack.person_id(1), ts)
