"""Actions: what the outbox stored reads back as what was planned — today's shapes, older
versions' shapes, any payload at all (hypothesis) — and what cannot be read holds up nothing."""

from __future__ import annotations

import json
from datetime import UTC, timedelta, timezone
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import BEN, T0
from worker.actions import (
    REPLY_TYPES,
    ActionKind,
    AppendPostmortemNote,
    AppendTimelineEntry,
    ChangesReply,
    CreatePostmortem,
    CreateTimeline,
    LinksRestoredReply,
    LinkThread,
    PageTrashedReply,
    Payload,
    PayloadError,
    PostmortemReply,
    PostNotice,
    PostNudge,
    PostParent,
    ProblemReply,
    ReadNote,
    RefusedReply,
    SnoozedReply,
    StatusUpdateReply,
    SyncNote,
    TrashedReply,
    Unreadable,
    UpdateParent,
    ValueProblemReply,
    WriteFromSlack,
    WriteProps,
    decode,
    encode,
    expect,
    from_json,
    to_json,
)
from worker.diff import Change
from worker.nag import NudgeKind
from worker.pages.context import EntryKind
from worker.plan import channel_notice
from worker.snapshot import Person, Value

ACTOR = Person(BEN["id"], "Ben Carter", BEN["email"])
ACTOR_JSON = (
    '{"id": "33333333-3333-4333-8333-333333333333", "name": "Ben Carter", '
    '"email": "ben@example.com", "is_bot": false}'
)
# Someone who acted from Slack: known to Notion, or only to Slack.
ACTOR_FROM_SLACK = Person(BEN["id"], "Ben Carter", BEN["email"], slack_id="U0BEN")
FROM_SLACK = Person("slack:U0BEN", "Ben Carter", slack_id="U0BEN")
SEEN = T0 + timedelta(minutes=1)
DECLARED = T0 + timedelta(seconds=59, microseconds=999_000)  # the end of Notion's minute
DUE = T0 + timedelta(minutes=31)

