"""Plan: a new snapshot + what we knew before → actions with deterministic keys (pure)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from worker.actions import (
    CHANNEL,
    Action,
    AppendPostmortemNote,
    AppendTimelineEntry,
    ChangesReply,
    CreatePostmortem,
    CreateTimeline,
    LinksRestoredReply,
    LinkThread,
    Payload,
    PostNotice,
    PostNudge,
    PostParent,
    ProblemReply,
    RefusedReply,
    StatusUpdateReply,
    TrashedReply,
    UpdateParent,
    WriteProps,
    encode,
)
from worker.config import Settings, normalize_notion_id
from worker.diff import (
    Change,
    Escalated,
    Event,
    Mitigated,
    PropertiesChanged,
    Reopened,
    Resolved,
    Restored,
    StatusUpdatePosted,
    Trashed,
    diff,
    is_resolved,
)
from worker.nag import NagMemory, NagPolicy, Nudge, next_update_due, state_from_record
from worker.pages.context import EntryKind
from worker.properties import OWN_LINKS, incident_field
from worker.record import IncidentRecord
from worker.snapshot import Incident, Person, Value


@dataclass(frozen=True)
class Plan:
    record: IncidentRecord
    actions: tuple[Action, ...] = ()


_SLACK_PERMALINK_TS = re.compile(r"/p(\d{10})(\d{6})(?:$|[?#/])")
_SLACK_PERMALINK_CHANNEL = re.compile(r"/archives/([A-Z0-9]+)/p\d{16}")
# Notion stamps created and edited times down to the minute.
_NOTION_MINUTE = timedelta(seconds=59, microseconds=999_000)


def thread_ts_from_permalink(url: str) -> str | None:
    """'https://x.slack.com/archives/C1/p1712345678123456' → '1712345678.123456'."""
    match = _SLACK_PERMALINK_TS.search(url)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def channel_from_permalink(url: str | None) -> str | None:
    """'https://x.slack.com/archives/C1/p1712345678123456' → 'C1'."""
    match = _SLACK_PERMALINK_CHANNEL.search(url or "")
    return match.group(1) if match else None


def thread_channel(record: IncidentRecord, default: str) -> str:
    """The channel the incident's thread lives in: an incident stays where it began when
    SLACK_CHANNEL_ID changes (`default`: the setting, where new incidents go)."""
    return record.channel or channel_from_permalink(record.permalink) or default


def observed(notion_time: datetime, now: datetime) -> datetime:
    """When something Notion stamped happened, as closely as the worker can tell.

    Notion rounds created and edited times down to the minute; the worker saw the row at
    `now`, a poll after the fact. So the moment lies in [notion_time, notion_time + 1 min)
    and not after `now`: `now` within that minute, else the minute's end (a late poll).
    A time with seconds was not rounded and is taken as it is."""
    if notion_time.second or notion_time.microsecond or now <= notion_time:
        return notion_time
    return min(now, notion_time + _NOTION_MINUTE)


def page_id_from_url(url: str | None) -> str | None:
    """A Notion page URL (as the worker writes it) → the page's dashed id."""
    if not url:
        return None
    try:
        return normalize_notion_id(url)
    except ValueError:
        return None


def _declarable(record: IncidentRecord, settings: Settings, now: datetime) -> bool:
    incident = record.snapshot
    if incident.in_trash:
        return False
    if incident.title:
        return True
    # From when the worker first saw it: Notion's creation time is rounded to the minute.
    since = record.first_seen_at or incident.created_time
    return (now - since).total_seconds() >= settings.declare_grace_s


def next_due(record: IncidentRecord, settings: Settings) -> datetime | None:
    """When the next status update is due, as written to the row and shown in Slack."""
    state = state_from_record(record, NagMemory())
    return next_update_due(state, NagPolicy.from_settings(settings))


def _due_differs(written: datetime | None, due: datetime | None) -> bool:
    # Compared at a minute's resolution: Notion may not keep the seconds we send.
    if written is None or due is None:
        return written is not due
    return abs((written - due).total_seconds()) >= 60


