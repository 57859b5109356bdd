"""Page effects (notes): a thread message's timeline entry made to match its facts.

The entry is one block (worker/pages/note_entry.py). It is appended once — in its place in
time when later entries are there already — then rewritten in place when what it shows
changes (an edit, struck through when withdrawn, plain again when wanted again). Its block
id and a fingerprint of what it shows are kept with the message's facts, so the action can
run any number of times: it reads the facts when it runs and does only what differs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from worker.actions import AppendTimelineEntry, SyncNote, expect
from worker.config import Settings
from worker.errors import NotReadyError, PageTrashedError, RowGoneError, ServiceError
from worker.notion import NotionGateway
from worker.pages.blocks import RichText
from worker.pages.note_entry import (
    ENTRY_TYPE,
    fingerprint,
    message_time,
    note_block,
    note_rich_text,
)
from worker.pages.to_markdown import blocks_to_markdown
from worker.pages.writer import PageWriter, Progress, SaveFn
from worker.record import IncidentRecord
from worker.store import OutboxItem, Store
from worker.thread_notes import ThreadNote, entry_state

log = logging.getLogger("worker.pages")

# The permalink of a thread message (None: none can be had now).
NoteLink = Callable[[ThreadNote], str | None]


# The append slots of a thread message's entry (in place, or at the end when its place went).
_NOTE_SLOTS = ("note", "note-end")


def page_in_trash(notion: NotionGateway, page_id: str) -> bool:
    """Whether someone moved one of the worker's pages to Notion's trash."""
    try:
        page = notion.page(page_id)
    except ServiceError as exc:
        if exc.code == "object_not_found":
            return True  # deleted for good (or no longer shared)
        raise
    return page.in_trash


@dataclass
class NoteEffects:
    store: Store
    notion: NotionGateway
    settings: Settings
    writer: PageWriter
    note_link: NoteLink

    def timeline_note(
        self, item: OutboxItem, record: IncidentRecord, now: datetime, day_of: datetime
    ) -> dict[str, Any]:
        """Make a thread message's timeline entry match its facts as they are now: append it
        (once: the append's progress is kept), rewrite it when what it shows changed, or
        leave it. `day_of`: when the incident was declared (another day's entry shows its
        date)."""
        payload = expect(item.payload, SyncNote)
        note = self.store.note(payload.channel, payload.ts)
        if note is None:
            return {"skipped": "nothing is known of the message"}
        state = entry_state(note, self.settings.timeline_capture)
        if state == "absent" and not note.entry_blocks:
            earlier = self._earlier_entry(item, record, note)
            if earlier:
                # Appended by an attempt whose answer was lost, unwanted since: struck.
                note = replace(note, entry_blocks=tuple(earlier), shown="")
                state = entry_state(note, self.settings.timeline_capture)
        if state == "absent":
            return {"skipped": "not for the timeline"}
        if not note.complete:
            raise NotReadyError(f"message {note.ts} waits to be read from Slack")
        timeline = self._timeline_for(record)
        permalink = self.note_link(note)
        rich_text = note_rich_text(
            note,
            state,
            people=self.notion.people_by_email(now.timestamp()),
            timezone=self.settings.timezone,
            day_of=day_of,
            permalink=permalink,
        )
        if not note.entry_blocks and payload.look_first and permalink:
            found = self._entry_for(timeline, permalink)
            if found is not None:
                # Made before the worker lost its memory of it: taken, brought up to date.
                note = replace(note, entry_blocks=(found,), shown="")
                return self._rewrite(note, timeline, rich_text, now) | {"found": found}
        if not note.entry_blocks:
            appended = self._append(item, note, timeline, rich_text, now, permalink=permalink)
            return appended | {"state": state}
        return self._rewrite(note, timeline, rich_text, now) | {"state": state}

    def recorded(self, record: IncidentRecord, day_of: datetime) -> list[tuple[datetime, str]]:
        """The thread messages the timeline has (or would have) an entry for, as Markdown
        with their times, as the entries show them (their authors named: this is read when
        Notion's copy is gone, for the postmortem)."""
        notes = []
        for note in self.store.notes_for(record.page_id):
            state = entry_state(note, self.settings.timeline_capture)
            if state == "absent" or note.text is None:
                continue  # (one waiting for the page to be restored is in: it belongs there)
            rich_text = note_rich_text(
                note,
                state,
                people={},
                timezone=self.settings.timezone,
                day_of=day_of,
                permalink=self.note_link(note),
            )
            notes.append((message_time(note.ts), blocks_to_markdown([note_block(rich_text)])))
        return notes

    def _append(
        self,
        item: OutboxItem,
        note: ThreadNote,
        timeline: str,
        rich_text: list[RichText],
        now: datetime,
        *,
        permalink: str | None,
    ) -> dict[str, Any]:
        progress: Progress = dict(item.result or {})
        save = self._saver(item)
        earlier = self._appended_before(progress, save, timeline, permalink)
        if earlier:
            # Made by an earlier attempt with the message as it was then (it may have been
            # edited, unpinned… since): taken, and brought up to date.
            note = replace(note, entry_blocks=tuple(earlier), shown="")
            return {**progress, "ids": earlier} | self._rewrite(note, timeline, rich_text, now)
        block = note_block(rich_text)
        if "after" not in progress:
            progress["after"] = self._anchor(note, timeline)
        after = progress["after"]
        try:
            ids = self.writer.append_once(timeline, [block], progress, save, "note", after=after)
        except ServiceError as exc:
            if exc.retryable:
                raise
            if page_in_trash(self.notion, timeline):
                raise PageTrashedError(timeline, "timeline") from exc
            if after is None:
                raise
            # The entry it was to follow is gone (deleted by hand): at the end, then.
            log.info("message %s: its place in the timeline is gone (%s)", note.ts, exc)
            progress["after"] = None
            ids = self.writer.append_once(timeline, [block], progress, save, "note-end")
        self._noted(note, tuple(ids), fingerprint(rich_text), now)
        return {**progress, "ids": ids}

    def _rewrite(
        self, note: ThreadNote, timeline: str, rich_text: list[RichText], now: datetime
    ) -> dict[str, Any]:
        shown = fingerprint(rich_text)
        if shown == note.shown:
            return {"unchanged": True}
        block = note.entry_blocks[0]
        try:
            self.notion.update_block(block, {ENTRY_TYPE: {"rich_text": rich_text}})
        except ServiceError as exc:
            if exc.retryable:
                raise
            if page_in_trash(self.notion, timeline):
                raise PageTrashedError(timeline, "timeline") from exc
            # Someone deleted the entry in Notion: that is theirs to decide; it stays gone.
            log.info("timeline entry %s of message %s is gone: %s", block, note.ts, exc)
            self._noted(note, note.entry_blocks, shown, now)
            return {"skipped": "the entry was deleted in Notion"}
        self._noted(note, note.entry_blocks, shown, now)
        return {"updated": block}

    def _earlier_entry(
        self, item: OutboxItem, record: IncidentRecord, note: ThreadNote
    ) -> list[str]:
        """The entry an earlier attempt of this action appended (none tried: no request)."""
        progress: Progress = dict(item.result or {})
        done = progress.get("appended") or {}
        if not any(s in done for s in _NOTE_SLOTS) and progress.get("uncertain") not in _NOTE_SLOTS:
            return []
        timeline = self._timeline_for(record)
        return self._appended_before(progress, self._saver(item), timeline, self.note_link(note))

    def _appended_before(
        self, progress: Progress, save: SaveFn, timeline: str, permalink: str | None
    ) -> list[str]:
        """The entry's block when an earlier attempt appended it: recorded, or (its answer
        lost) found on the page by its link to the message — never by its content, which
        was the message's as it was then."""
        done = progress.get("appended") or {}
        for slot in _NOTE_SLOTS:
            if slot in done:
                return [str(i) for i in done[slot]]
        uncertain = progress.get("uncertain")
        if uncertain not in _NOTE_SLOTS or not permalink:
            return []
        found = self._entry_for(timeline, permalink)
        if found is None:
            return []
        log.info("the entry of a message was already appended (%s); not appending it again", found)
        progress.setdefault("appended", {})[uncertain] = [found]
        progress.pop("uncertain", None)
        save(progress)
        return [found]

    def _entry_for(self, timeline: str, permalink: str) -> str | None:
        """The entry of the timeline page that links to this message, if there is one."""
        for block in self.notion.list_children(timeline):
            body = block.get(ENTRY_TYPE) if block.get("type") == ENTRY_TYPE else None
            items = body.get("rich_text") if isinstance(body, dict) else None
            for item in items if isinstance(items, list) else []:
                link = (item.get("text") or {}).get("link") or {}
                if permalink in (item.get("href"), link.get("url")):
                    return str(block["id"])
        return None

    def _anchor(self, note: ThreadNote, timeline: str) -> str | None:
        """The block a message's entry goes right after, so that the timeline stays in time
        order: the last entry at or before the message's time when a later one is there
        already (a message pinned long after it was written); None: at the end."""
        mine = message_time(note.ts)
        placed: list[tuple[datetime, str]] = []
        for action in self.store.actions_for(note.page_id):
            ids = (action.result or {}).get("ids") if action.state == "done" else None
            if isinstance(action.payload, AppendTimelineEntry) and ids:
                placed.append((action.payload.at, str(ids[-1])))
        for other in self.store.notes_for(note.page_id):
            if other.ts != note.ts and other.entry_blocks:
                placed.append((message_time(other.ts), other.entry_blocks[-1]))
        later = [(at, block) for at, block in placed if at > mine]
        if not later:
            return None
        earlier = [(at, block) for at, block in placed if at <= mine]
        if earlier:
            return max(earlier)[1]
        # Earlier than every entry the worker knows the block of (those written with the
        # page it does not): right before the first later one.
        ids = [child.id for child in self.notion.child_blocks(timeline)]
        first = min(later)[1]
        position = ids.index(first) if first in ids else 0
        return ids[position - 1] if position > 0 else None

    def _timeline_for(self, record: IncidentRecord) -> str:
        """The timeline page an entry goes to; it waits while there is none (yet)."""
        create = self.store.action(f"create_timeline:{record.page_id}")
        if create is not None and create.state == "paused":
            raise RowGoneError(record.page_id)
        if record.timeline_page_id is None:
            raise NotReadyError(f"incident {record.page_id} has no timeline page yet")
        return record.timeline_page_id

    def _saver(self, item: OutboxItem) -> Callable[[Progress], None]:
        return lambda progress: self.store.mark_progress(item.id, progress)

    def _noted(self, note: ThreadNote, blocks: tuple[str, ...], shown: str, now: datetime) -> None:
        self.store.change_note(
            note,
            lambda current: replace(current, entry_blocks=blocks, shown=shown),
            lambda _before, _after: (),
            now,
        )
