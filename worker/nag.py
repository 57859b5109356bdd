"""Nudges: an incident's state + the nag policy + now → the reminders due now, keyed (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from worker.config import Settings
from worker.record import IncidentRecord
from worker.snapshot import Person

NudgeKind = Literal[
    "update_overdue",  # the next status update is late (one per cadence period)
    "escalation",  # still no update after `escalate_after_nudges` of those: call the group
    "no_commander",  # nobody in command after the grace: ask the scribe, or else the group
    "commander_escalation",  # still nobody in command another grace later: call the group
    "no_severity",  # no severity after the grace: ask whoever is assigned, or else the group
    "postmortem_overdue",  # the postmortem is still a draft, once a working day
]

# (start, end) in local wall time, end excluded. end < start wraps past midnight
# ("22:00-08:00"); start == end is the whole day ("00:00-24:00").
TimeWindow = tuple[time, time]

DEFAULT_CADENCE_S: Mapping[str, float | None] = {
    "SEV1": 900.0,
    "SEV2": 1800.0,
    "SEV3": 3600.0,
    "SEV4": None,
}
_SATURDAY = 5  # date.weekday(): Monday is 0


@dataclass(frozen=True)
class NagPolicy:
    """When to nudge; all durations in seconds, wall-clock windows judged in `timezone`."""

    cadence_s: Mapping[str, float | None] = field(default_factory=lambda: dict(DEFAULT_CADENCE_S))
    mitigated_statuses: tuple[str, ...] = ("Monitoring",)
    mitigated_cadence_factor: float = 2.0
    resolved_statuses: tuple[str, ...] = ("Resolved",)
    escalate_after_nudges: int = 2
    escalate_to: str = "channel"  # "channel", "here" or a Slack user-group id "S…"
    commander_grace_s: float = 300.0
    severity_grace_s: float = 300.0
    postmortem_reminder_after_s: float = 3 * 86400.0
    postmortem_draft_statuses: tuple[str, ...] = ("Draft",)
    working_hours: TimeWindow = (time(9), time(18))
    quiet_hours: TimeWindow | None = None  # also covers Saturday and Sunday when set
    quiet_severities: tuple[str, ...] = ("SEV3", "SEV4")
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def __post_init__(self) -> None:
        # A zero cadence would make every instant a new overdue period.
        if any(c is not None and c <= 0 for c in self.cadence_s.values()):
            raise ValueError("every cadence must be longer than zero (or None for no cadence)")
        if self.mitigated_cadence_factor <= 0:
            raise ValueError("mitigated_cadence_factor must be greater than zero")

    @classmethod
    def from_settings(cls, settings: Settings) -> NagPolicy:
        """The policy from `Settings`."""
        return cls(
            cadence_s=dict(settings.update_cadence_s),
            mitigated_statuses=settings.mitigated_statuses,
            mitigated_cadence_factor=settings.mitigated_cadence_factor,
            resolved_statuses=settings.resolved_statuses,
            escalate_after_nudges=settings.escalate_after_nudges,
            escalate_to=settings.escalate_to,
            commander_grace_s=settings.commander_grace_s,
            severity_grace_s=settings.severity_grace_s,
            postmortem_reminder_after_s=settings.postmortem_reminder_after_s,
            postmortem_draft_statuses=settings.postmortem_draft_statuses,
            working_hours=settings.working_hours,
            quiet_hours=settings.quiet_hours,
            quiet_severities=settings.quiet_severities,
            timezone=settings.timezone,
        )


@dataclass(frozen=True)
class NagMemory:
    """What was already sent for one incident (the store keeps it; `remember` advances it).

    The overdue counters belong to one silence: the one that began at `silence_since` (a
    `last_update_at`). When the incident's last update moves, they read as zero again.
    """

    silence_since: datetime | None = None
    nudges_since_update: int = 0  # update_overdue and escalation nudges in this silence
    last_nudge_at: datetime | None = None
    escalated: bool = False
    commander_nudged: bool = False
    commander_nudged_at: datetime | None = None  # None in memories stored before it was kept
    commander_escalated: bool = False
    severity_nudged: bool = False
    last_postmortem_reminder_at: datetime | None = None
    # Someone snoozed this silence's overdue-update reminders (and so their escalation)
    # from Slack: none goes out before `snoozed_until`. `snoozed_at` orders two writers
    # of the memory (a click landing while a nudge pass saves what it read before).
    snoozed_until: datetime | None = None
    snoozed_at: datetime | None = None


@dataclass(frozen=True)
class NagState:
    """What the schedule needs to know about one announced incident."""

    page_id: str
    severity: str | None
    status: str | None
    declared_at: datetime
    last_update_at: datetime  # the last status update, or the declaration
    commander: tuple[Person, ...] = ()
    scribe: tuple[Person, ...] = ()
    resolved_at: datetime | None = None
    postmortem_status: str | None = None  # None: there is no postmortem yet
    postmortem_owner: tuple[Person, ...] = ()
    memory: NagMemory = NagMemory()


@dataclass(frozen=True)
class Nudge:
    """One reminder to post in the incident's thread; `key` is the same every time it is due."""

    kind: NudgeKind
    key: str
    page_id: str
    due_at: datetime  # UTC: when what is missing became due
    overdue_by_s: float
    last_update_at: datetime
    mention: tuple[Person, ...]  # Notion people; the renderer maps them to Slack users
    mention_group: str | None = None  # escalate_to: escalations, and calls nobody else hears
    broadcast: bool = False


