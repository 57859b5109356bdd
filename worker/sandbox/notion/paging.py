"""Notion emulator: pagination — `page_size`, `start_cursor` (the next item's id), list bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worker.sandbox.notion.errors import invalid
from worker.sandbox.notion.ids import parse_id

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100


def page_size(raw: object, path: str) -> int:
    """`page_size` from a JSON body: a number (the OpenAPI document's `{type: number}`; a
    string such as `"10"` is refused, as Notion refuses it)."""
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not isinstance(raw, int | float) or isinstance(raw, bool) or raw != int(raw):
        raise invalid(path, "a number", raw)
    if raw < 1:
        raise invalid(path, "≥ `1`", raw)
    if raw > MAX_PAGE_SIZE:
        raise invalid(path, f"≤ `{MAX_PAGE_SIZE}`", raw)
    return int(raw)


def query_page_size(raw: str | None, path: str) -> int:
    """`page_size` from a query string, where every value is text: digits are a number."""
    if raw is not None and raw.strip().lstrip("-").isdigit():
        return page_size(int(raw), path)
    return page_size(raw, path)


def start_cursor(raw: object, path: str) -> str | None:
    if raw is None:
        return None
    cursor = parse_id(raw)
    if cursor is None:
        raise invalid(path, "a valid uuid", raw)
    return cursor


def window(ids: Sequence[str], cursor: str | None, size: int, path: str) -> tuple[int, int]:
    """(start, end) of the page that begins at `cursor` (an id in `ids`)."""
    start = 0
    if cursor is not None:
        try:
            start = list(ids).index(cursor)
        except ValueError:
            raise invalid(path, "a cursor returned by a previous request", cursor) from None
    return start, min(start + size, len(ids))


def list_body(
    results: list[dict[str, Any]], next_cursor: str | None, type_name: str
) -> dict[str, Any]:
    return {
        "object": "list",
        "results": results,
        "next_cursor": next_cursor,
        "has_more": next_cursor is not None,
        "type": type_name,
        type_name: {},
    }
