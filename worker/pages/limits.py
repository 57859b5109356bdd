"""Notion blocks → API requests: enforce Notion's size limits and plan the append calls."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from worker.pages.blocks import Block, RichText

MAX_TEXT_UTF16: Final = 2000  # text.content and text.link.url, counted like JS `.length`
MAX_EQUATION_UTF16: Final = 1000
MAX_ARRAY_ITEMS: Final = 100  # rich_text, cells, captions
MAX_TABLE_WIDTH: Final = 100
MAX_CHILDREN_PER_REQUEST: Final = 100
MAX_BLOCKS_PER_REQUEST: Final = 1000
MAX_REQUEST_BYTES: Final = 500_000
# Leaves room for the envelope of `pages.create` (parent, properties, icon) and for any
# difference between our byte count and Notion's definition of "500 KB".
REQUEST_BYTES_BUDGET: Final = 450_000
# One block's rich text is also split by size, so that any single block fits a request.
_BLOCK_TEXT_BYTES: Final = 100_000

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_ELLIPSIS: Final = "…"
_REQUEST_ENVELOPE_BYTES: Final = len('{"children":[]}')
_CHILDREN_KEY_BYTES: Final = len(',"children":[]')
# Blocks that Notion only creates together with at least one child.
_NEEDS_CHILDREN: Final = frozenset({"table"})


class BlockTooLargeError(ValueError):
    """A single block (with the children it must be created with) exceeds one request."""

    def __init__(self, block_type: str, size_bytes: int, budget_bytes: int) -> None:
        super().__init__(
            f"a {block_type} block needs {size_bytes} bytes in one request but the budget is "
            f"{budget_bytes}; shorten its table rows or split it in the template"
        )
        self.block_type = block_type
        self.size_bytes = size_bytes
        self.budget_bytes = budget_bytes


class PlanExecutionError(RuntimeError):
    """Executing a request plan went wrong in a way the plan cannot recover from."""

    def __init__(self, request_index: int, reason: str) -> None:
        super().__init__(f"request {request_index}: {reason}")
        self.request_index = request_index
        self.reason = reason


# --- UTF-16 text ------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as Notion counts it (JavaScript `.length`): astral characters count 2."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _clean(text: str) -> str:
    """Join surrogate pairs and replace lone surrogates, which cannot be sent as UTF-8."""
    if not _SURROGATE.search(text):
        return text
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _SURROGATE.sub("\ufffd", joined)


def split_utf16(text: str, limit: int = MAX_TEXT_UTF16) -> list[str]:
    """Split `text` into consecutive pieces of at most `limit` UTF-16 code units.

    Cuts only between code points, so a surrogate pair is never separated. Always returns
    at least one piece (`[""]` for the empty string).
    """
    text = _clean(text)
    if len(text) * 2 <= limit:
        return [text]
    pieces: list[str] = []
    start = 0
    units = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            pieces.append(text[start:index])
            start, units = index, 0
        units += width
    pieces.append(text[start:])
    return pieces


# --- the limits pass --------------------------------------------------------------------


def enforce_limits(blocks: Sequence[Block]) -> list[Block]:
    """Return a copy of `blocks` that respects Notion's per-object limits.

    * every `text.content` ≤ 2000 UTF-16 units (split into consecutive items with the same
      annotations and link); a link URL over 2000 units is dropped, the text kept;
    * an inline `equation.expression` over 1000 units becomes code-annotated text, an
      equation block over 1000 units becomes a `latex` code block;
    * a block whose `rich_text` has more than 100 items (or more than ~100 KB of it) is
      split into consecutive blocks of the same type; children go with the last part;
    * table width ≤ 100 columns (extra columns dropped), table cells and captions ≤ 100
      items (the overflow is merged into one plain-text item, cut at 2000 units).

    Request-level limits (children per request, nesting, 1000 blocks, 500 KB) are
    `plan_requests`'s job. The input is not modified.
    """
    limited: list[Block] = []
    for block in blocks:
        limited.extend(_limit_block(block))
    return limited


def _limit_block(block: Block) -> list[Block]:
    kind = block.get("type")
    body = block.get(kind) if isinstance(kind, str) else None
    if not isinstance(kind, str) or not isinstance(body, dict):
        return [dict(block)]
    if kind == "equation" and utf16_len(str(body.get("expression", ""))) > MAX_EQUATION_UTF16:
        return _limit_block(_equation_as_code(block, body))
    new_body = dict(body)
    if "children" in body:
        new_body["children"] = enforce_limits(body["children"])
    if "caption" in body:
        new_body["caption"] = _fit_items(split_rich_text(body["caption"]))
    if kind == "table" and not body.get("children"):
        return []  # Notion cannot create a table without rows
    if kind == "table":
        new_body["table_width"] = min(int(body.get("table_width", 1)), MAX_TABLE_WIDTH)
    if kind == "table_row":
        new_body["cells"] = [
            _fit_items(split_rich_text(cell)) for cell in body.get("cells", [])[:MAX_TABLE_WIDTH]
        ]
    if "rich_text" not in body:
        return [{**block, kind: new_body}]
    return _split_block(block, kind, new_body)


def _equation_as_code(block: Block, body: dict[str, Any]) -> Block:
    expression = str(body.get("expression", ""))
    code = {"rich_text": [{"type": "text", "text": {"content": expression}}], "language": "latex"}
    return {key: value for key, value in block.items() if key != "equation"} | {
        "type": "code",
        "code": code,
    }


def _split_block(block: Block, kind: str, body: dict[str, Any]) -> list[Block]:
    chunks = _chunk_items(split_rich_text(body["rich_text"]))
    trailing: dict[str, Any] = {key: body[key] for key in ("children", "caption") if key in body}
    shared = {key: value for key, value in body.items() if key not in trailing}
    parts: list[Block] = []
    for position, chunk in enumerate(chunks):
        part_body = {**shared, "rich_text": chunk}
        if position == len(chunks) - 1:
            part_body.update(trailing)
        parts.append({**block, kind: part_body})
    return parts


def _chunk_items(items: list[RichText]) -> list[list[RichText]]:
    """Consecutive groups of ≤ 100 items and ≤ `_BLOCK_TEXT_BYTES` each (at least one)."""
    chunks: list[list[RichText]] = [[]]
    size = 0
    for item in items:
        item_size = json_size(item) + 1
        current = chunks[-1]
        if current and (len(current) == MAX_ARRAY_ITEMS or size + item_size > _BLOCK_TEXT_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_size
    return chunks


def split_rich_text(items: Sequence[RichText]) -> list[RichText]:
    """Split every rich-text item so that each respects the per-item text limits."""
    return [piece for item in items for piece in _split_item(item)]


def _split_item(item: RichText) -> list[RichText]:
    text = item.get("text")
    if isinstance(text, dict):
        return _split_text_item(item, text)
    equation = item.get("equation")
    if isinstance(equation, dict):
        expression = str(equation.get("expression", ""))
        if utf16_len(expression) > MAX_EQUATION_UTF16:
            annotations = {**item.get("annotations", {}), "code": True}
            content = {"content": expression}
            as_text = {"type": "text", "text": content, "annotations": annotations}
            return _split_text_item(as_text, content)
    return [dict(item)]


def _split_text_item(item: RichText, text: dict[str, Any]) -> list[RichText]:
    new_text = dict(text)
    new_item = dict(item)
    link = text.get("link")
    if isinstance(link, dict):
        url = _clean(str(link.get("url", "")))
        if utf16_len(url) > MAX_TEXT_UTF16:
            new_text.pop("link")
            new_item.pop("href", None)
        else:
            new_text["link"] = {**link, "url": url}
    pieces = split_utf16(str(text.get("content", "")))
    result: list[RichText] = []
    for piece in pieces:
        part = {**new_item, "text": {**new_text, "content": piece}}
        if "plain_text" in item:
            part["plain_text"] = piece
        result.append(part)
    return result


def _fit_items(items: list[RichText]) -> list[RichText]:
    """At most 100 items; the overflow becomes one plain-text item (the one lossy rule)."""
    if len(items) <= MAX_ARRAY_ITEMS:
        return items
    overflow = "".join(_item_text(item) for item in items[MAX_ARRAY_ITEMS - 1 :])
    if utf16_len(overflow) > MAX_TEXT_UTF16:
        overflow = split_utf16(overflow, MAX_TEXT_UTF16 - 1)[0] + _ELLIPSIS
    return [*items[: MAX_ARRAY_ITEMS - 1], {"type": "text", "text": {"content": overflow}}]


def _item_text(item: RichText) -> str:
    text = item.get("text")
    if isinstance(text, dict):
        return str(text.get("content", ""))
    return str(item.get("plain_text", ""))


# --- request planning -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RootRef:
    """The parent the whole tree is written under (the page, or a block given by id)."""


ROOT: Final = RootRef()


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block created by an earlier request: its position among that request's children.

    Only first-level children are referenced because Notion's append response (and the
    `append` callable of `execute_requests`) returns ids for those alone.
    """

    request_index: int
    child_index: int