@dataclass(frozen=True)
class OverduePeriod:
    """The `index`-th (0-based) cadence interval that a status update has been missing."""

    index: int
    due_at: datetime  # UTC: last update + cadence
    started_at: datetime  # UTC: due_at + index * cadence


# --- time ---------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    # Arithmetic happens in UTC: two datetimes sharing a ZoneInfo subtract as wall times,
    # which is wrong by an hour across a daylight-saving change.
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; the schedule needs aware times")
    return moment.astimezone(UTC)


def _span(seconds: float) -> timedelta:
    # Whole microseconds, so period boundaries are exact and keys stable.
    return timedelta(microseconds=round(seconds * 1_000_000))


def _stamp(moment: datetime) -> str:
    utc = _utc(moment)
    text = utc.strftime("%Y%m%dT%H%M%S")
    return f"{text}.{utc.microsecond:06d}Z" if utc.microsecond else f"{text}Z"


def local_date(moment: datetime, policy: NagPolicy) -> date:
    return _utc(moment).astimezone(policy.timezone).date()


def _in_window(clock: time, window: TimeWindow) -> bool:
    start, end = window
    if start == end:
        return True
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


def is_quiet(now: datetime, policy: NagPolicy) -> bool:
    """Inside quiet hours or at a weekend, in local wall time (never, without quiet hours)."""
    if policy.quiet_hours is None:
        return False
    local = _utc(now).astimezone(policy.timezone)
    return local.weekday() >= _SATURDAY or _in_window(local.time(), policy.quiet_hours)


def in_working_hours(now: datetime, policy: NagPolicy) -> bool:
    """A weekday inside the working hours, in local wall time."""
    local = _utc(now).astimezone(policy.timezone)
    return local.weekday() < _SATURDAY and _in_window(local.time(), policy.working_hours)


# --- the cadence --------------------------------------------------------------------------


def is_resolved(state: NagState, policy: NagPolicy) -> bool:
    return state.status in policy.resolved_statuses


def cadence_s(state: NagState, policy: NagPolicy) -> float | None:
    """The interval between status updates now: by current severity, relaxed while mitigated."""
    if is_resolved(state, policy) or state.severity is None:
        return None
    cadence = policy.cadence_s.get(state.severity)
    if cadence is None:
        return None
    if state.status in policy.mitigated_statuses:
        return cadence * policy.mitigated_cadence_factor
    return cadence


def next_update_due(state: NagState, policy: NagPolicy) -> datetime | None:
    """Last update + cadence (elapsed time, UTC); None when resolved or without cadence."""
    cadence = cadence_s(state, policy)
    if cadence is None:
        return None
    return _utc(state.last_update_at) + _span(cadence)


def overdue_period(state: NagState, policy: NagPolicy, now: datetime) -> OverduePeriod | None:
    """The interval `now` falls in once the update is overdue; None while it is not."""
    cadence = cadence_s(state, policy)
    if cadence is None:
        return None
    step = _span(cadence)
    due_at = _utc(state.last_update_at) + step
    late = _utc(now) - due_at
    if late < timedelta(0):
        return None
    index = late // step
    return OverduePeriod(index=index, due_at=due_at, started_at=due_at + index * step)


# --- the nudges ---------------------------------------------------------------------------


def current_memory(state: NagState) -> NagMemory:
    """The memory with the overdue counters zeroed if a status update has re-armed the clock."""
    memory = state.memory
    if memory.silence_since is not None and _utc(memory.silence_since) == _utc(
        state.last_update_at
    ):
        return memory
    return replace(
        memory,
        silence_since=state.last_update_at,
        nudges_since_update=0,
        last_nudge_at=None,
        escalated=False,
        # A snooze belongs to the silence it was asked in: a status update ends both.
        snoozed_until=None,
        snoozed_at=None,
    )


