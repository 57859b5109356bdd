"""Pages: write Notion pages and blocks in as many requests as Notion's limits need, once.

Creating a page and appending blocks are not idempotent, and Notion has no idempotency
key. So progress is saved after every request (the outbox keeps it), a request whose
outcome is unknown is recorded as such before it is sent, and on the next attempt the
page is looked up (a child page with our title, created by us) and the blocks compared
with what is already there, instead of sending them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from worker.errors import ServiceError
from worker.notion import NotionGateway
from worker.pages.blocks import Block
from worker.pages.limits import (
    BlockRef,
    execute_requests,
    plan_requests,
    referenced_requests,
)
from worker.pages.parse import ChildBlock, block_text

log = logging.getLogger("worker.pages")

Progress = dict[str, Any]
SaveFn = Callable[[Progress], None]
T = TypeVar("T")


def same_blocks(existing: Sequence[ChildBlock], wanted: Sequence[Block]) -> bool:
    """Blocks Notion lists look like the ones we sent (type, text and mentions)."""
    if len(existing) != len(wanted):
        return False
    return all(
        e.type == w.get("type") and e.text == block_text(w)
        for e, w in zip(existing, wanted, strict=True)
    )


def contains_blocks(existing: Sequence[ChildBlock], wanted: Sequence[Block]) -> bool:
    """`wanted` is somewhere among `existing`, one after another."""
    size = len(wanted)
    return size > 0 and any(
        same_blocks(existing[start : start + size], wanted)
        for start in range(len(existing) - size + 1)
    )


class PageWriter:
    def __init__(self, notion: NotionGateway, bot_user_id: Callable[[], str | None]) -> None:
        self.notion = notion
        self.bot_user_id = bot_user_id

    # --- appending ----------------------------------------------------------------------

    def append_once(
        self,
        parent_id: str,
        children: list[Block],
        progress: Progress,
        save: SaveFn,
        slot: str,
        *,
        after: str | None = None,
    ) -> list[str]:
        """Append `children` under `parent_id` (at the end, or right after its child block
        `after`) exactly once; `slot` names this append in `progress` so a retry after an
        unknown outcome checks before sending again."""
        done = progress.setdefault("appended", {})
        if slot in done:
            return list(done[slot])
        if progress.get("uncertain") == slot:
            found = self._find_appended(parent_id, children, after)
            if found is not None:
                log.info("blocks for %s were already appended; not appending them again", slot)
                return self._record(progress, save, slot, found)
        progress["uncertain"] = slot
        save(progress)
        ids = self._send(
            lambda: self.notion.append_blocks(parent_id, children, after=after), progress, save
        )
        return self._record(progress, save, slot, ids)

    def append_all(
        self, parent_id: str, blocks: list[Block], progress: Progress, save: SaveFn, slot: str
    ) -> list[str]:
        """Append any amount of blocks under `parent_id`, exactly once, in as many requests
        as Notion's limits need; the ids of the top-level blocks created."""
        requests = plan_requests(blocks)
        indices: Iterator[int] = iter(range(len(requests)))

        def append(parent: str, children: list[Block]) -> list[str]:
            index = next(indices)  # the first keeps the bare slot name of single appends
            name = slot if index == 0 else f"{slot}-{index}"
            return self.append_once(parent, children, progress, save, name)

        created = execute_requests(requests, parent_id, append)
        return [
            block_id
            for index, request in enumerate(requests)
            if not isinstance(request.parent, BlockRef)
            for block_id in created[index]
        ]

    @staticmethod
    def _send(send: Callable[[], T], progress: Progress, save: SaveFn) -> T:
        """Send a request that must not be repeated (`progress` says it is uncertain). When
        Notion refused it (4xx: a conflict, a rate limit, a validation error), nothing was
        saved: the mark goes, and the next attempt sends again without looking first."""
        try:
            return send()
        except ServiceError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                progress.pop("uncertain", None)
                save(progress)
            raise

    @staticmethod
    def _record(progress: Progress, save: SaveFn, slot: str, ids: list[str]) -> list[str]:
        progress.setdefault("appended", {})[slot] = ids
        progress.pop("uncertain", None)
        save(progress)
        return ids

    def _find_appended(
        self, parent_id: str, children: Sequence[Block], after: str | None = None
    ) -> list[str] | None:
        """The blocks an append whose outcome is unknown made, if it made them: at the end,
        or right after `after`."""
        existing = list(self.notion.child_blocks(parent_id))
        ids = [block.id for block in existing]
        start = ids.index(after) + 1 if after in ids else len(existing) - len(children)
        run = existing[start : start + len(children)] if children and start >= 0 else []
        if children and same_blocks(run, children):
            return [block.id for block in run]
        return None

    def already_there(self, parent_id: str, runs: Sequence[Sequence[Block]]) -> list[bool]:
        """For each run of blocks, whether `parent_id` has it among its children already (a
        page found again, made by an earlier worker, may have been made with them)."""
        if not runs:
            return []
        existing = list(self.notion.child_blocks(parent_id))
        return [contains_blocks(existing, run) for run in runs]

    # --- creating -----------------------------------------------------------------------

    def find_child_page(self, parent_id: str, title: str) -> str | None:
        """A child page with this exact title that we created (reconciliation)."""
        bot = self.bot_user_id()
        for block in self.notion.child_blocks(parent_id):
            if block.type != "child_page" or block.in_trash or block.title != title:
                continue
            if bot is None or block.created_by == bot:
                return block.id
        return None

    def create(
        self,
        *,
        parent: dict[str, Any],
        properties: dict[str, Any],
        blocks: list[Block],
        progress: Progress,
        save: SaveFn,
        find_existing: Callable[[], str | None],
    ) -> str:
        """Create the page with its first batch of blocks, then append the rest."""
        requests = plan_requests(blocks)
        page_id = progress.get("page_id")
        if page_id is None and progress.get("uncertain") == "create":
            page_id = find_existing()
            if page_id:
                log.info("the page was already created (%s); not creating it again", page_id)
        if page_id is None:
            page_id = self._create(
                parent, properties, requests[0].children if requests else (), progress, save
            )
        else:
            progress["page_id"] = page_id
            progress.pop("uncertain", None)
            save(progress)
        self._append_rest(page_id, requests, progress, save)
        return str(page_id)

    def _create(
        self,
        parent: dict[str, Any],
        properties: dict[str, Any],
        first: Sequence[Block],
        progress: Progress,
        save: SaveFn,
    ) -> str:
        progress["uncertain"] = "create"
        save(progress)
        created = self._send(
            lambda: self.notion.create_page(parent, properties, first), progress, save
        )
        page_id = created.id
        progress["page_id"] = page_id
        if created.url:
            progress["url"] = created.url  # no need to ask for it again
        progress.pop("uncertain", None)
        save(progress)
        return page_id

    def _append_rest(
        self, page_id: str, requests: Sequence[Any], progress: Progress, save: SaveFn
    ) -> None:
        if len(requests) <= 1:
            return
        first_ids: list[str] = []
        if 0 in referenced_requests(requests):
            first_ids = [block.id for block in self.notion.child_blocks(page_id)][
                : len(requests[0].children)
            ]
        done: dict[int, Sequence[str]] = {0: first_ids}
        indices: Iterator[int] = iter(range(1, len(requests)))

        def append(parent_id: str, children: list[Block]) -> list[str]:
            return self.append_once(parent_id, children, progress, save, f"request-{next(indices)}")

        execute_requests(requests, page_id, append, done=done)
