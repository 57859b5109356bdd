"""Notion emulator: identifiers — new UUIDs, ids accepted with or without dashes, short ids."""

from __future__ import annotations

import random
import re
import string
import uuid
from collections.abc import Collection
from urllib.parse import quote, unquote

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")

# Property and option ids are short strings that Notion URL-encodes ("%3CLrR"). "/", "%",
# "?" and "#" are left out so that an id always survives being put into a URL path.
_SHORT_ALPHABET = string.ascii_letters + string.digits + "<>=;:@[]^_`{|}~!$&()*+,"
_rng = random.SystemRandom()


def new_id() -> str:
    return str(uuid.uuid4())


def parse_id(raw: object) -> str | None:
    """The canonical (lowercase, dashed) form of an id, or None when `raw` is not one."""
    if not isinstance(raw, str):
        return None
    compact = raw.replace("-", "")
    if not _HEX32.match(compact):
        return None
    return str(uuid.UUID(compact))


def compact_id(object_id: str) -> str:
    return object_id.replace("-", "")


def new_short_id(taken: Collection[str], length: int = 4) -> str:
    """A URL-encoded short id (like Notion's property ids) not in `taken`."""
    while True:
        raw = "".join(_rng.choice(_SHORT_ALPHABET) for _ in range(length))
        encoded = quote(raw, safe="")
        if encoded not in taken and encoded != "title":
            return encoded


def same_short_id(stored: str, given: str) -> bool:
    """Property ids arrive encoded (query strings) or decoded (URL paths); accept both."""
    return given in (stored, unquote(stored))