def due_nudges(state: NagState, policy: NagPolicy, now: datetime) -> list[Nudge]:
    """The nudges to send now: at most one of each kind, in a fixed order.

    A call that nobody assigned would hear goes to the escalation group, and to the channel
    too; the group is called at most once per pass (a missing severity noticed in the same
    pass as a missing commander is asked for in the thread, without a second ping).
    """
    memory = current_memory(state)
    found = [
        _no_commander(state, policy, memory, now),
        _commander_escalation(state, policy, memory, now),
    ]
    group_called = any(nudge is not None and nudge.mention_group for nudge in found)
    found += [
        _no_severity(state, policy, memory, now, group_called=group_called),
        _update_overdue(state, policy, memory, now),
        _postmortem_overdue(state, policy, memory, now),
    ]
    return [nudge for nudge in found if nudge is not None]


def remember(state: NagState, nudges: Iterable[Nudge], now: datetime) -> NagMemory:
    """The memory after `nudges` were sent (or queued in the outbox) at `now`."""
    memory = current_memory(state)
    sent_at = _utc(now)
    for nudge in nudges:
        memory = _record(memory, nudge.kind, sent_at)
    return memory


def _record(memory: NagMemory, kind: NudgeKind, sent_at: datetime) -> NagMemory:
    if kind == "no_commander":
        return replace(memory, commander_nudged=True, commander_nudged_at=sent_at)
    if kind == "commander_escalation":
        return replace(memory, commander_escalated=True)
    if kind == "no_severity":
        return replace(memory, severity_nudged=True)
    if kind == "postmortem_overdue":
        return replace(memory, last_postmortem_reminder_at=sent_at)
    return replace(
        memory,
        nudges_since_update=memory.nudges_since_update + 1,
        last_nudge_at=sent_at,
        escalated=memory.escalated or kind == "escalation",
    )


def _silenced(state: NagState, policy: NagPolicy, now: datetime) -> bool:
    return state.severity in policy.quiet_severities and is_quiet(now, policy)


def _key(state: NagState, kind: NudgeKind, discriminator: str = "") -> str:
    base = f"nudge:{state.page_id}:{kind}"
    return f"{base}:{discriminator}" if discriminator else base


def _people(*groups: tuple[Person, ...]) -> tuple[Person, ...]:
    seen: dict[str, Person] = {}
    for group in groups:
        for person in group:
            seen.setdefault(person.id, person)
    return tuple(seen.values())


def _call(
    state: NagState,
    policy: NagPolicy,
    kind: NudgeKind,
    *,
    due_at: datetime,
    now: datetime,
    people: tuple[Person, ...],
    group: bool,
) -> Nudge:
    """A once-per-incident call: to `people`, or to the escalation group (and the channel)."""
    return Nudge(
        kind=kind,
        key=_key(state, kind),
        page_id=state.page_id,
        due_at=due_at,
        overdue_by_s=(_utc(now) - due_at).total_seconds(),
        last_update_at=state.last_update_at,
        mention=people,
        mention_group=policy.escalate_to if group else None,
        broadcast=group,
    )


def _no_commander_due(state: NagState, policy: NagPolicy, memory: NagMemory) -> datetime | None:
    if state.commander or memory.commander_nudged or is_resolved(state, policy):
        return None
    return _utc(state.declared_at) + _span(policy.commander_grace_s)


def _no_commander(
    state: NagState, policy: NagPolicy, memory: NagMemory, now: datetime
) -> Nudge | None:
    due_at = _no_commander_due(state, policy, memory)
    if due_at is None or _utc(now) < due_at or _silenced(state, policy, now):
        return None
    scribe = _people(state.scribe)
    return _call(
        state, policy, "no_commander", due_at=due_at, now=now, people=scribe, group=not scribe
    )


def _commander_escalation_due(
    state: NagState, policy: NagPolicy, memory: NagMemory
) -> datetime | None:
    if state.commander or not memory.commander_nudged or memory.commander_escalated:
        return None
    if is_resolved(state, policy):
        return None
    grace = _span(policy.commander_grace_s)
    due_at = _utc(state.declared_at) + 2 * grace
    if memory.commander_nudged_at is not None:
        due_at = max(due_at, _utc(memory.commander_nudged_at) + grace)
    return due_at


