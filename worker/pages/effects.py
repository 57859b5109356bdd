"""Page effects: the timeline page, its entries and the postmortem page, created once each.

Each page is rendered in full (templates → Markdown → Notion blocks) before anything is
sent, so a template mistake never leaves a half-created page; then `PageWriter` writes it
in as many requests as Notion's limits need, resumably.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from worker.actions import (
    Action,
    AppendPostmortemNote,
    AppendTimelineEntry,
    CreatePostmortem,
    CreateTimeline,
    LinkThread,
    PostmortemReply,
    StatusUpdateReply,
    SyncNote,
    UpdateParent,
    expect,
)
from worker.config import Settings
from worker.errors import (
    NotReadyError,
    PageTrashedError,
    RowGoneError,
    ServiceError,
    TemplateError,
)
from worker.messages import Wording
from worker.notion import NotionGateway
from worker.outbox_order import THREAD_WAIT_S
from worker.pages.blocks import Block
from worker.pages.context import (
    StatusUpdate,
    TimelineEntry,
    render_postmortem_page,
    render_timeline_page,
    timeline_entry_markdown,
)
from worker.pages.limits import BlockTooLargeError
from worker.pages.note_entry import (
    ENTRY_TYPE,
    fingerprint,
    message_time,
    note_block,
    note_rich_text,
)
from worker.pages.parse import NotionPage
from worker.pages.to_blocks import markdown_to_blocks
from worker.pages.to_markdown import blocks_to_markdown
from worker.pages.writer import PageWriter, Progress, SaveFn
from worker.record import IncidentRecord
from worker.snapshot import Incident, Person, Value
from worker.store import OutboxItem, Store
from worker.thread_notes import ThreadNote, entry_state

# The Postmortems database's properties (`setup --with-postmortems` creates them).
POSTMORTEM_PROPERTIES = {
    "title": "Name",
    "incident": "Incident",
    "owner": "Owner",
    "status": "Status",
    "due": "Due",
}
POSTMORTEM_STATUSES = ("Draft", "In review", "Done")
# The append slots of a thread message's entry (in place, or at the end when its place went).
_NOTE_SLOTS = ("note", "note-end")


WriteRow = Callable[[str, dict[str, str | None], datetime], None]
Enqueue = Callable[[list[Action], datetime], None]
# The permalink of the incident's thread; None while there is no thread yet.
ThreadLink = Callable[[IncidentRecord, datetime], str | None]
# The permalink of a thread message (None: none can be had now).
NoteLink = Callable[[ThreadNote], str | None]

log = logging.getLogger("worker.pages")


def _title(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": text[:1900]}}]


def postmortem_owner(commanders: Sequence[Person]) -> list[dict[str, str]]:
    """The Owner of a postmortem row: the first commander Notion takes in a people value (a
    bot, or a user it showed us only by id, would fail the whole create)."""
    return [{"id": p.id} for p in commanders if p.nameable][:1]


@dataclass
class _Attempt:
    """One attempt at an incident's timeline page: what it knows, and how far it got."""

    record: IncidentRecord
    payload: CreateTimeline
    permalink: str | None  # the thread's, None when there is none yet
    progress: Progress
    save: Callable[[Progress], None]
    now: datetime

    def __str__(self) -> str:
        return self.record.page_id


