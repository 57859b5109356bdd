"""Thread history: what a thread's own messages say about the incident's past (tables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker.thread_history import read_history

PAGE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
OTHER = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _message(key: str | None, minutes: float, **facts: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"ts": f"{_at(minutes).timestamp():.6f}", "text": "…"}
    if key is not None:
        payload = {"key": key, **facts}
        message["metadata"] = {"event_type": "incident_worker_action", "event_payload": payload}
    return message


PARENT = _message(f"post_parent:{PAGE}", 0)


@pytest.mark.parametrize(
    ("parent", "owner"),
    [
        (PARENT, PAGE),
        (_message(f"post_parent:{OTHER}", 0), OTHER),  # the row is a duplicate of OTHER
        (_message(None, 0), None),  # a parent without metadata: cannot tell
        (_message(f"reply:{PAGE}:1:changes", 0), None),
    ],
)
def test_the_parent_says_whose_thread_it_is(parent: dict[str, Any], owner: str | None) -> None:
    assert read_history(PAGE, [parent], declared_at=T0).owner == owner


@pytest.mark.parametrize(
    ("replies", "last_update"),
    [
        ([], _at(0)),
        # A status update says when the clock restarted (the poll that saw it) …
        ([_message(f"reply:{PAGE}:3:update", 21, clock=True, at=_at(20).isoformat())], _at(20)),
        # … and one from before messages said so counts from when it was posted.
        ([_message(f"reply:{PAGE}:3:update", 21)], _at(21)),
        # A reopening restarts the clock too; an ordinary change does not.
        ([_message(f"reply:{PAGE}:4:changes", 40, clock=True, at=_at(40).isoformat())], _at(40)),
        ([_message(f"reply:{PAGE}:4:changes", 40)], _at(0)),
        # The latest one counts, whatever the order of the messages.
        (
            [
                _message(f"reply:{PAGE}:9:update", 50, clock=True, at=_at(50).isoformat()),
                _message(f"reply:{PAGE}:3:update", 21, clock=True, at=_at(20).isoformat()),
            ],
            _at(50),
        ),
    ],
)
def test_the_last_status_update(replies: list[dict[str, Any]], last_update: datetime) -> None:
    history = read_history(PAGE, [PARENT, *replies], declared_at=T0)
    assert history.last_update_at == last_update
    assert history.memory.silence_since == last_update


def test_reminders_since_the_last_update_are_counted_and_older_ones_are_not() -> None:
    overdue = f"nudge:{PAGE}:update_overdue"
    replies = [
        _message(f"{overdue}:20261128T093000Z", 31, at=_at(31).isoformat()),
        _message(f"reply:{PAGE}:3:update", 40, clock=True, at=_at(40).isoformat()),
        _message(f"{overdue}:20261128T101000Z", 71, at=_at(71).isoformat()),
        _message(f"nudge:{PAGE}:escalation:20261128T094000Z", 101, at=_at(101).isoformat()),
        _message(f"nudge:{PAGE}:no_commander", 5),
    ]
    memory = read_history(PAGE, [PARENT, *replies], declared_at=T0).memory
    assert memory.nudges_since_update == 2
    assert memory.last_nudge_at == _at(101)
    assert memory.escalated
    assert memory.commander_nudged


@pytest.mark.parametrize(
    ("kinds", "called_at", "escalated", "severity_asked"),
    [
        pytest.param([], None, False, False, id="none sent"),
        pytest.param(["no_commander"], _at(5), False, False, id="a call for a commander"),
        pytest.param(
            ["no_commander", "commander_escalation"], _at(5), True, False, id="and its escalation"
        ),
        pytest.param(["no_severity"], None, False, True, id="a call for a severity"),
    ],
)
def test_calls_for_a_commander_or_a_severity_are_remembered(
    kinds: list[str], called_at: datetime | None, escalated: bool, severity_asked: bool
) -> None:
    replies = [_message(f"nudge:{PAGE}:{kind}", 5 + 5 * i) for i, kind in enumerate(kinds)]
    memory = read_history(PAGE, [PARENT, *replies], declared_at=T0).memory
    assert (memory.commander_nudged_at, memory.commander_escalated) == (called_at, escalated)
    assert memory.severity_nudged is severity_asked
    assert memory.nudges_since_update == 0  # a commander escalation is no overdue update's


def test_another_incidents_reminders_are_not_this_ones() -> None:
    replies = [
        _message(f"nudge:{OTHER}:update_overdue:x", 31),
        _message(f"nudge:{OTHER}:no_commander", 5),
    ]
    memory = read_history(PAGE, [PARENT, *replies], declared_at=T0).memory
    assert memory.nudges_since_update == 0
    assert not memory.commander_nudged


def test_messages_people_wrote_in_the_thread_are_ignored() -> None:
    people = [{"ts": f"{_at(3).timestamp():.6f}", "text": "on it", "user": "U1"}, {"text": "?"}]
    history = read_history(PAGE, [PARENT, *people], declared_at=T0)
    assert history.last_update_at == T0
    assert history.memory.nudges_since_update == 0
