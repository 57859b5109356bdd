"""Notion emulator: 409 `conflict_error` — which writes overlap, and conflicts forced by tests.

Notion refuses a write that collides with another write to the same object with 409
`conflict_error`, and saves nothing of it. The emulator carries requests out one at a time,
so "at the same time" is modelled as a window: a write to a page (its properties, any block
inside it, a page created under it) or to a data source (a row created in it) is refused
when another user wrote to the same page or data source less than `window_s` seconds before
(monotonic time, so a test's Notion clock does not matter; 0 turns it off). One writer
never collides with itself, and reads never collide. `force` makes the next requests of one
operation answer 409 whatever the timing: deterministic conflicts for tests (or another
error a test names, such as a 400 refusal).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from worker.sandbox.notion.errors import NotionError, conflict_error
from worker.sandbox.notion.ids import parse_id
from worker.sandbox.notion.records import Json
from worker.sandbox.notion.store import State, parent_ref

# The operations that write (the rest only read and never collide).
WRITES = frozenset(
    {
        "pages.create",
        "pages.update",
        "blocks.update",
        "blocks.delete",
        "blocks.children.append",
        "databases.update",
        "data_sources.update",
    }
)
_BLOCK_WRITES = ("blocks.update", "blocks.delete", "blocks.children.append")


def touched(state: State, operation: str, ids: list[str], body: Json) -> str | None:
    """The page or data source a request writes to (or, for a read, reads): where two
    requests can collide. None when the request names none (it fails validation anyway)."""
    if operation == "pages.create":
        return _create_target(state, body.get("parent"))
    if operation in _BLOCK_WRITES and ids:
        return _enclosing_page(state, ids[0])
    return ids[0] if ids else None


def _create_target(state: State, parent: object) -> str | None:
    if not isinstance(parent, dict):
        return None
    for key in ("page_id", "data_source_id"):
        if key in parent:
            return parse_id(parent[key])
    database_id = parse_id(parent.get("database_id"))
    database = state.databases.get(database_id or "")
    if database is None or not database.data_sources:
        return database_id
    return database.data_sources[0]


def _enclosing_page(state: State, block_id: str) -> str:
    """The page a block is in (a page is its own), however deeply nested."""
    current = block_id
    for _ in range(1000):
        block = state.blocks.get(current)
        if block is None:
            return current
        parent = parent_ref(block.parent)
        if parent is None:
            return current
        current = parent
    return current


@dataclass
class _Forced:
    remaining: int
    target: str | None
    error: Callable[[], NotionError]


class Conflicts:
    """The last write to each page or data source, and the conflicts tests asked for."""

    def __init__(self, window_s: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[str, float]] = {}
        self._forced: dict[str, list[_Forced]] = {}

    def set_window(self, window_s: float, clock: Callable[[], float] | None = None) -> None:
        if window_s < 0:
            raise ValueError(f"the conflict window must be 0 or more seconds, got {window_s}")
        with self._lock:
            self.window_s = window_s
            if clock is not None:
                self.clock = clock

    def force(
        self,
        operation: str,
        count: int,
        target: str | None,
        error: Callable[[], NotionError] = conflict_error,
    ) -> None:
        """The next `count` requests of `operation` (to `target` only, when given) answer
        `error` (409 unless told); they are carried out no more than a real conflict is."""
        if count < 1:
            raise ValueError(f"count must be 1 or more, got {count}")
        with self._lock:
            self._forced.setdefault(operation, []).append(_Forced(count, target, error))

    def check(self, operation: str, target: str | None, user_id: str) -> None:
        """Raise 409 when this request collides (or the error a test forced)."""
        with self._lock:
            forced = self._take_forced(operation, target)
            if forced is not None:
                raise forced()
            if operation not in WRITES or target is None or self.window_s <= 0:
                return
            last = self._last.get(target)
            if last is not None and last[0] != user_id and self.clock() - last[1] < self.window_s:
                raise conflict_error()

    def record(self, operation: str, target: str | None, user_id: str) -> None:
        """A write went through: it is the one later writes may collide with."""
        if operation in WRITES and target is not None:
            with self._lock:
                self._last[target] = (user_id, self.clock())

    def _take_forced(self, operation: str, target: str | None) -> Callable[[], NotionError] | None:
        for forced in self._forced.get(operation, []):
            if forced.target is None or forced.target == target:
                forced.remaining -= 1
                if forced.remaining == 0:
                    self._forced[operation].remove(forced)
                return forced.error
        return None