# What the worker wrote before payloads were typed (its planner's output, copied verbatim),
# one of each kind and reply, and the payload each must read back as.
TODAY: list[tuple[str, str, Payload]] = [
    (
        "post_parent",
        '{"declared_at": "2026-11-28T09:00:59.999000+00:00", "next_update_due": '
        '"2026-11-28T09:31:00+00:00", "clock_at": "2026-11-28T09:01:00+00:00"}',
        PostParent(declared_at=DECLARED, next_update_due=DUE, clock_at=SEEN),
    ),
    (
        "post_parent",
        '{"declared_at": "2026-11-28T09:00:00+00:00", "next_update_due": null, '
        '"clock_at": "2026-11-28T09:01:00+00:00", "look_since": "2026-11-28T09:00:00+00:00"}',
        PostParent(declared_at=T0, clock_at=SEEN, look_since=T0),
    ),
    (
        "link_thread",
        '{"declared_at": null, "next_update_due": "2026-11-28T09:31:00+00:00"}',
        LinkThread(next_update_due=DUE),
    ),
    (
        "link_thread",
        '{"declared_at": "2026-11-28T09:00:59.999000+00:00", "next_update_due": '
        '"2026-11-28T09:31:00+00:00", "clear": ["timeline"]}',
        LinkThread(declared_at=DECLARED, next_update_due=DUE, clear=("timeline",)),
    ),
    ("update_parent", "{}", UpdateParent()),
    (
        "write_props",
        '{"dates": {"resolved_at": "2026-11-28T09:01:00+00:00", "mitigated_at": '
        '"2026-11-28T09:01:00+00:00", "next_update_due": null}}',
        WriteProps(dates={"resolved_at": SEEN, "mitigated_at": SEEN, "next_update_due": None}),
    ),
    (
        "write_props",
        '{"dates": {"next_update_due": "2026-11-28T09:31:00+00:00"}, "clear": ["resolved_at"]}',
        WriteProps(dates={"next_update_due": DUE}, clear=("resolved_at",)),
    ),
    (
        "write_props",
        '{"links": {"slack_thread": "https://x.slack.com/archives/C1/p1700000000000100"}}',
        WriteProps(links={"slack_thread": "https://x.slack.com/archives/C1/p1700000000000100"}),
    ),
    (
        "post_nudge",
        '{"kind": "update_overdue", "first": true, "overdue_by_s": 123.5, "due_at": '
        '"2026-11-28T09:30:00+00:00", "last_update_at": "2026-11-28T09:00:00+00:00", '
        f'"mention": [{ACTOR_JSON}], "mention_group": null, "broadcast": false}}',
        PostNudge(
            kind="update_overdue",
            first=True,
            overdue_by_s=123.5,
            due_at=T0 + timedelta(minutes=30),
            last_update_at=T0,
            mention=(ACTOR,),
        ),
    ),
    (
        "post_nudge",
        '{"kind": "escalation", "first": false, "overdue_by_s": 0.0, "due_at": '
        '"2026-11-28T09:30:00+00:00", "last_update_at": "2026-11-28T09:00:00+00:00", '
        '"mention": [], "mention_group": "S0ONCALL", "broadcast": true}',
        PostNudge(
            kind="escalation",
            overdue_by_s=0.0,
            due_at=T0 + timedelta(minutes=30),
            last_update_at=T0,
            mention_group="S0ONCALL",
            broadcast=True,
        ),
    ),
    ("create_timeline", "{}", CreateTimeline()),
    ("create_timeline", '{"look_first": true}', CreateTimeline(look_first=True)),
    (
        "timeline_entry",
        '{"at": "2026-11-28T09:00:59.999000+00:00", "kind": "declared", "text": "", "actor": null}',
        AppendTimelineEntry(at=DECLARED, kind="declared"),
    ),
    (
        "timeline_entry",
        '{"at": "2026-11-28T09:01:00+00:00", "kind": "change", "text": "Status: '
        f'Investigating → Identified", "actor": {ACTOR_JSON}}}',
        AppendTimelineEntry(
            at=SEEN, kind="change", text="Status: Investigating → Identified", actor=ACTOR
        ),
    ),
    (
        "create_postmortem",
        '{"resolved_at": "2026-11-28T09:01:00+00:00", "mitigated_at": "2026-11-28T09:01:00+00:00"}',
        CreatePostmortem(mitigated_at=SEEN, resolved_at=SEEN),
    ),
    ("create_postmortem", "{}", CreatePostmortem()),
    (
        "postmortem_note",
        '{"at": "2026-11-28T09:01:00+00:00", "kind": "reopened", "status": "Investigating"}',
        AppendPostmortemNote(at=SEEN, kind="reopened", status="Investigating"),
    ),
    ("post_notice", '{"type": "schema_fits"}', PostNotice("schema_fits")),
    (
        "read_note",
        '{"channel": "C0INCIDENTS", "ts": "1764668000.000200"}',
        ReadNote("C0INCIDENTS", "1764668000.000200"),
    ),
    (
        "timeline_note",
        '{"channel": "C0INCIDENTS", "ts": "1764668000.000200"}',
        SyncNote("C0INCIDENTS", "1764668000.000200"),
    ),
    (
        "timeline_note",
        '{"channel": "C0INCIDENTS", "ts": "1764668000.000200", "look_first": true}',
        SyncNote("C0INCIDENTS", "1764668000.000200", look_first=True),
    ),
    (
        "read_note",
        '{"channel": "C0INCIDENTS", "ts": "1764668000.000200", "look_first": true}',
        ReadNote("C0INCIDENTS", "1764668000.000200", look_first=True),
    ),
    (
        "post_notice",
        '{"type": "schema_broken", "problems": ["property “Severity”: gone", "b"]}',
        PostNotice("schema_broken", ("property “Severity”: gone", "b")),
    ),
    (
        "post_reply",
        '{"type": "changes", "changes": [{"key": "status", "old": {"text": "", "people": [], '
        '"is_people": false, "unknown": false}, "new": {"text": "Resolved", "people": [], '
        '"is_people": false, "unknown": false}}, {"key": "commander", "old": {"text": "", '
        '"people": [], "is_people": true, "unknown": false}, "new": {"text": "Ben Carter", '
        f'"people": [{ACTOR_JSON}], "is_people": true, "unknown": false}}}}], "actor": null, '
        '"at": "2026-11-28T09:01:00+00:00", "flags": ["resolved"], "escalated_to": null, '
        '"broadcast": true}',
        ChangesReply(
            at=SEEN,
            changes=(
                Change("status", Value(), Value("Resolved")),
                Change(
                    "commander",
                    Value(is_people=True),
                    Value("Ben Carter", people=(ACTOR,), is_people=True),
                ),
            ),
            flags=("resolved",),
            broadcast=True,
        ),
    ),
    (
        "post_reply",
        '{"type": "changes", "changes": [], "actor": null, "at": "2026-11-28T09:01:00+00:00", '
        '"flags": ["reopened"], "escalated_to": "SEV1", "broadcast": true, '
        '"clock_at": "2026-11-28T09:01:00+00:00"}',
        ChangesReply(
            at=SEEN, flags=("reopened",), escalated_to="SEV1", broadcast=True, clock_at=SEEN
        ),
    ),
    (
        "post_reply",
        '{"type": "status_update", "text": "Mitigation in place 日本語 <!channel>", '
        f'"actor": {ACTOR_JSON}, "at": "2026-11-28T09:01:00+00:00", '
        '"clock_at": "2026-11-28T09:01:00+00:00"}',
        StatusUpdateReply(
            text="Mitigation in place 日本語 <!channel>", at=SEEN, actor=ACTOR, clock_at=SEEN
        ),
    ),
    (
        "post_reply",
        f'{{"type": "trashed", "actor": {ACTOR_JSON}, "at": "2026-11-28T09:01:00+00:00"}}',
        TrashedReply(at=SEEN, actor=ACTOR),
    ),
    (
        "post_reply",
        '{"type": "links_restored", "keys": ["slack_thread"]}',
        LinksRestoredReply(keys=("slack_thread",)),
    ),
    (
        "post_reply",
        '{"type": "problem", "what": "create_timeline", "error": "template: 日本語 <x>"}',
        ProblemReply(what="create_timeline", error="template: 日本語 <x>"),
    ),
    (
        "post_reply",
        '{"type": "refused", "what": "parent", "error": "invalid_blocks"}',
        RefusedReply(what="parent", error="invalid_blocks"),
    ),
    (
        "post_reply",
        '{"type": "page_trashed", "what": "timeline", "page": "pg-1"}',
        PageTrashedReply(what="timeline", page="pg-1"),
    ),
    (
        "post_reply",
        '{"type": "value_problem", "problem": "property “Status”: no option \'Closed\'"}',
        ValueProblemReply(problem="property “Status”: no option 'Closed'"),
    ),
    (
        "post_reply",
        '{"type": "postmortem", "url": "https://www.notion.so/pm", "due": '
        '"2026-12-05T09:01:00+00:00"}',
        PostmortemReply(url="https://www.notion.so/pm", due=SEEN + timedelta(days=7)),
    ),
    (
        "post_reply",
        '{"type": "postmortem", "url": "https://www.notion.so/pm", "due": null}',
        PostmortemReply(url="https://www.notion.so/pm"),
    ),
    (
        "post_reply",
        '{"type": "snoozed", "by": {"id": "slack:U0BEN", "name": "Ben Carter", "email": null, '
        '"is_bot": false, "slack_id": "U0BEN"}, "minutes": 30, '
        '"until": "2026-11-28T09:31:00+00:00"}',
        SnoozedReply(by=FROM_SLACK, minutes=30, until=DUE),
    ),
    (
        "write_from_slack",
        '{"by": {"id": "slack:U0BEN", "name": "Ben Carter", "email": null, "is_bot": false, '
        '"slack_id": "U0BEN"}, "at": "2026-11-28T09:01:00+00:00", "status_update": "Rolled back"}',
        WriteFromSlack(by=FROM_SLACK, at=SEEN, status_update="Rolled back"),
    ),
    (
        "write_from_slack",
        '{"by": {"id": "33333333-3333-4333-8333-333333333333", "name": "Ben Carter", '
        '"email": "ben@example.com", "is_bot": false, "slack_id": "U0BEN"}, '
        '"at": "2026-11-28T09:01:00+00:00", "take_command": true}',
        WriteFromSlack(by=ACTOR_FROM_SLACK, at=SEEN, take_command=True),
    ),
]


