"""Notion emulator: its public face — state, the Starlette app, admin helpers, dump/load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from worker.sandbox.notion.conflicts import Conflicts
from worker.sandbox.notion.errors import validation_error
from worker.sandbox.notion.limits import NotionLimiter, NotionLimits
from worker.sandbox.notion.pages import add_row
from worker.sandbox.notion.properties import ValueParser
from worker.sandbox.notion.records import PageRec
from worker.sandbox.notion.richtext import text_item
from worker.sandbox.notion.routes import OPERATIONS, Api, build_app
from worker.sandbox.notion.schema import find_property, status_config
from worker.sandbox.notion.store import State
from worker.sandbox.notion.users import Actor, Directory
from worker.sandbox.workspace import Workspace

# What a forced refusal says (one of Notion's own validation messages).
REFUSAL_MESSAGE = (
    "body failed validation: body.children[0].paragraph.rich_text[0].text.content.length "
    "should be ≤ `2000`, instead was `2001`."
)

PARENT_PAGE_TITLE = "Incident response"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class NotionEmulator:
    """An in-memory Notion workspace speaking the REST API (Notion-Version 2025-09-03).

    `app` serves `/v1/...` plus admin routes under `/_sandbox/`; the Python helpers below do
    what only a person in the Notion UI could do (share pages, edit status options) or what
    benchmarks need (bulk rows). All of them are thread-safe.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        limits: NotionLimits | None = None,
        clock: Callable[[], datetime] = _utc_now,
        conflict_window_s: float = 0.0,
        limit_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workspace = workspace
        # The request limits; `limiter.clock` (monotonic seconds) may be moved by a test.
        self.limiter = NotionLimiter(limits if limits is not None else NotionLimits(), limit_clock)
        self.clock = clock
        self.lock = threading.RLock()
        self.directory = Directory(workspace)
        self.state = State(self.directory, clock)
        self.conflicts = Conflicts()
        self.conflicts.set_window(conflict_window_s)
        self._seed()
        api = Api(self.state, self.lock, self.limiter, self, self.conflicts)
        self.app = build_app(api)

    def _seed(self) -> None:
        """The workspace-level parent page, created by a person and shared with the bot."""
        creator = (
            self.workspace.people[0].notion_id if self.workspace.people else self.directory.bot_id
        )
        now = self.state.now_minute_ms()
        page = PageRec(
            id=self.workspace.parent_page_id,
            parent={"type": "workspace", "workspace": True},
            properties={"title": [text_item(PARENT_PAGE_TITLE)]},
            created_ms=now,
            edited_ms=now,
            created_by=creator,
            edited_by=creator,
        )
        self.state.pages[page.id] = page
        self.state.shared.add(page.id)

    # -- admin helpers ----------------------------------------------------------------------

    def share(self, object_id: str, shared: bool = True) -> None:
        """Share (or stop sharing) a page or database with the integration, as in the UI."""
        with self.lock:
            target = object_id
            if object_id in self.state.data_sources:
                target = self.state.data_sources[object_id].database_id
            if self.state.record(target) is None:
                raise KeyError(f"no Notion object with id {object_id}")
            if shared:
                self.state.shared.add(target)
            else:
                self.state.shared.discard(target)

    def set_status_options(
        self, data_source_id: str, property_name: str, options: list[tuple[str, str]]
    ) -> None:
        """Replace a status property's options: (name, group) with group To-do, In progress
        or Complete. Stands in for a person editing them in Notion (the API cannot)."""
        with self.lock:
            source = self.state.data_sources.get(data_source_id)
            if source is None:
                raise KeyError(f"no data source with id {data_source_id}")
            prop = find_property(source.properties, property_name)
            if prop is None or prop["type"] != "status":
                raise KeyError(f"{property_name!r} is not a status property of {data_source_id}")
            prop["status"] = status_config(list(options), previous=prop["status"])
            kept = {o["id"] for o in prop["status"]["options"]}
            for row_id in source.rows:
                values = self.state.pages[row_id].properties
                if values.get(prop["id"]) not in kept:
                    values[prop["id"]] = None
            source.edited_ms = self.state.now_minute_ms()

    def force_conflicts(self, operation: str, count: int = 1, target: str | None = None) -> None:
        """The next `count` requests of `operation` ("pages.create", "pages.update",
        "blocks.children.append", ... as notion-client names them) answer 409
        `conflict_error` and are not carried out; with `target`, only those that write to
        that page (a block inside it, a page created under it) or data source (a row)."""
        _check_operation(operation)
        self.conflicts.force(operation, count, target)

    def force_refusals(
        self,
        operation: str,
        count: int = 1,
        target: str | None = None,
        message: str = REFUSAL_MESSAGE,
    ) -> None:
        """The next `count` requests of `operation` answer 400 `validation_error` (Notion
        refusing what they carry, as it does content it does not take) and are not carried
        out; `target` as for `force_conflicts`."""
        _check_operation(operation)
        self.conflicts.force(operation, count, target, lambda: validation_error(message))

    def set_conflict_window(
        self, window_s: float, clock: Callable[[], float] | None = None
    ) -> None:
        """From now on, a write collides (409) with another user's write to the same page
        or data source less than `window_s` seconds before (0: never); `clock` is the
        monotonic clock that measures it (tests pass their own)."""
        self.conflicts.set_window(window_s, clock)

    def set_limits(self, limits: NotionLimits) -> None:
        """Other request limits from now on (fresh windows), e.g. tight ones once a test has
        set its database up."""
        self.limiter.set_limits(limits)

    def use_up_budget(self, token: str | None = None) -> None:
        """What is left of a connection's (its token's) or the workspace's (None) request
        budget is spent now, as by other requests: the next one waits for the window to
        reset. For tests of what a client does when Notion asks it to wait."""
        self.limiter.use_up(token)

    def set_clock(self, clock: Callable[[], datetime]) -> None:
        """Use another clock from now on (e.g. one running behind, to give rows a history)."""
        with self.lock:
            self.clock = clock
            self.state.clock = clock

    def insert_pages(
        self, data_source_id: str, rows: list[dict[str, Any]], *, as_user: str | None = None
    ) -> list[str]:
        """Create many rows at once, bypassing HTTP and rate limits (same validation).

        Each row is a `properties` object as `POST /v1/pages` takes it. `as_user` is a user id
        or a person's name/email; None means the integration's bot.
        """
        with self.lock:
            source = self.state.data_sources.get(data_source_id)
            if source is None:
                raise KeyError(f"no data source with id {data_source_id}")
            user_id = self.directory.resolve(as_user)
            actor = Actor(user_id, is_bot=user_id == self.directory.bot_id)
            created = []
            for row in rows:
                parser = ValueParser(source.properties, self.state)
                values = parser.parse(row)
                parser.commit()
                created.append(add_row(self.state, actor, source, values).id)
            return created

    # -- persistence ------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The whole state as JSON-serialisable data."""
        with self.lock:
            return self.state.dump()

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.state.load(data)


def _check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        known = ", ".join(sorted(OPERATIONS))
        raise KeyError(f"no Notion operation {operation!r}; the operations are {known}")
