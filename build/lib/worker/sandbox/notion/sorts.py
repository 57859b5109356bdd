"""Notion emulator: query sorts — validate `sorts`, order rows (empty values last, ties by id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.sandbox.notion.errors import (
    check_keys,
    invalid,
    require_dict,
    require_list,
    require_str,
    validation_error,
)
from worker.sandbox.notion.records import PageRec
from worker.sandbox.notion.rowvalues import META_EXTRACTORS, TEXT_TYPES, QueryEnv, extractor
from worker.sandbox.notion.schema import Prop, find_property

SortKey = Callable[[PageRec], tuple[bool, Any]]


def _sort_key(prop: Prop, env: QueryEnv) -> SortKey:
    get = extractor(prop)
    prop_type = prop["type"]
    if prop_type in ("select", "status", "multi_select"):
        order = {o["name"]: i for i, o in enumerate(prop[prop_type]["options"])}
        if prop_type == "multi_select":
            return lambda page: (bool(get(page)), tuple(order[n] for n in get(page)))
        return lambda page: (get(page) is not None, order.get(get(page) or "", 0))
    if prop_type in ("people", "created_by", "last_edited_by"):
        return lambda page: (bool(get(page)), ",".join(env.user_name(u) for u in get(page)))
    if prop_type in ("date", "created_time", "last_edited_time"):
        return lambda page: (get(page) is not None, get(page).timestamp() if get(page) else 0.0)
    if prop_type in ("number", "unique_id"):
        return lambda page: (get(page) is not None, get(page) or 0)
    if prop_type == "checkbox":
        return lambda page: (True, int(bool(get(page))))
    if prop_type in TEXT_TYPES:
        return lambda page: (get(page) != "", str(get(page)).casefold())
    return lambda page: (bool(get(page)), len(get(page) or []))


def _timestamp_key(kind: str) -> SortKey:
    get = META_EXTRACTORS[kind]
    return lambda page: (True, get(page))


def _ascending(key: SortKey) -> Callable[[PageRec], tuple[bool, Any]]:
    """Ascending with empty values last: present values sort first."""

    def ascending_key(page: PageRec) -> tuple[bool, Any]:
        present, value = key(page)
        return (not present, value)

    return ascending_key


def compile_sorts(
    raw: object, env: QueryEnv, path: str = "body.sorts"
) -> list[tuple[SortKey, bool]]:
    sorts = []
    for i, item in enumerate(require_list(raw, path)):
        entry = require_dict(item, f"{path}[{i}]")
        direction = entry.get("direction")
        if direction not in ("ascending", "descending"):
            raise invalid(f"{path}[{i}].direction", '`"ascending"` or `"descending"`', direction)
        if "timestamp" in entry:
            check_keys(entry, ("timestamp", "direction"), f"{path}[{i}]")
            kind = entry["timestamp"]
            if kind not in ("created_time", "last_edited_time"):
                raise invalid(f"{path}[{i}].timestamp", "a timestamp name", kind)
            key = _timestamp_key(kind)
        else:
            check_keys(entry, ("property", "direction"), f"{path}[{i}]")
            name = require_str(entry.get("property"), f"{path}[{i}].property")
            prop = find_property(env.schema, name)
            if prop is None:
                raise validation_error(f"Could not find sort property with name or id: {name}")
            key = _sort_key(prop, env)
        sorts.append((key, direction == "descending"))
    return sorts


def order_rows(rows: list[PageRec], sorts: list[tuple[SortKey, bool]]) -> list[PageRec]:
    """Sorted rows; empty values last in either direction; ties broken by id.

    Without sorts Notion's default order applies (here: newest created first).
    """
    ordered = sorted(rows, key=lambda page: page.id)
    if not sorts:
        ordered.sort(key=lambda page: page.created_ms, reverse=True)
        return ordered
    for key, descending in reversed(sorts):
        # Descending: (present, value) reversed puts present values first, largest first.
        ordered.sort(key=key if descending else _ascending(key), reverse=descending)
    return ordered