def declared_time(record: IncidentRecord, now: datetime) -> datetime:
    """Declared at: as people set it, else when the row was created (as observed)."""
    snapshot = record.snapshot
    return snapshot.declared_at or observed(snapshot.created_time, record.first_seen_at or now)


def _declare(
    record: IncidentRecord,
    settings: Settings,
    now: datetime,
    *,
    look_first: bool = False,
    clear: tuple[str, ...] = (),
) -> Plan:
    """Announce the incident: its parent message, the links and dates on the row, a timeline.

    Three Notion requests and two Slack ones: the parent message is posted (its permalink
    is built, not asked for); the timeline page is created with its first entry; then one
    write puts the thread's link, the dates and the page's link on the row (after reading
    the row again, as before every write); the parent is updated to link the page.

    `look_first`: the worker may have announced it before and lost its memory of that (a
    first run over the database, a row whose thread link was cleared), so the parent post
    looks for its own earlier message in the channel before posting. `clear`: worker-owned
    links the row carries that are another row's (copied by Notion's Duplicate)."""
    page = record.page_id
    declared_at = declared_time(record, now)
    announced = replace(record, phase="announced", last_update_at=record.last_update_at or now)
    due = next_due(announced, settings)
    parent = PostParent(
        declared_at=declared_at,
        next_update_due=due,
        # When the update clock started: read back from the thread after a lost state.
        clock_at=announced.last_update_at or now,
        look_since=record.snapshot.created_time if look_first else None,
    )
    link = LinkThread(
        declared_at=None if record.snapshot.declared_at else declared_at,
        next_update_due=due,
        clear=clear,
    )
    # The parent shows from the start the times then written on the row.
    actions: tuple[Action, ...] = (Action(f"post_parent:{page}", page, parent),)
    if record.timeline_page_id is None:
        # The links and dates go on the row with the page's link, in one write.
        create = CreateTimeline(look_first=look_first, link=link)
        actions += (Action(f"create_timeline:{page}", page, create),)
    else:
        actions += (Action(f"link_thread:{page}", page, link),)
    # Goes in the page-create request when the page is made for it (pages/effects).
    entry = timeline_entry(page, "declared", declared_at, "", None, kind="declared")
    return Plan(announced, (*actions, entry))


def timeline_entry(
    page: str, slot: str, at: datetime, text: str, actor: Person | None, *, kind: EntryKind
) -> Action:
    """An entry for the incident's timeline page; `slot` makes its key unique."""
    entry = AppendTimelineEntry(at=at, kind=kind, text=text, actor=actor)
    return Action(f"timeline:{page}:{slot}", page, entry)


def _first_sight(
    new: Incident, settings: Settings, *, first_run: bool, now: datetime, copied: bool
) -> IncidentRecord:
    """A row the worker has no memory of: new, or known before the state store was lost."""
    record = IncidentRecord(page_id=new.page_id, snapshot=new, first_seen_at=now)
    thread_ts = thread_ts_from_permalink(new.slack_thread or "")
    if copied or thread_ts is None:
        # Its links (if any) are not its own: another row's, copied by Notion's Duplicate,
        # or not a Slack thread at all. What the worker writes will replace them.
        record = replace(record, snapshot=_without_links(new))
        if first_run and not copied and is_resolved(new, settings):
            return replace(record, phase="adopted")
        return record
    # Announced by us before the state store was lost or replaced: take the thread named in
    # the row back instead of announcing the incident a second time.
    adopted = replace(
        record,
        thread_ts=thread_ts,
        permalink=new.slack_thread,
        channel=channel_from_permalink(new.slack_thread),
        last_update_at=new.declared_at or new.created_time,
        timeline_page_id=page_id_from_url(new.timeline_url),
        postmortem_page_id=page_id_from_url(new.postmortem_url),
        # Keys of what it posts from now on must not repeat those of its earlier messages.
        seq=int(now.timestamp()),
    )
    if is_resolved(new, settings):
        return replace(adopted, phase="announced")  # over: nothing to rewrite or remind
    # Open: whose thread it is, its last status update and the reminders already sent are
    # read back from the thread before anything is posted or reminded (tick.adopt).
    return replace(adopted, phase="adopting")


