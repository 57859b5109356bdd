"""Plan: a new snapshot + what we knew before → actions with deterministic keys (pure)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from worker.config import Settings, normalize_notion_id
from worker.diff import (
    Change,
    Escalated,
    Event,
    Mitigated,
    PropertiesChanged,
    Reopened,
    Resolved,
    StatusUpdatePosted,
    diff,
    is_resolved,
)
from worker.nag import NagMemory, NagPolicy, Nudge, next_update_due, state_from_record
from worker.record import IncidentRecord
from worker.snapshot import Incident, Person

ActionKind = Literal[
    "post_parent",  # the thread's parent message (once per incident, ever)
    "link_thread",  # write the thread's permalink (and Declared at) back to the row
    "post_reply",  # a reply in the thread
    "update_parent",  # re-render the parent message to the current state (idempotent)
    "write_props",  # fill worker-owned date properties (idempotent)
    "post_nudge",  # a reminder in the thread (overdue update, escalation, no commander)
    "create_timeline",  # the timeline page, once per incident (pages lane)
    "timeline_entry",  # one entry appended to the timeline page (pages lane)
    "create_postmortem",  # the postmortem page, once per incident, on resolution (pages lane)
    "post_notice",  # a top-level message about the worker itself, in no incident's thread
]

# The page_id of actions that belong to the channel rather than to one incident.
CHANNEL = "channel"


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    key: str
    page_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    record: IncidentRecord
    actions: tuple[Action, ...] = ()


_SLACK_PERMALINK_TS = re.compile(r"/p(\d{10})(\d{6})(?:$|[?#/])")


def thread_ts_from_permalink(url: str) -> str | None:
    """'https://x.slack.com/archives/C1/p1712345678123456' → '1712345678.123456'."""
    match = _SLACK_PERMALINK_TS.search(url)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def page_id_from_url(url: str | None) -> str | None:
    """A Notion page URL (as the worker writes it) → the page's dashed id."""
    if not url:
        return None
    try:
        return normalize_notion_id(url)
    except ValueError:
        return None


def person_payload(person: Person | None) -> dict[str, Any] | None:
    return asdict(person) if person is not None else None


def _declarable(incident: Incident, settings: Settings, now: datetime) -> bool:
    if incident.in_trash:
        return False
    if incident.title:
        return True
    return (now - incident.created_time).total_seconds() >= settings.declare_grace_s


def next_due(record: IncidentRecord, settings: Settings) -> datetime | None:
    """When the next status update is due, as written to the row and shown in Slack."""
    state = state_from_record(record, NagMemory())
    return next_update_due(state, NagPolicy.from_settings(settings))


def _due_differs(written: datetime | None, due: datetime | None) -> bool:
    # Compared at a minute's resolution: Notion may not keep the seconds we send.
    if written is None or due is None:
        return written is not due
    return abs((written - due).total_seconds()) >= 60


def _declare(record: IncidentRecord, settings: Settings, now: datetime) -> Plan:
    page = record.page_id
    declared_at = record.snapshot.declared_at or record.snapshot.created_time
    announced = replace(record, phase="announced", last_update_at=record.last_update_at or now)
    due = next_due(announced, settings)
    actions: tuple[Action, ...] = (
        # The parent shows from the start the times `link_thread` then writes on the row.
        Action(
            "post_parent",
            f"post_parent:{page}",
            page,
            {
                "declared_at": declared_at.isoformat(),
                "next_update_due": due.isoformat() if due else None,
            },
        ),
        Action(
            "link_thread",
            f"link_thread:{page}",
            page,
            {
                "declared_at": None if record.snapshot.declared_at else declared_at.isoformat(),
                "next_update_due": due.isoformat() if due else None,
            },
        ),
    )
    if record.timeline_page_id is None:
        actions += (Action("create_timeline", f"create_timeline:{page}", page, {}),)
    entry = timeline_entry(page, "declared", declared_at, "", None, kind="declared")
    return Plan(announced, (*actions, entry))


def timeline_entry(
    page: str, slot: str, at: datetime, text: str, actor: Person | None, *, kind: str
) -> Action:
    """An entry for the incident's timeline page; `slot` makes its key unique."""
    payload = {"at": at.isoformat(), "kind": kind, "text": text, "actor": person_payload(actor)}
    return Action("timeline_entry", f"timeline:{page}:{slot}", page, payload)


def _first_sight(new: Incident, settings: Settings, *, first_run: bool) -> IncidentRecord:
    record = IncidentRecord(page_id=new.page_id, snapshot=new)
    if new.slack_thread:
        # Already announced by us before (the state store was lost or replaced): adopt the
        # thread named in the row instead of announcing the incident a second time.
        return replace(
            record,
            phase="announced",
            thread_ts=thread_ts_from_permalink(new.slack_thread),
            permalink=new.slack_thread,
            last_update_at=new.declared_at or new.created_time,
            timeline_page_id=page_id_from_url(new.timeline_url),
            postmortem_page_id=page_id_from_url(new.postmortem_url),
        )
    if first_run and is_resolved(new, settings):
        return replace(record, phase="adopted")
    return record


def plan_row(
    record: IncidentRecord | None,
    new: Incident,
    settings: Settings,
    *,
    actor: Person | None,
    now: datetime,
    first_run: bool,
) -> Plan:
    """Decide what to do about one row seen in a poll."""
    if record is None:
        record = _first_sight(new, settings, first_run=first_run)
        if record.phase == "announced" and record.thread_ts:
            return Plan(record, (_update_parent(record, 0),))
        if record.phase != "waiting":
            return Plan(record)
        return _declare(record, settings, now) if _declarable(new, settings, now) else Plan(record)
    if record.phase != "announced":
        updated = replace(record, snapshot=new)
        reopened = record.phase == "adopted" and not is_resolved(new, settings)
        if (record.phase == "waiting" or reopened) and _declarable(new, settings, now):
            return _declare(updated, settings, now)
        return Plan(updated)
    return _plan_changes(record, new, settings, actor=actor, now=now)


