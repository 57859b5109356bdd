"""Outbox order: what two concurrent delivery lanes may carry out now, per incident in order."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.factories import T0
from worker.actions import Action, ReadNote, SyncNote, UpdateParent
from worker.outbox_order import (
    AHEAD_OF_NOTION,
    THREAD_WAIT_S,
    ready,
    service,
    superseded_updates,
)
from worker.store import OutboxItem, is_background, lane

LATER = T0 + timedelta(minutes=5)


def _item(
    number: int, page: str, kind: str, *, background: bool = False, due: bool = True
) -> OutboxItem:
    return OutboxItem(
        id=number,
        key=f"{kind}:{page}:{number}",
        page_id=page,
        kind=kind,
        payload=UpdateParent(),
        state="pending",
        attempts=0,
        not_before=T0 if due else LATER,
        first_attempt_at=None,
        result=None,
        error=None,
        created_at=T0,
        background=background or kind in ("post_nudge", "create_timeline", "timeline_entry"),
    )


def _kinds(items: list[OutboxItem]) -> list[str]:
    return [f"{i.page_id}:{i.kind}" for i in items]


def test_a_reply_never_goes_before_its_parent_message() -> None:
    items = [_item(1, "a", "post_parent"), _item(2, "a", "post_reply")]
    assert _kinds(ready(items, T0)) == ["a:post_parent"]
    # Being posted by the Slack lane right now: the reply still waits for it.
    assert ready(items, T0, busy={1}) == []


def test_a_reply_goes_ahead_of_an_earlier_notion_write_but_the_parent_update_waits() -> None:
    """The Notion lane writes the thread link while the Slack lane posts the reply (it shows
    nothing the write puts on the row); the parent update shows what it writes, so waits."""
    items = [
        _item(1, "a", "link_thread"),
        _item(2, "a", "post_reply"),
        _item(3, "a", "update_parent"),
        _item(4, "a", "post_reply"),
    ]
    assert sorted(_kinds(ready(items, T0))) == ["a:link_thread", "a:post_reply"]
    assert _kinds(ready(items, T0, busy={1})) == ["a:post_reply"]
    # The reply after the parent update waits for it (messages keep their order).
    assert "a:post_reply" not in _kinds(ready(items[2:], T0))[1:]


def test_a_notion_write_waits_for_every_earlier_action_of_its_lane() -> None:
    items = [
        _item(1, "a", "post_parent"),
        _item(2, "a", "link_thread"),
        _item(3, "a", "write_props"),
    ]
    assert _kinds(ready(items, T0)) == ["a:post_parent"]
    assert _kinds(ready(items[1:], T0)) == ["a:link_thread"]


def test_a_timeline_page_waits_for_the_thread_no_longer_than_two_minutes() -> None:
    """Slack down, or the channel archived: the parent cannot go, and the page (which brings
    the dates and its own link to the row) goes without the thread's link after a while."""
    items = [_item(1, "a", "post_parent", due=False), _item(2, "a", "create_timeline")]
    assert ready(items, T0 + timedelta(seconds=THREAD_WAIT_S - 1)) == []
    assert _kinds(ready(items, T0 + timedelta(seconds=THREAD_WAIT_S))) == ["a:create_timeline"]


def test_a_timeline_page_waits_for_the_thread_it_links_to_and_an_entry_for_its_page() -> None:
    items = [
        _item(1, "a", "post_parent"),
        _item(2, "a", "create_timeline"),
        _item(3, "a", "timeline_entry"),
        _item(4, "b", "link_thread"),
        _item(5, "b", "create_timeline"),
    ]
    assert _kinds(ready(items, T0)) == ["a:post_parent", "b:link_thread", "b:create_timeline"]
    assert _kinds(ready(items[1:], T0)) == [
        "b:link_thread",
        "a:create_timeline",
        "b:create_timeline",
    ]


def test_an_action_waiting_for_its_retry_holds_up_its_lane_but_not_a_reply_behind_a_write() -> None:
    items = [_item(1, "a", "write_props", due=False), _item(2, "a", "post_reply")]
    assert _kinds(ready(items, T0)) == ["a:post_reply"]
    items = [_item(1, "a", "post_reply", due=False), _item(2, "a", "post_reply")]
    assert ready(items, T0) == []
    assert _kinds(ready(items, LATER)) == ["a:post_reply"]


def test_what_people_changed_goes_before_announcements_which_go_before_background() -> None:
    items = [
        _item(1, "n1", "post_nudge"),  # a reminder queued first
        _item(2, "new", "post_parent"),  # a new incident
        _item(3, "new", "link_thread"),
        _item(4, "live", "post_reply"),  # a change to an announced incident
        _item(5, "live", "update_parent"),
        _item(6, "bg", "update_parent", background=True),  # catch-up after a lost state
        _item(7, "n1", "timeline_entry"),  # the reminder's timeline entry
        _item(8, "old", "create_timeline"),  # an announced incident's page and thread link
    ]
    assert _kinds(ready(items, T0)) == [
        "live:post_reply",
        "new:post_parent",
        "old:create_timeline",
        "n1:post_nudge",
        "bg:update_parent",
        "n1:timeline_entry",
    ]


