"""Actions: what the plan asks the effects to do, one frozen payload per kind, and its codec.

The outbox stores `encode(payload)` as JSON; `decode` reads it back, shapes written by
earlier versions included (a field they did not have yet takes its default). The kind of an
action is its payload's class: an `Action` cannot carry another kind's fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar, get_args

from worker.diff import Change
from worker.nag import NudgeKind
from worker.pages.context import EntryKind
from worker.snapshot import Person, Value

ActionKind = Literal[
    "post_parent",  # the thread's parent message (once per incident, ever)
    "link_thread",  # write the thread's permalink (and the dates) on the row, on its own
    "post_reply",  # a reply in the thread
    "update_parent",  # re-render the parent message to the current state (idempotent)
    "write_props",  # fill worker-owned date properties (idempotent)
    "post_nudge",  # a reminder in the thread (overdue update, escalation, no commander)
    "create_timeline",  # the timeline page, once per incident, then its link (pages lane)
    "timeline_entry",  # one entry appended to the timeline page (pages lane)
    "create_postmortem",  # the postmortem page, once per incident, on resolution (pages lane)
    "postmortem_note",  # a line appended to the postmortem page: reopened, resolved again
    "post_notice",  # a top-level message about the worker itself, in no incident's thread
    "read_note",  # read a thread message (and who wrote it) the timeline needs (Slack lane)
    "timeline_note",  # make a thread message's timeline entry match its facts (pages lane)
    "write_from_slack",  # a property people set from Slack, written on the row in their name
]

# The page_id of actions that belong to the channel rather than to one incident.
CHANNEL = "channel"


# --- reading stored fields ----------------------------------------------------------------


C = TypeVar("C", bound=str)


class PayloadError(ValueError):
    """A stored payload that cannot be read as its kind."""


class _Fields:
    """A stored payload's fields, each read as its type: a PayloadError says which is wrong.
    A field a payload may lack (older versions did not write it) is read with its default."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise PayloadError(f"{where}: a JSON object expected, not {data!r}")
        self.data: Mapping[str, Any] = data
        self.where = where

    def _wrong(self, key: str, expected: str) -> PayloadError:
        return PayloadError(f"{self.where}: {key!r} is not {expected}: {self.data.get(key)!r}")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def choice(self, key: str, options: tuple[C, ...]) -> C:
        """One of `options` (the values of a Literal)."""
        text = self.text(key)
        for option in options:
            if option == text:
                return option
        raise self._wrong(key, f"one of {', '.join(options)}")

    def opt_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self._wrong(key, "a string or null")
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def number(self, key: str) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number")
        return float(value)

    def time(self, key: str) -> datetime:
        return _time(self.text(key), self)

    def opt_time(self, key: str) -> datetime | None:
        """An ISO time; null, empty or absent is none (as every reader took it)."""
        text = self.opt_text(key)
        return _time(text, self) if text else None

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._wrong(key, "a list of strings")
        return tuple(value)

    def objects(self, key: str) -> list[_Fields]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return [_Fields(v, f"{self.where}.{key}") for v in value]

    def person(self, key: str) -> Person | None:
        value = self.data.get(key)
        return None if value is None else _person(_Fields(value, f"{self.where}.{key}"))

    def people(self, key: str) -> tuple[Person, ...]:
        return tuple(_person(p) for p in self.objects(key))

    def value(self, key: str) -> Value:
        fields = _Fields(self.data.get(key), f"{self.where}.{key}")
        return Value(
            text=fields.text("text", ""),
            people=fields.people("people"),
            is_people=fields.flag("is_people"),
            unknown=fields.flag("unknown"),
        )

    def opt_fields(self, key: str) -> _Fields | None:
        """A nested object, read field by field; None when absent or null."""
        value = self.data.get(key)
        return None if value is None else _Fields(value, f"{self.where}.{key}")

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self._wrong(key, "an object")
        return value

    def times(self, key: str) -> dict[str, datetime | None]:
        values = _Fields(self.mapping(key), f"{self.where}.{key}")
        return {name: values.opt_time(name) for name in values.data}

    def links(self, key: str) -> dict[str, str]:
        values = _Fields(self.mapping(key), f"{self.where}.{key}")
        return {name: values.text(name) for name in values.data}


