"""Slack emulator: dump()/load() round trips, and the `/_sandbox/*` admin routes."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator

import pytest

from tests.sandbox.slack_reference import SlackHarness, serve_slack
from worker.sandbox.slack import SlackEmulator


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack() as harness:
        yield harness


def fill(slack: SlackHarness) -> str:
    slack.bot.conversations_join(channel=slack.channel)
    metadata = {"event_type": "incident", "event_payload": {"id": 7}}
    parent = str(slack.post("<!here> SEV1", metadata=metadata)["ts"])
    slack.post("r1", thread_ts=parent, reply_broadcast=True)
    slack.person(0).chat_postMessage(channel=slack.channel, text="ack", thread_ts=parent)
    slack.post("lost", thread_ts="1.000000")
    slack.bot.reactions_add(channel=slack.channel, name="eyes", timestamp=parent)
    slack.bot.pins_add(channel=slack.channel, timestamp=parent)
    slack.bot.chat_update(channel=slack.channel, ts=parent, text="<!here> SEV1 (mitigated)")
    slack.bot.chat_postEphemeral(channel=slack.channel, user=slack.person_id(0), text="psst")
    slack.emulator.set_bot_scopes(slack.emulator.bot_scopes - {"pins:write"})
    slack.emulator.archive_channel(slack.emulator.general_channel_id)
    slack.emulator.create_private_channel("secret")
    return parent


def test_dump_is_json_and_load_restores_everything(slack: SlackHarness) -> None:
    parent = fill(slack)
    dumped = json.loads(json.dumps(slack.emulator.dump()))

    copy = SlackEmulator(slack.workspace)
    copy.load(dumped)

    assert copy.dump() == dumped
    assert copy.all_messages() == slack.emulator.all_messages()
    assert copy.thread(slack.channel, parent) == slack.emulator.thread(slack.channel, parent)
    assert copy.pings(slack.channel, parent) == {"!here"}
    assert copy.orphan_replies() == slack.emulator.orphan_replies()
    assert copy.ephemeral_messages() == slack.emulator.ephemeral_messages()
    assert copy.bot_scopes == slack.emulator.bot_scopes
    assert copy.members(slack.channel) == slack.emulator.members(slack.channel)


def test_a_loaded_state_keeps_serving_and_ts_keep_increasing(slack: SlackHarness) -> None:
    fill(slack)
    before = slack.emulator.dump()
    slack.emulator.load(json.loads(json.dumps(before)))
    last = max(m["ts"] for m in slack.emulator.all_messages() if m["channel"] == slack.channel)

    newer = slack.post("after reload")["ts"]

    assert newer > last
    history = slack.bot.conversations_history(channel=slack.channel, limit=1)
    assert history["messages"][0]["text"] == "after reload"


def test_load_refuses_a_state_it_does_not_know(slack: SlackHarness) -> None:
    with pytest.raises(ValueError, match="version"):
        slack.emulator.load({"channels": []})


def test_admin_routes_mirror_the_python_helpers(slack: SlackHarness) -> None:
    parent = fill(slack)

    messages = slack.admin(f"/_sandbox/messages?channel={slack.channel}")
    everything = slack.admin("/_sandbox/messages")
    orphans = slack.admin("/_sandbox/orphans")
    ephemeral = slack.admin("/_sandbox/ephemeral")
    scopes = slack.admin("/_sandbox/scopes", {"scopes": ["chat:write"]}, method="PUT")
    created = slack.admin(
        "/_sandbox/channels", {"name": "war-room", "is_private": False}, method="POST"
    )
    slack.admin(f"/_sandbox/channels/{created['channel']}/archive", {}, method="POST")
    state = slack.admin("/_sandbox/state")

    assert messages == slack.emulator.channel_messages(slack.channel)
    assert [m["ts"] for m in messages] == [parent, messages[1]["ts"]]
    assert len(everything) == 4
    assert [o["text"] for o in orphans] == ["lost"]
    assert [e["text"] for e in ephemeral] == ["psst"]
    assert scopes == {"scopes": ["chat:write"]}
    war_room = next(c for c in state["channels"] if c["id"] == created["channel"])
    assert war_room["is_archived"] is True
    assert war_room["is_private"] is False

    slack.admin("/_sandbox/state", {**state, "bot_scopes": ["users:read"]}, method="PUT")
    assert slack.emulator.bot_scopes == {"users:read"}


def test_admin_routes_answer_404_for_unknown_channels(slack: SlackHarness) -> None:
    with pytest.raises(urllib.error.HTTPError) as failure:
        slack.admin("/_sandbox/channels/C0NOPE/archive", {}, method="POST")

    assert failure.value.code == 404