def test_background_work_followed_by_urgent_work_in_its_lane_is_urgent() -> None:
    """A reminder queued before a reply goes before it (the lane's order), and so goes at
    the reply's priority, not after every other background action."""
    items = [
        _item(1, "x", "update_parent", background=True),
        _item(2, "a", "post_nudge"),
        _item(3, "a", "post_reply"),
    ]
    assert _kinds(ready(items, T0)) == ["a:post_nudge", "x:update_parent"]


def test_only_the_last_of_several_parent_updates_is_sent() -> None:
    items = [
        _item(1, "a", "update_parent"),
        _item(2, "b", "update_parent"),
        _item(3, "a", "update_parent"),
    ]
    assert superseded_updates(items) == {1}


def test_a_parent_update_is_not_dropped_for_one_held_up_behind_a_write_that_waits() -> None:
    """Notion is down: the status's write waits for its retry; the update before it goes
    (the parent keeps up with the thread), the one after it waits its turn."""
    items = [
        _item(1, "a", "update_parent"),
        _item(2, "a", "write_props", due=False),
        _item(3, "a", "update_parent"),
    ]
    assert superseded_updates(items, T0) == set()
    assert superseded_updates(items) == {1}  # the synchronous pass takes only what is due
    both_due = [
        _item(1, "a", "update_parent"),
        _item(2, "a", "post_reply"),
        _item(3, "a", "update_parent"),
    ]
    assert superseded_updates(both_due, T0) == {1}


_KINDS = [
    "post_parent",
    "post_reply",
    "update_parent",
    "post_nudge",
    "link_thread",
    "write_props",
    "create_timeline",
    "timeline_entry",
    "create_postmortem",
    "postmortem_note",
]


@st.composite
def _outboxes(draw: st.DrawFn) -> tuple[list[OutboxItem], set[int]]:
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from("abc"), st.sampled_from(_KINDS), st.booleans(), st.booleans()
            ),
            max_size=30,
        )
    )
    items = [
        _item(n + 1, page, kind, background=bg, due=due)
        for n, (page, kind, bg, due) in enumerate(specs)
    ]
    busy = draw(st.sets(st.sampled_from([i.id for i in items]), max_size=3)) if items else set()
    return items, busy


@given(_outboxes())
def test_nothing_ever_goes_before_what_it_must_follow(
    outbox: tuple[list[OutboxItem], set[int]],
) -> None:
    """Over any outbox: an action is offered only when it is due and not being carried out,
    when nothing earlier in its incident's lane is still to do — except that a reply or a
    reminder may pass earlier Notion writes (never an earlier message) — and each lane of an
    incident offers at most one Notion write and one message at a time."""
    items, busy = outbox
    offered = ready(items, T0, busy=busy)
    assert len({i.id for i in offered}) == len(offered)
    for item in offered:
        assert item.not_before <= T0
        assert item.id not in busy
        earlier = [
            e
            for e in items
            if e.id < item.id and (e.page_id, lane(e.kind)) == (item.page_id, lane(item.kind))
        ]
        if lane(item.kind) == "pages":
            assert not any(
                e.id < item.id and e.page_id == item.page_id and e.kind == "post_parent"
                for e in items
            )
        if item.kind in AHEAD_OF_NOTION:
            assert all(service(e.kind) == "notion" for e in earlier)
        else:
            assert earlier == []
    per_lane = [(i.page_id, lane(i.kind), service(i.kind)) for i in offered]
    assert len(per_lane) == len(set(per_lane))


def test_a_note_someone_just_pinned_goes_before_background_page_work() -> None:
    """Pinning is people's work: its entry (Notion lane, pages) is not kept behind every
    incident's reminders and catch-up entries; it still waits for its own page's work."""
    note = Action("timeline_note:C1:1.0:Ev1", "c", SyncNote("C1", "1.0"))
    read = Action("read_note:C1:1.0:Ev1", "c", ReadNote("C1", "1.0"))
    assert not is_background(note)
    assert not is_background(read)
    assert (service(note.kind), lane(note.kind)) == ("notion", "pages")
    assert (service(read.kind), lane(read.kind)) == ("slack", "main")
    items = [
        _item(1, "a", "timeline_entry"),
        _item(2, "b", "timeline_entry"),
        _item(3, "c", "timeline_note"),
        _item(4, "a", "timeline_note"),  # behind its page's entry: that one is urgent too
    ]
    assert _kinds(ready(items, T0)) == ["a:timeline_entry", "c:timeline_note", "b:timeline_entry"]
