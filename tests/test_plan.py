"""Plan: which actions a row leads to, with keys that make every effect happen once (tables)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from tests.factories import BEN, T0, row, settings
from worker.actions import (
    Action,
    AppendPostmortemNote,
    AppendTimelineEntry,
    ChangesReply,
    CreateTimeline,
    LinksRestoredReply,
    LinkThread,
    PostParent,
    TrashedReply,
    UpdateParent,
    WriteProps,
)
from worker.config import BUNDLED_TEMPLATES
from worker.messages import RenderContext, Wording, parent_message
from worker.plan import Plan, observed, plan_row, thread_ts_from_permalink
from worker.record import IncidentRecord
from worker.sandbox.slack.blocks import validate_blocks
from worker.snapshot import Incident, Person, parse_incident
from worker.store import lane

S = settings()
WORDS = Wording.load(BUNDLED_TEMPLATES, "en")
NOW = T0 + timedelta(minutes=1)
ACTOR = Person(BEN["id"], "Ben Carter", "ben@example.com")
DUE = T0 + timedelta(minutes=30)  # SEV2 every 30 minutes, from the declaration at T0
P = TypeVar("P")


def _incident(**fields: Any) -> Incident:
    return parse_incident(row(**fields), S)


def _plan(
    record: IncidentRecord | None, first_run: bool = False, now: datetime = NOW, **fields: Any
) -> Plan:
    fields.setdefault("next_update_due", DUE)
    return plan_row(record, _incident(**fields), S, actor=ACTOR, now=now, first_run=first_run)


def _kinds(plan: Plan) -> list[str]:
    """The Slack and row actions, in order (pages have a lane of their own)."""
    return [a.kind for a in plan.actions if lane(a.kind) == "main"]


def _pages(plan: Plan) -> list[tuple[str, str]]:
    return [
        (a.kind, getattr(a.payload, "kind", "")) for a in plan.actions if lane(a.kind) == "pages"
    ]


def _payload(action: Action, cls: type[P]) -> P:
    assert isinstance(action.payload, cls), action
    return action.payload


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
        (False, {}, "announced", ["post_parent"]),
        (True, {}, "announced", ["post_parent"]),
        (True, {"status": "Resolved"}, "adopted", []),
        # Logged after the fact: declared and resolved at once, the resolution announced.
        (
            False,
            {"status": "Resolved"},
            "announced",
            ["post_parent", "write_props", "post_reply", "update_parent"],
        ),
        (False, {"title": ""}, "waiting", []),
        # Announced before a lost state: its thread is read back before anything is done.
        (
            False,
            {"slack_thread": "https://x.slack.com/archives/C1/p1700000000000100"},
            "adopting",
            [],
        ),
        (
            True,
            {
                "slack_thread": "https://x.slack.com/archives/C1/p1700000000000100",
                "status": "Resolved",
            },
            "announced",
            [],
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
    assert [a.key for a in plan.actions] == [
        f"post_parent:{page}",
        f"create_timeline:{page}",
        f"timeline:{page}:declared",
    ]
    # The thread's link and the dates go on the row with the timeline page's link.
    assert plan.actions[1].payload == CreateTimeline(
        link=LinkThread(
            # Created in the minute T0 (as Notion rounds it), first seen a minute later.
            declared_at=T0 + timedelta(seconds=59, microseconds=999_000),
            next_update_due=NOW + timedelta(minutes=30),
        )
    )


def test_declared_at_set_by_people_is_kept() -> None:
    plan = _plan(None, declared_at=T0 - timedelta(hours=1))
    link = _payload(plan.actions[1], CreateTimeline).link
    assert link is not None
    assert link.declared_at is None


def test_an_incident_with_its_timeline_page_already_has_its_thread_linked_on_its_own() -> None:
    waiting = replace(_plan(None, title="").record, timeline_page_id="timeline-page")
    plan = _plan(waiting, title="DB down")
    assert _kinds(plan) == ["post_parent", "link_thread"]
    assert _pages(plan) == [("timeline_entry", "declared")]
    assert _payload(plan.actions[1], LinkThread).next_update_due == NOW + timedelta(minutes=30)


def test_an_incident_declared_resolved_shows_and_writes_no_update_as_due() -> None:
    plan = _plan(None, status="Resolved")
    parent = _payload(plan.actions[0], PostParent)
    create = _payload(plan.actions[1], CreateTimeline)
    assert parent.next_update_due is None
    assert create.link is not None
    assert create.link.next_update_due is None
    assert create.link.declared_at is not None


def test_an_untitled_row_is_declared_after_the_grace_period() -> None:
    waiting = _plan(None, title="").record
    later = NOW + timedelta(minutes=5)
    plan = plan_row(waiting, _incident(title=""), S, actor=None, now=later, first_run=False)
    assert _kinds(plan) == ["post_parent"]


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_an_untitled_row_waits_for_the_grace_period_then_is_announced_as_untitled(
    title: str,
) -> None:
    s = settings(DECLARE_GRACE="10m")
    incident = parse_incident(row(title=title), s)
    assert incident.title == ""
    # The grace runs from when the worker first saw the row (creation times are rounded).
    early = plan_row(None, incident, s, actor=None, now=T0 + timedelta(minutes=1), first_run=False)
    assert early.actions == ()
    assert early.record.phase == "waiting"
    still = plan_row(
        early.record, incident, s, actor=None, now=T0 + timedelta(minutes=10), first_run=False
    )
    assert still.actions == ()
    late = plan_row(
        early.record, incident, s, actor=None, now=T0 + timedelta(minutes=11), first_run=False
    )
    assert "post_parent" in [a.kind for a in late.actions]
    message = parent_message(incident, RenderContext(S, WORDS, lambda person: person.name))
    assert message.blocks[0]["text"]["text"] == "SEV2 · Untitled incident"
    assert validate_blocks(message.blocks) == []


def test_a_titled_waiting_row_is_declared() -> None:
    waiting = _plan(None, title="").record
    plan = _plan(waiting, title="DB down")
    assert _kinds(plan) == ["post_parent"]


def test_an_adopted_resolved_incident_is_declared_when_reopened() -> None:
    adopted = _plan(None, first_run=True, status="Resolved").record
    assert _kinds(_plan(adopted, status="Resolved", impact="edit")) == []
    assert _kinds(_plan(adopted, status="Investigating")) == ["post_parent"]


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
        assert _payload(replies[0], ChangesReply).broadcast is broadcast
    writes = [_payload(a, WriteProps) for a in plan.actions if a.kind == "write_props"]
    assert (set(writes[0].dates) if writes else None) == dates


def test_several_changes_in_one_poll_are_one_reply_with_the_actor() -> None:
    plan = _plan(_announced(), status="Identified", severity="SEV3", commander=[BEN])
    (reply,) = [a for a in plan.actions if a.kind == "post_reply"]
    assert reply.key == f"reply:{plan.record.page_id}:4:changes"
    changes = _payload(reply, ChangesReply)
    assert [c.key for c in changes.changes] == ["status", "severity", "commander"]
    assert changes.actor == ACTOR


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


def test_a_declaration_creates_the_timeline_with_a_first_entry() -> None:
    assert _pages(_plan(None)) == [("create_timeline", ""), ("timeline_entry", "declared")]


@pytest.mark.parametrize(
    ("before", "after", "pages"),
    [
        ({}, {"impact": "EU"}, [("timeline_entry", "change")]),
        ({}, {"severity": "SEV1"}, [("timeline_entry", "escalated")]),
        ({"status": "Identified"}, {"status": "Monitoring"}, [("timeline_entry", "mitigated")]),
        (
            {},
            {"status": "Identified", "status_update": "Found it"},
            [("timeline_entry", "change"), ("timeline_entry", "status_update")],
        ),
        (
            {"status": "Monitoring"},
            {"status": "Resolved"},
            [("timeline_entry", "resolved"), ("create_postmortem", "")],
        ),
        ({}, {"declared_at": T0}, []),
    ],
)
def test_timeline_entries_and_the_postmortem(
    before: dict[str, Any], after: dict[str, Any], pages: list[tuple[str, str]]
) -> None:
    assert _pages(_plan(_announced(**before), **after)) == pages


def test_timeline_entries_say_what_changed_and_who() -> None:
    plan = _plan(_announced(), status="Identified", commander=[BEN])
    (entry,) = [a for a in plan.actions if a.kind == "timeline_entry"]
    payload = _payload(entry, AppendTimelineEntry)
    assert payload.text == "Status: Investigating → Identified; Commander: — → Ben Carter"
    assert payload.actor == ACTOR


def test_the_postmortem_key_is_the_same_after_a_reopening() -> None:
    resolved = _plan(_announced(status="Monitoring"), status="Resolved")
    reopened = _plan(resolved.record, status="Investigating")
    again = _plan(reopened.record, status="Resolved")
    keys = [a.key for p in (resolved, again) for a in p.actions if a.kind == "create_postmortem"]
    assert len(keys) == 2
    assert keys[0] == keys[1]  # the outbox records it once


def test_pages_are_adopted_from_the_row_links() -> None:
    timeline = "https://app.notion.com/p/Timeline-0123456789abcdef0123456789abcdef"
    raw = row(slack_thread="https://x.slack.com/archives/C1/p1700000000000100")
    raw["properties"]["Timeline"]["url"] = timeline
    plan = plan_row(None, parse_incident(raw, S), S, actor=None, now=NOW, first_run=False)
    assert plan.record.timeline_page_id == "01234567-89ab-cdef-0123-456789abcdef"
    assert plan.record.postmortem_page_id is None


# --- issue 11: rows on a bad day ----------------------------------------------------------

MINUTE = T0.replace(second=0)


@pytest.mark.parametrize(
    ("notion", "now", "seen"),
    [
        # Notion's minute, seen 20 s into it: then.
        (MINUTE, MINUTE + timedelta(seconds=20), MINUTE + timedelta(seconds=20)),
        # Seen a poll late, in a later minute: the end of Notion's minute.
        (MINUTE, MINUTE + timedelta(minutes=5), MINUTE + timedelta(seconds=59.999)),
        # A clock behind Notion's, or a time with seconds (not rounded): Notion's.
        (MINUTE, MINUTE - timedelta(seconds=5), MINUTE),
        (
            MINUTE + timedelta(seconds=7),
            MINUTE + timedelta(seconds=30),
            MINUTE + timedelta(seconds=7),
        ),
    ],
)
def test_observed_times(notion: datetime, now: datetime, seen: datetime) -> None:
    assert observed(notion, now) == seen


def test_a_copied_row_is_a_new_incident_that_replaces_the_copied_links() -> None:
    raw = row(slack_thread="https://x.slack.com/archives/C1/p1700000000000100")
    raw["properties"]["Timeline"]["url"] = (
        "https://app.notion.com/p/T-0123456789abcdef0123456789abcdef"
    )
    copy = parse_incident(raw, S)
    plan = plan_row(None, copy, S, actor=None, now=NOW, first_run=False, copied=True)
    assert plan.record.phase == "announced"
    assert plan.record.thread_ts is None
    assert plan.record.timeline_page_id is None
    assert plan.record.snapshot.slack_thread is None  # not shown in its parent message
    create = _payload(next(a for a in plan.actions if a.kind == "create_timeline"), CreateTimeline)
    assert create.link is not None
    assert create.link.clear == ("timeline",)


def test_a_reopening_restarts_the_clock_is_broadcast_and_clears_resolved_at() -> None:
    resolved = _announced(status="Resolved", resolved_at=T0)
    record = replace(resolved, last_update_at=T0, postmortem_page_id="pm")
    plan = _plan(record, status="Investigating", resolved_at=T0)
    assert plan.record.last_update_at == NOW
    reply = _payload(next(a for a in plan.actions if a.kind == "post_reply"), ChangesReply)
    assert reply.flags == ("reopened",)
    assert reply.broadcast is True
    assert reply.clock_at == NOW
    write = next(a for a in plan.actions if a.kind == "write_props")
    assert _payload(write, WriteProps).clear == ("resolved_at",)
    note = next(a for a in plan.actions if a.kind == "postmortem_note")
    assert _payload(note, AppendPostmortemNote).kind == "reopened"


def test_a_resolution_is_announced_even_when_status_is_not_mirrored() -> None:
    s = settings(MIRRORED_PROPERTIES="Name,Severity")
    before = IncidentRecord(
        page_id=row()["id"],
        snapshot=parse_incident(row(status="Monitoring"), s),
        phase="announced",
        thread_ts="1.2",
    )
    after = parse_incident(row(status="Resolved", edited=NOW), s)
    plan = plan_row(before, after, s, actor=ACTOR, now=NOW, first_run=False)
    reply = _payload(next(a for a in plan.actions if a.kind == "post_reply"), ChangesReply)
    assert reply.flags == ("resolved",)
    assert reply.changes == ()


def test_the_trash_is_said_and_nothing_is_written_to_the_row() -> None:
    raw = row(edited=NOW)
    raw["in_trash"] = True
    plan = plan_row(_announced(), parse_incident(raw, S), S, actor=ACTOR, now=NOW, first_run=False)
    assert [a.payload for a in plan.actions] == [
        TrashedReply(at=NOW, actor=ACTOR),
        UpdateParent(),
    ]
    restored = plan_row(plan.record, _incident(edited=NOW), S, actor=None, now=NOW, first_run=False)
    reply = next(a for a in restored.actions if a.kind == "post_reply")
    assert _payload(reply, ChangesReply).flags == ("restored",)
    assert restored.record.last_update_at == NOW  # reminders count from the restore


THREAD = "https://x.slack.com/archives/C1/p1700000000000100"


def test_a_cleared_thread_link_is_set_back_once_per_edit() -> None:
    record = replace(_announced(slack_thread=THREAD), permalink=THREAD)
    cleared = _incident(slack_thread=None, edited=NOW, next_update_due=DUE)
    plan = plan_row(record, cleared, S, actor=ACTOR, now=NOW, first_run=False)
    write, note = plan.actions
    assert write.payload == WriteProps(links={"slack_thread": THREAD})
    assert note.payload == LinksRestoredReply(keys=("slack_thread",))
    assert plan.record.snapshot.slack_thread == THREAD  # the worker's own link, kept
    again = plan_row(record, cleared, S, actor=ACTOR, now=NOW, first_run=False)
    assert [a.key for a in again.actions] == [a.key for a in plan.actions]  # same edit, same keys


def test_a_link_on_its_way_is_not_taken_for_someones_edit() -> None:
    """The thread is posted but the link not yet written: the row has none, and that is fine."""
    record = replace(_announced(), permalink=THREAD)
    plan = plan_row(record, _incident(next_update_due=DUE), S, actor=None, now=NOW, first_run=False)
    assert plan.actions == ()


def test_a_renamed_link_property_is_not_a_cleared_link_and_gets_no_write() -> None:
    record = replace(_announced(slack_thread=THREAD), permalink=THREAD)
    renamed = _incident(slack_thread=None, edited=NOW, next_update_due=DUE, status="Identified")
    renamed = replace(renamed, unreadable=("slack_thread", "next_update_due"))
    plan = plan_row(record, renamed, S, actor=ACTOR, now=NOW, first_run=False)
    assert "write_props" not in _kinds(plan)  # nothing to write to until it is back
    assert [type(a.payload) for a in plan.actions if a.kind == "post_reply"] == [ChangesReply]


def test_no_second_postmortem_when_the_row_already_links_one() -> None:
    record = replace(_announced(status="Monitoring"), postmortem_page_id="pm")
    plan = _plan(record, status="Resolved")
    assert "create_postmortem" not in [a.kind for a in plan.actions]
    notes = [_payload(a, AppendPostmortemNote) for a in plan.actions if a.kind == "postmortem_note"]
    assert [n.kind for n in notes] == ["resolved_again"]


def test_the_parent_says_when_the_update_clock_started() -> None:
    parent = _plan(None).actions[0]
    assert _payload(parent, PostParent).clock_at == NOW


@pytest.mark.parametrize(
    ("fields", "looks"),
    [
        ({}, False),  # a new database's first run: nothing posted before, nothing to look for
        ({"declared_at": T0}, True),  # the worker's dates on it: it may have been announced
    ],
)
def test_a_first_run_looks_for_an_earlier_parent_only_where_the_worker_worked(
    fields: dict[str, Any], looks: bool
) -> None:
    parent = _plan(None, first_run=True, next_update_due=None, **fields).actions[0]
    assert (_payload(parent, PostParent).look_since is not None) is looks
