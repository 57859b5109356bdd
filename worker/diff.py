"""Diff: two snapshots of one incident → the events a reader cares about (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from worker.config import Settings
from worker.snapshot import Incident, Value


@dataclass(frozen=True)
class Change:
    """One mirrored property went from `old` to `new`; `key` is logical or 'prop:<name>'."""

    key: str
    old: Value
    new: Value


@dataclass(frozen=True)
class PropertiesChanged:
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class StatusUpdatePosted:
    text: str


@dataclass(frozen=True)
class Mitigated:
    status: str


@dataclass(frozen=True)
class Resolved:
    status: str


@dataclass(frozen=True)
class Reopened:
    status: str


@dataclass(frozen=True)
class Escalated:
    severity: str


@dataclass(frozen=True)
class Trashed:
    """The row went to Notion's trash (deleted)."""


@dataclass(frozen=True)
class Restored:
    """The row came back from Notion's trash."""


Event = (
    PropertiesChanged
    | StatusUpdatePosted
    | Mitigated
    | Resolved
    | Reopened
    | Escalated
    | Trashed
    | Restored
)


def is_resolved(incident: Incident, settings: Settings) -> bool:
    return incident.status in settings.resolved_statuses


def is_mitigated(incident: Incident, settings: Settings) -> bool:
    return incident.status in settings.mitigated_statuses


def _changes(old: Incident, new: Incident) -> tuple[Change, ...]:
    before = dict(old.mirrored)
    changes = []
    for key, value in new.mirrored:
        if key == "status_update":
            continue  # an edit of Status update is a status update, not a property change
        previous = before.get(key, Value())
        if previous.unknown or value.unknown:
            continue  # a property that went missing (or came back) is not news
        if previous.comparable() != value.comparable():
            changes.append(Change(key, previous, value))
    return tuple(changes)


def _status_events(old: Incident, new: Incident, settings: Settings) -> list[Event]:
    if old.status == new.status or new.status is None:
        return []
    if is_resolved(new, settings) and not is_resolved(old, settings):
        return [Resolved(new.status)]
    if is_resolved(old, settings) and not is_resolved(new, settings):
        return [Reopened(new.status)]
    if is_mitigated(new, settings) and not is_mitigated(old, settings):
        return [Mitigated(new.status)]
    return []


def diff(old: Incident, new: Incident, settings: Settings) -> list[Event]:
    """What changed between two snapshots of the same row, in the order to announce it.

    Properties the worker writes (links, dates, Next update due) are not mirrored, so the
    worker's own edits never produce events.
    """
    events: list[Event] = []
    if new.in_trash != old.in_trash:
        events.append(Trashed() if new.in_trash else Restored())
    changes = _changes(old, new)
    if changes:
        events.append(PropertiesChanged(changes))
    events.extend(_status_events(old, new, settings))
    if (
        new.severity != old.severity
        and new.severity in settings.broadcast_severities
        and not is_resolved(new, settings)
    ):
        events.append(Escalated(new.severity))
    update = new.status_update.strip()
    if update and update != old.status_update.strip():
        events.append(StatusUpdatePosted(update))
    return events
