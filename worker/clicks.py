"""Clicks: a button pressed or a modal submitted in Slack + what the worker knows → what to
record, or why nothing changes (pure).

A message in Slack stays as it was posted while the incident moves on, so every click is
judged against the incident as it is now: a click on a stale message (the incident resolved,
the reminder answered) changes nothing and is answered in words only the clicker sees. What
a click does is recorded as outbox actions keyed by Slack's own ids (the view, the action's
time and the user), so a redelivered click changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from worker.actions import Action, SnoozedReply, WriteFromSlack
from worker.config import Settings
from worker.nag import NagMemory, NagPolicy, Snoozed, snooze, state_from_record
from worker.record import IncidentRecord
from worker.snapshot import Incident, Person

# Why a click changes nothing; each is a phrase `click_<reason>` in the wording file.
Refusal = Literal[
    "unknown",  # not an incident this worker follows (or not this database's)
    "resolved",  # the incident is resolved
    "trashed",  # its row is in Notion's trash
    "superseded",  # the reminder was answered (a status update came since) or is gone
    "no_cadence",  # no status update is expected any more
    "has_commander",  # someone took command already
    "external",  # someone from another organisation (Slack Connect)
    "no_email",  # Slack does not tell the worker the clicker's email
    "empty",  # a status update of blanks
]


@dataclass(frozen=True)
class Clicker:
    """Who clicked, as Slack says: their user id, team, name and (with users:read.email)
    email."""

    user_id: str
    team_id: str
    name: str = ""
    email: str | None = None

    def credit(self) -> Person:
        """The person to credit in the thread: mentioned by their Slack id (whether or not
        Notion knows them), their email kept for finding them in Notion."""
        return Person(
            id=f"slack:{self.user_id}", name=self.name, email=self.email, slack_id=self.user_id
        )


def is_external(user_team: str, workspace_team: str) -> bool:
    """Someone of another organisation in a shared channel (Slack Connect): their team is
    not the workspace's the click came through."""
    return bool(user_team) and bool(workspace_team) and user_team != workspace_team


def open_refusal(record: IncidentRecord | None, settings: Settings) -> Refusal | None:
    """Why nothing can be done about this incident any more (None: it is open)."""
    if record is None or record.phase != "announced":
        return "unknown"
    if record.snapshot.in_trash:
        return "trashed"
    if record.snapshot.status in settings.resolved_statuses:
        return "resolved"
    return None


# --- Post update --------------------------------------------------------------------------


def status_update(
    record: IncidentRecord | None,
    settings: Settings,
    *,
    view_id: str,
    text: str,
    by: Person,
    now: datetime,
) -> Action | Refusal:
    """A status update submitted from the modal: *Status update* written on the row in the
    submitter's name. Keyed by the view: a double submit writes it once."""
    refusal = open_refusal(record, settings)
    if refusal is not None or record is None:
        return refusal or "unknown"
    if not text.strip():
        return "empty"
    page = record.page_id
    write = WriteFromSlack(by=by, at=now, status_update=text.strip())
    return Action(f"from_slack:{page}:update:{view_id}", page, write)


# --- Snooze -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snooze:
    """A snooze to save: the memory with it, and the thread's note."""

    memory: NagMemory
    note: Action


def snooze_click(
    record: IncidentRecord | None,
    memory: NagMemory,
    settings: Settings,
    *,
    reminder_silence: datetime | None,
    minutes: int,
    by: Person,
    click_id: str,
    now: datetime,
) -> Snooze | Refusal:
    """Snooze the overdue-update reminders for `minutes`, from a reminder sent in the silence
    that began at `reminder_silence` (None: the worker has no such reminder any more)."""
    refusal = open_refusal(record, settings)
    if refusal is not None or record is None:
        return refusal or "unknown"
    if reminder_silence is None:
        return "superseded"
    state = state_from_record(record, memory)
    done = snooze(
        state,
        NagPolicy.from_settings(settings),
        silence_since=reminder_silence,
        minutes=minutes,
        now=now,
    )
    if not isinstance(done, Snoozed):
        return done
    page = record.page_id
    note = SnoozedReply(by=by, minutes=minutes, until=done.until)
    return Snooze(done.memory, Action(f"reply:{page}:snoozed:{click_id}", page, note))


# --- I'll take command --------------------------------------------------------------------


def take_command(
    record: IncidentRecord | None,
    settings: Settings,
    *,
    clicker: Clicker,
    click_id: str,
    now: datetime,
) -> Action | Refusal:
    """*Commander* := the clicker: the Notion person with their email, looked up when the
    write is carried out (handlers never call Notion); Slack must tell their email."""
    refusal = open_refusal(record, settings)
    if refusal is not None or record is None:
        return refusal or "unknown"
    if record.snapshot.commander:
        return "has_commander"
    if not clicker.email:
        return "no_email"
    page = record.page_id
    write = WriteFromSlack(by=clicker.credit(), at=now, take_command=True)
    return Action(f"from_slack:{page}:command:{click_id}", page, write)


def stale_write(payload: WriteFromSlack, record: IncidentRecord) -> str:
    """Why a recorded write from Slack is no longer to be made ('' when it still is): the
    row changed since the click (someone else took command meanwhile)."""
    if record.snapshot.in_trash:
        return "the row is in the trash"
    if payload.take_command and record.snapshot.commander:
        return "someone took command meanwhile"
    return ""


# --- credit -------------------------------------------------------------------------------


def credited(
    incident: Incident, writes: Sequence[tuple[WriteFromSlack, str | None]]
) -> Person | None:
    """Who made the worker's own edit of a row, when it was a write from Slack the row now
    shows (the latest such write): the thread credits them, not the integration. `writes`:
    each with the Notion person it made commander (once looked up), in planning order."""
    update = incident.status_update.strip()
    commanders = {person.id for person in incident.commander}
    for write, commander in reversed(writes):
        if write.status_update is not None and update and write.status_update.strip() == update:
            return write.by
        if write.take_command and commander is not None and commander in commanders:
            return write.by
    return None