def _commander_escalation(
    state: NagState, policy: NagPolicy, memory: NagMemory, now: datetime
) -> Nudge | None:
    """Once, when a call for a commander went unanswered for another grace period (counted
    from when the call went out, so a worker that was down does not send both at once)."""
    due_at = _commander_escalation_due(state, policy, memory)
    if due_at is None or _utc(now) < due_at or _silenced(state, policy, now):
        return None
    return _call(
        state, policy, "commander_escalation", due_at=due_at, now=now, people=(), group=True
    )


def _no_severity_due(state: NagState, policy: NagPolicy, memory: NagMemory) -> datetime | None:
    if state.severity is not None or memory.severity_nudged or is_resolved(state, policy):
        return None
    return _utc(state.declared_at) + _span(policy.severity_grace_s)


def _no_severity(
    state: NagState, policy: NagPolicy, memory: NagMemory, now: datetime, *, group_called: bool
) -> Nudge | None:
    due_at = _no_severity_due(state, policy, memory)
    if due_at is None or _utc(now) < due_at:
        return None  # never silenced: without a severity, nobody knows it can wait
    assigned = _people(state.commander, state.scribe)
    group = not assigned and not group_called
    return _call(state, policy, "no_severity", due_at=due_at, now=now, people=assigned, group=group)


def _update_overdue(
    state: NagState, policy: NagPolicy, memory: NagMemory, now: datetime
) -> Nudge | None:
    period = overdue_period(state, policy, now)
    if period is None or _silenced(state, policy, now) or is_snoozed(memory, now):
        return None
    # One nudge per period, whatever the cadence was when the last one went out; a worker
    # that was down lands in the latest period and sends only that one.
    if memory.last_nudge_at is not None and _utc(memory.last_nudge_at) >= period.started_at:
        return None
    nudge = Nudge(
        kind="update_overdue",
        key=_key(state, "update_overdue", _stamp(period.started_at)),
        page_id=state.page_id,
        due_at=period.due_at,
        overdue_by_s=(_utc(now) - period.due_at).total_seconds(),
        last_update_at=state.last_update_at,
        mention=_people(state.commander, state.scribe),
    )
    if memory.escalated or memory.nudges_since_update < policy.escalate_after_nudges:
        return nudge
    return replace(
        nudge,
        kind="escalation",
        key=_key(state, "escalation", _stamp(state.last_update_at)),
        mention_group=policy.escalate_to,
        broadcast=True,
    )


def _postmortem_due(state: NagState, policy: NagPolicy) -> datetime | None:
    if not is_resolved(state, policy) or state.resolved_at is None:
        return None
    status = state.postmortem_status
    if status is not None and status not in policy.postmortem_draft_statuses:
        return None
    return _utc(state.resolved_at) + _span(policy.postmortem_reminder_after_s)


