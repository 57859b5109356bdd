"""Thread notes: each event changes one facet of a message's facts, late or repeated events change
nothing, and whether the timeline shows, strikes or leaves out the message follows the facts."""

from __future__ import annotations

from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.thread_notes import (
    Capture,
    Deleted,
    Known,
    NoteEvent,
    NoteFile,
    Pinned,
    Posted,
    Reacted,
    ReadBack,
    Shortcut,
    SlackPerson,
    ThreadNote,
    apply,
    entry_state,
    note_from_json,
    note_to_json,
    posted,
    reaction_name,
    read_back,
    slack_time,
    wanted,
    worth_planning,
)

NOTE = ThreadNote(
    page_id="aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
    channel="C0INCIDENTS",
    ts="1764668000.000200",
    thread_ts="1764667000.000100",
)
WRITTEN = Posted(text="Failover done", user="U01ANN", at="1764668000.000200")


def facts(*events: NoteEvent, start: ThreadNote = NOTE) -> ThreadNote:
    return reduce(apply, events, start)


def test_an_edit_replaces_the_text_and_a_late_original_does_not_bring_it_back() -> None:
    edit = Posted(text="Failover done (eu-west)", user="U01ANN", at="1764668050.000000")
    assert facts(WRITTEN, edit).text == "Failover done (eu-west)"
    assert facts(edit, WRITTEN).text == "Failover done (eu-west)"


def test_an_unpin_older_than_the_pin_held_changes_nothing() -> None:
    pin = Pinned(on=True, at="1764668100.000000")
    old_unpin = Pinned(on=False, at="1764668099.000000")
    assert facts(pin, old_unpin).pinned
    assert not facts(pin, Pinned(on=False, at="1764668101.000000")).pinned


def test_reactions_are_per_person() -> None:
    note = facts(
        Reacted("U01ANN", on=True, at="1764668100.000000"),
        Reacted("U02BOB", on=True, at="1764668101.000000"),
        Reacted("U01ANN", on=False, at="1764668102.000000"),
    )
    assert note.reactors == ("U02BOB",)


def test_a_read_back_says_how_things_were_then_and_later_events_still_count() -> None:
    earlier = Reacted("U01ANN", on=True, at="1764668100.000000")
    read = ReadBack(pinned=True, reactors=("U02BOB",), at="1764668200.000000")
    note = facts(earlier, read)
    assert (note.pinned, note.reactors) == (True, ("U02BOB",))  # Ann's 📌 was gone by then
    later = Pinned(on=False, at="1764668300.000000")
    assert not facts(earlier, read, later).pinned
    assert facts(read, Pinned(on=False, at="1764668150.000000")).pinned  # older than the read


def test_the_same_person_using_the_shortcut_twice_counts_once() -> None:
    assert facts(Shortcut("U01ANN"), Shortcut("U01ANN")).shortcut_by == ("U01ANN",)


@pytest.mark.parametrize(
    ("events", "capture", "expected"),
    [
        pytest.param((WRITTEN,), "pinned", "absent", id="written, not pinned"),
        pytest.param((WRITTEN, Pinned(True, "2")), "pinned", "shown", id="pinned"),
        pytest.param((WRITTEN, Reacted("U1", True, "2")), "pinned", "shown", id="a pushpin"),
        pytest.param((WRITTEN, Shortcut("U1")), "pinned", "shown", id="the shortcut"),
        pytest.param((WRITTEN,), "all", "shown", id="capture all: every message"),
        pytest.param(
            (Posted("deploy bot says hi", None, "1", bot=True),), "all", "absent", id="not bots"
        ),
        pytest.param((WRITTEN, Pinned(True, "2")), "off", "absent", id="off: pins do nothing"),
        pytest.param((WRITTEN, Shortcut("U1")), "off", "shown", id="off: the shortcut does"),
        pytest.param((WRITTEN, Shortcut("U1"), Deleted()), "all", "absent", id="deleted"),
    ],
)
def test_what_the_timeline_shows(
    events: tuple[NoteEvent, ...], capture: Capture, expected: str
) -> None:
    assert entry_state(facts(*events), capture) == expected
    assert wanted(facts(*events), capture) == (expected == "shown")


def test_a_message_with_an_entry_no_longer_wanted_is_struck_through() -> None:
    made = facts(WRITTEN, Pinned(True, "2"), start=NOTE)
    made = ThreadNote(**{**made.__dict__, "entry_blocks": ("b1",)})
    assert entry_state(facts(Pinned(False, "3"), start=made), "pinned") == "struck"
    assert entry_state(facts(Deleted(), start=made), "pinned") == "struck"


