"""Page effects: the timeline page, its entries and the postmortem page, created once each.

Each page is rendered in full (templates → Markdown → Notion blocks) before anything is
sent, so a template mistake never leaves a half-created page; then `PageWriter` writes it
in as many requests as Notion's limits need, resumably.
"""

from __future__ import annotations

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
    PostmortemReply,
    StatusUpdateReply,
    UpdateParent,
    expect,
)
from worker.config import Settings
from worker.errors import NotReadyError, PageTrashedError, ServiceError
from worker.messages import Wording
from worker.notion import NotionGateway
from worker.pages.context import (
    StatusUpdate,
    TimelineEntry,
    render_postmortem_page,
    render_timeline_page,
    timeline_entry_markdown,
)
from worker.pages.parse import NotionPage
from worker.pages.to_blocks import markdown_to_blocks
from worker.pages.to_markdown import blocks_to_markdown
from worker.pages.writer import PageWriter, Progress
from worker.record import IncidentRecord
from worker.snapshot import Incident, Person, Value
from worker.store import OutboxItem, Store

# The Postmortems database's properties (`setup --with-postmortems` creates them).
POSTMORTEM_PROPERTIES = {
    "title": "Name",
    "incident": "Incident",
    "owner": "Owner",
    "status": "Status",
    "due": "Due",
}
POSTMORTEM_STATUSES = ("Draft", "In review", "Done")

# How long a new timeline page waits for the incident's Slack thread so that it can link to
# it (the thread is posted in another lane, which a Slack hiccup holds up); past that, with
# Slack down or the channel archived, the page is created without the link.
THREAD_WAIT_S = 120.0

WriteRow = Callable[[str, dict[str, str | None], datetime], None]
Enqueue = Callable[[list[Action], datetime], None]


def _title(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": text[:1900]}}]


def postmortem_owner(commanders: Sequence[Person]) -> list[dict[str, str]]:
    """The Owner of a postmortem row: the first commander Notion takes in a people value (a
    bot, or a user it showed us only by id, would fail the whole create)."""
    return [{"id": p.id} for p in commanders if p.nameable][:1]


@dataclass
class PageEffects:
    store: Store
    notion: NotionGateway
    settings: Settings
    words: Wording
    writer: PageWriter
    write_row: WriteRow
    enqueue: Enqueue

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
        progress: Progress = dict(item.result or {})
        waited_s = (now - item.created_at).total_seconds()
        if not progress and record.permalink is None and waited_s < THREAD_WAIT_S:
            raise NotReadyError(f"incident {record.page_id} has no Slack thread to link to yet")
        save = self._saver(item)
        title = progress.setdefault("title", self._page_title(record, "timeline"))
        page = record.page_id
        # Made before the worker's memory was lost (its link cleared meanwhile): found again.
        look_first = expect(item.payload, CreateTimeline).look_first
        found = self.writer.find_child_page(page, title) if look_first else None
        if found is not None and "page_id" not in progress:
            progress.update(page_id=found, found=True)
            save(progress)
        if progress.get("found"):
            page_id = str(progress["page_id"])
        else:
            markdown = render_timeline_page(
                record.snapshot, self.settings, now, slack_thread_url=record.permalink
            )
            page_id = self.writer.create(
                parent={"type": "page_id", "page_id": page},
                properties={"title": _title(title)},
                blocks=markdown_to_blocks(markdown),
                progress=progress,
                save=save,
                find_existing=lambda: self.writer.find_child_page(page, title),
            )
        url = self._url(page_id, progress)
        self.store.set_page(page, timeline=page_id, now=now)
        self.write_row(page, {"timeline": url}, now)
        self.enqueue([Action(f"update_parent:{page}:timeline", page, UpdateParent())], now)
        return {**progress, "page_id": page_id, "url": url}

    def timeline_entry(
        self, item: OutboxItem, record: IncidentRecord, now: datetime
    ) -> dict[str, Any]:
        del now
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
            timeline_entry_markdown(_entry(a.payload), self.settings, day_of=declared)
            for a in self.store.actions_for(record.page_id)
            if isinstance(a.payload, AppendTimelineEntry)
        ]
        return "".join(entries)

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
        declared = record.snapshot.declared_at or record.snapshot.created_time
        markdown = timeline_entry_markdown(entry, self.settings, day_of=declared)
        progress: Progress = dict(item.result or {})
        ids = self.writer.append_all(
            page, markdown_to_blocks(markdown), progress, self._saver(item), what
        )
        return {**progress, "ids": ids}

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