def _time(text: str, where: _Fields) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{where.where}: not an ISO time: {text!r}") from None


def _person(fields: _Fields) -> Person:
    return Person(
        id=fields.text("id"),
        name=fields.text("name", ""),
        email=fields.opt_text("email"),
        is_bot=fields.flag("is_bot"),
        slack_id=fields.opt_text("slack_id"),
    )


# --- writing them -------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _person_json(person: Person | None) -> dict[str, Any] | None:
    if person is None:
        return None
    data: dict[str, Any] = {
        "id": person.id,
        "name": person.name,
        "email": person.email,
        "is_bot": person.is_bot,
    }
    if person.slack_id is not None:
        data["slack_id"] = person.slack_id
    return data


def _value_json(value: Value) -> dict[str, Any]:
    return {
        "text": value.text,
        "people": [_person_json(p) for p in value.people],
        "is_people": value.is_people,
        "unknown": value.unknown,
    }


_NUDGE_KINDS: tuple[NudgeKind, ...] = get_args(NudgeKind)
_ENTRY_KINDS: tuple[EntryKind, ...] = get_args(EntryKind)


# --- the actions --------------------------------------------------------------------------


@dataclass(frozen=True)
class PostParent:
    """The thread's parent message. It shows from the start the times `LinkThread` then
    writes on the row; `clock_at` (when the update clock started) is read back from the
    thread after a lost state. `look_since`: the worker may have posted it before it lost its
    memory, so it looks in the channel for its own message from then on first."""

    action_kind: ClassVar[ActionKind] = "post_parent"
    declared_at: datetime | None = None
    next_update_due: datetime | None = None
    clock_at: datetime | None = None
    look_since: datetime | None = None

    def encode(self) -> dict[str, Any]:
        data = {
            "declared_at": _iso(self.declared_at),
            "next_update_due": _iso(self.next_update_due),
            "clock_at": _iso(self.clock_at),
        }
        if self.look_since is not None:
            data["look_since"] = _iso(self.look_since)
        return data

    @classmethod
    def decode(cls, fields: _Fields) -> PostParent:
        # The first versions queued it as {}: no times, no clock.
        return cls(
            declared_at=fields.opt_time("declared_at"),
            next_update_due=fields.opt_time("next_update_due"),
            clock_at=fields.opt_time("clock_at"),
            look_since=fields.opt_time("look_since"),
        )


@dataclass(frozen=True)
class LinkThread:
    """Write the thread's permalink on the row, with Declared at (None where people set it)
    and Next update due. `clear`: the links ('timeline', 'postmortem') that are another
    row's, copied along by Notion's Duplicate.

    A declared incident's link rides in its `CreateTimeline` (one write for both links);
    this action writes it on its own: for an incident that has its timeline page already,
    and where the page was made before the thread existed."""

    action_kind: ClassVar[ActionKind] = "link_thread"
    declared_at: datetime | None = None
    next_update_due: datetime | None = None
    clear: tuple[str, ...] = ()

    def values(
        self, permalink: str | None, own_pages: Mapping[str, str | None]
    ) -> dict[str, str | None]:
        """The row's properties this writes, by logical name (dates in ISO): the thread's
        link (once there is one), the dates, and an empty value for each link in `clear`
        the incident has no page of its own for (`own_pages`: 'timeline' → page id)."""
        values: dict[str, str | None] = {}
        if permalink:
            values["slack_thread"] = permalink
        if self.declared_at:
            values["declared_at"] = self.declared_at.isoformat()
        if self.next_update_due:
            values["next_update_due"] = self.next_update_due.isoformat()
        for key in self.clear:
            if own_pages.get(key) is None:
                values[key] = None
        return values

    def encode(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "declared_at": _iso(self.declared_at),
            "next_update_due": _iso(self.next_update_due),
        }
        if self.clear:
            data["clear"] = list(self.clear)
        return data

    @classmethod
    def decode(cls, fields: _Fields) -> LinkThread:
        return cls(
            declared_at=fields.opt_time("declared_at"),
            next_update_due=fields.opt_time("next_update_due"),  # absent at first
            clear=fields.texts("clear"),
        )