def _without_links(incident: Incident) -> Incident:
    cleared: dict[str, Any] = dict.fromkeys(_OWN_LINKS)
    return replace(incident, **cleared)


def plan_row(
    record: IncidentRecord | None,
    new: Incident,
    settings: Settings,
    *,
    actor: Person | None,
    now: datetime,
    first_run: bool,
    copied: bool = False,
) -> Plan:
    """Decide what to do about one row seen in a poll.

    `copied`: the row carries the thread link of another incident the worker knows (Notion's
    Duplicate copies every property): it is a new incident, with a thread of its own."""
    if record is None:
        record = _first_sight(new, settings, first_run=first_run, now=now, copied=copied)
        if record.phase != "waiting":
            return Plan(record)
        clear = tuple(k for k in ("timeline", "postmortem") if copied and _has_link(new, k))
        look_first = first_run and not copied and _worked_on(new)
        return _declare_row(record, settings, now, look_first=look_first, clear=clear)
    if record.phase == "adopting":
        return Plan(record)  # the thread is read back first; changes are planned after that
    if record.phase != "announced":
        updated = replace(record, snapshot=_without_links(new))
        reopened = record.phase == "adopted" and not is_resolved(new, settings)
        if record.phase == "waiting" or reopened:
            return _declare_row(updated, settings, now, look_first=False)
        return Plan(updated)
    return _plan_changes(record, new, settings, actor=actor, now=now)


def _worked_on(incident: Incident) -> bool:
    """The row shows the worker's hand (a date or a page link it writes): it may have been
    announced before the worker's memory was lost, its thread link cleared since."""
    return any(
        (
            incident.declared_at,
            incident.next_update_due,
            incident.timeline_url,
            incident.postmortem_url,
        )
    )


def _has_link(incident: Incident, key: str) -> bool:
    field = incident_field(key)
    return bool(field and getattr(incident, field))


def _declare_row(
    record: IncidentRecord,
    settings: Settings,
    now: datetime,
    *,
    look_first: bool,
    clear: tuple[str, ...] = (),
) -> Plan:
    """Announce a waiting row once it may be; one already resolved is announced with its
    resolution (logged after the fact, or created and resolved between two polls)."""
    if not _declarable(record, settings, now):
        return Plan(record)
    new = record.snapshot
    if not is_resolved(new, settings):
        return _declare(record, settings, now, look_first=look_first, clear=clear)
    opened = replace(record, snapshot=_as_open(new))
    declared = _declare(opened, settings, now, look_first=look_first, clear=clear)
    resolved = _plan_changes(declared.record, new, settings, actor=None, now=now)
    # The parent and the row show no update as due: the incident is already over.
    first = [replace(a, payload=_none_due(a.payload)) for a in declared.actions]
    return Plan(resolved.record, (*first, *resolved.actions))


def _none_due(payload: Payload) -> Payload:
    """The payload without a Next update due to show or write."""
    if isinstance(payload, PostParent | LinkThread):
        return replace(payload, next_update_due=None)
    if isinstance(payload, CreateTimeline) and payload.link is not None:
        return replace(payload, link=replace(payload.link, next_update_due=None))
    return payload


def _as_open(incident: Incident) -> Incident:
    """The incident as it was before its resolution, as far as the worker can tell."""
    mirrored = tuple((k, Value() if k == "status" else v) for k, v in incident.mirrored)
    return replace(incident, status=None, mirrored=mirrored, resolved_at=None)


def _update_parent(record: IncidentRecord, seq: int) -> Action:
    page = record.page_id
    return Action(f"update_parent:{page}:{seq}", page, UpdateParent())


# --- changes to an announced incident -----------------------------------------------------


