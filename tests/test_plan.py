"""Plan: which actions a row leads to, with keys that make every effect happen once (tables)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.factories import BEN, T0, row, settings
from worker.plan import Plan, plan_row, thread_ts_from_permalink
from worker.record import IncidentRecord
from worker.snapshot import Incident, Person, parse_incident

S = settings()
NOW = T0 + timedelta(minutes=1)
ACTOR = Person(BEN["id"], "Ben Carter", "ben@example.com")
DUE = T0 + timedelta(minutes=30)  # SEV2 every 30 minutes, from the declaration at T0


def _incident(**fields: Any) -> Incident:
    return parse_incident(row(**fields), S)


def _plan(
    record: IncidentRecord | None, first_run: bool = False, now: datetime = NOW, **fields: Any
) -> Plan:
    fields.setdefault("next_update_due", DUE)
    return plan_row(record, _incident(**fields), S, actor=ACTOR, now=now, first_run=first_run)


def _kinds(plan: Plan) -> list[str]:
    return [a.kind for a in plan.actions]


def _announced(**fields: Any) -> IncidentRecord:
    fields.setdefault("next_update_due", DUE)
    return IncidentRecord(
        page_id=_incident().page_id,
        snapshot=_incident(**fields),
        phase="announced",
        thread_ts="1700000000.000100",
        seq=3,
    )


@pytest.mark.parametrize(
    ("first_run", "fields", "phase", "kinds"),
    [
        (False, {}, "announced", ["post_parent", "link_thread"]),
        (True, {}, "announced", ["post_parent", "link_thread"]),
        (True, {"status": "Resolved"}, "adopted", []),
        (False, {"status": "Resolved"}, "announced", ["post_parent", "link_thread"]),
        (False, {"title": ""}, "waiting", []),
        (
            False,
            {"slack_thread": "https://x.slack.com/archives/C1/p1700000000000100"},
            "announced",
            ["update_parent"],
        ),
    ],
)
def test_first_sight_of_a_row(
    first_run: bool, fields: dict[str, Any], phase: str, kinds: list[str]
) -> None:
    plan = _plan(None, first_run=first_run, **fields)
    assert plan.record.phase == phase
    assert _kinds(plan) == kinds


def test_declaration_keys_are_per_incident_forever() -> None:
    plan = _plan(None)
    page = plan.record.page_id
    assert [a.key for a in plan.actions] == [f"post_parent:{page}", f"link_thread:{page}"]
    assert plan.actions[1].payload == {
        "declared_at": T0.isoformat(),
        "next_update_due": (NOW + timedelta(minutes=30)).isoformat(),
    }


def test_declared_at_set_by_people_is_kept() -> None:
    plan = _plan(None, declared_at=T0 - timedelta(hours=1))
    assert plan.actions[1].payload["declared_at"] is None


def test_an_untitled_row_is_declared_after_the_grace_period() -> None:
    waiting = _plan(None, title="").record
    later = NOW + timedelta(minutes=5)
    plan = plan_row(waiting, _incident(title=""), S, actor=None, now=later, first_run=False)
    assert _kinds(plan) == ["post_parent", "link_thread"]


def test_a_titled_waiting_row_is_declared() -> None:
    waiting = _plan(None, title="").record
    plan = _plan(waiting, title="DB down")
    assert _kinds(plan) == ["post_parent", "link_thread"]


def test_an_adopted_resolved_incident_is_declared_when_reopened() -> None:
    adopted = _plan(None, first_run=True, status="Resolved").record
    assert _kinds(_plan(adopted, status="Resolved", impact="edit")) == []
    assert _kinds(_plan(adopted, status="Investigating")) == ["post_parent", "link_thread"]


def test_nothing_changed_means_nothing_to_do() -> None:
    record = _announced()
    plan = _plan(record)
    assert plan.actions == ()
    assert plan.record.seq == 3


W, R, U = "write_props", "post_reply", "update_parent"


@pytest.mark.parametrize(
    ("before", "after", "kinds", "broadcast", "dates"),
    [
        ({}, {"status": "Identified"}, [R, U], False, None),
        # A severity change re-plans the next update at once (SEV1: every 15 minutes).
        ({}, {"severity": "SEV1"}, [W, R, U], True, {"next_update_due"}),
        (
            {"status": "Identified"},
            {"status": "Monitoring"},
            [W, R, U],
            False,
            {"mitigated_at", "next_update_due"},
        ),
        (
            {"status": "Monitoring"},
            {"status": "Resolved"},
            [W, R, U],
            True,
            {"resolved_at", "mitigated_at", "next_update_due"},
        ),
        (
            {"status": "Monitoring"},
            {"status": "Resolved", "resolved_at": T0, "mitigated_at": T0, "next_update_due": None},
            [R, U],
            True,
            None,
        ),
        ({}, {"status_update": "Rolled back"}, [W, R, U], None, {"next_update_due"}),
        (
            {},
            {"status": "Identified", "status_update": "Found it"},
            [W, R, R, U],
            False,
            {"next_update_due"},
        ),
        ({}, {"declared_at": T0}, [U], None, None),
    ],
)
def test_changes_table(
    before: dict[str, Any],
    after: dict[str, Any],
    kinds: list[str],
    broadcast: bool | None,
    dates: set[str] | None,
) -> None:
    plan = _plan(_announced(**before), **after)
    assert _kinds(plan) == kinds
    assert plan.record.seq == 4
    replies = [a for a in plan.actions if a.kind == "post_reply"]
    if broadcast is not None:
        assert replies[0].payload["broadcast"] is broadcast
    writes = [a for a in plan.actions if a.kind == "write_props"]
    assert (set(writes[0].payload["dates"]) if writes else None) == dates


def test_several_changes_in_one_poll_are_one_reply_with_the_actor() -> None:
    plan = _plan(_announced(), status="Identified", severity="SEV3", commander=[BEN])
    (reply,) = [a for a in plan.actions if a.kind == "post_reply"]
    assert reply.key == f"reply:{plan.record.page_id}:4:changes"
    assert [c["key"] for c in reply.payload["changes"]] == ["status", "severity", "commander"]
    assert reply.payload["actor"]["name"] == "Ben Carter"


def test_a_status_update_rearms_the_clock() -> None:
    record = replace(_announced(), last_update_at=T0 - timedelta(hours=1))
    plan = _plan(record, status_update="Mitigation in place")
    assert plan.record.last_update_at == NOW


def test_a_trashed_untitled_row_is_never_declared() -> None:
    raw = row(title="")
    raw["in_trash"] = True
    plan = plan_row(
        None, parse_incident(raw, S), S, actor=None, now=NOW + timedelta(hours=1), first_run=False
    )
    assert plan.actions == ()


@pytest.mark.parametrize(
    ("url", "ts"),
    [
        ("https://acme.slack.com/archives/C123/p1712345678123456", "1712345678.123456"),
        (
            "https://acme.slack.com/archives/C123/p1712345678123456?thread_ts=1&cid=C1",
            "1712345678.123456",
        ),
        ("https://example.com/not-slack", None),
    ],
)
def test_thread_ts_is_read_back_from_the_permalink(url: str, ts: str | None) -> None:
    assert thread_ts_from_permalink(url) == ts