@dataclass(frozen=True)
class UpdateParent:
    """Re-render the parent message to the incident's current state."""

    action_kind: ClassVar[ActionKind] = "update_parent"

    def encode(self) -> dict[str, Any]:
        return {}

    @classmethod
    def decode(cls, fields: _Fields) -> UpdateParent:
        del fields
        return cls()


@dataclass(frozen=True)
class WriteProps:
    """Write worker-owned properties on the row, by logical name: `dates` (None empties
    one), `links` set back after people cleared them, and `clear`: times emptied whoever
    set them (Resolved at, on a reopening)."""

    action_kind: ClassVar[ActionKind] = "write_props"
    dates: Mapping[str, datetime | None] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    clear: tuple[str, ...] = ()

    def encode(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.dates or not self.links:
            data["dates"] = {key: _iso(value) for key, value in self.dates.items()}
        if self.links:
            data["links"] = dict(self.links)
        if self.clear:
            data["clear"] = list(self.clear)
        return data

    @classmethod
    def decode(cls, fields: _Fields) -> WriteProps:
        return cls(
            dates=fields.times("dates"), links=fields.links("links"), clear=fields.texts("clear")
        )


@dataclass(frozen=True)
class PostNudge:
    """A reminder in the thread, as `nag` found it due (`first`: the first overdue update)."""

    action_kind: ClassVar[ActionKind] = "post_nudge"
    kind: NudgeKind
    overdue_by_s: float
    due_at: datetime
    last_update_at: datetime
    first: bool = False
    mention: tuple[Person, ...] = ()
    mention_group: str | None = None
    broadcast: bool = False

    def encode(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "first": self.first,
            "overdue_by_s": self.overdue_by_s,
            "due_at": self.due_at.isoformat(),
            "last_update_at": self.last_update_at.isoformat(),
            "mention": [_person_json(p) for p in self.mention],
            "mention_group": self.mention_group,
            "broadcast": self.broadcast,
        }

    @classmethod
    def decode(cls, fields: _Fields) -> PostNudge:
        # Queued before `first`, then before `mention_group`, existed: they are absent.
        return cls(
            kind=fields.choice("kind", _NUDGE_KINDS),
            overdue_by_s=fields.number("overdue_by_s"),
            due_at=fields.time("due_at"),
            last_update_at=fields.time("last_update_at"),
            first=fields.flag("first"),
            mention=fields.people("mention"),
            mention_group=fields.opt_text("mention_group"),
            broadcast=fields.flag("broadcast"),
        )


@dataclass(frozen=True)
class CreateTimeline:
    """The incident's timeline page; `look_first`: it may exist already (made before the
    worker lost its memory), so it is looked for by its title first. `link`: the thread's
    link and the dates of a declared incident, written on the row in the same request as
    the page's link (None: the page's link alone, as earlier versions planned it beside a
    `link_thread` of its own)."""

    action_kind: ClassVar[ActionKind] = "create_timeline"
    look_first: bool = False
    link: LinkThread | None = None

    def encode(self) -> dict[str, Any]:
        data: dict[str, Any] = {"look_first": True} if self.look_first else {}
        if self.link is not None:
            data["link"] = self.link.encode()
        return data

    @classmethod
    def decode(cls, fields: _Fields) -> CreateTimeline:
        link = fields.opt_fields("link")  # absent in what earlier versions planned
        return cls(
            look_first=fields.flag("look_first"),
            link=None if link is None else LinkThread.decode(link),
        )


@dataclass(frozen=True)
class AppendTimelineEntry:
    """One entry at the end of the timeline page (`kind`: declared, resolved, change …)."""

    action_kind: ClassVar[ActionKind] = "timeline_entry"
    at: datetime
    kind: EntryKind
    text: str = ""
    actor: Person | None = None

    def encode(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "text": self.text,
            "actor": _person_json(self.actor),
        }

    @classmethod
    def decode(cls, fields: _Fields) -> AppendTimelineEntry:
        return cls(
            at=fields.time("at"),
            kind=fields.choice("kind", _ENTRY_KINDS),
            text=fields.text("text", ""),
            actor=fields.person("actor"),
        )


@dataclass(frozen=True)
class CreatePostmortem:
    """The postmortem page; the times of the resolution ride along (the worker's own write
    of Resolved at may not have landed on the row yet)."""

    action_kind: ClassVar[ActionKind] = "create_postmortem"
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None

    def encode(self) -> dict[str, Any]:
        times = {"mitigated_at": self.mitigated_at, "resolved_at": self.resolved_at}
        return {key: value.isoformat() for key, value in times.items() if value is not None}

    @classmethod
    def decode(cls, fields: _Fields) -> CreatePostmortem:
        return cls(
            mitigated_at=fields.opt_time("mitigated_at"),
            resolved_at=fields.opt_time("resolved_at"),
        )


@dataclass(frozen=True)
class AppendPostmortemNote:
    """A line at the end of the postmortem: the incident was `kind` ('reopened',
    'resolved_again') with `status`."""

    action_kind: ClassVar[ActionKind] = "postmortem_note"
    at: datetime
    kind: str
    status: str

    def encode(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "status": self.status}

    @classmethod
    def decode(cls, fields: _Fields) -> AppendPostmortemNote:
        return cls(at=fields.time("at"), kind=fields.text("kind"), status=fields.text("status"))


@dataclass(frozen=True)
class PostNotice:
    """A top-level message about the worker itself: its wording is `notice_<type>`."""

    action_kind: ClassVar[ActionKind] = "post_notice"
    type: str
    problems: tuple[str, ...] = ()
    # Which Incidents database it is about, when the worker follows several ("": the one).
    database: str = ""

    def encode(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        if self.problems:
            data["problems"] = list(self.problems)
        if self.database:
            data["database"] = self.database
        return data

    @classmethod
    def decode(cls, fields: _Fields) -> PostNotice:
        return cls(
            type=fields.text("type"),
            problems=fields.texts("problems"),
            database=fields.text("database", ""),
        )


@dataclass(frozen=True)
class ReadNote:
    """Read from Slack what a thread message's timeline entry needs and the facts lack
    (its text, when only a pin or a reaction was heard of; who its author and the people it
    mentions are), then make its entry match (`SyncNote`)."""

    action_kind: ClassVar[ActionKind] = "read_note"
    channel: str
    ts: str
    look_first: bool = False  # passed on to the `SyncNote` it queues

    def encode(self) -> dict[str, Any]:
        return _note_fields(self.channel, self.ts, self.look_first)

    @classmethod
    def decode(cls, fields: _Fields) -> ReadNote:
        return cls(
            channel=fields.text("channel"),
            ts=fields.text("ts"),
            look_first=fields.flag("look_first"),
        )


@dataclass(frozen=True)
class SyncNote:
    """Make the timeline entry of a thread message match the facts the store holds now:
    append it, rewrite it, strike it through or restore it. It reads the facts when it runs,
    so several queued for one message are harmless: the first does the work."""

    action_kind: ClassVar[ActionKind] = "timeline_note"
    channel: str
    ts: str
    # The facts were read back from Slack (a catch-up), maybe after the worker lost its
    # memory: an entry the page has for the message already is taken, not made again.
    look_first: bool = False

    def encode(self) -> dict[str, Any]:
        return _note_fields(self.channel, self.ts, self.look_first)

    @classmethod
    def decode(cls, fields: _Fields) -> SyncNote:
        return cls(
            channel=fields.text("channel"),
            ts=fields.text("ts"),
            look_first=fields.flag("look_first"),
        )


def _note_fields(channel: str, ts: str, look_first: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"channel": channel, "ts": ts}
    if look_first:
        data["look_first"] = True
    return data


@dataclass(frozen=True)
class WriteFromSlack:
    """What someone set from Slack, written on the row by the worker: *Status update* (the
    text of the Post update modal), or *Commander* := them (`take_command`: the Notion
    person with their email, looked up when it is carried out — handlers never call
    Notion). The row then shows the integration as its last editor; `by` (with their Slack
    id, and their email from Slack) is who did it, and the thread's reply credits them
    (tick looks this action up when the worker's own edit is seen). `at`: when."""

    action_kind: ClassVar[ActionKind] = "write_from_slack"
    by: Person
    at: datetime
    status_update: str | None = None
    take_command: bool = False

    def encode(self) -> dict[str, Any]:
        data: dict[str, Any] = {"by": _person_json(self.by), "at": self.at.isoformat()}
        if self.status_update is not None:
            data["status_update"] = self.status_update
        if self.take_command:
            data["take_command"] = True
        return data

    @classmethod
    def decode(cls, fields: _Fields) -> WriteFromSlack:
        by = fields.person("by")
        if by is None:
            raise PayloadError(f"{fields.where}: 'by' is missing")
        return cls(
            by=by,
            at=fields.time("at"),
            status_update=fields.opt_text("status_update"),
            take_command=fields.flag("take_command"),
        )


# --- replies in the thread (kind post_reply, told apart by their "type") ------------------


@dataclass(frozen=True)
class ChangesReply:
    """What changed: status news (`flags`: resolved, reopened, mitigated, restored), an
    escalation, each property old → new. `clock_at`: it restarted the update clock then."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "changes"
    at: datetime
    changes: tuple[Change, ...] = ()
    actor: Person | None = None
    flags: tuple[str, ...] = ()
    escalated_to: str | None = None
    broadcast: bool = False
    clock_at: datetime | None = None

    def encode(self) -> dict[str, Any]:
        data = {
            "type": self.reply_type,
            "changes": [
                {"key": c.key, "old": _value_json(c.old), "new": _value_json(c.new)}
                for c in self.changes
            ],
            "actor": _person_json(self.actor),
            "at": self.at.isoformat(),
            "flags": list(self.flags),
            "escalated_to": self.escalated_to,
            "broadcast": self.broadcast,
        }
        if self.clock_at is not None:
            data["clock_at"] = self.clock_at.isoformat()
        return data

    @classmethod
    def decode(cls, fields: _Fields) -> ChangesReply:
        changes = tuple(
            Change(key=c.text("key"), old=c.value("old"), new=c.value("new"))
            for c in fields.objects("changes")
        )
        return cls(
            at=fields.time("at"),
            changes=changes,
            actor=fields.person("actor"),
            flags=fields.texts("flags"),
            escalated_to=fields.opt_text("escalated_to"),
            broadcast=fields.flag("broadcast"),
            clock_at=fields.opt_time("clock_at"),
        )


@dataclass(frozen=True)
class StatusUpdateReply:
    """A status update people wrote on the row, quoted in the thread; it restarted the
    update clock at `clock_at` (absent in replies queued before that was recorded)."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "status_update"
    text: str
    at: datetime
    actor: Person | None = None
    clock_at: datetime | None = None

    def encode(self) -> dict[str, Any]:
        data = {
            "type": self.reply_type,
            "text": self.text,
            "actor": _person_json(self.actor),
            "at": self.at.isoformat(),
        }
        if self.clock_at is not None:
            data["clock_at"] = self.clock_at.isoformat()
        return data

    @classmethod
    def decode(cls, fields: _Fields) -> StatusUpdateReply:
        return cls(
            text=fields.text("text", ""),
            at=fields.time("at"),
            actor=fields.person("actor"),
            clock_at=fields.opt_time("clock_at"),
        )


@dataclass(frozen=True)
class TrashedReply:
    """The row went to Notion's trash."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "trashed"
    at: datetime
    actor: Person | None = None

    def encode(self) -> dict[str, Any]:
        return {
            "type": self.reply_type,
            "actor": _person_json(self.actor),
            "at": self.at.isoformat(),
        }

    @classmethod
    def decode(cls, fields: _Fields) -> TrashedReply:
        return cls(at=fields.time("at"), actor=fields.person("actor"))


@dataclass(frozen=True)
class LinksRestoredReply:
    """The worker set back its own links (logical property keys) that people cleared."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "links_restored"
    keys: tuple[str, ...] = ()

    def encode(self) -> dict[str, Any]:
        return {"type": self.reply_type, "keys": list(self.keys)}

    @classmethod
    def decode(cls, fields: _Fields) -> LinksRestoredReply:
        return cls(keys=fields.texts("keys"))


@dataclass(frozen=True)
class ProblemReply:
    """Something the worker cannot do (`what`: the action kind, or 'row'), and why."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "problem"
    what: str
    error: str

    def encode(self) -> dict[str, Any]:
        return {"type": self.reply_type, "what": self.what, "error": self.error}

    @classmethod
    def decode(cls, fields: _Fields) -> ProblemReply:
        return cls(what=fields.text("what"), error=fields.text("error"))


@dataclass(frozen=True)
class RefusedReply:
    """Slack refused a message (`what`) for good, in every form, with `error`."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "refused"
    what: str
    error: str

    def encode(self) -> dict[str, Any]:
        return {"type": self.reply_type, "what": self.what, "error": self.error}

    @classmethod
    def decode(cls, fields: _Fields) -> RefusedReply:
        return cls(what=fields.text("what"), error=fields.text("error"))


@dataclass(frozen=True)
class PageTrashedReply:
    """One of the worker's pages (`what`: 'timeline') went to Notion's trash."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "page_trashed"
    what: str
    page: str

    def encode(self) -> dict[str, Any]:
        return {"type": self.reply_type, "what": self.what, "page": self.page}

    @classmethod
    def decode(cls, fields: _Fields) -> PageTrashedReply:
        return cls(what=fields.text("what"), page=fields.text("page"))


@dataclass(frozen=True)
class ValueProblemReply:
    """A value the settings do not know, or an option removed from the database."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "value_problem"
    problem: str

    def encode(self) -> dict[str, Any]:
        return {"type": self.reply_type, "problem": self.problem}

    @classmethod
    def decode(cls, fields: _Fields) -> ValueProblemReply:
        return cls(problem=fields.text("problem"))


@dataclass(frozen=True)
class PostmortemReply:
    """The postmortem page is ready (`due`: when, with a Postmortems database)."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "postmortem"
    url: str
    due: datetime | None = None

    def encode(self) -> dict[str, Any]:
        return {"type": self.reply_type, "url": self.url, "due": _iso(self.due)}

    @classmethod
    def decode(cls, fields: _Fields) -> PostmortemReply:
        return cls(url=fields.text("url"), due=fields.opt_time("due"))


@dataclass(frozen=True)
class SnoozedReply:
    """Someone snoozed the overdue-update reminders from Slack, for `minutes`, until
    `until`."""

    action_kind: ClassVar[ActionKind] = "post_reply"
    reply_type: ClassVar[str] = "snoozed"
    by: Person
    minutes: int
    until: datetime

    def encode(self) -> dict[str, Any]:
        return {
            "type": self.reply_type,
            "by": _person_json(self.by),
            "minutes": self.minutes,
            "until": self.until.isoformat(),
        }

    @classmethod
    def decode(cls, fields: _Fields) -> SnoozedReply:
        by = fields.person("by")
        if by is None:
            raise PayloadError(f"{fields.where}: 'by' is missing")
        return cls(by=by, minutes=int(fields.number("minutes")), until=fields.time("until"))


Reply = (
    ChangesReply
    | StatusUpdateReply
    | TrashedReply
    | LinksRestoredReply
    | ProblemReply
    | RefusedReply
    | PageTrashedReply
    | ValueProblemReply
    | PostmortemReply
    | SnoozedReply
)
Payload = (
    PostParent
    | LinkThread
    | UpdateParent
    | WriteProps
    | PostNudge
    | CreateTimeline
    | AppendTimelineEntry
    | CreatePostmortem
    | AppendPostmortemNote
    | PostNotice
    | ReadNote
    | SyncNote
    | WriteFromSlack
    | Reply
)

REPLY_TYPES: tuple[type[Reply], ...] = (
    ChangesReply,
    StatusUpdateReply,
    TrashedReply,
    LinksRestoredReply,
    ProblemReply,
    RefusedReply,
    PageTrashedReply,
    ValueProblemReply,
    PostmortemReply,
    SnoozedReply,
)
_REPLY_DECODERS: dict[str, Callable[[_Fields], Reply]] = {
    cls.reply_type: cls.decode for cls in REPLY_TYPES
}


def _decode_reply(fields: _Fields) -> Reply:
    reply_type = fields.text("type")
    decoder = _REPLY_DECODERS.get(reply_type)
    if decoder is None:
        raise PayloadError(f"{fields.where}: no such reply: {reply_type!r}")
    return decoder(fields)


_PAYLOAD_TYPES: tuple[type[Payload], ...] = (
    PostParent,
    LinkThread,
    UpdateParent,
    WriteProps,
    PostNudge,
    CreateTimeline,
    AppendTimelineEntry,
    CreatePostmortem,
    AppendPostmortemNote,
    PostNotice,
    ReadNote,
    SyncNote,
    WriteFromSlack,
)
_DECODERS: dict[str, Callable[[_Fields], Payload]] = {
    **{cls.action_kind: cls.decode for cls in _PAYLOAD_TYPES},
    "post_reply": _decode_reply,
}


@dataclass(frozen=True)
class Unreadable:
    """A stored payload this version cannot read: a kind it does not know (a newer
    version's), or fields it cannot take. Its action is not carried out: it fails at once,
    with one log line, and holds up nothing."""

    kind: str
    error: str


def encode(payload: Payload) -> dict[str, Any]:
    """The payload as the outbox stores it (JSON-ready)."""
    return payload.encode()


def decode(kind: str, data: object) -> Payload:
    """A stored payload of `kind` (PayloadError when it cannot be read)."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise PayloadError(f"no such action: {kind!r}")
    return decoder(_Fields(data, kind))


def to_json(payload: Payload) -> str:
    return json.dumps(encode(payload), ensure_ascii=False)


def from_json(kind: str, text: str) -> Payload | Unreadable:
    """What the outbox stored; a row this version cannot read is `Unreadable`, so that it
    never keeps the outbox's other rows from being read."""
    try:
        return decode(kind, json.loads(text))
    except ValueError as exc:
        return Unreadable(kind, str(exc))


P = TypeVar("P")


def expect(payload: Payload | Unreadable, cls: type[P] | tuple[type[P], ...]) -> P:
    """The payload as the handler of its kind reads it (`cls`: the kind's class, or classes)."""
    if isinstance(payload, cls):
        return payload
    if isinstance(payload, Unreadable):
        raise PayloadError(f"a stored {payload.kind} action cannot be read: {payload.error}")
    raise TypeError(f"{cls} expected, not {type(payload).__name__}")


@dataclass(frozen=True)
class Action:
    """One effect to carry out, once: `key` makes it so (the outbox keeps one per key)."""

    key: str
    page_id: str
    payload: Payload
    # Catch-up work nobody is waiting on (a parent brought up to date after a state loss):
    # it goes after what people just changed. Reminders and page work are always so.
    background: bool = False

    @property
    def kind(self) -> ActionKind:
        return self.payload.action_kind