def _id(case: tuple[str, str, Payload]) -> str:
    return type(case[2]).__name__


@pytest.mark.parametrize(("kind", "stored", "payload"), TODAY, ids=[_id(c) for c in TODAY])
def test_what_the_worker_stores_today_reads_back_and_is_written_the_same(
    kind: str, stored: str, payload: Payload
) -> None:
    assert from_json(kind, stored) == payload
    assert payload.action_kind == kind
    # The same JSON (key order aside): an upgrade changes nothing in the outbox.
    assert json.loads(to_json(payload)) == json.loads(stored)


def test_every_kind_and_every_reply_is_in_the_table() -> None:
    assert {kind for kind, _, _ in TODAY} == set(get_args(ActionKind))
    assert {type(p) for _, _, p in TODAY} == set(get_args(Payload))
    assert set(REPLY_TYPES) <= set(get_args(Payload))


# Shapes written by earlier versions (git log -S of each key): a field they did not write
# yet reads as the default, which is what every reader took its absence for.
OLDER: list[tuple[str, str, Payload]] = [
    # Before the parent showed the times from the start (and before its clock): {}.
    ("post_parent", "{}", PostParent()),
    (
        "post_parent",
        '{"declared_at": "2026-11-28T09:00:00+00:00", "next_update_due": '
        '"2026-11-28T09:31:00+00:00"}',
        PostParent(declared_at=T0, next_update_due=DUE),
    ),
    # Before Next update due was written with the thread link.
    (
        "link_thread",
        '{"declared_at": "2026-11-28T09:00:00+00:00"}',
        LinkThread(declared_at=T0),
    ),
    # Reminders queued before `first`, then before `mention_group`, existed.
    (
        "post_nudge",
        '{"kind": "escalation", "overdue_by_s": 60, "due_at": "2026-11-28T09:30:00+00:00", '
        '"last_update_at": "2026-11-28T09:00:00+00:00", "mention": [], "broadcast": true}',
        PostNudge(
            kind="escalation",
            overdue_by_s=60.0,
            due_at=T0 + timedelta(minutes=30),
            last_update_at=T0,
            broadcast=True,
        ),
    ),
    (
        "post_nudge",
        '{"kind": "no_commander", "first": false, "overdue_by_s": 0.0, "due_at": '
        '"2026-11-28T09:30:00+00:00", "last_update_at": "2026-11-28T09:00:00+00:00", '
        '"mention": [{"id": "p1", "name": "Aiko", "email": null}], "broadcast": false}',
        PostNudge(
            kind="no_commander",
            overdue_by_s=0.0,
            due_at=T0 + timedelta(minutes=30),
            last_update_at=T0,
            mention=(Person("p1", "Aiko"),),
        ),
    ),
    # Status updates queued before the reply said when it restarted the update clock.
    (
        "post_reply",
        '{"type": "status_update", "text": "Rolled back", "actor": null, '
        '"at": "2026-11-28T09:01:00+00:00"}',
        StatusUpdateReply(text="Rolled back", at=SEEN),
    ),
    # Changes queued before values knew `unknown` (and a person shown without is_bot).
    (
        "post_reply",
        '{"type": "changes", "changes": [{"key": "severity", "old": {"text": "SEV3", '
        '"people": [], "is_people": false}, "new": {"text": "SEV1", "people": [], '
        '"is_people": false}}], "actor": {"id": "p1", "name": "Aiko", "email": null}, '
        '"at": "2026-11-28T09:01:00+00:00", "flags": [], "escalated_to": "SEV1", '
        '"broadcast": true}',
        ChangesReply(
            at=SEEN,
            changes=(Change("severity", Value("SEV3"), Value("SEV1")),),
            actor=Person("p1", "Aiko"),
            escalated_to="SEV1",
            broadcast=True,
        ),
    ),
]