ParentRef: TypeAlias = RootRef | BlockRef


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One `PATCH /v1/blocks/{parent}/children` call (or the `children` of `pages.create`)."""

    parent: ParentRef
    children: tuple[Block, ...]


def plan_requests(
    blocks: Sequence[Block],
    first_batch_limit: int = MAX_CHILDREN_PER_REQUEST,
    *,
    budget_bytes: int = REQUEST_BYTES_BUDGET,
) -> list[AppendRequest]:
    """Plan the requests that create `enforce_limits(blocks)` as a tree, in order.

    Every request carries ≤ 100 children, ≤ 2 levels of nesting below them (a child's
    children may not have children, as in the OpenAPI `blockObjectRequest` schemas),
    ≤ 1000 block objects and ≤ `budget_bytes` of JSON as httpx serialises it (compact
    UTF-8). A request's parent is `ROOT` or a `BlockRef` to a block created by an
    *earlier* request. All `ROOT` requests come first, in document order, so a follow-up
    batch of top-level blocks always lands after the earlier ones; deeper children are
    appended once their parent exists. A table keeps up to 100 rows in its creating request;
    the rest are appended to the table.

    Page creation: `requests[0]` (if any) has parent `ROOT` and at most `first_batch_limit`
    children, so it may be sent as `pages.create(children=list(requests[0].children))`.
    Then run the rest with `execute_requests(..., done={0: ids})`, where `ids` are the ids of
    the page's first-level blocks (`blocks.children.list(page_id)`); that listing is only
    needed when `0 in referenced_requests(requests)`, otherwise pass `done={0: []}`.

    Raises `BlockTooLargeError` if one block cannot fit a request even alone (only possible
    for a table row of several hundred KB).
    """
    if not 1 <= first_batch_limit <= MAX_CHILDREN_PER_REQUEST:
        raise ValueError(
            f"first_batch_limit must be within 1..{MAX_CHILDREN_PER_REQUEST}, "
            f"got {first_batch_limit}"
        )
    pending: deque[tuple[ParentRef, list[Block]]] = deque()
    limited = enforce_limits(blocks)
    if limited:
        pending.append((ROOT, limited))
    requests: list[AppendRequest] = []
    while pending:
        parent, queued = pending.popleft()
        limit = first_batch_limit if not requests else MAX_CHILDREN_PER_REQUEST
        batch = _Batch(limit_children=limit, budget_bytes=budget_bytes)
        rest = batch.fill(queued)
        index = len(requests)
        requests.append(AppendRequest(parent, tuple(batch.children)))
        if rest:
            pending.appendleft((parent, rest))  # same parent next keeps siblings in order
        for child_index, leftover in batch.deferred:
            pending.append((BlockRef(index, child_index), leftover))
    return requests


def referenced_requests(requests: Sequence[AppendRequest]) -> frozenset[int]:
    """Indices of the requests whose created block ids later requests need."""
    return frozenset(
        request.parent.request_index for request in requests if isinstance(request.parent, BlockRef)
    )


AppendFn: TypeAlias = Callable[[str, list[Block]], Sequence[str]]


def execute_requests(
    requests: Sequence[AppendRequest],
    root_id: str,
    append: AppendFn,
    *,
    done: Mapping[int, Sequence[str]] | None = None,
) -> dict[int, list[str]]:
    """Run a plan through `append(parent_id, children) -> ids of the created first-level
    blocks, in order`, resolving each `BlockRef` to a real id.

    Requests whose index is in `done` are skipped and their ids taken from it (a first
    batch sent with `pages.create`, or a resumed run). Returns the ids of every request.
    """
    created: dict[int, list[str]] = {index: list(ids) for index, ids in (done or {}).items()}
    for index, request in enumerate(requests):
        if index in created:
            continue
        parent_id = _resolve(request.parent, root_id, created, index)
        ids = list(append(parent_id, list(request.children)))
        if len(ids) != len(request.children):
            raise PlanExecutionError(
                index, f"append returned {len(ids)} ids for {len(request.children)} blocks"
            )
        created[index] = ids
    return created


def _resolve(
    parent: ParentRef, root_id: str, created: Mapping[int, Sequence[str]], index: int
) -> str:
    if isinstance(parent, RootRef):
        return root_id
    ids = created.get(parent.request_index)
    if ids is None or parent.child_index >= len(ids):
        raise PlanExecutionError(
            index,
            f"parent block {parent.child_index} of request {parent.request_index} has no id "
            "(was that request's `done` entry given without ids?)",
        )
    return ids[parent.child_index]


def json_size(value: object) -> int:
    """Bytes of `value` as httpx sends it: compact JSON, UTF-8, non-ASCII unescaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def children_of(block: Block) -> list[Block]:
    """The `children` of a request block (they live inside its type body)."""
    body = block.get(str(block.get("type")))
    children = body.get("children") if isinstance(body, dict) else None
    return children if isinstance(children, list) else []