def _update_parent(record: IncidentRecord, seq: int) -> Action:
    page = record.page_id
    return Action("update_parent", f"update_parent:{page}:{seq}", page, {})


def _plan_changes(
    record: IncidentRecord,
    new: Incident,
    settings: Settings,
    *,
    actor: Person | None,
    now: datetime,
) -> Plan:
    events = diff(record.snapshot, new, settings)
    if not events and not _parent_view_changed(record.snapshot, new):
        return Plan(replace(record, snapshot=new))
    seq = record.seq + 1
    page = record.page_id
    at = new.last_edited_time.isoformat()
    last_update_at = record.last_update_at
    for event in events:
        if isinstance(event, StatusUpdatePosted):
            last_update_at = now
    updated = replace(record, snapshot=new, seq=seq, last_update_at=last_update_at)
    actions: list[Action] = []
    # Write-backs first: the row is settled before people see the reply and react to it.
    props: dict[str, str | None] = dict(_worker_dates(events, new))
    due = next_due(updated, settings)
    if _due_differs(new.next_update_due, due):
        props["next_update_due"] = due.isoformat() if due else None
    if props:
        actions.append(Action("write_props", f"props:{page}:{seq}", page, {"dates": props}))
    reply = _change_reply(events, actor, settings, at)
    if reply is not None:
        actions.append(Action("post_reply", f"reply:{page}:{seq}:changes", page, reply))
    for event in events:
        if isinstance(event, StatusUpdatePosted):
            payload = {"type": "status_update", "text": event.text, "actor": person_payload(actor)}
            payload["at"] = at
            actions.append(Action("post_reply", f"reply:{page}:{seq}:update", page, payload))
    actions.append(_update_parent(record, seq))
    actions.extend(
        _timeline_entries(page, seq, events, actor, at=new.last_edited_time, settings=settings)
    )
    if any(isinstance(e, Resolved) for e in events):
        # Once per incident, ever: reopening and resolving again finds it already done.
        # The times ride along: our own write of Resolved at may not have landed yet.
        times = {k: v for k, v in props.items() if k in ("mitigated_at", "resolved_at")}
        actions.append(Action("create_postmortem", f"create_postmortem:{page}", page, times))
    return Plan(updated, tuple(actions))


def _change_kind(events: list[Event]) -> str:
    for event_type, kind in (
        (Resolved, "resolved"),
        (Reopened, "reopened"),
        (Escalated, "escalated"),
        (Mitigated, "mitigated"),
    ):
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
    for event in events:
        if isinstance(event, PropertiesChanged):
            text = "; ".join(_change_text(c, settings) for c in event.changes)
            kind = _change_kind(events)
            entries.append(timeline_entry(page, f"{seq}:changes", at, text, actor, kind=kind))
        elif isinstance(event, StatusUpdatePosted):
            entries.append(
                timeline_entry(page, f"{seq}:update", at, event.text, actor, kind="status_update")
            )
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
    events: list[Event], actor: Person | None, settings: Settings, at: str
) -> dict[str, Any] | None:
    changed = [e for e in events if isinstance(e, PropertiesChanged)]
    if not changed:
        return None
    changes = [
        {"key": c.key, "old": asdict(c.old), "new": asdict(c.new)} for c in changed[0].changes
    ]
    flags = [type(e).__name__.lower() for e in events if isinstance(e, Resolved | Reopened)]
    flags += ["mitigated" for e in events if isinstance(e, Mitigated)]
    escalated = [e.severity for e in events if isinstance(e, Escalated)]
    broadcast = bool(escalated) or ("resolved" in flags and settings.broadcast_resolved)
    return {
        "type": "changes",
        "changes": changes,
        "actor": person_payload(actor),
        "at": at,
        "flags": flags,
        "escalated_to": escalated[0] if escalated else None,
        "broadcast": broadcast,
    }


def _worker_dates(events: list[Event], new: Incident) -> dict[str, str]:
    """Fill Mitigated at / Resolved at on transitions, only where people left them empty."""
    when = new.last_edited_time.isoformat()
    dates: dict[str, str] = {}
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
    payload = {
        "kind": nudge.kind,
        "first": first_update,
        "overdue_by_s": nudge.overdue_by_s,
        "due_at": nudge.due_at.isoformat(),
        "last_update_at": nudge.last_update_at.isoformat(),
        "mention": [asdict(p) for p in nudge.mention],
        "broadcast": nudge.broadcast,
    }
    return Action("post_nudge", nudge.key, nudge.page_id, payload)


def problem_reply(page: str, what: str, error: str) -> Action:
    """A short message in the incident's thread about something the worker cannot do; keyed
    by its cause, so each distinct problem is said once."""
    digest = hashlib.sha256(f"{what}:{error}".encode()).hexdigest()[:12]
    payload = {"type": "problem", "what": what, "error": error}
    return Action("post_reply", f"problem:{page}:{what}:{digest}", page, payload)


def channel_notice(topic: str, episode: int, payload: dict[str, Any]) -> Action:
    """A top-level message in the incidents channel (say, that the database no longer fits
    the settings). Keyed by its topic, the episode (the how-many-th change of what is said
    about it) and its content: said once, and said again only when it changes."""
    content = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    return Action("post_notice", f"notice:{topic}:{episode}:{digest}", CHANNEL, payload)
