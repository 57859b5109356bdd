"""Parsing rows: every property read once into plain values; broken rows explain themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import AIKO, BEN, T0, row, settings
from worker.errors import RowError
from worker.plan import plan_row
from worker.record import IncidentRecord
from worker.snapshot import (
    Incident,
    Person,
    Value,
    carry_unreadable,
    display_value,
    incident_from_json,
    incident_to_json,
    parse_incident,
)


def test_a_full_row_is_parsed_into_plain_values() -> None:
    incident = parse_incident(
        row(
            title="DB down",
            commander=[BEN],
            scribe=[AIKO],
            impact="EU customers",
            status_update="Rolling back",
            customer_comms="Internal only",
            declared_at=T0,
            slack_thread="https://x.slack.com/archives/C1/p1700000000000100",
        ),
        settings(),
    )
    assert incident.title == "DB down"
    assert incident.status == "Investigating"
    assert incident.severity == "SEV2"
    assert incident.commander == (Person(BEN["id"], "Ben Carter", "ben@example.com"),)
    assert incident.scribe[0].name == "Aiko Tanaka"
    assert incident.impact == "EU customers"
    assert incident.status_update == "Rolling back"
    assert incident.customer_comms == "Internal only"
    assert incident.declared_at == T0
    assert incident.last_edited_time == T0
    assert incident.last_edited_by == AIKO["id"]
    assert incident.slack_thread is not None
    assert incident.problems == ()
    assert [key for key, _ in incident.mirrored] == [
        "title",
        "status",
        "severity",
        "commander",
        "scribe",
        "impact",
        "customer_comms",
    ]


def test_status_may_be_a_status_property() -> None:
    incident = parse_incident(row(status="Identified", status_type="status"), settings())
    assert incident.status == "Identified"
    assert incident.problems == ()


def test_missing_and_retyped_properties_are_problems_not_crashes() -> None:
    raw = row(
        drop=("Severity",),
        extra={"Commander": {"id": "cm", "type": "rich_text", "rich_text": []}},
    )
    incident = parse_incident(raw, settings())
    assert incident.severity is None
    assert incident.commander == ()
    assert "property 'Severity' is missing" in incident.problems
    assert any("'Commander' is a rich_text property" in p for p in incident.problems)


def test_something_that_is_not_a_row_is_a_row_error() -> None:
    with pytest.raises(RowError, match="not a page"):
        parse_incident({"object": "page", "id": "p1"}, settings())


def test_renamed_properties_follow_the_configured_names() -> None:
    raw = row()
    raw["properties"]["State"] = raw["properties"].pop("Status")
    incident = parse_incident(raw, settings(NOTION_PROPERTY_NAMES="Status=State"))
    assert incident.status == "Investigating"
    assert incident.problems == ()


@pytest.mark.parametrize(
    ("prop", "text"),
    [
        ({"type": "multi_select", "multi_select": [{"name": "api"}, {"name": "db"}]}, "api, db"),
        ({"type": "number", "number": 3.0}, "3"),
        ({"type": "checkbox", "checkbox": True}, "Yes"),
        (
            {"type": "date", "date": {"start": "2026-11-28", "end": "2026-11-29"}},
            "2026-11-28 → 2026-11-29",
        ),
        ({"type": "unique_id", "unique_id": {"prefix": "INC", "number": 42}}, "INC-42"),
        ({"type": "formula", "formula": {"type": "boolean", "boolean": False}}, "No"),
        ({"type": "relation", "relation": [{"id": "a"}, {"id": "b"}]}, "2 linked"),
        ({"type": "button", "button": {}}, ""),
        ({"type": "select", "select": None}, ""),
    ],
)
def test_any_property_type_has_a_readable_value(prop: dict[str, object], text: str) -> None:
    assert display_value(prop).text == text


def test_people_compare_by_identity_not_by_name() -> None:
    renamed = Value(text="B", people=(Person("u1", "B"),), is_people=True)
    original = Value(text="A", people=(Person("u1", "A"),), is_people=True)
    assert renamed.comparable() == original.comparable()


def test_storage_round_trip_keeps_everything() -> None:
    incident = parse_incident(
        row(commander=[BEN], declared_at=T0, impact="日本語と絵文字 🚒"), settings()
    )
    again = incident_from_json(incident_to_json(incident))
    assert again == incident
    assert isinstance(again, Incident)
    assert again.declared_at == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


# --- unreadable properties keep their last known value (issue 11, items 5 and 14) ---------

S = settings()


@pytest.mark.parametrize(
    ("changes", "unreadable", "named"),
    [
        ({"status": "Closed"}, ("status",), "“Closed”"),
        ({"severity": "P2"}, ("severity",), "“P2”"),
        ({"status": "Resolved"}, (), None),
        ({"drop": ("Status",)}, ("status",), None),
    ],
)
def test_what_cannot_be_read_on_a_row(
    changes: dict[str, Any], unreadable: tuple[str, ...], named: str | None
) -> None:
    incident = parse_incident(row(**changes), S)
    assert incident.unreadable == unreadable
    assert [named in p for p in incident.value_problems] == ([True] if named else [])
    for key, value in incident.mirrored:
        assert value.unknown == (key in unreadable)


def test_the_last_known_value_stands_in_and_its_comeback_is_a_change() -> None:
    known = parse_incident(row(status="Monitoring", severity="SEV2"), S)
    missing = parse_incident(row(severity="SEV1", drop=("Status",)), S)
    carried = carry_unreadable(known, missing)
    assert carried.status == "Monitoring"
    assert dict(carried.mirrored)["status"].text == "Monitoring"
    assert carried.severity == "SEV1"  # what could be read is taken as it is
    back = parse_incident(row(status="Resolved", severity="SEV1"), S)
    assert carry_unreadable(carried, back) == back


def test_a_row_with_missing_and_retyped_properties_still_parses() -> None:
    raw = row(
        impact="irrelevant",
        drop=("Severity", "Commander"),
        extra={"Impact": {"id": "im", "type": "number", "number": 3}},
    )
    incident = parse_incident(raw, S)
    assert incident.title == "Checkout down"
    assert incident.status == "Investigating"  # the other properties are read as usual
    assert incident.severity is None
    assert incident.commander == ()
    assert incident.impact == ""
    problems = "; ".join(incident.problems)
    assert "'Severity' is missing" in problems
    assert "'Commander' is missing" in problems
    assert "'Impact' is a number property; the worker needs rich_text" in problems


def test_an_unknown_status_value_is_named_and_the_last_known_one_stands_in() -> None:
    """A status the settings do not list ("Escalating to vendor", "Closed") could mean
    resolved or not: the worker does not guess. It names the value (and how to make it
    known), and goes on with the last status it knew — no "Investigating → …" reply."""
    record = IncidentRecord(
        page_id=row()["id"], snapshot=parse_incident(row(), S), phase="announced", thread_ts="1.2"
    )
    raw = parse_incident(row(status="Escalating to vendor", edited=T0 + timedelta(minutes=1)), S)
    (problem,) = raw.value_problems
    assert "“Escalating to vendor”" in problem
    assert "STATUS_OPTIONS" in problem
    assert "RESOLVED_STATUSES" in problem
    new = carry_unreadable(record.snapshot, raw)
    assert new.status == "Investigating"
    plan = plan_row(record, new, S, actor=None, now=T0 + timedelta(minutes=2), first_run=False)
    assert [a.kind for a in plan.actions] == []