def _clock_restarts(events: list[Event]) -> bool:
    """Events after which the next status update is due a whole cadence later: an update,
    and the incident starting over (reopened, or restored from the trash)."""
    return any(isinstance(e, StatusUpdatePosted | Reopened | Restored) for e in events)


def _plan_changes(
    record: IncidentRecord,
    new: Incident,
    settings: Settings,
    *,
    actor: Person | None,
    now: datetime,
) -> Plan:
    repairs = () if new.in_trash else _link_repairs(record, new)
    new = _with_own_links(record.snapshot, new)
    events = diff(record.snapshot, new, settings)
    if not events and not _parent_view_changed(record.snapshot, new):
        return Plan(replace(record, snapshot=new), repairs)
    seq = record.seq + 1
    page = record.page_id
    moment = observed(new.last_edited_time, now)
    last_update_at = now if _clock_restarts(events) else record.last_update_at
    updated = replace(record, snapshot=new, seq=seq, last_update_at=last_update_at)
    if new.in_trash:
        return Plan(updated, (*repairs, *_trash_replies(record, events, actor, moment, seq)))
    actions: list[Action] = list(repairs)
    # Write-backs first: the row is settled before people see the reply and react to it.
    actions.extend(_write_backs(updated, events, settings, moment, seq))
    # The replies that restarted the update clock say when, for a worker that lost its state.
    reply = _change_reply(events, actor, settings, moment)
    if reply is not None:
        if any(isinstance(e, Reopened | Restored) for e in events):
            reply = replace(reply, clock_at=now)
        actions.append(Action(f"reply:{page}:{seq}:changes", page, reply))
    for event in events:
        if isinstance(event, StatusUpdatePosted):
            update = StatusUpdateReply(text=event.text, at=moment, actor=actor, clock_at=now)
            actions.append(Action(f"reply:{page}:{seq}:update", page, update))
    actions.append(_update_parent(record, seq))
    actions.extend(_timeline_entries(page, seq, events, actor, at=moment, settings=settings))
    actions.extend(_postmortem_actions(record, events, props_of(actions), moment, seq))
    return Plan(updated, tuple(actions))


def props_of(actions: list[Action]) -> dict[str, datetime | None]:
    """The dates planned to be written (the postmortem takes them along)."""
    for action in actions:
        if isinstance(action.payload, WriteProps):
            return dict(action.payload.dates)
    return {}


def _write_backs(
    updated: IncidentRecord, events: list[Event], settings: Settings, moment: datetime, seq: int
) -> list[Action]:
    new = updated.snapshot
    page = updated.page_id
    props: dict[str, datetime | None] = dict(_worker_dates(events, new, moment))
    due = next_due(updated, settings)
    if _due_differs(new.next_update_due, due):
        props["next_update_due"] = due
    # Nothing is written to a property the row does not have now (renamed, retyped).
    props = {k: v for k, v in props.items() if k not in new.unreadable}
    clear: tuple[str, ...] = ()
    if any(isinstance(e, Reopened) for e in events) and new.resolved_at is not None:
        # Reopened: no longer resolved. The next resolution fills in its own time.
        clear = ("resolved_at",)
    if not props and not clear:
        return []
    return [Action(f"props:{page}:{seq}", page, WriteProps(dates=props, clear=clear))]


def _postmortem_actions(
    record: IncidentRecord,
    events: list[Event],
    props: dict[str, datetime | None],
    at: datetime,
    seq: int,
) -> list[Action]:
    page = record.page_id
    actions: list[Action] = []
    if any(isinstance(e, Resolved) for e in events) and record.postmortem_page_id is None:
        # Once per incident, ever: reopening and resolving again finds it already done (and
        # one made before a lost state is known from the row's Postmortem link).
        # The times ride along: our own write of Resolved at may not have landed yet.
        times = CreatePostmortem(
            mitigated_at=props.get("mitigated_at"), resolved_at=props.get("resolved_at")
        )
        actions.append(Action(f"create_postmortem:{page}", page, times))
    if record.postmortem_page_id is None:
        return actions  # the postmortem, made later, reads the reopening from the timeline
    for event in events:
        if isinstance(event, Reopened | Resolved):
            note = "reopened" if isinstance(event, Reopened) else "resolved_again"
            payload = AppendPostmortemNote(at=at, kind=note, status=event.status)
            actions.append(Action(f"postmortem_note:{page}:{seq}", page, payload))
    return actions


