"""Outbox order: which recorded actions may be carried out now, by whom, and in what order.

Two delivery lanes run at once, one per service (`service`): Slack's pace never keeps
Notion idle, nor the other way round. What must stay in order does, per incident: within
one of its lanes (`store.lane`: the thread and the row; the pages) an action waits for
every earlier one — a reply never goes before its parent message, a timeline entry never
before its page, the parent is updated only after the write it shows — and its pages wait
for its parent message (they link to the thread). One exception: a
message in the thread that shows nothing the worker writes to Notion (a reply, a reminder)
may go ahead of an earlier Notion write of its lane, never ahead of an earlier message.

Among the actions whose turn it is, the order is what people are waiting for: first what
they just changed on an incident already announced, then new incidents' announcements,
then background work (reminders, pages, catch-up) — `tier`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Literal

from worker.store import OutboxItem, lane

Service = Literal["slack", "notion"]
SERVICES: tuple[Service, ...] = ("slack", "notion")

# Actions that write to the incident's row or under it in Notion: the Notion lane's.
NOTION_KINDS = frozenset(
    {
        "link_thread",
        "write_props",
        "create_timeline",
        "timeline_entry",
        "create_postmortem",
        "postmortem_note",
        "timeline_note",
        "write_from_slack",
    }
)
# Messages that may go ahead of an earlier Notion write of their lane (they show nothing
# the worker writes to Notion; the parent message does, so it waits).
AHEAD_OF_NOTION = frozenset({"post_reply", "post_nudge", "read_note"})
# An incident's announcement and its write-back (the thread link goes on the row with the
# timeline page): after people's changes to announced incidents, before the background (in
# a burst of new incidents, an edit to a live one is not kept waiting).
_ANNOUNCING = frozenset({"post_parent", "link_thread", "create_timeline"})


# How long an incident's pages wait for its thread (they link to it): past that (Slack down,
# the channel archived), the timeline page is made without the link, and the row gets its
# dates and page all the same; the thread's link follows when there is one.
THREAD_WAIT_S = 120.0


def service(kind: str) -> Service:
    """Which lane carries out an action of this kind (an unknown kind: Slack's, where it is
    failed at once without a request)."""
    return "notion" if kind in NOTION_KINDS else "slack"


def tier(item: OutboxItem, urgent: bool) -> int:
    """0: people's change to an announced incident; 1: an announcement; 2: background."""
    if item.kind in _ANNOUNCING:
        return 1
    return 0 if urgent else 2


def ready(
    items: Sequence[OutboxItem], now: datetime, *, busy: Collection[int] = ()
) -> list[OutboxItem]:
    """`items`: every action still to carry out, in id (planning) order, due or not →
    those whose turn it is at `now`, in the order to carry them out. `busy`: ids being
    carried out elsewhere (the other lane): they hold up what follows them."""
    last_urgent: dict[tuple[str, str], int] = {}
    for item in items:
        if not item.background:
            last_urgent[(item.page_id, lane(item.kind))] = item.id
    held: set[tuple[str, str]] = set()  # an earlier action is still to be carried out
    message_held: set[tuple[str, str]] = set()  # an earlier message is
    unannounced: set[str] = set()  # the incident's parent message is still to be posted
    turn: list[tuple[tuple[int, bool, int], OutboxItem]] = []
    for item in items:
        where = (item.page_id, lane(item.kind))
        its_turn = where not in held or (item.kind in AHEAD_OF_NOTION and where not in message_held)
        if where[1] == "pages" and item.page_id in unannounced:
            its_turn = False
        if its_turn and item.not_before <= now and item.id not in busy:
            # Background followed in its lane by something urgent is urgent too.
            urgent = item.id <= last_urgent.get(where, -1)
            turn.append(((tier(item, urgent), lane(item.kind) != "main", item.id), item))
        held.add(where)
        if service(item.kind) == "slack":
            message_held.add(where)
        if item.kind == "post_parent" and (now - item.created_at).total_seconds() < THREAD_WAIT_S:
            unannounced.add(item.page_id)
    return [item for _, item in sorted(turn, key=lambda pair: pair[0])]


def superseded_updates(items: Sequence[OutboxItem], now: datetime | None = None) -> set[int]:
    """Parent updates followed by another one for the same incident that can go right after
    them: only the last counts. With `now`, a later update held up behind something that
    cannot go yet (a Notion write waiting for its retry) supersedes nothing: the parent would
    stay behind the thread meanwhile."""
    superseded: set[int] = set()
    waiting: dict[str, int] = {}  # the incident's last update not yet superseded
    for item in items:
        if lane(item.kind) != "main":
            continue
        page = item.page_id
        if item.kind == "update_parent":
            if page in waiting:
                superseded.add(waiting[page])
            waiting[page] = item.id
        elif now is not None and (service(item.kind) == "notion" or item.not_before > now):
            waiting.pop(page, None)  # what follows may be a long way off
    return superseded