@pytest.mark.parametrize(("kind", "stored", "payload"), OLDER, ids=[_id(c) for c in OLDER])
def test_what_earlier_versions_stored_still_reads(kind: str, stored: str, payload: Payload) -> None:
    assert from_json(kind, stored) == payload


@pytest.mark.parametrize(
    ("kind", "stored", "why"),
    [
        ("post_carrier_pigeon", "{}", "no such action: 'post_carrier_pigeon'"),
        ("post_reply", '{"type": "haiku"}', "no such reply: 'haiku'"),
        ("post_reply", '{"what": "row", "error": "x"}', "'type' is not a string"),
        ("timeline_entry", '{"kind": "note"}', "'at' is not a string: None"),
        ("timeline_entry", '{"at": "yesterday", "kind": "note"}', "not an ISO time"),
        ("timeline_entry", '{"at": "2026-11-28T09:00:00", "kind": "poem"}', "'kind' is not one"),
        ("post_nudge", '{"kind": "update_overdue"}', "'overdue_by_s' is not a number"),
        ("write_props", '{"dates": ["resolved_at"]}', "'dates' is not an object"),
        ("update_parent", "[]", "a JSON object expected"),
        ("update_parent", "{", "Expecting property name"),
    ],
)
def test_what_cannot_be_read_is_unreadable_and_says_why(kind: str, stored: str, why: str) -> None:
    payload = from_json(kind, stored)
    assert isinstance(payload, Unreadable)
    assert payload.kind == kind
    assert why in payload.error
    with pytest.raises(PayloadError, match="cannot be read"):
        expect(payload, PostParent)


