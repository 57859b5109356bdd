"""Notion emulator: `POST /v1/data_sources/{id}/query` and `POST /v1/search`."""

from __future__ import annotations

from worker.sandbox.notion.databases import render_data_source
from worker.sandbox.notion.errors import check_keys, invalid, require_dict, require_str
from worker.sandbox.notion.filters import compile_filter
from worker.sandbox.notion.pages import render_page
from worker.sandbox.notion.paging import list_body, page_size, start_cursor, window
from worker.sandbox.notion.records import DataSourceRec, Json, PageRec
from worker.sandbox.notion.richtext import plain_text
from worker.sandbox.notion.rowvalues import QueryEnv
from worker.sandbox.notion.sorts import SortKey, compile_sorts, order_rows
from worker.sandbox.notion.store import State
from worker.sandbox.notion.users import Actor

# One query returns at most this many rows; past it the list ends with `request_status`.
QUERY_RESULT_LIMIT = 10_000
_INCOMPLETE = {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}
_QUERY_KEYS = (
    "filter",
    "sorts",
    "start_cursor",
    "page_size",
    "in_trash",
    "archived",
    "result_type",
)


def query_data_source(
    state: State, actor: Actor, source_id: str, body: Json, only: list[str] | None
) -> Json:
    check_keys(body, _QUERY_KEYS, "body")
    source = state.data_source(actor, source_id)
    env = QueryEnv(source.properties, state.clock(), actor.user_id, state.directory.name)
    predicate = compile_filter(body["filter"], env) if body.get("filter") is not None else None
    sorts = compile_sorts(body.get("sorts") or [], env)
    size = page_size(body.get("page_size"), "body.page_size")
    cursor = start_cursor(body.get("start_cursor"), "body.start_cursor")
    result_type = body.get("result_type", "page")
    if result_type not in ("page", "data_source"):
        raise invalid("body.result_type", '`"page"` or `"data_source"`', result_type)
    # `in_trash: true` lists the rows in the trash instead of the others.
    trashed = bool(body.get("in_trash") or body.get("archived"))
    rows = [state.pages[r] for r in source.rows] if result_type == "page" else []
    matching = [p for p in rows if p.in_trash == trashed and (predicate is None or predicate(p))]
    ordered = order_rows(matching, sorts)[:QUERY_RESULT_LIMIT]
    start = _cursor_position(
        state, source, ordered=ordered, matching=matching, sorts=sorts, cursor=cursor
    )
    page = ordered[start : start + size]
    next_cursor = ordered[start + size].id if start + size < len(ordered) else None
    result = list_body(
        [render_page(state, p, only) for p in page], next_cursor, "page_or_data_source"
    )
    if len(matching) > QUERY_RESULT_LIMIT:
        result["request_status"] = dict(_INCOMPLETE)
    return result


def _cursor_position(
    state: State,
    source: DataSourceRec,
    *,
    ordered: list[PageRec],
    matching: list[PageRec],
    sorts: list[tuple[SortKey, bool]],
    cursor: str | None,
) -> int:
    """Where the page starting at `cursor` begins.

    A cursor is the id of the next row. If that row stopped matching since (it was edited),
    the page starts where it would sort now, so no other row is skipped.
    """
    if cursor is None:
        return 0
    index = {p.id: i for i, p in enumerate(ordered)}
    if cursor in index:
        return index[cursor]
    row = state.pages.get(cursor)
    if row is None or row.parent.get("data_source_id") != source.id:
        raise invalid("body.start_cursor", "a cursor returned by a previous request", cursor)
    if any(p.id == cursor for p in matching):
        return len(ordered)  # past the result limit
    placed = order_rows([*matching, row], sorts)
    position = next(i for i, p in enumerate(placed) if p.id == cursor)
    return min(position, len(ordered))


# -- search ---------------------------------------------------------------------------------


def _search_filter(raw: object) -> str | None:
    if raw is None:
        return None
    given = require_dict(raw, "body.filter")
    check_keys(given, ("property", "value"), "body.filter")
    if given.get("property") != "object":
        raise invalid("body.filter.property", '`"object"`', given.get("property"))
    if given.get("value") not in ("page", "data_source"):
        raise invalid("body.filter.value", '`"page"` or `"data_source"`', given.get("value"))
    return str(given["value"])


def _search_direction(raw: object) -> bool:
    if raw is None:
        return True
    sort = require_dict(raw, "body.sort")
    check_keys(sort, ("timestamp", "direction"), "body.sort")
    if sort.get("timestamp") != "last_edited_time":
        raise invalid("body.sort.timestamp", '`"last_edited_time"`', sort.get("timestamp"))
    if sort.get("direction") not in ("ascending", "descending"):
        raise invalid(
            "body.sort.direction", '`"ascending"` or `"descending"`', sort.get("direction")
        )
    return bool(sort["direction"] == "descending")


def search(state: State, actor: Actor, body: Json) -> Json:
    """Titles containing `query` (case-insensitive) among what the token can see."""
    check_keys(body, ("query", "filter", "sort", "start_cursor", "page_size"), "body")
    query = require_str(body.get("query", ""), "body.query").casefold()
    kind = _search_filter(body.get("filter"))
    descending = _search_direction(body.get("sort"))
    size = page_size(body.get("page_size"), "body.page_size")
    cursor = start_cursor(body.get("start_cursor"), "body.start_cursor")
    found: list[tuple[int, str]] = []
    if kind in (None, "page"):
        for page in state.pages.values():
            if _searchable(
                state,
                actor,
                page.id,
                in_trash=page.in_trash,
                title=state.page_title(page),
                query=query,
            ):
                found.append((page.edited_ms, page.id))
    if kind in (None, "data_source"):
        for source in state.data_sources.values():
            title = plain_text(source.title)
            if _searchable(
                state, actor, source.id, in_trash=source.in_trash, title=title, query=query
            ):
                found.append((source.edited_ms, source.id))
    found.sort(key=lambda item: item[1])
    found.sort(key=lambda item: item[0], reverse=descending)
    ids = [item[1] for item in found]
    start, end = window(ids, cursor, size, "body.start_cursor")
    next_cursor = ids[end] if end < len(ids) else None
    results = [_render_found(state, object_id) for object_id in ids[start:end]]
    return list_body(results, next_cursor, "page_or_data_source")


def _searchable(
    state: State, actor: Actor, object_id: str, *, in_trash: bool, title: str, query: str
) -> bool:
    return not in_trash and query in title.casefold() and state.can_see(actor, object_id)


def _render_found(state: State, object_id: str) -> Json:
    if object_id in state.pages:
        return render_page(state, state.pages[object_id])
    return render_data_source(state, state.data_sources[object_id])