@pytest.mark.parametrize(
    ("before", "events", "expected"),
    [
        pytest.param(None, (WRITTEN,), False, id="a message nobody pinned: no work"),
        pytest.param(None, (WRITTEN, Pinned(True, "2")), True, id="pinned: work"),
        pytest.param((WRITTEN, Pinned(True, "2")), (Pinned(True, "2"),), False, id="again"),
        pytest.param((WRITTEN, Pinned(True, "2")), (Pinned(False, "3"),), True, id="unpinned"),
        pytest.param(
            (WRITTEN, Pinned(True, "2")),
            (Posted("Failover done!", "U01ANN", "1764668099.000000"),),
            True,
            id="an edit of a pinned message",
        ),
        pytest.param(
            (WRITTEN,), (Posted("typo", "U01ANN", "1764668099.0"),), False, id="an edit, unpinned"
        ),
    ],
)
def test_worth_planning(
    before: tuple[NoteEvent, ...] | None, events: tuple[NoteEvent, ...], expected: bool
) -> None:
    old = facts(*before) if before is not None else None
    new = facts(*events, start=old or NOTE)
    assert worth_planning(old, new, "pinned") is expected


def test_what_must_be_read_from_slack_first() -> None:
    assert not facts(Pinned(True, "2")).complete  # no text yet
    mentions = Posted("ask <@U02BOB> and <@U03CAT|cat>", "U01ANN", "1")
    assert facts(mentions).unknown_people() == ("U01ANN", "U02BOB", "U03CAT")
    known = Known({u: SlackPerson(u.lower()) for u in ("U01ANN", "U02BOB", "U03CAT")})
    assert facts(mentions, known).complete


def test_slack_message_objects_read_as_events() -> None:
    message = {
        "ts": "1764668000.000200",
        "thread_ts": "1764667000.000100",
        "user": "U01ANN",
        "text": "see the graph",
        "edited": {"user": "U01ANN", "ts": "1764668010.000000"},
        "files": [
            {"name": "graph.png", "permalink": "https://x.slack.com/files/U01ANN/F1/graph.png"}
        ],
        "reactions": [{"name": "pushpin::skin-tone-3", "users": ["U02BOB"], "count": 1}],
        "pinned_to": ["C0INCIDENTS"],
    }
    assert posted(message) == Posted(
        text="see the graph",
        user="U01ANN",
        at="1764668010.000000",
        files=(NoteFile("graph.png", "https://x.slack.com/files/U01ANN/F1/graph.png"),),
    )
    assert posted({"ts": "1", "bot_id": "B1", "text": "hi"}).bot
    assert read_back(message, "C0INCIDENTS", "pushpin", "1764669000.000000") == ReadBack(
        pinned=True, reactors=("U02BOB",), at="1764669000.000000"
    )
    assert reaction_name("pushpin::skin-tone-2") == "pushpin"


@pytest.mark.parametrize("ts", ["", "junk", "NaN", "Infinity"])
def test_a_time_slack_never_sends_counts_as_the_beginning(ts: str) -> None:
    assert slack_time(ts) == 0


# --- properties ----------------------------------------------------------------------------

_USERS = st.sampled_from(["U01ANN", "U02BOB", "U03CAT"])
_KINDS = ("posted", "pinned", "reacted", "read_back", "shortcut", "deleted")


def _event(fields: tuple[str, str, bool, str, list[str]], *, at: str) -> NoteEvent:
    kind, user, on, text, others = fields
    if kind == "posted":
        return Posted(text=text, user=user, at=at)
    if kind == "pinned":
        return Pinned(on=on, at=at)
    if kind == "reacted":
        return Reacted(user, on=on, at=at)
    if kind == "read_back":
        return ReadBack(pinned=on, reactors=tuple(sorted(set(others))), at=at)
    return Shortcut(user) if kind == "shortcut" else Deleted()


# Events at distinct Slack times (Slack never gives two the same ts), in time order.
_EVENT_LISTS = st.lists(
    st.tuples(
        st.sampled_from(_KINDS), _USERS, st.booleans(), st.text(max_size=5), st.lists(_USERS)
    ),
    max_size=8,
).map(lambda drawn: [_event(fields, at=f"1764668{n:03d}.000000") for n, fields in enumerate(drawn)])


@given(events=_EVENT_LISTS, data=st.data())
def test_events_in_any_order_leave_the_same_facts(
    events: list[NoteEvent], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(events))
    assert facts(*shuffled) == facts(*events)


@given(events=_EVENT_LISTS)
def test_every_event_delivered_twice_changes_nothing(events: list[NoteEvent]) -> None:
    twice = [event for event in events for _ in range(2)]
    assert facts(*twice) == facts(*events)


@given(events=_EVENT_LISTS)
def test_the_facts_survive_the_store(events: list[NoteEvent]) -> None:
    note = facts(*events, Known({"U01ANN": SlackPerson("Ann", "ann@example.com")}))
    stored = note_to_json(note)
    assert note_from_json(NOTE.page_id, NOTE.channel, NOTE.ts, NOTE.thread_ts, stored) == note
