"""Diff: what changed between two snapshots, as a reader would want it announced (tables)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import BEN, BOT_ID, T0, row, settings
from worker.diff import (
    Escalated,
    Mitigated,
    PropertiesChanged,
    Reopened,
    Resolved,
    StatusUpdatePosted,
    diff,
)
from worker.snapshot import parse_incident

S = settings()


def _pair(before: dict[str, Any], after: dict[str, Any]) -> list[object]:
    return diff(parse_incident(row(**before), S), parse_incident(row(**after), S), S)


def _changed_keys(events: list[object]) -> list[str]:
    changed = [e for e in events if isinstance(e, PropertiesChanged)]
    return [c.key for c in changed[0].changes] if changed else []


@pytest.mark.parametrize(
    ("before", "after", "keys", "others"),
    [
        ({}, {}, [], []),
        ({"status": "Investigating"}, {"status": "Identified"}, ["status"], []),
        ({"status": "Identified"}, {"status": "Monitoring"}, ["status"], [Mitigated("Monitoring")]),
        ({"status": "Monitoring"}, {"status": "Resolved"}, ["status"], [Resolved("Resolved")]),
        (
            {"status": "Resolved"},
            {"status": "Investigating"},
            ["status"],
            [Reopened("Investigating")],
        ),
        ({"severity": "SEV2"}, {"severity": "SEV1"}, ["severity"], [Escalated("SEV1")]),
        ({"severity": "SEV1"}, {"severity": "SEV2"}, ["severity"], []),
        ({"commander": []}, {"commander": [BEN]}, ["commander"], []),
        ({"title": "a", "impact": "x"}, {"title": "b", "impact": "y"}, ["title", "impact"], []),
        ({"customer_comms": None}, {"customer_comms": "Internal only"}, ["customer_comms"], []),
        (
            {"status_update": ""},
            {"status_update": "Rolling back"},
            [],
            [StatusUpdatePosted("Rolling back")],
        ),
        ({"status_update": "same"}, {"status_update": "same "}, [], []),
        ({"status_update": "old"}, {"status_update": ""}, [], []),
    ],
)
def test_diff_table(
    before: dict[str, Any], after: dict[str, Any], keys: list[str], others: list[object]
) -> None:
    events = _pair(before, after)
    assert _changed_keys(events) == keys
    assert [e for e in events if not isinstance(e, PropertiesChanged)] == others


def test_the_workers_own_properties_never_produce_events() -> None:
    events = _pair(
        {},
        {
            "slack_thread": "https://x.slack.com/archives/C1/p1700000000000100",
            "declared_at": T0,
            "mitigated_at": T0,
            "resolved_at": T0,
            "editor": BOT_ID,
        },
    )
    assert events == []


def test_escalating_a_resolved_incident_is_not_broadcast_as_escalation() -> None:
    events = _pair(
        {"status": "Resolved", "severity": "SEV2"}, {"status": "Resolved", "severity": "SEV1"}
    )
    assert not any(isinstance(e, Escalated) for e in events)


def test_a_property_that_goes_missing_or_is_retyped_is_not_a_change() -> None:
    before = parse_incident(row(severity="SEV2", impact="EU"), S)
    raw = row(severity="SEV2", impact="EU", drop=("Severity",))
    raw["properties"]["Impact"] = {"id": "im", "type": "number", "number": None}
    after = parse_incident(raw, S)
    assert diff(before, after, S) == []
    assert diff(after, before, S) == []  # nor is its coming back