def _trash_replies(
    record: IncidentRecord, events: list[Event], actor: Person | None, at: datetime, seq: int
) -> list[Action]:
    """The row is in the trash: say so in the thread; nothing is written to it meanwhile."""
    page = record.page_id
    if not any(isinstance(e, Trashed) for e in events):
        return []
    return [
        Action(f"reply:{page}:{seq}:trashed", page, TrashedReply(at=at, actor=actor)),
        _update_parent(record, seq),
    ]


# --- links the worker owns ----------------------------------------------------------------

# Incident field → the logical property the worker writes it to.
_OWN_LINKS = {p.incident_field: p.key for p in OWN_LINKS if p.incident_field is not None}


def _with_own_links(old: Incident, new: Incident) -> Incident:
    """The links the worker owns are what it wrote (remembered when its writes land), not
    what the row shows now: people may clear or change them (then they are set back)."""
    return replace(new, **{field: getattr(old, field) for field in _OWN_LINKS})


def _link_repairs(record: IncidentRecord, seen: Incident) -> tuple[Action, ...]:
    """Write back the worker's own links that people cleared or changed, with one note.

    Only a link the worker knows it wrote (its write landed, so the stored view has it) is
    repaired: one still on its way is not someone's edit. Keyed by the edit that changed it,
    so seeing that edit again (the overlap of polls) repairs nothing twice."""
    old = record.snapshot
    wrong = {
        logical: str(getattr(old, field))
        for field, logical in _OWN_LINKS.items()
        # A property the row no longer has (renamed, retyped) is not a cleared link: there is
        # nothing to write to until it is back (the schema watch says so in the channel).
        if getattr(old, field)
        and getattr(seen, field) != getattr(old, field)
        and logical not in seen.unreadable
    }
    if not wrong:
        return ()
    page = record.page_id
    found = [f"{k}={getattr(seen, f)}" for f, k in _OWN_LINKS.items() if k in wrong]
    edit = f"{seen.last_edited_time.isoformat()}:{seen.last_edited_by}:{'|'.join(found)}"
    digest = hashlib.sha256(edit.encode()).hexdigest()[:12]
    note = LinksRestoredReply(keys=tuple(sorted(wrong)))
    return (
        Action(f"repair:{page}:{digest}", page, WriteProps(links=wrong)),
        Action(f"reply:{page}:repair:{digest}", page, note),
    )


def _change_kind(events: list[Event]) -> EntryKind:
    kinds: tuple[tuple[type[Event], EntryKind], ...] = (
        (Resolved, "resolved"),
        (Reopened, "reopened"),
        (Escalated, "escalated"),
        (Mitigated, "mitigated"),
    )
    for event_type, kind in kinds:
        if any(isinstance(e, event_type) for e in events):
            return kind
    return "change"


def _timeline_entries(
    page: str,
    seq: int,
    events: list[Event],
    actor: Person | None,
    *,
    at: datetime,
    settings: Settings,
) -> list[Action]:
    entries: list[Action] = []
    kind = _change_kind(events)
    changed = [e for e in events if isinstance(e, PropertiesChanged)]
    if changed or kind != "change":
        text = "; ".join(_change_text(c, settings) for e in changed for c in e.changes)
        entries.append(timeline_entry(page, f"{seq}:changes", at, text, actor, kind=kind))
    for event in events:
        if isinstance(event, StatusUpdatePosted):
            entries.append(
                timeline_entry(page, f"{seq}:update", at, event.text, actor, kind="status_update")
            )
        elif isinstance(event, Restored):
            text = "The Notion row was restored from the trash"
            entries.append(timeline_entry(page, f"{seq}:restored", at, text, None, kind="note"))
    return entries


