"""Notes: what the worker knows of each thread message people may send to the timeline (plain data).

A message of an incident's thread goes to the timeline when someone pins it, reacts to it
with TIMELINE_EMOJI (📌 by default) or uses the "Add to timeline" shortcut on it — or, with
TIMELINE_CAPTURE=all, always. Slack tells the worker each of those as a separate event,
maybe twice, maybe late, maybe out of order; so the worker keeps facts, not a log: the
message's text as last edited, whether it is pinned, who reacted, who used the shortcut.
Each event updates one facet, idempotently: a facet remembers the Slack time of what set it,
and an older event arriving late changes nothing (`apply`). The timeline entry is then made
to match the facts (`entry_state`), however many events led there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

Capture = Literal["pinned", "all", "off"]
EntryState = Literal["absent", "shown", "struck"]

# `<@U…>` and `<@U…|label>` in a message's text: the people it mentions.
_USER_MENTION: Final = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class NoteFile:
    """A file attached to the message: its name and where it is (its Slack permalink)."""

    name: str
    url: str


@dataclass(frozen=True)
class SlackPerson:
    """Who a Slack user id is, as users.info said (`email` needs users:read.email)."""

    name: str
    email: str | None = None


@dataclass(frozen=True)
class ThreadNote:
    """One thread message of an incident, as far as the timeline cares."""

    page_id: str
    channel: str
    ts: str
    thread_ts: str
    # The message: None while unknown (only a reaction or a pin was heard of so far).
    text: str | None = None
    user: str | None = None  # the author's Slack id (None: a bot, or not known yet)
    bot: bool = False
    files: tuple[NoteFile, ...] = ()
    text_at: str = ""  # the Slack time of the version held (its edit's, or its own ts)
    deleted: bool = False
    pinned: bool = False
    pinned_at: str = ""  # the Slack time of the pin or unpin held
    # Who reacted with the timeline emoji: user → (reacted, the Slack time of that event);
    # and who had, as the message was last read back (its Slack time, those users).
    reactions: Mapping[str, tuple[bool, str]] = field(default_factory=dict)
    reactions_read: tuple[str, tuple[str, ...]] = ("", ())
    shortcut_by: tuple[str, ...] = ()  # who used "Add to timeline" on it
    # The author and the people mentioned, by Slack id (users.info, looked up once).
    people: Mapping[str, SlackPerson] = field(default_factory=dict)
    # The timeline entry: its block ids once made, and a fingerprint of what it shows.
    entry_blocks: tuple[str, ...] = ()
    shown: str = ""

    @property
    def reactors(self) -> tuple[str, ...]:
        """Who has the timeline emoji on it now: each person's latest event, unless the last
        read-back is newer (it says who had, everyone else had not)."""
        read_at, read = self.reactions_read
        now = set(read)
        for user, (on, at) in self.reactions.items():
            if _newer(at, read_at) and on:
                now.add(user)
            elif _newer(at, read_at):
                now.discard(user)
        return tuple(sorted(now))

    @property
    def author(self) -> SlackPerson | None:
        return self.people.get(self.user) if self.user else None

    @property
    def complete(self) -> bool:
        """Whether its entry can be written: the text is known, and who the author and the
        people it mentions are (else it is read from Slack first)."""
        return self.text is not None and not self.unknown_people()

    def unknown_people(self) -> tuple[str, ...]:
        return tuple(user for user in self.people_to_know() if user not in self.people)

    def people_to_know(self) -> tuple[str, ...]:
        mentioned = _USER_MENTION.findall(self.text or "")
        return tuple(dict.fromkeys([*([self.user] if self.user else []), *mentioned]))


# --- what happened -----------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """The message as Slack showed it: posted, edited (`at`: the edit's time), or read back."""

    text: str
    user: str | None
    at: str
    bot: bool = False
    files: tuple[NoteFile, ...] = ()

    def applied_to(self, note: ThreadNote) -> ThreadNote:
        if note.text is not None and not _newer(self.at, note.text_at):
            return note
        return replace(
            note, text=self.text, user=self.user, bot=self.bot, files=self.files, text_at=self.at
        )


@dataclass(frozen=True)
class Deleted:
    """The message was deleted (for good)."""

    def applied_to(self, note: ThreadNote) -> ThreadNote:
        return replace(note, deleted=True)


@dataclass(frozen=True)
class Pinned:
    on: bool
    at: str

    def applied_to(self, note: ThreadNote) -> ThreadNote:
        if not _newer(self.at, note.pinned_at):
            return note
        return replace(note, pinned=self.on, pinned_at=self.at)


@dataclass(frozen=True)
class Reacted:
    user: str
    on: bool
    at: str

    def applied_to(self, note: ThreadNote) -> ThreadNote:
        held = note.reactions.get(self.user)
        if held is not None and not _newer(self.at, held[1]):
            return note
        return replace(note, reactions={**note.reactions, self.user: (self.on, self.at)})


@dataclass(frozen=True)
class Shortcut:
    user: str

    def applied_to(self, note: ThreadNote) -> ThreadNote:
        if self.user in note.shortcut_by:
            return note
        return replace(note, shortcut_by=tuple(sorted((*note.shortcut_by, self.user))))


@dataclass(frozen=True)
class ReadBack:
    """Pins and reactions as conversations.replies showed them at `at` (reconciliation): the
    state then, so only events after it change it again."""

    pinned: bool
    reactors: tuple[str, ...]
    at: str

    def applied_to(self, note: ThreadNote) -> ThreadNote:
        if _newer(self.at, note.pinned_at):
            note = replace(note, pinned=self.pinned, pinned_at=self.at)
        if _newer(self.at, note.reactions_read[0]):
            note = replace(note, reactions_read=(self.at, tuple(sorted(set(self.reactors)))))
        return note


@dataclass(frozen=True)
class Known:
    """Who these Slack users are (users.info)."""

    people: Mapping[str, SlackPerson]

    def applied_to(self, note: ThreadNote) -> ThreadNote:
        return replace(note, people={**note.people, **self.people})


NoteEvent = Posted | Deleted | Pinned | Reacted | Shortcut | ReadBack | Known


def slack_time(ts: str) -> Decimal:
    """A Slack ts ('1712345678.000100') as a number to compare ('' or junk: the beginning)."""
    try:
        value = Decimal(ts)
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return value if value.is_finite() else Decimal(0)


def _newer(at: str, than: str) -> bool:
    return not than or slack_time(at) > slack_time(than)


def apply(note: ThreadNote, event: NoteEvent) -> ThreadNote:
    """The facts after `event`; the same event twice, or one older than what a facet holds,
    changes nothing."""
    return event.applied_to(note)


# --- what the timeline shows ----------------------------------------------------------------


def wanted(note: ThreadNote, capture: Capture) -> bool:
    """Whether the message belongs in the timeline now. Bots' messages (the worker's own
    replies among them) never do; with TIMELINE_CAPTURE=off only the shortcut, which someone
    uses on purpose, sends one."""
    if note.deleted or note.bot:
        return False
    if note.shortcut_by or capture == "all":
        return True
    return capture == "pinned" and (note.pinned or bool(note.reactors))


def entry_state(note: ThreadNote, capture: Capture) -> EntryState:
    """`shown` when wanted; `struck` (kept, struck through) when an entry was made and the
    message is no longer wanted (unpinned, its last 📌 removed, deleted); else `absent`."""
    if wanted(note, capture):
        return "shown"
    return "struck" if note.entry_blocks else "absent"


def worth_planning(before: ThreadNote | None, after: ThreadNote, capture: Capture) -> bool:
    """Whether an event's change may change the entry (the entry's action then looks at all
    the facts): something is or was wanted, and a fact the entry shows changed."""
    if before is not None and _entry_facts(before) == _entry_facts(after):
        return False
    return entry_state(after, capture) != "absent" or bool(before and wanted(before, capture))


def _entry_facts(note: ThreadNote) -> tuple[Any, ...]:
    return (
        note.text, note.files, note.deleted, note.pinned, note.reactors, note.shortcut_by,
        note.bot,
    )  # fmt: skip


# --- stored as JSON ----------------------------------------------------------------------------


def note_to_json(note: ThreadNote) -> str:
    data = {
        "text": note.text,
        "user": note.user,
        "bot": note.bot,
        "files": [{"name": f.name, "url": f.url} for f in note.files],
        "text_at": note.text_at,
        "deleted": note.deleted,
        "pinned": note.pinned,
        "pinned_at": note.pinned_at,
        "reactions": {user: [on, at] for user, (on, at) in sorted(note.reactions.items())},
        "reactions_read": [note.reactions_read[0], list(note.reactions_read[1])],
        "shortcut_by": list(note.shortcut_by),
        "people": {
            user: {"name": p.name, "email": p.email} for user, p in sorted(note.people.items())
        },
        "entry_blocks": list(note.entry_blocks),
        "shown": note.shown,
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def note_from_json(page_id: str, channel: str, ts: str, thread_ts: str, text: str) -> ThreadNote:
    data = json.loads(text) if text else {}
    return ThreadNote(
        page_id=page_id,
        channel=channel,
        ts=ts,
        thread_ts=thread_ts,
        text=data.get("text"),
        user=data.get("user"),
        bot=bool(data.get("bot")),
        files=tuple(NoteFile(str(f["name"]), str(f["url"])) for f in data.get("files", [])),
        text_at=str(data.get("text_at", "")),
        deleted=bool(data.get("deleted")),
        pinned=bool(data.get("pinned")),
        pinned_at=str(data.get("pinned_at", "")),
        reactions={
            str(user): (bool(on), str(at)) for user, (on, at) in data.get("reactions", {}).items()
        },
        reactions_read=_reactions_read(data.get("reactions_read")),
        shortcut_by=tuple(str(u) for u in data.get("shortcut_by", [])),
        people={
            str(user): SlackPerson(str(p.get("name", "")), p.get("email"))
            for user, p in data.get("people", {}).items()
        },
        entry_blocks=tuple(str(b) for b in data.get("entry_blocks", [])),
        shown=str(data.get("shown", "")),
    )


def _reactions_read(raw: object) -> tuple[str, tuple[str, ...]]:
    if not isinstance(raw, list) or len(raw) != 2:
        return ("", ())
    return (str(raw[0]), tuple(str(u) for u in raw[1]))


# --- reading Slack's message objects ---------------------------------------------------------


def posted(message: Mapping[str, Any]) -> Posted:
    """A message object (an event's, or conversations.replies') → what it says now."""
    edited = message.get("edited")
    at = edited.get("ts") if isinstance(edited, Mapping) else None
    user = message.get("user")
    return Posted(
        text=str(message.get("text") or ""),
        user=user if isinstance(user, str) and user else None,
        at=str(at or message.get("ts") or ""),
        bot=bool(message.get("bot_id")) or message.get("subtype") == "bot_message",
        files=_files(message.get("files")),
    )


def _files(raw: object) -> tuple[NoteFile, ...]:
    if not isinstance(raw, list):
        return ()
    found: list[NoteFile] = []
    for file in raw:
        if not isinstance(file, Mapping):
            continue
        url = file.get("permalink") or file.get("url_private")
        name = file.get("name") or file.get("title") or "file"
        if isinstance(url, str) and url:
            found.append(NoteFile(str(name), url))
    return tuple(found)


def read_back(message: Mapping[str, Any], channel: str, emoji: str, at: str) -> ReadBack:
    """Pins and reactions of a message as conversations.replies shows them at `at`."""
    pinned_to = message.get("pinned_to")
    reactors: tuple[str, ...] = ()
    for reaction in message.get("reactions") or ():
        if isinstance(reaction, Mapping) and reaction_name(str(reaction.get("name"))) == emoji:
            reactors = tuple(str(u) for u in reaction.get("users") or ())
    return ReadBack(
        pinned=isinstance(pinned_to, list) and channel in pinned_to, reactors=reactors, at=at
    )


def reaction_name(name: str) -> str:
    """`pushpin::skin-tone-2` reads as `pushpin`: the tone is the same reaction to us."""
    return name.split("::", 1)[0]