def test_a_handler_refuses_another_kinds_payload() -> None:
    with pytest.raises(TypeError, match="UpdateParent"):
        expect(UpdateParent(), PostParent)
    assert expect(TrashedReply(at=T0), REPLY_TYPES) == TrashedReply(at=T0)


def test_notice_keys_are_those_of_the_untyped_payloads() -> None:
    """A notice's key hashes its content: typing it must not make it say the same again."""
    fits = channel_notice("schema", 3, PostNotice("schema_fits"))
    broken = channel_notice(
        "schema", 3, PostNotice("schema_broken", ("property “Severity”: gone", "b"))
    )
    assert (fits.key, broken.key) == (
        "notice:schema:3:3a9ceaf8050e",
        "notice:schema:3:1775dc199281",
    )


# --- any payload survives its codec (hypothesis) ------------------------------------------

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=3.5))])
times = st.datetimes(timezones=ZONES)
texts = st.text(max_size=20)
text_tuples = st.lists(texts, max_size=3).map(tuple)
people = st.builds(
    Person,
    id=texts,
    name=texts,
    email=st.none() | texts,
    is_bot=st.booleans(),
    slack_id=st.none() | texts,
)
people_tuples = st.lists(people, max_size=3).map(tuple)
values = st.builds(
    Value, text=texts, people=people_tuples, is_people=st.booleans(), unknown=st.booleans()
)
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6)

STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    PostParent: st.builds(
        PostParent,
        declared_at=st.none() | times,
        next_update_due=st.none() | times,
        clock_at=st.none() | times,
        look_since=st.none() | times,
    ),
    LinkThread: st.builds(
        LinkThread,
        declared_at=st.none() | times,
        next_update_due=st.none() | times,
        clear=text_tuples,
    ),
    UpdateParent: st.just(UpdateParent()),
    WriteProps: st.builds(
        WriteProps,
        dates=st.dictionaries(texts, st.none() | times, max_size=3),
        links=st.dictionaries(texts, texts, max_size=3),
        clear=text_tuples,
    ),
    PostNudge: st.builds(
        PostNudge,
        kind=st.sampled_from(get_args(NudgeKind)),
        overdue_by_s=numbers,
        due_at=times,
        last_update_at=times,
        first=st.booleans(),
        mention=people_tuples,
        mention_group=st.none() | texts,
        broadcast=st.booleans(),
    ),
    CreateTimeline: st.builds(
        CreateTimeline,
        look_first=st.booleans(),
        link=st.none()
        | st.builds(
            LinkThread,
            declared_at=st.none() | times,
            next_update_due=st.none() | times,
            clear=text_tuples,
        ),
    ),
    AppendTimelineEntry: st.builds(
        AppendTimelineEntry,
        at=times,
        kind=st.sampled_from(get_args(EntryKind)),
        text=texts,
        actor=st.none() | people,
    ),
    CreatePostmortem: st.builds(
        CreatePostmortem, mitigated_at=st.none() | times, resolved_at=st.none() | times
    ),
    AppendPostmortemNote: st.builds(AppendPostmortemNote, at=times, kind=texts, status=texts),
    PostNotice: st.builds(PostNotice, type=texts, problems=text_tuples),
    ReadNote: st.builds(ReadNote, channel=texts, ts=texts, look_first=st.booleans()),
    SyncNote: st.builds(SyncNote, channel=texts, ts=texts, look_first=st.booleans()),
    ChangesReply: st.builds(
        ChangesReply,
        at=times,
        changes=st.lists(st.builds(Change, key=texts, old=values, new=values), max_size=3).map(
            tuple
        ),
        actor=st.none() | people,
        flags=text_tuples,
        escalated_to=st.none() | texts,
        broadcast=st.booleans(),
        clock_at=st.none() | times,
    ),
    StatusUpdateReply: st.builds(
        StatusUpdateReply,
        text=texts,
        at=times,
        actor=st.none() | people,
        clock_at=st.none() | times,
    ),
    TrashedReply: st.builds(TrashedReply, at=times, actor=st.none() | people),
    LinksRestoredReply: st.builds(LinksRestoredReply, keys=text_tuples),
    ProblemReply: st.builds(ProblemReply, what=texts, error=texts),
    RefusedReply: st.builds(RefusedReply, what=texts, error=texts),
    PageTrashedReply: st.builds(PageTrashedReply, what=texts, page=texts),
    ValueProblemReply: st.builds(ValueProblemReply, problem=texts),
    PostmortemReply: st.builds(PostmortemReply, url=texts, due=st.none() | times),
    SnoozedReply: st.builds(SnoozedReply, by=people, minutes=st.integers(1, 10**4), until=times),
    WriteFromSlack: st.builds(
        WriteFromSlack,
        by=people,
        at=times,
        status_update=st.none() | texts,
        take_command=st.booleans(),
    ),
}


def test_every_payload_class_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(get_args(Payload))


@given(st.one_of(*STRATEGIES.values()))
def test_any_payload_reads_back_as_it_was_written(payload: Payload) -> None:
    assert decode(payload.action_kind, encode(payload)) == payload
    assert from_json(payload.action_kind, to_json(payload)) == payload


def test_a_thread_link_writes_what_it_knows_and_clears_only_links_not_the_incidents_own() -> None:
    link = LinkThread(declared_at=DECLARED, next_update_due=DUE, clear=("timeline", "postmortem"))
    thread = "https://x.slack.com/archives/C1/p1700000000000100"
    assert link.values(thread, {"timeline": "its-own-page", "postmortem": None}) == {
        "slack_thread": thread,
        "declared_at": DECLARED.isoformat(),
        "next_update_due": DUE.isoformat(),
        "postmortem": None,  # another row's, copied along
    }
    # No thread yet: the dates alone; nothing to clear, nothing else.
    assert LinkThread(next_update_due=DUE).values(None, {}) == {"next_update_due": DUE.isoformat()}
