"""Reading a thread message back (Slack lane): what the facts lacked is filled from Slack, once,
and the entry's action follows — against the Slack emulator and a real state store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import at, settings
from tests.sandbox.slack_reference import SlackHarness, serve_slack
from worker.actions import ReadNote, SyncNote
from worker.note_reads import NoteReads, read_action
from worker.record import IncidentRecord
from worker.slack import SlackGateway
from worker.store import OutboxItem, Store
from worker.thread_notes import Pinned, ThreadNote

PAGE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack() as box:
        yield box


@pytest.fixture
def reads(slack: SlackHarness, tmp_path: Path) -> Iterator[NoteReads]:
    env = {"SLACK_BASE_URL": slack.base_url, "SLACK_BOT_TOKEN": slack.workspace.slack_token}
    config = settings(SLACK_CHANNEL_ID=slack.channel, **env)
    gateway = SlackGateway.build(config)
    gateway.join(slack.channel)
    store = Store.open(f"sqlite:///{tmp_path}/state.db")
    yield NoteReads(store, gateway, config)
    store.close()


def _heard_of(reads: NoteReads, channel: str, ts: str, thread_ts: str) -> OutboxItem:
    """Only a pin was heard of (the message was posted while nobody listened)."""
    start = ThreadNote(page_id=PAGE, channel=channel, ts=ts, thread_ts=thread_ts)
    reads.store.change_note(
        start,
        Pinned(on=True, at="1.0").applied_to,
        lambda _b, after: [read_action(after, "Ev1")],
        at(1.0),
    )
    (item,) = reads.store.due_actions(at(2.0))
    assert isinstance(item.payload, ReadNote)
    return item


def _record() -> IncidentRecord:
    return IncidentRecord(page_id=PAGE, snapshot=None)  # type: ignore[arg-type]


def test_a_message_heard_of_only_by_its_pin_is_read_back_with_its_author(
    slack: SlackHarness, reads: NoteReads
) -> None:
    parent = slack.post("SEV2 Checkout down")["ts"]
    ben, chidi = slack.workspace.people[1], slack.workspace.people[2]
    text = f"Rolled back, thanks <@{chidi.slack_id}>"
    ts = slack.person(1).chat_postMessage(channel=slack.channel, thread_ts=parent, text=text)["ts"]
    slack.person(2).pins_add(channel=slack.channel, timestamp=ts)
    item = _heard_of(reads, slack.channel, ts, parent)
    result = reads.read_note(item, _record(), at(3.0))
    note = reads.store.note(slack.channel, ts)
    assert note is not None
    assert (note.text, note.user, note.pinned, note.complete) == (text, ben.slack_id, True, True)
    assert note.people[ben.slack_id].email == ben.email
    assert note.people[chidi.slack_id].name == chidi.name
    assert result["people"] == sorted([ben.slack_id, chidi.slack_id])
    (sync,) = [i for i in reads.store.due_actions(at(4.0)) if i.kind == "timeline_note"]
    assert sync.payload == SyncNote(slack.channel, ts)
    assert sync.key == f"timeline_note:{slack.channel}:{ts}:{item.key}"


def test_a_message_gone_from_its_thread_reads_as_deleted(
    slack: SlackHarness, reads: NoteReads
) -> None:
    parent = slack.post("SEV2 Checkout down")["ts"]
    item = _heard_of(reads, slack.channel, "1000000000.000100", parent)
    reads.read_note(item, _record(), at(3.0))
    note = reads.store.note(slack.channel, "1000000000.000100")
    assert note is not None
    assert note.deleted
