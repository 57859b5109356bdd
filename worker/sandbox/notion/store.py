"""Notion emulator: the in-memory state — objects by id, parents, sharing, lookups, dump/load."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from worker.sandbox.notion.errors import NotionError, invalid, not_found
from worker.sandbox.notion.ids import compact_id, parse_id
from worker.sandbox.notion.records import BlockRec, DatabaseRec, DataSourceRec, Json, PageRec
from worker.sandbox.notion.richtext import plain_text
from worker.sandbox.notion.timefmt import epoch_ms, floor_minute
from worker.sandbox.notion.users import Actor, Directory

_SLUG_JUNK = re.compile(r"[^A-Za-z0-9]+")
_DUMP_FORMAT = 1


def parent_ref(parent: Json) -> str | None:
    """The id a parent object points at (None for the workspace)."""
    kind = parent.get("type")
    if kind == "workspace" or kind is None:
        return None
    return str(parent[kind])


def require_id(raw: object, path: str) -> str:
    object_id = parse_id(raw)
    if object_id is None:
        raise invalid(path, "a valid uuid", raw)
    return object_id


def object_url(object_id: str) -> str:
    return f"https://app.notion.com/p/{compact_id(object_id)}"


def page_url(page_id: str, title: str) -> str:
    slug = _SLUG_JUNK.sub("-", title).strip("-")
    prefix = f"{slug}-" if slug else ""
    return f"https://app.notion.com/p/{prefix}{compact_id(page_id)}"


class State:
    """Everything the emulator knows; callers hold the emulator's lock while using it."""

    def __init__(self, directory: Directory, clock: Callable[[], datetime]) -> None:
        self.directory = directory
        self.clock = clock
        self.pages: dict[str, PageRec] = {}
        self.blocks: dict[str, BlockRec] = {}
        self.databases: dict[str, DatabaseRec] = {}
        self.data_sources: dict[str, DataSourceRec] = {}
        self.shared: set[str] = set()

    # -- time -------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return epoch_ms(self.clock())

    def now_minute_ms(self) -> int:
        return floor_minute(self.now_ms())

    # -- tree and sharing -------------------------------------------------------------------

    def parent_of(self, object_id: str) -> str | None:
        if object_id in self.pages:
            return parent_ref(self.pages[object_id].parent)
        if object_id in self.blocks:
            return parent_ref(self.blocks[object_id].parent)
        if object_id in self.databases:
            return parent_ref(self.databases[object_id].parent)
        if object_id in self.data_sources:
            return self.data_sources[object_id].database_id
        return None

    def can_see(self, actor: Actor, object_id: str) -> bool:
        """People see everything; the bot sees what is shared with it or below a shared object
        (another integration is taken to have everything shared with it)."""
        if not actor.is_bot or actor.user_id != self.directory.bot_id:
            return True
        current: str | None = object_id
        hops = 0
        while current is not None and hops < 1000:
            if current in self.shared:
                return True
            current = self.parent_of(current)
            hops += 1
        return False

    def children_of(self, container_id: str) -> list[str]:
        if container_id in self.pages:
            return self.pages[container_id].children
        if container_id in self.blocks:
            return self.blocks[container_id].children
        return []

    def is_trashed(self, object_id: str) -> bool:
        record = self.record(object_id)
        return bool(getattr(record, "in_trash", False))

    def has_children(self, container_id: str) -> bool:
        return any(not self.is_trashed(c) for c in self.children_of(container_id))

    def record(self, object_id: str) -> PageRec | BlockRec | DatabaseRec | DataSourceRec | None:
        return (
            self.pages.get(object_id)
            or self.blocks.get(object_id)
            or self.databases.get(object_id)
            or self.data_sources.get(object_id)
        )

    # -- lookups that answer 404 the way Notion does ----------------------------------------

    def missing(self, kind: str, object_id: str) -> NotionError:
        return not_found(kind, object_id, self.directory.bot_name, self.directory.bot_id)

    def page(self, actor: Actor, object_id: str) -> PageRec:
        page = self.pages.get(object_id)
        if page is None or not self.can_see(actor, object_id):
            raise self.missing("page", object_id)
        return page

    def database(self, actor: Actor, object_id: str) -> DatabaseRec:
        database = self.databases.get(object_id)
        if database is None or not self.can_see(actor, object_id):
            raise self.missing("database", object_id)
        return database

    def data_source(self, actor: Actor, object_id: str) -> DataSourceRec:
        source = self.data_sources.get(object_id)
        if source is None or not self.can_see(actor, object_id):
            raise self.missing("data source", object_id)
        return source

    def block_like(self, actor: Actor, object_id: str) -> PageRec | BlockRec | DatabaseRec:
        """Block endpoints also answer for pages (`child_page`) and databases."""
        found = (
            self.blocks.get(object_id) or self.pages.get(object_id) or self.databases.get(object_id)
        )
        if found is None or not self.can_see(actor, object_id):
            raise self.missing("block", object_id)
        return found

    # -- titles, urls and mentions ----------------------------------------------------------

    def page_title(self, page: PageRec) -> str:
        return plain_text(page.properties.get("title") or [])

    def page_url(self, page: PageRec) -> str:
        return page_url(page.id, self.page_title(page))

    def mention_user(self, user_id: str) -> dict[str, Any] | None:
        return self.directory.user(user_id)

    def mention_target(self, kind: str, object_id: str) -> tuple[str, str]:
        if kind == "page" and object_id in self.pages:
            page = self.pages[object_id]
            return self.page_title(page) or "Untitled", self.page_url(page)
        if kind == "database" and object_id in self.databases:
            title = plain_text(self.databases[object_id].title)
            return title or "Untitled", object_url(object_id)
        return "Untitled", object_url(object_id)

    def user_object(self, user_id: str) -> dict[str, Any] | None:
        return self.directory.user(user_id)

    def is_row_of(self, page_id: str, data_source_id: str) -> bool:
        page = self.pages.get(page_id)
        return page is not None and page.parent.get("data_source_id") == data_source_id

    # -- edits ------------------------------------------------------------------------------

    def touch_page(self, page: PageRec, actor: Actor) -> None:
        page.edited_ms = self.now_minute_ms()
        page.edited_by = actor.user_id

    def touch_content(self, container_id: str, actor: Actor) -> None:
        """A content edit marks the containing blocks and the page around them as edited."""
        current: str | None = container_id
        now = self.now_minute_ms()
        while current is not None:
            if current in self.pages:
                page = self.pages[current]
                page.edited_ms, page.edited_by = now, actor.user_id
                return
            block = self.blocks.get(current)
            if block is None:
                return
            block.edited_ms, block.edited_by = now, actor.user_id
            current = parent_ref(block.parent)

    # -- persistence ------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "format": _DUMP_FORMAT,
            "pages": [asdict(p) for p in self.pages.values()],
            "blocks": [asdict(b) for b in self.blocks.values()],
            "databases": [asdict(d) for d in self.databases.values()],
            "data_sources": [asdict(s) for s in self.data_sources.values()],
            "shared": sorted(self.shared),
        }

    def load(self, data: dict[str, Any]) -> None:
        if data.get("format") != _DUMP_FORMAT:
            raise ValueError(f"unknown Notion sandbox state format {data.get('format')!r}")
        data = copy.deepcopy(data)  # the caller keeps its copy; ours must not share with it
        self.pages = {p["id"]: PageRec(**p) for p in data["pages"]}
        self.blocks = {b["id"]: BlockRec(**b) for b in data["blocks"]}
        self.databases = {d["id"]: DatabaseRec(**d) for d in data["databases"]}
        self.data_sources = {s["id"]: DataSourceRec(**s) for s in data["data_sources"]}
        self.shared = set(data["shared"])