def _update_overdue_due(state: NagState, policy: NagPolicy, memory: NagMemory) -> datetime | None:
    """The start of the first overdue period no nudge went out in (`_update_overdue`)."""
    cadence = cadence_s(state, policy)
    if cadence is None:
        return None
    step = _span(cadence)
    due_at = _utc(state.last_update_at) + step
    last = memory.last_nudge_at
    if last is not None and _utc(last) >= due_at:
        due_at += ((_utc(last) - due_at) // step + 1) * step
    if memory.snoozed_until is not None:
        return max(due_at, _utc(memory.snoozed_until))
    return due_at


def _postmortem_reminder_due(
    state: NagState, policy: NagPolicy, memory: NagMemory
) -> datetime | None:
    """When the draft is overdue, or the local day after the last reminder begins."""
    due_at = _postmortem_due(state, policy)
    last = memory.last_postmortem_reminder_at
    if due_at is None or last is None:
        return due_at
    next_day = datetime.combine(local_date(last, policy) + timedelta(days=1), time(0))
    return max(due_at, _utc(next_day.replace(tzinfo=policy.timezone)))


def next_due(state: NagState, policy: NagPolicy) -> datetime | None:
    """The earliest moment a reminder may be due for this state and memory, as long as
    neither changes: `due_nudges` returns nothing before it. Quiet and working hours only
    put reminders off, so they are left out (at worst the incident is looked at again for
    nothing). None: nothing can come due until the incident or its memory changes."""
    memory = current_memory(state)
    found = [
        due
        for due in (
            _no_commander_due(state, policy, memory),
            _commander_escalation_due(state, policy, memory),
            _no_severity_due(state, policy, memory),
            _update_overdue_due(state, policy, memory),
            _postmortem_reminder_due(state, policy, memory),
        )
        if due is not None
    ]
    return min(found) if found else None


def _postmortem_overdue(
    state: NagState, policy: NagPolicy, memory: NagMemory, now: datetime
) -> Nudge | None:
    due_at = _postmortem_due(state, policy)
    if due_at is None or _utc(now) < due_at or not in_working_hours(now, policy):
        return None
    today = local_date(now, policy)
    last = memory.last_postmortem_reminder_at
    if last is not None and local_date(last, policy) >= today:
        return None
    return Nudge(
        kind="postmortem_overdue",
        key=_key(state, "postmortem_overdue", today.isoformat()),
        page_id=state.page_id,
        due_at=due_at,
        overdue_by_s=(_utc(now) - due_at).total_seconds(),
        last_update_at=state.last_update_at,
        mention=_people(state.postmortem_owner or state.commander),
    )


# --- snoozing (from Slack's buttons) -------------------------------------------------------

SnoozeRefusal = Literal["resolved", "superseded", "no_cadence"]


@dataclass(frozen=True)
class Snoozed:
    """The memory with the snooze in it, and until when the reminders wait."""

    memory: NagMemory
    until: datetime


def is_snoozed(memory: NagMemory, now: datetime) -> bool:
    return memory.snoozed_until is not None and _utc(now) < _utc(memory.snoozed_until)


def snooze(
    state: NagState, policy: NagPolicy, *, silence_since: datetime, minutes: float, now: datetime
) -> Snoozed | SnoozeRefusal:
    """Put off the overdue-update reminders (and their escalation) for `minutes` from `now`,
    as asked on a reminder sent in the silence that began at `silence_since`.

    Refused when the reminder is stale: the incident is resolved, a status update ended
    that silence (`superseded`: the reminder was answered), or no update is expected any
    more (the severity changed to one without a cadence). The latest snooze stands, even a
    shorter one: the thread says who snoozed for how long, and that must stay true."""
    if minutes <= 0:
        raise ValueError("a snooze lasts longer than zero minutes")
    if is_resolved(state, policy):
        return "resolved"
    if _utc(state.last_update_at) != _utc(silence_since):
        return "superseded"
    if cadence_s(state, policy) is None:
        return "no_cadence"
    until = _utc(now) + _span(minutes * 60.0)
    memory = replace(current_memory(state), snoozed_until=until, snoozed_at=_utc(now))
    return Snoozed(memory=memory, until=until)


def with_later_snooze(written: NagMemory, stored: NagMemory) -> NagMemory:
    """`written` (worked out from an earlier read of the memory) keeping a snooze that was
    stored meanwhile: of two snoozes of the same silence, the later one stands."""
    if stored.snoozed_at is None or stored.silence_since is None:
        return written
    if written.silence_since is None or _utc(written.silence_since) != _utc(stored.silence_since):
        return written
    if written.snoozed_at is not None and _utc(written.snoozed_at) >= _utc(stored.snoozed_at):
        return written
    return replace(written, snoozed_until=stored.snoozed_until, snoozed_at=stored.snoozed_at)


# --- building the state, parsing the windows ----------------------------------------------


def state_from_record(
    record: IncidentRecord,
    memory: NagMemory,
    *,
    postmortem_status: str | None = None,
    postmortem_owner: tuple[Person, ...] = (),
) -> NagState:
    """The schedule's view of a stored incident (declared: Declared at, else creation)."""
    incident = record.snapshot
    declared_at = incident.declared_at or incident.created_time
    return NagState(
        page_id=record.page_id,
        severity=incident.severity,
        status=incident.status,
        declared_at=declared_at,
        last_update_at=record.last_update_at or declared_at,
        commander=incident.commander,
        scribe=incident.scribe,
        resolved_at=incident.resolved_at,
        postmortem_status=postmortem_status,
        postmortem_owner=postmortem_owner,
        memory=memory,
    )


def memory_to_json(memory: NagMemory) -> str:
    data = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asdict(memory).items()
    }
    return json.dumps(data)


def memory_from_json(text: str | None) -> NagMemory:
    if not text:
        return NagMemory()
    data = json.loads(text)

    def when(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value) if value else None

    return NagMemory(
        silence_since=when("silence_since"),
        nudges_since_update=int(data.get("nudges_since_update", 0)),
        last_nudge_at=when("last_nudge_at"),
        escalated=bool(data.get("escalated")),
        commander_nudged=bool(data.get("commander_nudged")),
        commander_nudged_at=when("commander_nudged_at"),
        commander_escalated=bool(data.get("commander_escalated")),
        severity_nudged=bool(data.get("severity_nudged")),
        last_postmortem_reminder_at=when("last_postmortem_reminder_at"),
        snoozed_until=when("snoozed_until"),
        snoozed_at=when("snoozed_at"),
    )
