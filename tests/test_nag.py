"""The nudge schedule as tables: (incident state, policy, now) → nudges, no fakes, no sleeping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests import factories
from worker.config import parse_quiet_hours, parse_time_window
from worker.nag import (
    NagMemory,
    NagPolicy,
    NagState,
    Nudge,
    NudgeKind,
    OverduePeriod,
    cadence_s,
    due_nudges,
    in_working_hours,
    is_quiet,
    memory_from_json,
    memory_to_json,
    next_due,
    next_update_due,
    overdue_period,
    remember,
    snooze,
    state_from_record,
    with_later_snooze,
)
from worker.record import IncidentRecord
from worker.snapshot import Person, parse_incident

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
AUCKLAND = ZoneInfo("Pacific/Auckland")

AIKO = Person("u-aiko", "Aiko Tanaka", "aiko@example.com")
BEN = Person("u-ben", "Ben Carter", "ben@example.com")
CARA = Person("u-cara", "Cara Diaz", "cara@example.com")

PAGE = "page-1"
K = f"nudge:{PAGE}"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday morning
DEFAULT = NagPolicy()
QUIET = NagPolicy(quiet_hours=(time(22), time(8)))


def mins(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def incident(
    severity: str | None = "SEV1", status: str = "Investigating", **changes: Any
) -> NagState:
    """An open incident declared (and last updated) at T0, with a commander and a scribe."""
    base = NagState(
        page_id=PAGE,
        severity=severity,
        status=status,
        declared_at=T0,
        last_update_at=T0,
        commander=(AIKO,),
        scribe=(BEN,),
    )
    return replace(base, **changes)


def sent(nudges: int = 0, last_at: float | None = None, **changes: Any) -> NagMemory:
    """Memory of the silence that began at T0: `nudges` sent, the last at minute `last_at`."""
    return NagMemory(
        silence_since=T0,
        nudges_since_update=nudges,
        last_nudge_at=None if last_at is None else mins(last_at),
        **changes,
    )


def keys(nudges: list[Nudge]) -> list[tuple[NudgeKind, str]]:
    return [(n.kind, n.key) for n in nudges]


def every_minute(first: datetime, last: datetime) -> list[datetime]:
    count = int((last - first) / timedelta(minutes=1))
    return [first + timedelta(minutes=i) for i in range(count + 1)]


def simulate(
    state: NagState,
    policy: NagPolicy,
    ticks: Iterable[datetime],
    changes: Mapping[datetime, Mapping[str, Any]] | None = None,
) -> list[tuple[datetime, NudgeKind]]:
    """Run the schedule tick by tick as the worker does, with an outbox that refuses repeats."""
    outbox: set[str] = set()
    log: list[tuple[datetime, NudgeKind]] = []
    for now in ticks:
        if changes and now in changes:
            state = replace(state, **changes[now])
        nudges = due_nudges(state, policy, now)
        for nudge in nudges:
            assert nudge.key not in outbox, f"{nudge.key} due again at {now}"
            outbox.add(nudge.key)
            log.append((now, nudge.kind))
        state = replace(state, memory=remember(state, nudges, now))
    return log


# --- the cadence --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "policy", "due"),
    [
        pytest.param(incident("SEV1"), DEFAULT, mins(15), id="SEV1 every 15m"),
        pytest.param(incident("SEV2"), DEFAULT, mins(30), id="SEV2 every 30m"),
        pytest.param(incident("SEV3"), DEFAULT, mins(60), id="SEV3 every 60m"),
        pytest.param(incident("SEV4"), DEFAULT, None, id="SEV4 has no cadence"),
        pytest.param(incident("SEV9"), DEFAULT, None, id="unknown severity"),
        pytest.param(incident(None), DEFAULT, None, id="no severity yet"),
        pytest.param(incident("SEV1", "Monitoring"), DEFAULT, mins(30), id="mitigated SEV1 x2"),
        pytest.param(incident("SEV3", "Monitoring"), DEFAULT, mins(120), id="mitigated SEV3 x2"),
        pytest.param(
            incident("SEV2", "Monitoring"),
            NagPolicy(mitigated_cadence_factor=3.0),
            mins(90),
            id="mitigated x3",
        ),
        pytest.param(incident("SEV1", "Resolved"), DEFAULT, None, id="resolved"),
        pytest.param(
            incident("SEV1"), NagPolicy(cadence_s={"SEV1": 300.0}), mins(5), id="custom cadence"
        ),
        pytest.param(
            incident("SEV1", last_update_at=mins(40)), DEFAULT, mins(55), id="from the last update"
        ),
        pytest.param(
            incident("SEV1", last_update_at=mins(0.5)),
            DEFAULT,
            mins(15.5),
            id="seconds are kept",
        ),
    ],
)
def test_next_update_due(state: NagState, policy: NagPolicy, due: datetime | None) -> None:
    assert next_update_due(state, policy) == due


def test_next_update_due_is_stable_and_utc() -> None:
    in_tokyo = incident("SEV2", last_update_at=T0.astimezone(TOKYO))
    first = next_update_due(in_tokyo, DEFAULT)
    assert first == next_update_due(in_tokyo, DEFAULT) == next_update_due(incident("SEV2"), DEFAULT)
    assert first is not None
    assert first.tzinfo is UTC


def test_a_severity_change_replans_the_due_time() -> None:
    sev3 = incident("SEV3")
    sev1 = replace(sev3, severity="SEV1")
    assert next_update_due(sev3, DEFAULT) == mins(60)
    assert next_update_due(sev1, DEFAULT) == mins(15)
    assert cadence_s(sev1, DEFAULT) == 900.0


@pytest.mark.parametrize(
    ("minute", "period"),
    [
        (14.99, None),
        (15, OverduePeriod(0, mins(15), mins(15))),
        (16, OverduePeriod(0, mins(15), mins(15))),
        (29.99, OverduePeriod(0, mins(15), mins(15))),
        (30, OverduePeriod(1, mins(15), mins(30))),
        (75.5, OverduePeriod(4, mins(15), mins(75))),
    ],
)
def test_overdue_period(minute: float, period: OverduePeriod | None) -> None:
    assert overdue_period(incident("SEV1"), DEFAULT, mins(minute)) == period


# --- the nudges due at one instant --------------------------------------------------------

NO_COMMANDER = incident("SEV2", commander=())


@pytest.mark.parametrize(
    ("state", "policy", "minute", "expected"),
    [
        pytest.param(incident(), DEFAULT, 14.99, [], id="not yet due"),
        pytest.param(
            incident(),
            DEFAULT,
            15,
            [("update_overdue", f"{K}:update_overdue:20260302T101500Z")],
            id="just past due: nudge 0",
        ),
        pytest.param(
            incident(),
            DEFAULT,
            16,
            [("update_overdue", f"{K}:update_overdue:20260302T101500Z")],
            id="a minute later, memory lost: the same key (the outbox drops it)",
        ),
        pytest.param(
            incident(memory=sent(1, last_at=15)),
            DEFAULT,
            16,
            [],
            id="a minute later: nothing new",
        ),
        pytest.param(
            incident(memory=sent(1, last_at=15)),
            DEFAULT,
            30,
            [("update_overdue", f"{K}:update_overdue:20260302T103000Z")],
            id="one interval later: nudge 1",
        ),
        pytest.param(
            incident(memory=sent(2, last_at=30)),
            DEFAULT,
            31,
            [],
            id="escalation waits until the 2nd nudge went unanswered a full interval",
        ),
        pytest.param(
            incident(memory=sent(2, last_at=30)),
            DEFAULT,
            45,
            [("escalation", f"{K}:escalation:20260302T100000Z")],
            id="after 2 unanswered nudges: escalate",
        ),
        pytest.param(
            incident(memory=sent(2, last_at=30)),
            NagPolicy(escalate_after_nudges=3),
            45,
            [("update_overdue", f"{K}:update_overdue:20260302T104500Z")],
            id="escalate after 3",
        ),
        pytest.param(
            incident(memory=sent(3, last_at=45, escalated=True)),
            DEFAULT,
            60,
            [("update_overdue", f"{K}:update_overdue:20260302T110000Z")],
            id="escalated once per silence, then plain nudges",
        ),
        pytest.param(
            incident(last_update_at=mins(40), memory=sent(3, last_at=45, escalated=True)),
            DEFAULT,
            54,
            [],
            id="a status update re-arms the clock",
        ),
        pytest.param(
            incident(last_update_at=mins(40), memory=sent(3, last_at=45, escalated=True)),
            DEFAULT,
            55,
            [("update_overdue", f"{K}:update_overdue:20260302T105500Z")],
            id="after an update the counters start again (no escalation)",
        ),
        pytest.param(incident(status="Monitoring"), DEFAULT, 29, [], id="mitigated: relaxed"),
        pytest.param(
            incident(status="Monitoring"),
            DEFAULT,
            30,
            [("update_overdue", f"{K}:update_overdue:20260302T103000Z")],
            id="mitigated: due after twice the cadence",
        ),
        pytest.param(incident("SEV3"), DEFAULT, 20, [], id="SEV3 after 20m: not due"),
        pytest.param(
            incident("SEV1"),
            DEFAULT,
            20,
            [("update_overdue", f"{K}:update_overdue:20260302T101500Z")],
            id="raised from SEV3 to SEV1 after 20m: due at once",
        ),
        pytest.param(
            incident("SEV1", memory=sent(1, last_at=61)),
            DEFAULT,
            62,
            [],
            id="raised right after a SEV3 nudge: waits for the next SEV1 period",
        ),
        pytest.param(
            incident("SEV3", memory=sent(1, last_at=16)),
            DEFAULT,
            61,
            [("update_overdue", f"{K}:update_overdue:20260302T110000Z")],
            id="lowered from SEV1 to SEV3 after a nudge: a new key when SEV3 is due",
        ),
        pytest.param(incident(status="Resolved"), DEFAULT, 600, [], id="resolution stops it"),
        pytest.param(incident("SEV4"), DEFAULT, 14 * 24 * 60, [], id="SEV4 is never nagged"),
        pytest.param(
            incident(None, memory=sent(severity_nudged=True)),
            DEFAULT,
            600,
            [],
            id="no severity: no cadence",
        ),
        pytest.param(
            incident(memory=sent(1, last_at=15)),
            DEFAULT,
            75.5,
            [("update_overdue", f"{K}:update_overdue:20260302T111500Z")],
            id="down for an hour: one nudge, keyed by the latest period",
        ),
        pytest.param(
            incident(),
            DEFAULT,
            70,
            [("update_overdue", f"{K}:update_overdue:20260302T110000Z")],
            id="down since before the first nudge: one nudge, not an escalation",
        ),
        pytest.param(NO_COMMANDER, DEFAULT, 4.99, [], id="no commander within the grace"),
        pytest.param(
            NO_COMMANDER,
            DEFAULT,
            5,
            [("no_commander", f"{K}:no_commander")],
            id="no commander after the grace",
        ),
        pytest.param(
            replace(NO_COMMANDER, memory=NagMemory(commander_nudged=True)),
            DEFAULT,
            6,
            [],
            id="no commander: once per incident",
        ),
        pytest.param(
            replace(NO_COMMANDER, status="Resolved"), DEFAULT, 6, [], id="no commander: resolved"
        ),
        pytest.param(
            incident("SEV1", commander=()),
            DEFAULT,
            15,
            [
                ("no_commander", f"{K}:no_commander"),
                ("update_overdue", f"{K}:update_overdue:20260302T101500Z"),
            ],
            id="both at once, in a fixed order",
        ),
    ],
)
def test_due_nudges(
    state: NagState, policy: NagPolicy, minute: float, expected: list[tuple[str, str]]
) -> None:
    assert keys(due_nudges(state, policy, mins(minute))) == expected


@pytest.mark.parametrize(
    ("state", "policy", "minute", "expected"),
    [
        pytest.param(
            incident(),
            DEFAULT,
            16.5,
            Nudge(
                kind="update_overdue",
                key=f"{K}:update_overdue:20260302T101500Z",
                page_id=PAGE,
                due_at=mins(15),
                overdue_by_s=90.0,
                last_update_at=T0,
                mention=(AIKO, BEN),
            ),
            id="update overdue: commander and scribe, in the thread",
        ),
        pytest.param(
            incident(memory=sent(2, last_at=30)),
            NagPolicy(escalate_to="S0ONCALL1"),
            45,
            Nudge(
                kind="escalation",
                key=f"{K}:escalation:20260302T100000Z",
                page_id=PAGE,
                due_at=mins(15),
                overdue_by_s=1800.0,
                last_update_at=T0,
                mention=(AIKO, BEN),
                mention_group="S0ONCALL1",
                broadcast=True,
            ),
            id="escalation: broadcast, with the group",
        ),
        pytest.param(
            incident(commander=(), scribe=(BEN,)),
            DEFAULT,
            7,
            Nudge(
                kind="no_commander",
                key=f"{K}:no_commander",
                page_id=PAGE,
                due_at=mins(5),
                overdue_by_s=120.0,
                last_update_at=T0,
                mention=(BEN,),
            ),
            id="no commander: the scribe is asked",
        ),
        pytest.param(
            incident(commander=(AIKO,), scribe=(AIKO, BEN)),
            DEFAULT,
            15,
            Nudge(
                kind="update_overdue",
                key=f"{K}:update_overdue:20260302T101500Z",
                page_id=PAGE,
                due_at=mins(15),
                overdue_by_s=0.0,
                last_update_at=T0,
                mention=(AIKO, BEN),
            ),
            id="a commander who is also the scribe is mentioned once",
        ),
    ],
)
def test_nudge_contents(state: NagState, policy: NagPolicy, minute: float, expected: Nudge) -> None:
    assert due_nudges(state, policy, mins(minute)) == [expected]


# --- sequences: the worker ticking every minute --------------------------------------------


@pytest.mark.parametrize(
    ("state", "ticks", "changes", "expected_minutes"),
    [
        pytest.param(
            incident("SEV1"),
            range(96),
            {},
            [
                (15, "update_overdue"),
                (30, "update_overdue"),
                (45, "escalation"),
                (60, "update_overdue"),
                (75, "update_overdue"),
                (90, "update_overdue"),
            ],
            id="a silent SEV1: nudge, nudge, escalate once, then every interval",
        ),
        pytest.param(
            incident("SEV1"),
            range(96),
            {40: {"last_update_at": mins(40)}},
            [
                (15, "update_overdue"),
                (30, "update_overdue"),
                (55, "update_overdue"),
                (70, "update_overdue"),
                (85, "escalation"),
            ],
            id="an update at 40 re-arms the clock and the escalation",
        ),
        pytest.param(
            incident("SEV1"),
            [*range(21), *range(80, 96)],
            {},
            [(15, "update_overdue"), (80, "update_overdue"), (90, "escalation")],
            id="down from 20 to 80: one nudge on return, no backlog",
        ),
        pytest.param(
            incident("SEV1"),
            range(180),
            {50: {"status": "Resolved"}},
            [(15, "update_overdue"), (30, "update_overdue"), (45, "escalation")],
            id="resolved at 50: silence",
        ),
        pytest.param(
            incident("SEV3"),
            range(41),
            {20: {"severity": "SEV1"}},
            [(20, "update_overdue"), (30, "update_overdue")],
            id="SEV3 raised to SEV1 at 20: due at once",
        ),
        pytest.param(
            incident("SEV1"),
            range(62),
            {20: {"status": "Monitoring"}},
            [(15, "update_overdue"), (30, "update_overdue"), (60, "escalation")],
            id="mitigated at 20: every 30m",
        ),
        pytest.param(incident("SEV4"), range(600), {}, [], id="SEV4: never"),
    ],
)
def test_ticking(
    state: NagState,
    ticks: Iterable[int],
    changes: dict[int, dict[str, Any]],
    expected_minutes: list[tuple[int, str]],
) -> None:
    log = simulate(
        state, DEFAULT, [mins(m) for m in ticks], {mins(m): c for m, c in changes.items()}
    )
    assert [((at - T0) // timedelta(minutes=1), kind) for at, kind in log] == expected_minutes


def test_a_restart_with_memory_repeats_nothing() -> None:
    state = incident()
    first = due_nudges(state, DEFAULT, mins(15))
    restarted = replace(state, memory=remember(state, first, mins(15)))
    assert [due_nudges(restarted, DEFAULT, mins(m)) for m in (15, 16, 29)] == [[], [], []]


# --- nobody in command, no severity --------------------------------------------------------

NOBODY = incident("SEV3", commander=(), scribe=())
UNCLASSIFIED = incident(None)  # a commander (Aiko) and a scribe (Ben), but no severity
CALLED_AT_5 = sent(commander_nudged=True, commander_nudged_at=mins(5))


def call(
    kind: NudgeKind,
    minute: float,
    mention: tuple[Person, ...] = (),
    group: str | None = None,
    due: float = 5,
) -> Nudge:
    """A once-per-incident nudge found at `minute`, due at minute `due`."""
    return Nudge(
        kind=kind,
        key=f"{K}:{kind}",
        page_id=PAGE,
        due_at=mins(due),
        overdue_by_s=(minute - due) * 60.0,
        last_update_at=T0,
        mention=mention,
        mention_group=group,
        broadcast=group is not None,
    )


@pytest.mark.parametrize(
    ("state", "policy", "minute", "expected"),
    [
        pytest.param(UNCLASSIFIED, DEFAULT, 4.99, [], id="no severity within the grace"),
        pytest.param(
            UNCLASSIFIED,
            DEFAULT,
            5,
            [call("no_severity", 5, (AIKO, BEN))],
            id="no severity after the grace: the commander and scribe, in the thread",
        ),
        pytest.param(
            replace(UNCLASSIFIED, memory=sent(severity_nudged=True)),
            DEFAULT,
            30,
            [],
            id="no severity: once per incident",
        ),
        pytest.param(
            replace(UNCLASSIFIED, status="Resolved"), DEFAULT, 30, [], id="no severity: resolved"
        ),
        pytest.param(
            replace(UNCLASSIFIED, severity="SEV4"), DEFAULT, 30, [], id="a severity, any severity"
        ),
        pytest.param(
            UNCLASSIFIED,
            NagPolicy(severity_grace_s=60.0),
            1,
            [call("no_severity", 1, (AIKO, BEN), due=1)],
            id="SEVERITY_GRACE on its own",
        ),
        pytest.param(
            replace(UNCLASSIFIED, commander=()),
            DEFAULT,
            6,
            [call("no_commander", 6, (BEN,)), call("no_severity", 6, (BEN,))],
            id="only a scribe: the scribe is asked for both",
        ),
        pytest.param(
            replace(NOBODY, severity=None),
            DEFAULT,
            5,
            [call("no_commander", 5, group="channel"), call("no_severity", 5)],
            id="nobody assigned: the group is called once, the severity asked in the thread",
        ),
        pytest.param(
            replace(NOBODY, severity=None),
            NagPolicy(commander_grace_s=600.0),
            5,
            [call("no_severity", 5, group="channel")],
            id="nobody assigned, the commander's grace longer: the group for the severity",
        ),
        pytest.param(
            replace(NOBODY, severity=None, memory=CALLED_AT_5),
            DEFAULT,
            10,
            [call("commander_escalation", 10, group="channel", due=10), call("no_severity", 10)],
            id="nobody assigned, the escalation in the same pass: one ping",
        ),
    ],
)
def test_asking_for_a_severity(
    state: NagState, policy: NagPolicy, minute: float, expected: list[Nudge]
) -> None:
    assert due_nudges(state, policy, mins(minute)) == expected


@pytest.mark.parametrize(
    ("state", "policy", "minute", "expected"),
    [
        pytest.param(
            NOBODY,
            DEFAULT,
            5,
            [call("no_commander", 5, group="channel")],
            id="nobody assigned: the group is called, in the channel too",
        ),
        pytest.param(
            NOBODY,
            NagPolicy(escalate_to="S0ONCALL1"),
            6,
            [call("no_commander", 6, group="S0ONCALL1")],
            id="nobody assigned: the configured group",
        ),
        pytest.param(
            replace(NOBODY, scribe=(BEN,)),
            DEFAULT,
            5,
            [call("no_commander", 5, (BEN,))],
            id="a scribe: asked in the thread, no group",
        ),
        pytest.param(
            replace(NOBODY, memory=CALLED_AT_5),
            DEFAULT,
            9.99,
            [],
            id="called at 5: not escalated before another grace",
        ),
        pytest.param(
            replace(NOBODY, memory=CALLED_AT_5),
            DEFAULT,
            10,
            [call("commander_escalation", 10, group="channel", due=10)],
            id="called at 5, nobody by 10: escalated",
        ),
        pytest.param(
            replace(NOBODY, scribe=(BEN,), memory=CALLED_AT_5),
            NagPolicy(escalate_to="here"),
            12,
            [call("commander_escalation", 12, group="here", due=10)],
            id="the scribe was asked: the escalation still goes to the group",
        ),
        pytest.param(
            replace(NOBODY, memory=sent(commander_nudged=True, commander_nudged_at=mins(30))),
            DEFAULT,
            34.99,
            [],
            id="called late (the worker was down): a whole grace before escalating",
        ),
        pytest.param(
            replace(NOBODY, memory=sent(commander_nudged=True, commander_nudged_at=mins(30))),
            DEFAULT,
            35,
            [call("commander_escalation", 35, group="channel", due=35)],
            id="called late: escalated a grace after the call",
        ),
        pytest.param(
            replace(NOBODY, memory=sent(commander_nudged=True)),
            DEFAULT,
            10,
            [call("commander_escalation", 10, group="channel", due=10)],
            id="a memory from before the call's time was kept: twice the grace",
        ),
        pytest.param(
            replace(NOBODY, memory=sent(commander_nudged=True, commander_escalated=True)),
            DEFAULT,
            59,
            [],
            id="escalated once per incident",
        ),
        pytest.param(
            replace(NOBODY, commander=(AIKO,), memory=CALLED_AT_5),
            DEFAULT,
            10,
            [],
            id="someone took command",
        ),
        pytest.param(
            replace(NOBODY, status="Resolved", memory=CALLED_AT_5),
            DEFAULT,
            10,
            [],
            id="resolved",
        ),
        pytest.param(
            replace(NOBODY, commander=(), memory=CALLED_AT_5),
            DEFAULT,
            10,
            [call("commander_escalation", 10, group="channel", due=10)],
            id="command taken and given up again: still no commander",
        ),
    ],
)
def test_calling_for_a_commander(
    state: NagState, policy: NagPolicy, minute: float, expected: list[Nudge]
) -> None:
    assert due_nudges(state, policy, mins(minute)) == expected


@pytest.mark.parametrize(
    ("state", "changes", "expected_minutes"),
    [
        pytest.param(
            replace(NOBODY, severity=None),
            {},
            [(5, "no_commander"), (5, "no_severity"), (10, "commander_escalation")],
            id="nobody, nothing set: a call for each, one escalation, then quiet",
        ),
        pytest.param(
            NOBODY,
            {7: {"commander": (AIKO,)}},
            [(5, "no_commander"), (60, "update_overdue"), (120, "update_overdue")],
            id="command taken at 7: no escalation",
        ),
        pytest.param(
            replace(NOBODY, severity="SEV2"),
            {},
            [
                (5, "no_commander"),
                (10, "commander_escalation"),
                (30, "update_overdue"),
                (60, "update_overdue"),
                (90, "escalation"),
                (120, "update_overdue"),
            ],
            id="a SEV2 nobody took: called, escalated, then the update cadence",
        ),
        pytest.param(
            UNCLASSIFIED,
            {3: {"severity": "SEV3"}},
            [(60, "update_overdue"), (120, "update_overdue")],
            id="a severity set at 3: not asked for, the cadence starts",
        ),
    ],
)
def test_ticking_without_a_commander_or_severity(
    state: NagState, changes: dict[int, dict[str, Any]], expected_minutes: list[tuple[int, str]]
) -> None:
    log = simulate(
        state, DEFAULT, [mins(m) for m in range(125)], {mins(m): c for m, c in changes.items()}
    )
    assert [((at - T0) // timedelta(minutes=1), kind) for at, kind in log] == expected_minutes


# --- quiet hours and weekends --------------------------------------------------------------

MON_NIGHT = utc(2026, 3, 2, 23, 0)
TUE_0759 = utc(2026, 3, 3, 7, 59)
TUE_0800 = utc(2026, 3, 3, 8, 0)
MON_2159 = utc(2026, 3, 2, 21, 59)
FRI_2100 = utc(2026, 3, 6, 21, 0)
SAT_NOON = utc(2026, 3, 7, 12, 0)
SUN_NOON = utc(2026, 3, 8, 12, 0)


def overdue(severity: str, now: datetime, **changes: Any) -> NagState:
    """An incident whose last update was long enough ago to be overdue at `now`."""
    at = now - timedelta(hours=2)
    return incident(severity, declared_at=at, last_update_at=at, **changes)


@pytest.mark.parametrize(
    ("severity", "policy", "now", "nudged"),
    [
        pytest.param("SEV3", QUIET, MON_NIGHT, False, id="SEV3 at 23:00"),
        pytest.param("SEV3", QUIET, TUE_0759, False, id="SEV3 at 07:59"),
        pytest.param("SEV3", QUIET, TUE_0800, True, id="SEV3 at 08:00"),
        pytest.param("SEV3", QUIET, MON_2159, True, id="SEV3 at 21:59"),
        pytest.param("SEV3", QUIET, FRI_2100, True, id="SEV3 on Friday at 21:00"),
        pytest.param("SEV3", QUIET, SAT_NOON, False, id="SEV3 on Saturday noon"),
        pytest.param("SEV3", QUIET, SUN_NOON, False, id="SEV3 on Sunday noon"),
        pytest.param("SEV1", QUIET, MON_NIGHT, True, id="SEV1 is never quiet at night"),
        pytest.param("SEV2", QUIET, SAT_NOON, True, id="SEV2 is never quiet at weekends"),
        pytest.param("SEV3", DEFAULT, MON_NIGHT, True, id="no quiet hours configured"),
        pytest.param("SEV3", DEFAULT, SAT_NOON, True, id="no quiet hours: weekends too"),
        pytest.param(
            "SEV2",
            replace(QUIET, quiet_severities=("SEV2", "SEV3")),
            MON_NIGHT,
            False,
            id="quiet severities are configurable",
        ),
    ],
)
def test_quiet_hours(severity: str, policy: NagPolicy, now: datetime, nudged: bool) -> None:
    kinds = [n.kind for n in due_nudges(overdue(severity, now), policy, now)]
    assert kinds == (["update_overdue"] if nudged else [])


@pytest.mark.parametrize(
    ("severity", "now", "nudged"),
    [
        pytest.param("SEV4", MON_NIGHT, False, id="SEV4 at night"),
        pytest.param("SEV4", TUE_0800, True, id="SEV4 in the morning"),
        pytest.param("SEV1", SAT_NOON, True, id="SEV1 at a weekend"),
    ],
)
def test_quiet_hours_cover_the_missing_commander(
    severity: str, now: datetime, nudged: bool
) -> None:
    state = overdue(severity, now, commander=())
    kinds = [n.kind for n in due_nudges(state, QUIET, now)]
    assert ("no_commander" in kinds) is nudged


def test_a_missing_severity_is_asked_for_in_quiet_hours_too() -> None:
    """Without a severity nobody knows the incident can wait until morning."""
    declared = MON_NIGHT - timedelta(minutes=10)
    state = incident(None, declared_at=declared, last_update_at=declared)
    assert [n.kind for n in due_nudges(state, QUIET, MON_NIGHT)] == ["no_severity"]


@pytest.mark.parametrize(
    ("last_update_at", "first", "last", "expected"),
    [
        pytest.param(
            utc(2026, 3, 2, 21, 30),
            utc(2026, 3, 2, 21, 30),
            utc(2026, 3, 3, 9, 45),
            [
                (TUE_0800, "update_overdue"),
                (utc(2026, 3, 3, 8, 30), "update_overdue"),
                (utc(2026, 3, 3, 9, 30), "escalation"),
            ],
            id="overnight: one nudge when the quiet ends",
        ),
        pytest.param(
            FRI_2100,
            FRI_2100,
            utc(2026, 3, 9, 8, 10),
            [(utc(2026, 3, 9, 8, 0), "update_overdue")],
            id="over a weekend: one nudge on Monday at 08:00",
        ),
    ],
)
def test_one_nudge_when_the_quiet_ends(
    last_update_at: datetime,
    first: datetime,
    last: datetime,
    expected: list[tuple[datetime, str]],
) -> None:
    state = incident("SEV3", declared_at=last_update_at, last_update_at=last_update_at)
    assert simulate(state, QUIET, every_minute(first, last)) == expected


# --- postmortem follow-up ------------------------------------------------------------------

RESOLVED = incident(
    "SEV2",
    "Resolved",
    resolved_at=utc(2026, 3, 3, 10, 0),  # a Tuesday: the reminder is due on Friday at 10:00
    postmortem_owner=(CARA,),
)
MON_0930 = utc(2026, 3, 9, 9, 30)


def reminded(at: datetime) -> NagMemory:
    return NagMemory(last_postmortem_reminder_at=at)


@pytest.mark.parametrize(
    ("state", "now", "expected_date"),
    [
        pytest.param(RESOLVED, utc(2026, 3, 6, 9, 59), None, id="not yet 3 days"),
        pytest.param(RESOLVED, utc(2026, 3, 6, 10, 0), "2026-03-06", id="Friday, 3 days after"),
        pytest.param(RESOLVED, utc(2026, 3, 7, 11, 0), None, id="Saturday"),
        pytest.param(RESOLVED, utc(2026, 3, 8, 11, 0), None, id="Sunday"),
        pytest.param(RESOLVED, MON_0930, "2026-03-09", id="Monday morning"),
        pytest.param(RESOLVED, utc(2026, 3, 9, 8, 59), None, id="Monday before work"),
        pytest.param(RESOLVED, utc(2026, 3, 9, 18, 0), None, id="Monday at 18:00 (end excluded)"),
        pytest.param(RESOLVED, utc(2026, 3, 9, 23, 0), None, id="Monday at 23:00"),
        pytest.param(
            replace(RESOLVED, postmortem_status="Draft"), MON_0930, "2026-03-09", id="a draft"
        ),
        pytest.param(replace(RESOLVED, postmortem_status="In review"), MON_0930, None, id="review"),
        pytest.param(replace(RESOLVED, postmortem_status="Done"), MON_0930, None, id="done"),
        pytest.param(
            replace(RESOLVED, status="Identified", last_update_at=MON_0930),
            MON_0930,
            None,
            id="reopened",
        ),
        pytest.param(replace(RESOLVED, resolved_at=None), MON_0930, None, id="no resolution time"),
        pytest.param(
            replace(RESOLVED, memory=reminded(MON_0930)),
            utc(2026, 3, 9, 15, 0),
            None,
            id="once a day",
        ),
        pytest.param(
            replace(RESOLVED, memory=reminded(MON_0930)),
            utc(2026, 3, 10, 9, 0),
            "2026-03-10",
            id="again the next day",
        ),
        pytest.param(
            replace(RESOLVED, memory=reminded(utc(2026, 3, 6, 10, 0))),
            utc(2026, 3, 9, 9, 0),
            "2026-03-09",
            id="Friday, then Monday",
        ),
    ],
)
def test_postmortem_reminders(state: NagState, now: datetime, expected_date: str | None) -> None:
    expected = [] if expected_date is None else [f"{K}:postmortem_overdue:{expected_date}"]
    assert [n.key for n in due_nudges(state, DEFAULT, now)] == expected


@pytest.mark.parametrize(
    ("owner", "mentioned"),
    [
        pytest.param((CARA,), (CARA,), id="the owner"),
        pytest.param((), (AIKO,), id="no owner: the commander"),
    ],
)
def test_postmortem_reminder_mentions(
    owner: tuple[Person, ...], mentioned: tuple[Person, ...]
) -> None:
    state = replace(RESOLVED, postmortem_owner=owner)
    [nudge] = due_nudges(state, DEFAULT, MON_0930)
    assert (nudge.kind, nudge.mention, nudge.broadcast) == ("postmortem_overdue", mentioned, False)
    assert nudge.due_at == utc(2026, 3, 6, 10, 0)


def test_resolution_stops_everything_but_the_postmortem() -> None:
    state = replace(RESOLVED, severity="SEV1", commander=(), last_update_at=T0)
    assert [n.kind for n in due_nudges(state, QUIET, MON_0930)] == ["postmortem_overdue"]


# --- time zones and daylight saving --------------------------------------------------------


def relaxed_sev3(last_update_at: datetime) -> NagState:
    """A mitigated SEV3: a 2-hour cadence, long enough to span a whole DST change."""
    return incident("SEV3", "Monitoring", declared_at=last_update_at, last_update_at=last_update_at)


@pytest.mark.parametrize(
    ("state", "due", "local"),
    [
        pytest.param(
            relaxed_sev3(datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)),
            utc(2026, 3, 29, 2, 30),
            "04:30 CEST",
            id="Berlin spring forward: 2h elapsed, not 03:30",
        ),
        pytest.param(
            relaxed_sev3(datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)),
            utc(2026, 10, 25, 1, 30),
            "02:30 CET",
            id="Berlin fall back: 2h elapsed, not 03:30",
        ),
        pytest.param(
            incident("SEV3", last_update_at=datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)),
            utc(2026, 3, 8, 7, 30),
            "03:30 EDT",
            id="New York spring forward",
        ),
        pytest.param(
            incident("SEV3", last_update_at=datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)),
            utc(2026, 11, 1, 6, 30),
            "01:30 EST",
            id="New York fall back: the second 01:30",
        ),
    ],
)
def test_a_cadence_across_dst_is_elapsed_time(state: NagState, due: datetime, local: str) -> None:
    found = next_update_due(state, DEFAULT)
    assert found == due
    zone = state.last_update_at.tzinfo
    assert isinstance(zone, ZoneInfo)
    assert found.astimezone(zone).strftime("%H:%M %Z") == local


@pytest.mark.parametrize(
    ("state", "now", "nudged"),
    [
        pytest.param(
            relaxed_sev3(datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)),
            datetime(2026, 3, 29, 4, 29, tzinfo=BERLIN),
            False,
            id="Berlin spring: 04:29 is 1h59 later",
        ),
        pytest.param(
            relaxed_sev3(datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)),
            datetime(2026, 3, 29, 4, 30, tzinfo=BERLIN),
            True,
            id="Berlin spring: 04:30 is 2h later",
        ),
        pytest.param(
            relaxed_sev3(datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)),
            datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN),
            False,
            id="Berlin fall: the first 02:30 is 1h later",
        ),
        pytest.param(
            relaxed_sev3(datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)),
            datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN),
            True,
            id="Berlin fall: the second 02:30 is 2h later",
        ),
    ],
)
def test_local_times_in_the_same_zone_across_dst(
    state: NagState, now: datetime, nudged: bool
) -> None:
    assert bool(due_nudges(state, DEFAULT, now)) is nudged


NY_QUIET = NagPolicy(quiet_hours=(time(22), time(8)), timezone=NEW_YORK)
NY = NagPolicy(timezone=NEW_YORK)


@pytest.mark.parametrize(
    ("check", "policy", "now", "expected"),
    [
        pytest.param(is_quiet, NY_QUIET, utc(2026, 3, 2, 12, 0), True, id="12:00Z is 07:00 EST"),
        pytest.param(is_quiet, NY_QUIET, utc(2026, 3, 9, 12, 0), False, id="12:00Z is 08:00 EDT"),
        pytest.param(in_working_hours, NY, utc(2026, 3, 2, 13, 30), False, id="08:30 EST"),
        pytest.param(in_working_hours, NY, utc(2026, 3, 9, 13, 30), True, id="09:30 EDT"),
        pytest.param(in_working_hours, NY, utc(2026, 11, 2, 22, 30), True, id="17:30 EST"),
        pytest.param(in_working_hours, NY, utc(2026, 10, 26, 22, 30), False, id="18:30 EDT"),
    ],
)
def test_windows_are_local_wall_time(
    check: Any, policy: NagPolicy, now: datetime, expected: bool
) -> None:
    assert check(now, policy) is expected


@pytest.mark.parametrize(
    ("last_reminder", "now", "expected_date"),
    [
        pytest.param(
            datetime(2026, 3, 9, 9, 0, tzinfo=AUCKLAND),  # Sunday 20:00Z
            datetime(2026, 3, 9, 17, 0, tzinfo=AUCKLAND),  # Monday 04:00Z
            None,
            id="same local date, different UTC dates: once",
        ),
        pytest.param(
            datetime(2026, 3, 9, 17, 0, tzinfo=AUCKLAND),  # Monday 04:00Z
            datetime(2026, 3, 10, 9, 0, tzinfo=AUCKLAND),  # Monday 20:00Z
            "2026-03-10",
            id="same UTC date, next local date: again",
        ),
    ],
)
def test_once_a_day_is_the_local_date(
    last_reminder: datetime, now: datetime, expected_date: str | None
) -> None:
    policy = NagPolicy(timezone=AUCKLAND)
    state = replace(RESOLVED, memory=reminded(last_reminder))
    expected = [] if expected_date is None else [f"{K}:postmortem_overdue:{expected_date}"]
    assert [n.key for n in due_nudges(state, policy, now)] == expected


FRI_1600Z = utc(2026, 3, 6, 16, 0)  # Friday in UTC, Saturday 01:00 in Tokyo


@pytest.mark.parametrize(
    ("check", "policy", "now", "expected"),
    [
        pytest.param(
            is_quiet,
            NagPolicy(quiet_hours=(time(12), time(13))),
            utc(2026, 3, 6, 20, 0),
            False,
            id="Friday 20:00 in UTC",
        ),
        pytest.param(
            is_quiet,
            NagPolicy(quiet_hours=(time(12), time(13)), timezone=TOKYO),
            utc(2026, 3, 6, 20, 0),
            True,
            id="the same instant is Saturday 05:00 in Tokyo",
        ),
        pytest.param(
            is_quiet,
            NagPolicy(quiet_hours=(time(12), time(13))),
            utc(2026, 3, 8, 20, 0),
            True,
            id="Sunday 20:00 in UTC",
        ),
        pytest.param(
            is_quiet,
            NagPolicy(quiet_hours=(time(12), time(13)), timezone=TOKYO),
            utc(2026, 3, 8, 20, 0),
            False,
            id="the same instant is Monday 05:00 in Tokyo",
        ),
        pytest.param(in_working_hours, DEFAULT, FRI_1600Z, True, id="Friday 16:00 in UTC"),
        pytest.param(
            in_working_hours,
            NagPolicy(timezone=TOKYO),
            FRI_1600Z,
            False,
            id="Saturday 01:00 in Tokyo",
        ),
    ],
)
def test_tokyo_and_utc_see_different_weekdays(
    check: Any, policy: NagPolicy, now: datetime, expected: bool
) -> None:
    assert check(now, policy) is expected


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param(DEFAULT, [f"{K}:postmortem_overdue:2026-03-06"], id="UTC: Friday"),
        pytest.param(NagPolicy(timezone=TOKYO), [], id="Tokyo: Saturday"),
    ],
)
def test_postmortem_weekday_by_zone(policy: NagPolicy, expected: list[str]) -> None:
    assert [n.key for n in due_nudges(RESOLVED, policy, FRI_1600Z)] == expected


# --- memory ---------------------------------------------------------------------------------


def nudge_of(kind: NudgeKind) -> Nudge:
    return Nudge(kind, f"{K}:{kind}", PAGE, T0, 0.0, T0, ())


@pytest.mark.parametrize(
    ("state", "kinds", "expected"),
    [
        pytest.param(incident(), [], sent(), id="fresh: the silence begins at the last update"),
        pytest.param(incident(), ["update_overdue"], sent(1, last_at=20), id="a nudge counts"),
        pytest.param(
            incident(memory=sent(2, last_at=15)),
            ["escalation"],
            sent(3, last_at=20, escalated=True),
            id="an escalation counts and is remembered",
        ),
        pytest.param(
            incident(),
            ["no_commander"],
            sent(commander_nudged=True, commander_nudged_at=mins(20)),
            id="no commander: when it was called",
        ),
        pytest.param(
            incident(),
            ["commander_escalation"],
            sent(commander_escalated=True),
            id="no commander: escalated",
        ),
        pytest.param(incident(), ["no_severity"], sent(severity_nudged=True), id="no severity"),
        pytest.param(
            incident(),
            ["postmortem_overdue"],
            sent(last_postmortem_reminder_at=mins(20)),
            id="postmortem reminder",
        ),
        pytest.param(
            incident(
                last_update_at=mins(10),
                memory=sent(
                    3,
                    last_at=5,
                    escalated=True,
                    commander_nudged=True,
                    last_postmortem_reminder_at=mins(1),
                ),
            ),
            [],
            NagMemory(
                silence_since=mins(10),
                commander_nudged=True,
                last_postmortem_reminder_at=mins(1),
            ),
            id="an update zeroes the overdue counters only",
        ),
    ],
)
def test_remember(state: NagState, kinds: list[NudgeKind], expected: NagMemory) -> None:
    assert remember(state, [nudge_of(k) for k in kinds], mins(20)) == expected


def test_memory_survives_the_store_and_older_memories_still_read() -> None:
    memory = NagMemory(
        silence_since=T0,
        nudges_since_update=2,
        last_nudge_at=mins(30),
        escalated=True,
        commander_nudged=True,
        commander_nudged_at=mins(5),
        commander_escalated=True,
        severity_nudged=True,
        last_postmortem_reminder_at=mins(60),
        snoozed_until=mins(75),
        snoozed_at=mins(45),
    )
    assert memory_from_json(memory_to_json(memory)) == memory
    older = (
        '{"silence_since": null, "nudges_since_update": 0, "last_nudge_at": null, '
        '"escalated": false, "commander_nudged": true, "last_postmortem_reminder_at": null}'
    )
    assert memory_from_json(older) == NagMemory(commander_nudged=True)


# --- snoozing from Slack ----------------------------------------------------------------------


def snoozed(state: NagState, minutes: float, at: float, silence_since: datetime = T0) -> NagState:
    """`state` after someone snoozed for `minutes` at minute `at` (a reminder of the silence
    that began at `silence_since`)."""
    done = snooze(state, DEFAULT, silence_since=silence_since, minutes=minutes, now=mins(at))
    assert not isinstance(done, str), done
    return replace(state, memory=done.memory)


@pytest.mark.parametrize(
    ("memory", "minutes", "at", "first_after"),
    [
        pytest.param(
            sent(1, 15), 30, 16, mins(46), id="snoozed 30 min just after the first reminder"
        ),
        pytest.param(sent(1, 15), 60, 16, mins(76), id="snoozed 1 h"),
        pytest.param(sent(), 30, 10, mins(40), id="snoozed before it was even due"),
        pytest.param(
            sent(1, 15), 1, 16, mins(30), id="a snooze shorter than the period changes nothing"
        ),
    ],
)
def test_a_snoozed_reminder_waits_until_the_snooze_ends(
    memory: NagMemory, minutes: float, at: float, first_after: datetime
) -> None:
    state = incident("SEV1", memory=memory)
    state = snoozed(state, minutes, at)
    log = simulate(state, DEFAULT, every_minute(mins(at), mins(120)))
    assert log[0] == (first_after, "update_overdue")
    assert next_due(state, DEFAULT) == first_after


def test_the_escalation_waits_for_the_snooze_too() -> None:
    # Two reminders went out (15, 30): the escalation was due at 45; snoozed at 31 for 1 h.
    state = snoozed(incident("SEV1", memory=sent(2, 30)), 60, 31)
    log = simulate(state, DEFAULT, every_minute(mins(31), mins(120)))
    assert log[0] == (mins(91), "escalation")
    assert due_nudges(state, DEFAULT, mins(90.9)) == []


def test_the_latest_snooze_stands_even_a_shorter_one() -> None:
    state = snoozed(snoozed(incident("SEV1"), 60, 16), 30, 20)
    assert state.memory.snoozed_until == mins(50)


def test_a_status_update_ends_the_snooze_with_the_silence() -> None:
    state = snoozed(incident("SEV1", memory=sent(1, 15)), 60, 16)
    updated = replace(state, last_update_at=mins(20))
    assert next_due(updated, DEFAULT) == mins(35)
    assert keys(due_nudges(updated, DEFAULT, mins(35))) == [
        ("update_overdue", f"{K}:update_overdue:20260302T103500Z")
    ]


@pytest.mark.parametrize(
    ("state", "silence_since", "refusal"),
    [
        pytest.param(incident("SEV1", "Resolved"), T0, "resolved", id="resolved"),
        pytest.param(
            incident("SEV1", last_update_at=mins(20)), T0, "superseded", id="answered since"
        ),
        pytest.param(incident("SEV4"), T0, "no_cadence", id="no update expected any more"),
    ],
)
def test_a_stale_reminder_cannot_be_snoozed(
    state: NagState, silence_since: datetime, refusal: str
) -> None:
    done = snooze(state, DEFAULT, silence_since=silence_since, minutes=30, now=mins(25))
    assert done == refusal


def test_a_snooze_stored_meanwhile_is_kept_by_a_pass_that_read_before_it() -> None:
    before = incident("SEV1", memory=sent(1, 15))
    clicked = snoozed(before, 30, 29.5).memory
    # The nudge pass read the memory at 29, then found the reminder of 30 due.
    written = remember(before, due_nudges(before, DEFAULT, mins(30)), mins(30))
    merged = with_later_snooze(written, clicked)
    assert merged.snoozed_until == mins(59.5)
    assert merged.nudges_since_update == 2
    # An older snooze never replaces a newer one, nor one of another silence.
    assert with_later_snooze(clicked, before.memory) == clicked
    newer = replace(written, silence_since=mins(20))
    assert with_later_snooze(newer, clicked) == newer


# --- building, parsing, validating ----------------------------------------------------------


def test_policy_from_settings() -> None:
    settings = factories.settings(
        UPDATE_CADENCE="SEV1=5m,SEV4=off",
        STATUS_OPTIONS="Investigating,Mitigated,Monitoring,Closed",
        MITIGATED_STATUSES="Mitigated,Monitoring",
        MITIGATED_CADENCE_FACTOR="3",
        RESOLVED_STATUSES="Closed",
        ESCALATE_AFTER_NUDGES="3",
        ESCALATE_TO="S0ONCALL1",
        COMMANDER_GRACE="1m",
        POSTMORTEM_REMINDER_AFTER="1d",
        TIMEZONE="Asia/Tokyo",
    )
    assert NagPolicy.from_settings(settings) == NagPolicy(
        cadence_s={"SEV1": 300.0, "SEV2": 1800.0, "SEV3": 3600.0, "SEV4": None},
        mitigated_statuses=("Mitigated", "Monitoring"),
        mitigated_cadence_factor=3.0,
        resolved_statuses=("Closed",),
        escalate_after_nudges=3,
        escalate_to="S0ONCALL1",
        commander_grace_s=60.0,
        severity_grace_s=60.0,  # follows COMMANDER_GRACE unless set
        postmortem_reminder_after_s=86400.0,
        timezone=TOKYO,
    )
    assert NagPolicy.from_settings(factories.settings()) == DEFAULT


def test_state_from_record() -> None:
    declared = datetime(2026, 3, 2, 9, 58, tzinfo=UTC)
    raw = factories.row(
        severity="SEV1",
        status="Resolved",
        commander=[factories.AIKO],
        scribe=[factories.BEN],
        declared_at=declared,
        resolved_at=T0,
    )
    snapshot = parse_incident(raw, factories.settings())
    record = IncidentRecord(snapshot.page_id, snapshot, phase="announced", last_update_at=mins(5))
    state = state_from_record(record, sent(1), postmortem_status="Draft", postmortem_owner=(CARA,))
    assert state == NagState(
        page_id=snapshot.page_id,
        severity="SEV1",
        status="Resolved",
        declared_at=declared,
        last_update_at=mins(5),
        commander=snapshot.commander,
        scribe=snapshot.scribe,
        resolved_at=T0,
        postmortem_status="Draft",
        postmortem_owner=(CARA,),
        memory=sent(1),
    )
    assert [p.id for p in state.commander] == [factories.AIKO["id"]]
    never_updated = replace(record, last_update_at=None)
    assert state_from_record(never_updated, NagMemory()).last_update_at == declared


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("22:00-08:00", (time(22), time(8))),
        ("09:00-18:00", (time(9), time(18))),
        (" 9:30 - 17:45 ", (time(9, 30), time(17, 45))),
        ("00:00-24:00", (time(0), time(0))),
        ("18:00-24:00", (time(18), time(0))),
        ("22:00\N{EN DASH}08:00", (time(22), time(8))),
    ],
)
def test_parse_time_window(text: str, window: tuple[time, time]) -> None:
    assert parse_time_window(text) == window


@pytest.mark.parametrize(
    "text", ["22-08", "25:00-08:00", "09:00-18:60", "24:00-08:00", "09:00", "", "9am-5pm"]
)
def test_parse_time_window_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|24-hour"):
        parse_time_window(text)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("off", None),
        ("OFF", None),
        ("", None),
        ("none", None),
        ("22:00-07:00", (time(22), time(7))),
    ],
)
def test_parse_quiet_hours(text: str, window: tuple[time, time] | None) -> None:
    assert parse_quiet_hours(text) == window


@pytest.mark.parametrize(
    ("window", "now", "expected"),
    [
        pytest.param((time(0), time(0)), utc(2026, 3, 3, 12, 0), True, id="all day"),
        pytest.param((time(18), time(0)), utc(2026, 3, 3, 23, 59), True, id="until midnight"),
        pytest.param((time(18), time(0)), utc(2026, 3, 3, 0, 0), False, id="midnight excluded"),
        pytest.param((time(1), time(2)), utc(2026, 3, 3, 1, 0), True, id="start included"),
        pytest.param((time(1), time(2)), utc(2026, 3, 3, 2, 0), False, id="end excluded"),
    ],
)
def test_window_edges(window: tuple[time, time], now: datetime, expected: bool) -> None:
    assert is_quiet(now, NagPolicy(quiet_hours=window)) is expected


@pytest.mark.parametrize(
    "changes",
    [
        {"cadence_s": {"SEV1": 0.0}},
        {"cadence_s": {"SEV1": -60.0}},
        {"mitigated_cadence_factor": 0.0},
    ],
)
def test_policy_rejects_nonsense(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"(greater|longer) than zero"):
        NagPolicy(**changes)


def test_naive_times_are_refused() -> None:
    naive = datetime(2026, 3, 2, 10, 15)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="no time zone"):
        due_nudges(incident(), DEFAULT, naive)


# --- when to look again (the nudge pass reads only incidents whose moment has come) --------

_MINUTE = st.integers(min_value=-3 * 24 * 60, max_value=8 * 24 * 60)
_MOMENT = _MINUTE.map(lambda m: T0 + timedelta(minutes=m))
_MAYBE_MOMENT = st.none() | _MOMENT
_PEOPLE = st.sampled_from([(), (AIKO,), (AIKO, BEN)])


@st.composite
def _states(draw: st.DrawFn) -> NagState:
    last_update_at = draw(_MOMENT)
    memory = NagMemory(
        # The same silence (its counters count) or an older one (they read as zero).
        silence_since=last_update_at if draw(st.booleans()) else draw(_MAYBE_MOMENT),
        nudges_since_update=draw(st.integers(0, 3)),
        last_nudge_at=draw(_MAYBE_MOMENT),
        escalated=draw(st.booleans()),
        commander_nudged=draw(st.booleans()),
        commander_nudged_at=draw(_MAYBE_MOMENT),
        commander_escalated=draw(st.booleans()),
        severity_nudged=draw(st.booleans()),
        last_postmortem_reminder_at=draw(_MAYBE_MOMENT),
    )
    return NagState(
        page_id=PAGE,
        severity=draw(st.sampled_from([None, "SEV1", "SEV2", "SEV3", "SEV4"])),
        status=draw(st.sampled_from([None, "Investigating", "Monitoring", "Resolved"])),
        declared_at=draw(_MOMENT),
        last_update_at=last_update_at,
        commander=draw(_PEOPLE),
        scribe=draw(_PEOPLE),
        resolved_at=draw(_MAYBE_MOMENT),
        postmortem_status=draw(st.sampled_from([None, "Draft", "Done"])),
        postmortem_owner=draw(_PEOPLE),
        memory=memory,
    )


_POLICIES = st.builds(
    NagPolicy,
    quiet_hours=st.sampled_from([None, (time(22), time(8)), (time(0), time(0))]),
    working_hours=st.sampled_from([(time(9), time(18)), (time(22), time(6))]),
    timezone=st.sampled_from(
        [ZoneInfo("UTC"), TOKYO, NEW_YORK, AUCKLAND, ZoneInfo("America/Sao_Paulo")]
    ),
    commander_grace_s=st.sampled_from([60.0, 300.0, 7200.0]),
    severity_grace_s=st.sampled_from([60.0, 300.0]),
    postmortem_reminder_after_s=st.sampled_from([3600.0, 3 * 86400.0]),
    escalate_after_nudges=st.integers(1, 3),
)


@given(_states(), _POLICIES, _MOMENT)
@hypothesis_settings(max_examples=500, deadline=None)
def test_no_reminder_is_ever_due_before_next_due(
    state: NagState, policy: NagPolicy, now: datetime
) -> None:
    due = next_due(state, policy)
    if due_nudges(state, policy, now):
        assert due is not None
        assert due <= now


def _lazily(
    state: NagState, policy: NagPolicy, ticks: list[datetime]
) -> list[tuple[datetime, NudgeKind]]:
    """`simulate`, judging the incident only once `next_due` has come, as the worker does."""
    log: list[tuple[datetime, NudgeKind]] = []
    judge_at: datetime | None = ticks[0]
    for now in ticks:
        if judge_at is None or now < judge_at:
            continue
        nudges = due_nudges(state, policy, now)
        log += [(now, nudge.kind) for nudge in nudges]
        state = replace(state, memory=remember(state, nudges, now))
        due = next_due(state, policy)
        if due is None or due > now:
            judge_at = due
    return log


@given(_states(), _POLICIES)
@hypothesis_settings(max_examples=60, deadline=None)
def test_judging_an_incident_only_at_next_due_sends_the_same_reminders_at_the_same_ticks(
    state: NagState, policy: NagPolicy
) -> None:
    ticks = every_minute(T0, T0 + timedelta(days=5))[::7]
    assert _lazily(state, policy, ticks) == simulate(state, policy, ticks)


@pytest.mark.parametrize(
    ("state", "policy", "due"),
    [
        pytest.param(incident("SEV1"), DEFAULT, mins(15), id="the first overdue update"),
        pytest.param(
            incident("SEV1", memory=sent(1, last_at=16)),
            DEFAULT,
            mins(30),
            id="nudged in the first period: the next period",
        ),
        pytest.param(
            incident("SEV1", memory=sent(1, last_at=14)),
            DEFAULT,
            mins(15),
            id="a nudge before the update was due counts for nothing",
        ),
        pytest.param(incident("SEV4"), DEFAULT, None, id="no cadence, all assigned: never"),
        pytest.param(
            incident("SEV4", commander=()), DEFAULT, mins(5), id="no commander: after the grace"
        ),
        pytest.param(incident("SEV1", "Resolved"), DEFAULT, None, id="resolved, no date: never"),
        pytest.param(
            incident("SEV1", "Resolved", resolved_at=mins(0)),
            DEFAULT,
            mins(3 * 24 * 60),
            id="resolved: the postmortem reminder",
        ),
        pytest.param(
            incident(
                "SEV1",
                "Resolved",
                resolved_at=mins(0),
                memory=NagMemory(last_postmortem_reminder_at=mins(4 * 24 * 60)),
            ),
            NagPolicy(timezone=TOKYO),
            datetime(2026, 3, 6, 15, 0, tzinfo=UTC),  # midnight in Tokyo after the reminder
            id="reminded: the next local day",
        ),
    ],
)
def test_next_due(state: NagState, policy: NagPolicy, due: datetime | None) -> None:
    assert next_due(state, policy) == due
