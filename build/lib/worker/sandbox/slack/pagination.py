"""Sandbox Slack: opaque cursors (`response_metadata.next_cursor`) and paging with `limit`.

Cursors look like Slack's: base64 of `next_ts:<ts digits>` for messages and `team:<id>`
for channel lists; `""` marks the last page and anything undecodable is `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from worker.sandbox.slack.errors import SlackError

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str

    @property
    def has_more(self) -> bool:
        return bool(self.next_cursor)


def encode_cursor(prefix: str, key: str) -> str:
    return base64.b64encode(f"{prefix}:{key}".encode()).decode()


def decode_cursor(cursor: str, prefix: str) -> str:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SlackError("invalid_cursor") from None
    head, sep, key = raw.partition(":")
    if head != prefix or not sep or not key:
        raise SlackError("invalid_cursor")
    return key


def paginate(
    items: Sequence[T],
    key: Callable[[T], str],
    prefix: str,
    cursor: str,
    limit: int,
    *,
    descending: bool | None = None,
) -> Page[T]:
    """`limit` items starting at the item whose key the cursor names.

    With `descending` set, keys are ordered (fixed-width digits), so a cursor whose item has
    gone since (a deleted message) resumes at the next item instead of failing.
    """
    start = 0
    if cursor:
        start = _resume_at([key(item) for item in items], decode_cursor(cursor, prefix), descending)
    chunk = list(items[start : start + limit])
    rest = items[start + limit :]
    return Page(chunk, encode_cursor(prefix, key(rest[0])) if rest else "")


def _resume_at(keys: list[str], wanted: str, descending: bool | None) -> int:
    if wanted in keys:
        return keys.index(wanted)
    if descending is None or not wanted.isdigit():
        raise SlackError("invalid_cursor")
    for index, key in enumerate(keys):
        if (key < wanted) if descending else (key > wanted):
            return index
    return len(keys)
