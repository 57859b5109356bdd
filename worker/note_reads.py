"""Notes (Slack lane): read from Slack what a thread message's timeline entry needs and the facts
lack, then have the entry made.

Events carry what they carry: a 📌 on a message posted while the worker was not listening
brings no text, and no event says who a user id is. Handlers never wait on Slack for that
(they must answer within 3 seconds), so they record a `read_note` action instead; this reads
the message back from its thread (conversations.replies: its text, files, pins and
reactions as they are now) and asks users.info about the author and the people it
mentions (once each: the gateway remembers), then queues the entry's `timeline_note`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

from worker.actions import Action, ReadNote, SyncNote, expect
from worker.config import Settings
from worker.record import IncidentRecord
from worker.slack import SlackGateway
from worker.store import OutboxItem, Store
from worker.thread_notes import (
    Deleted,
    Known,
    NoteEvent,
    SlackPerson,
    ThreadNote,
    apply,
    posted,
    read_back,
)


def slack_ts(moment: datetime) -> str:
    """A moment written as Slack writes times ('1712345678.123456')."""
    return f"{moment.timestamp():.6f}"


def sync_action(note: ThreadNote, cause: str, *, look_first: bool = False) -> Action:
    """The action that makes the message's entry match its facts, keyed by what caused it
    (an event id, or the read that completed the facts): a redelivery plans nothing twice."""
    payload = SyncNote(note.channel, note.ts, look_first=look_first)
    return Action(f"timeline_note:{note.channel}:{note.ts}:{cause}", note.page_id, payload)


def read_action(note: ThreadNote, cause: str, *, look_first: bool = False) -> Action:
    payload = ReadNote(note.channel, note.ts, look_first=look_first)
    return Action(f"read_note:{note.channel}:{note.ts}:{cause}", note.page_id, payload)


def message_events(
    message: dict[str, Any], channel: str, emoji: str, now: datetime
) -> list[NoteEvent]:
    """What a message read back from Slack says: its current text and its pins and reactions."""
    return [posted(message), read_back(message, channel, emoji, slack_ts(now))]


@dataclass
class NoteReads:
    store: Store
    slack: SlackGateway
    settings: Settings

    def read_note(self, item: OutboxItem, record: IncidentRecord, now: datetime) -> dict[str, Any]:
        del record
        payload = expect(item.payload, ReadNote)
        note = self.store.note(payload.channel, payload.ts)
        if note is None:
            return {"skipped": "nothing is known of the message"}
        events = self._message(note, now) if note.text is None else []
        read = reduce(apply, events, note)
        people = {user: self._person(user) for user in read.unknown_people()}
        if people:
            events.append(Known(people))
        self.store.change_note(
            note,
            lambda current: reduce(apply, events, current),
            lambda _before, _after: [sync_action(note, item.key, look_first=payload.look_first)],
            now,
        )
        return {"read": [type(event).__name__ for event in events], "people": sorted(people)}

    def _message(self, note: ThreadNote, now: datetime) -> list[NoteEvent]:
        for message in self.slack.thread_history(note.channel, note.thread_ts):
            if message.get("ts") == note.ts:
                return message_events(message, note.channel, self.settings.timeline_emoji, now)
        return [Deleted()]  # not in its thread any more

    def _person(self, user: str) -> SlackPerson:
        found = self.slack.user_info(user)
        if found is None:
            return SlackPerson(name=user)
        return SlackPerson(name=found[0], email=found[1])
