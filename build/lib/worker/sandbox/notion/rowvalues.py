"""Notion emulator: comparable values of a row's properties, for query filters and sorts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.sandbox.notion.dates import parse_instant
from worker.sandbox.notion.records import PageRec
from worker.sandbox.notion.richtext import plain_text
from worker.sandbox.notion.schema import Prop
from worker.sandbox.notion.timefmt import from_ms

Extractor = Callable[[PageRec], Any]
TEXT_TYPES = frozenset(["title", "rich_text", "url", "email", "phone_number"])


@dataclass(frozen=True)
class QueryEnv:
    """What evaluating a query needs: the schema, `now` (relative dates) and who "me" is."""

    schema: list[Prop]
    now: datetime
    me: str
    user_name: Callable[[str], str]


def _option_names(prop: Prop) -> dict[str, str]:
    return {o["id"]: o["name"] for o in prop[prop["type"]]["options"]}


def _date_start(stored: Any) -> datetime | None:
    if not stored:
        return None
    return parse_instant(str(stored["start"]))


def extractor(prop: Prop) -> Extractor:
    prop_id, prop_type = prop["id"], prop["type"]
    if prop_type in ("title", "rich_text"):
        return lambda page: plain_text(page.properties.get(prop_id) or [])
    if prop_type in ("url", "email", "phone_number"):
        return lambda page: page.properties.get(prop_id) or ""
    if prop_type in ("select", "status"):
        names = _option_names(prop)
        return lambda page: names.get(page.properties.get(prop_id) or "")
    if prop_type == "multi_select":
        names = _option_names(prop)
        return lambda page: [names[o] for o in page.properties.get(prop_id) or [] if o in names]
    if prop_type == "date":
        return lambda page: _date_start(page.properties.get(prop_id))
    if prop_type in META_EXTRACTORS:
        return META_EXTRACTORS[prop_type]
    default: Any = False if prop_type == "checkbox" else None
    if prop_type in ("people", "relation", "files"):
        default = []
    return lambda page: page.properties.get(prop_id, default)


META_EXTRACTORS: dict[str, Extractor] = {
    "created_time": lambda page: from_ms(page.created_ms),
    "last_edited_time": lambda page: from_ms(page.edited_ms),
    "created_by": lambda page: [page.created_by],
    "last_edited_by": lambda page: [page.edited_by],
    "unique_id": lambda page: page.row_number,
    "formula": lambda page: None,
    "rollup": lambda page: None,
}