def count_blocks(blocks: Sequence[Block]) -> int:
    """Number of block objects in `blocks`, nested ones included."""
    return sum(1 + count_blocks(children_of(block)) for block in blocks)


def _with_children(block: Block, children: list[Block]) -> Block:
    kind = str(block.get("type"))
    body = {key: value for key, value in block[kind].items() if key != "children"}
    if children:
        body["children"] = children
    return {**block, kind: body}


def _fits_whole_below(block: Block) -> bool:
    """Whether `block` can be sent as a second-level child, with all of its children."""
    children = children_of(block)
    if block.get("type") in _NEEDS_CHILDREN and not children:
        return False
    return len(children) <= MAX_CHILDREN_PER_REQUEST and not any(
        children_of(child) for child in children
    )


@dataclass(frozen=True, slots=True)
class _Placed:
    block: Block
    leftover: list[Block]
    elements: int
    size_bytes: int


def _place(block: Block, elements_left: int, bytes_left: int) -> _Placed | None:
    """`block` as a first-level child with as many leading children as fit, or None."""
    children = children_of(block)
    bare = _with_children(block, [])
    size = json_size(bare) + _CHILDREN_KEY_BYTES
    elements = 1
    kept: list[Block] = []
    for child in children:
        if len(kept) == MAX_CHILDREN_PER_REQUEST or not _fits_whole_below(child):
            break
        child_elements = count_blocks([child])
        child_size = json_size(child) + 1
        if elements + child_elements > elements_left or size + child_size > bytes_left:
            break
        kept.append(child)
        elements += child_elements
        size += child_size
    if not kept and (children and block.get("type") in _NEEDS_CHILDREN):
        return None
    if elements > elements_left or size > bytes_left:
        return None
    return _Placed(_with_children(block, kept), children[len(kept) :], elements, size)


@dataclass
class _Batch:
    limit_children: int
    budget_bytes: int
    children: list[Block] = field(default_factory=list)
    deferred: list[tuple[int, list[Block]]] = field(default_factory=list)
    elements: int = 0
    size_bytes: int = _REQUEST_ENVELOPE_BYTES

    def fill(self, queued: list[Block]) -> list[Block]:
        """Take blocks from the front of `queued` while they fit; return the rest."""
        for position, block in enumerate(queued):
            if len(self.children) == self.limit_children:
                return queued[position:]
            separator = 1 if self.children else 0
            placed = _place(
                block,
                MAX_BLOCKS_PER_REQUEST - self.elements,
                self.budget_bytes - self.size_bytes - separator,
            )
            if placed is None:
                if not self.children:
                    raise BlockTooLargeError(
                        str(block.get("type")), json_size(block), self.budget_bytes
                    )
                return queued[position:]
            if placed.leftover:
                self.deferred.append((len(self.children), placed.leftover))
            self.children.append(placed.block)
            self.elements += placed.elements
            self.size_bytes += placed.size_bytes + separator
        return []