def _change_text(change: Change, settings: Settings) -> str:
    label = change.key[5:] if change.key.startswith("prop:") else settings.properties[change.key]
    return f"{label}: {change.old.text or '—'} → {change.new.text or '—'}"


def _parent_view_changed(old: Incident, new: Incident) -> bool:
    """Fields the parent message shows besides the mirrored ones."""
    shown = ("declared_at", "next_update_due", "timeline_url", "postmortem_url", "status_update")
    return any(_as_shown(getattr(old, name)) != _as_shown(getattr(new, name)) for name in shown)


def _as_shown(value: object) -> object:
    """Times are shown to the minute (and Notion keeps a written date at its own precision)."""
    if isinstance(value, datetime):
        return value.replace(second=0, microsecond=0)
    return value


def _change_reply(
    events: list[Event], actor: Person | None, settings: Settings, at: datetime
) -> ChangesReply | None:
    """One reply for what changed: the status news first (resolved, reopened, mitigated,
    restored, escalated), then each property old → new."""
    changed = [c for e in events if isinstance(e, PropertiesChanged) for c in e.changes]
    flags = [type(e).__name__.lower() for e in events if isinstance(e, Resolved | Reopened)]
    flags += ["mitigated" for e in events if isinstance(e, Mitigated)]
    flags += ["restored" for e in events if isinstance(e, Restored)]
    escalated = [e.severity for e in events if isinstance(e, Escalated)]
    if not changed and not flags and not escalated:
        return None
    loud = settings.broadcast_resolved and ("resolved" in flags or "reopened" in flags)
    return ChangesReply(
        at=at,
        changes=tuple(changed),
        actor=actor,
        flags=tuple(flags),
        escalated_to=escalated[0] if escalated else None,
        # A reopening is as loud as the resolution it undoes.
        broadcast=bool(escalated) or loud,
    )


def _worker_dates(events: list[Event], new: Incident, when: datetime) -> dict[str, datetime]:
    """Fill Mitigated at / Resolved at on transitions, only where people left them empty."""
    dates: dict[str, datetime] = {}
    for event in events:
        if isinstance(event, Mitigated) and new.mitigated_at is None:
            dates["mitigated_at"] = when
        if isinstance(event, Resolved):
            if new.resolved_at is None:
                dates["resolved_at"] = when
            if new.mitigated_at is None:
                dates["mitigated_at"] = when
    return dates


def nudge_action(nudge: Nudge, *, first_update: bool = False) -> Action:
    """A due nudge as an outbox action; its key is the nudge's own (never sent twice)."""
    payload = PostNudge(
        kind=nudge.kind,
        first=first_update,
        overdue_by_s=nudge.overdue_by_s,
        due_at=nudge.due_at,
        last_update_at=nudge.last_update_at,
        mention=nudge.mention,
        mention_group=nudge.mention_group,
        broadcast=nudge.broadcast,
    )
    return Action(nudge.key, nudge.page_id, payload)


def problem_reply(page: str, what: str, error: str) -> Action:
    """A short message in the incident's thread about something the worker cannot do; keyed
    by its cause, so each distinct problem is said once."""
    digest = hashlib.sha256(f"{what}:{error}".encode()).hexdigest()[:12]
    return Action(f"problem:{page}:{what}:{digest}", page, ProblemReply(what=what, error=error))


def channel_notice(topic: str, episode: int, payload: PostNotice) -> Action:
    """A top-level message in the incidents channel (say, that the database no longer fits
    the settings). Keyed by its topic, the episode (the how-many-th change of what is said
    about it) and its content: said once, and said again only when it changes."""
    content = json.dumps(encode(payload), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    return Action(f"notice:{topic}:{episode}:{digest}", CHANNEL, payload)


def refused_reply(page: str, what: str, error: str) -> Action:
    """A notice in the thread that Slack refused a message for good (in every form), with a
    link to the row; keyed by what was refused and why, so it is said once."""
    return Action(f"refused:{page}:{what}:{error}", page, RefusedReply(what=what, error=error))