@dataclass
class PageEffects:
    store: Store
    notion: NotionGateway
    settings: Settings
    words: Wording
    writer: PageWriter
    write_row: WriteRow
    enqueue: Enqueue
    thread_link: ThreadLink
    note_link: NoteLink = lambda _note: None

    def _saver(self, item: OutboxItem) -> Callable[[Progress], None]:
        return lambda progress: self.store.mark_progress(item.id, progress)

    def _url(self, page_id: str, progress: Progress) -> str:
        url = progress.get("url")
        if not url:
            url = self.notion.page(page_id).url
            progress["url"] = url
        return str(url)

    def _page_title(self, record: IncidentRecord, label: str) -> str:
        title = record.snapshot.title or self.words.label("untitled")
        return f"{title} — {self.words.label(label)}"

    # --- timeline -----------------------------------------------------------------------

    def create_timeline(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        """The timeline page, the entries waiting for it (the declared one) in the request
        that creates it; then one write of the row: the page's link and, for a declared
        incident (`CreateTimeline.link`), the thread's link and the dates.

        If the page cannot be made (a broken template, Notion refusing it), the thread's
        link and the dates are written at once on their own, so the row never waits for the
        page for more than one attempt; the page's link follows when the page is made."""
        progress: Progress = dict(item.result or {})
        permalink = self.thread_link(record, now)
        waited_s = (now - item.created_at).total_seconds()
        if not progress and permalink is None and waited_s < THREAD_WAIT_S:
            raise NotReadyError(f"incident {record.page_id} has no Slack thread to link to yet")
        payload = expect(item.payload, CreateTimeline)
        job = _Attempt(record, payload, permalink, progress, self._saver(item), now)
        try:
            page_id = self._timeline_page(job)
            url = self._url(page_id, progress)
        except (TemplateError, BlockTooLargeError, ServiceError) as exc:
            self._page_failed(job, exc)
            raise
        page = record.page_id
        self.store.set_page(page, timeline=page_id, now=now)
        self._write_links(job, {"timeline": url})
        self.enqueue([Action(f"update_parent:{page}:timeline", page, UpdateParent())], now)
        return {**progress, "page_id": page_id, "url": url}

    def _timeline_page(self, job: _Attempt) -> str:
        """The page's id: found again (made before the worker's memory was lost, its link
        cleared meanwhile), or created with the entries waiting for it."""
        record, progress = job.record, job.progress
        title = progress.setdefault("title", self._page_title(record, "timeline"))
        page = record.page_id
        if job.payload.look_first and "page_id" not in progress:
            found = self.writer.find_child_page(page, title)
            if found is not None:
                # Made by an earlier worker, maybe with some of the entries: those it has
                # already are not added again.
                entries = self._page_entries(job)
                there = self.writer.already_there(found, [blocks for _, blocks in entries])
                kept = [key for (key, _), yes in zip(entries, there, strict=True) if yes]
                progress.update(page_id=found, found=True, entries=kept)
                job.save(progress)
        if progress.get("found"):
            return str(progress["page_id"])
        markdown = render_timeline_page(
            record.snapshot, self.settings, job.now, slack_thread_url=job.permalink
        )
        entries = self._page_entries(job)
        if "page_id" not in progress:
            # Saved with the create request's "uncertain" mark: what the page is made with.
            progress["entries"] = [key for key, _ in entries]
        return self.writer.create(
            parent={"type": "page_id", "page_id": page},
            properties={"title": _title(title)},
            blocks=markdown_to_blocks(markdown) + [b for _, blocks in entries for b in blocks],
            progress=progress,
            save=job.save,
            find_existing=lambda: self.writer.find_child_page(page, title),
        )

    def _page_entries(self, job: _Attempt) -> list[tuple[str, list[Block]]]:
        """The timeline entries that go in the page as it is made — those planned and
        waiting for it, in their order — by action key, as blocks. Once a create request
        went out, the same ones again (a retry sends what the first try sent)."""
        progress = job.progress
        if progress.get("bare"):
            return []
        waiting = [
            (a.key, a.payload)
            for a in self.store.actions_for(job.record.page_id)
            if a.state == "pending" and isinstance(a.payload, AppendTimelineEntry)
        ]
        if "page_id" in progress or progress.get("uncertain") == "create":
            sent = set(progress.get("entries", ()))
            waiting = [(key, entry) for key, entry in waiting if key in sent]
        day_of = _day_of(job.record.snapshot, job.payload.link)
        try:
            return [
                (key, markdown_to_blocks(self._entry_markdown(_entry(entry), day_of)))
                for key, entry in waiting
            ]
        except TemplateError as exc:
            # The page is made without them; each entry then reports its own trouble.
            log.warning("incident %s: its timeline page goes without entries: %s", job, exc)
            return []

    def _page_failed(self, job: _Attempt, exc: Exception) -> None:
        """The page could not be made this time: the thread's link and the dates go on the
        row now, on their own. If Notion refused a page carrying entries, the next attempt
        makes it without them (they are appended after it, each on its own)."""
        if isinstance(exc, ServiceError) and exc.asked_to_wait:
            return  # nothing was tried: the page goes as soon as Notion's wait is over
        try:
            # (Raises RowGoneError when the row is in the trash: then all of it waits.)
            self._write_links(job, {})
        except ServiceError as failed:
            log.warning("incident %s: its thread's link waits too: %s", job, failed)
        progress = job.progress
        refused = isinstance(exc, ServiceError) and not exc.retryable
        if refused and "page_id" not in progress and progress.get("entries"):
            progress.update(bare=True, entries=[])
            job.save(progress)

    def _write_links(self, job: _Attempt, page_links: dict[str, str | None]) -> None:
        """One write of the row: `page_links` and, unless written already, what the
        declaration puts on it (the thread's link, the dates, another row's links cleared)."""
        record, link, progress = job.record, job.payload.link, job.progress
        values = dict(page_links)
        if link is not None and not progress.get("linked"):
            own = {"timeline": record.timeline_page_id, "postmortem": record.postmortem_page_id}
            values = {**link.values(job.permalink, own), **page_links}
        if not values:
            return
        self.write_row(record.page_id, values, job.now)
        if link is None or progress.get("linked"):
            return
        progress["linked"] = True
        job.save(progress)
        if job.permalink is None:
            # No thread yet (Slack down, the channel archived): its link follows it.
            page = record.page_id
            self.enqueue([Action(f"link_thread:{page}", page, LinkThread())], job.now)

    def timeline_entry(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        del now
        create = self.store.action(f"create_timeline:{record.page_id}")
        made = _made_with(create, item.key)
        if made is not None:
            return {"skipped": "written with the page", "page_id": made}
        if create is not None and create.state == "paused":
            # Its page waits for the row to be restored from the trash: so does the entry.
            raise RowGoneError(record.page_id)
        if record.timeline_page_id is None:
            raise NotReadyError(f"incident {record.page_id} has no timeline page yet")
        entry = _entry(expect(item.payload, AppendTimelineEntry))
        timeline = record.timeline_page_id
        try:
            return self._append_entry(item, record, entry, timeline, "entry")
        except ServiceError as exc:
            if not exc.retryable and self.in_trash(timeline):
                raise PageTrashedError(timeline, "timeline") from exc
            raise

    # --- thread messages sent to the timeline -------------------------------------------------

    def timeline_note(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        """Make a thread message's timeline entry match its facts as they are now: append it
        (once: the append's progress is kept), rewrite it when what it shows changed (an
        edit; withdrawn → struck through; wanted again → plain), or leave it."""
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
            day_of=_day_of(record.snapshot, None),
            permalink=permalink,
        )
        if not note.entry_blocks and payload.look_first and permalink:
            found = self._entry_for(timeline, permalink)
            if found is not None:
                # Made before the worker lost its memory of it: taken, brought up to date.
                note = replace(note, entry_blocks=(found,), shown="")
                return self._rewrite_note(note, timeline, rich_text, now) | {"found": found}
        if not note.entry_blocks:
            return self._append_note(item, note, timeline, rich_text, now, permalink=permalink) | {
                "state": state
            }
        return self._rewrite_note(note, timeline, rich_text, now) | {"state": state}

    def _append_note(
        self,
        item: OutboxItem,
        note: ThreadNote,
        timeline: str,
        rich_text: list[dict[str, Any]],
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
            return {**progress, "ids": earlier} | self._rewrite_note(note, timeline, rich_text, now)
        block = note_block(rich_text)
        if "after" not in progress:
            progress["after"] = self._note_anchor(note, timeline)
        after = progress["after"]
        try:
            ids = self.writer.append_once(timeline, [block], progress, save, "note", after=after)
        except ServiceError as exc:
            if exc.retryable:
                raise
            if self.in_trash(timeline):
                raise PageTrashedError(timeline, "timeline") from exc
            if after is None:
                raise
            # The entry it was to follow is gone (deleted by hand): at the end, then.
            log.info("message %s: its place in the timeline is gone (%s)", note.ts, exc)
            progress["after"] = None
            ids = self.writer.append_once(timeline, [block], progress, save, "note-end")
        self._noted(note, tuple(ids), fingerprint(rich_text), now)
        return {**progress, "ids": ids}

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

    def _note_anchor(self, note: ThreadNote, timeline: str) -> str | None:
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

    def _rewrite_note(
        self, note: ThreadNote, timeline: str, rich_text: list[dict[str, Any]], now: datetime
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
            if self.in_trash(timeline):
                raise PageTrashedError(timeline, "timeline") from exc
            # Someone deleted the entry in Notion: that is theirs to decide; it stays gone.
            log.info("timeline entry %s of message %s is gone: %s", block, note.ts, exc)
            self._noted(note, note.entry_blocks, shown, now)
            return {"skipped": "the entry was deleted in Notion"}
        self._noted(note, note.entry_blocks, shown, now)
        return {"updated": block}

    def _timeline_for(self, record: IncidentRecord) -> str:
        """The timeline page an entry goes to; it waits while there is none (yet)."""
        create = self.store.action(f"create_timeline:{record.page_id}")
        if create is not None and create.state == "paused":
            raise RowGoneError(record.page_id)
        if record.timeline_page_id is None:
            raise NotReadyError(f"incident {record.page_id} has no timeline page yet")
        return record.timeline_page_id

    def _noted(self, note: ThreadNote, blocks: tuple[str, ...], shown: str, now: datetime) -> None:
        self.store.change_note(
            note,
            lambda current: replace(current, entry_blocks=blocks, shown=shown),
            lambda _before, _after: (),
            now,
        )

    def in_trash(self, page_id: str) -> bool:
        """Whether someone moved one of the worker's pages to Notion's trash."""
        try:
            page = self.notion.page(page_id)
        except ServiceError as exc:
            if exc.code == "object_not_found":
                return True  # deleted for good (or no longer shared)
            raise
        return page.in_trash

    # --- postmortem ---------------------------------------------------------------------

    def status_updates(self, page_id: str) -> list[StatusUpdate]:
        return self.status_updates_from(self.store, page_id)

    @staticmethod
    def status_updates_from(store: Store, page_id: str) -> list[StatusUpdate]:
        """Every status update posted for the incident, from the outbox's own record."""
        updates = []
        for action in store.actions_for(page_id):
            payload = action.payload
            if isinstance(payload, StatusUpdateReply):
                updates.append(StatusUpdate(at=payload.at, author=payload.actor, text=payload.text))
        return updates

    def _timeline_markdown(self, record: IncidentRecord) -> str:
        if record.timeline_page_id is None:
            return ""
        if self.in_trash(record.timeline_page_id):
            # Someone trashed the timeline page: the postmortem does not wait for it to be
            # restored; it takes the timeline from the worker's own record of the entries.
            return self.recorded_timeline(record)
        # Read back from Notion so that what people added by hand is kept.
        return blocks_to_markdown(self.notion.read_tree(record.timeline_page_id))

    def recorded_timeline(self, record: IncidentRecord) -> str:
        """The timeline's entries as the worker planned them (its outbox keeps them all)."""
        declared = record.snapshot.declared_at or record.snapshot.created_time
        entries = [
            (
                a.payload.at,
                timeline_entry_markdown(_entry(a.payload), self.settings, day_of=declared),
            )
            for a in self.store.actions_for(record.page_id)
            if isinstance(a.payload, AppendTimelineEntry)
        ]
        entries += self._recorded_notes(record, declared)
        return "".join(markdown for _, markdown in sorted(entries, key=lambda pair: pair[0]))

    def _recorded_notes(
        self, record: IncidentRecord, day_of: datetime
    ) -> list[tuple[datetime, str]]:
        """The thread messages the timeline has (or would have) an entry for, as the entries
        show them (their authors named: this is read when Notion's copy is gone)."""
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

    def create_postmortem(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        progress: Progress = dict(item.result or {})
        if not progress and record.postmortem_page_id is not None:
            # Known from the row's Postmortem link (its memory was lost): one per incident.
            return {
                "skipped": "the incident has a postmortem",
                "page_id": record.postmortem_page_id,
            }
        save = self._saver(item)
        incident = _with_times(record.snapshot, expect(item.payload, CreatePostmortem))
        markdown = render_postmortem_page(
            incident,
            status_updates=self.status_updates(record.page_id),
            timeline_markdown=self._timeline_markdown(record),
            settings=self.settings,
            now=now,
            slack_thread_url=record.permalink,
        )
        blocks = markdown_to_blocks(markdown)
        title = progress.setdefault("title", self._page_title(record, "postmortem"))
        resolved = incident.resolved_at or now
        due = resolved + timedelta(seconds=self.settings.postmortem_due_s)
        parent, properties, find = self._postmortem_home(record, title, due)
        page_id = self.writer.create(
            parent=parent,
            properties=properties,
            blocks=blocks,
            progress=progress,
            save=save,
            find_existing=find,
        )
        url = self._url(page_id, progress)
        page = record.page_id
        self.store.set_page(page, postmortem=page_id, now=now)
        self.write_row(page, {"postmortem": url}, now)
        due_at = due if self.settings.postmortem_database_id else None
        self.enqueue(
            [
                Action(f"reply:{page}:postmortem", page, PostmortemReply(url=url, due=due_at)),
                Action(f"update_parent:{page}:postmortem", page, UpdateParent()),
            ],
            now,
        )
        return {**progress, "page_id": page_id, "url": url}

    def postmortem_note(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        """A line at the end of the postmortem: the incident was reopened, or resolved again
        (there is one postmortem per incident, whatever happens after it was made)."""
        del now
        if record.postmortem_page_id is None:
            raise NotReadyError(f"incident {record.page_id} has no postmortem page yet")
        payload = expect(item.payload, AppendPostmortemNote)
        entry = TimelineEntry(
            at=payload.at,
            kind="note",
            text=self.words.phrase(f"postmortem_{payload.kind}", status=payload.status),
        )
        page = record.postmortem_page_id
        try:
            return self._append_entry(item, record, entry, page, "note")
        except ServiceError as exc:
            if not exc.retryable and self.in_trash(page):
                # Someone threw the postmortem away: a note about it helps nobody.
                return {"skipped": "the postmortem page is in the trash"}
            raise

    def _append_entry(
        self, item: OutboxItem, record: IncidentRecord, entry: TimelineEntry, page: str, what: str
    ) -> dict[str, Any]:
        """One entry appended to a page (exactly once: progress is kept as it goes)."""
        markdown = self._entry_markdown(entry, _day_of(record.snapshot, None))
        progress: Progress = dict(item.result or {})
        ids = self.writer.append_all(
            page, markdown_to_blocks(markdown), progress, self._saver(item), what
        )
        return {**progress, "ids": ids}

    def _entry_markdown(self, entry: TimelineEntry, day_of: datetime) -> str:
        return timeline_entry_markdown(entry, self.settings, day_of=day_of)

    def _postmortem_home(
        self, record: IncidentRecord, title: str, due: datetime
    ) -> tuple[dict[str, Any], dict[str, Any], Callable[[], str | None]]:
        """Where the postmortem goes: a Postmortems database row, or a child page."""
        page = record.page_id
        database = self.settings.postmortem_database_id
        if database is None:
            return (
                {"type": "page_id", "page_id": page},
                {"title": _title(title)},
                lambda: self.writer.find_child_page(page, title),
            )
        source = self.notion.data_source_of(database)
        names = POSTMORTEM_PROPERTIES
        properties: dict[str, Any] = {
            names["title"]: {"title": _title(title)},
            names["incident"]: {"relation": [{"id": page}]},
            names["owner"]: {"people": postmortem_owner(record.snapshot.commander)},
            names["status"]: {"select": {"name": POSTMORTEM_STATUSES[0]}},
            names["due"]: {"date": {"start": due.date().isoformat()}},
        }
        return (
            {"type": "data_source_id", "data_source_id": source},
            properties,
            lambda: self._find_postmortem_row(source, page),
        )

    def _find_postmortem_row(self, source: str, incident_page: str) -> str | None:
        rows = self.notion.query(
            source,
            {
                "property": POSTMORTEM_PROPERTIES["incident"],
                "relation": {"contains": incident_page},
            },
        )
        bot = self.writer.bot_user_id()
        for row in rows:
            if bot is None or row.created_by == bot:
                return row.id
        return None


def _made_with(create: OutboxItem | None, entry_key: str) -> str | None:
    """The timeline page's id if the entry `entry_key` is in it since `create` made it (it
    went in the create request, or the page was found again with it)."""
    made = create.result if create is not None else None
    if not made or not made.get("page_id") or entry_key not in made.get("entries", ()):
        return None
    return str(made["page_id"])


def _day_of(incident: Incident, link: LinkThread | None) -> datetime:
    """When the incident was declared (its entries on another day show their date)."""
    planned = link.declared_at if link is not None else None
    return incident.declared_at or planned or incident.created_time


def _entry(payload: AppendTimelineEntry) -> TimelineEntry:
    return TimelineEntry(at=payload.at, kind=payload.kind, text=payload.text, actor=payload.actor)


def _with_times(incident: Incident, times: CreatePostmortem) -> Incident:
    """Fill Mitigated at / Resolved at from the transition when the row does not show them yet."""
    return replace(
        incident,
        mitigated_at=incident.mitigated_at or times.mitigated_at,
        resolved_at=incident.resolved_at or times.resolved_at,
    )


def postmortem_status(row: NotionPage) -> tuple[str | None, tuple[Person, ...]]:
    """A Postmortems database row → (its Status, None when unset; its Owner people)."""
    status = row.properties.get(POSTMORTEM_PROPERTIES["status"], Value())
    owners = row.properties.get(POSTMORTEM_PROPERTIES["owner"], Value())
    return (status.text or None, owners.people)
