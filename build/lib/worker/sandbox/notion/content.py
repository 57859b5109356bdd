"""Notion emulator: page content — block objects, children lists, append, update, delete."""

from __future__ import annotations

from worker.sandbox.notion.blocks import (
    SUPPORTED_TYPES,
    BlockParser,
    BlockSpec,
    check_row_width,
)
from worker.sandbox.notion.errors import (
    archived_error,
    check_keys,
    invalid,
    require_bool,
    require_dict,
    validation_error,
)
from worker.sandbox.notion.ids import new_id
from worker.sandbox.notion.paging import list_body, window
from worker.sandbox.notion.records import BlockRec, DatabaseRec, Json, PageRec
from worker.sandbox.notion.richtext import plain_text
from worker.sandbox.notion.store import State, parent_ref, require_id
from worker.sandbox.notion.timefmt import floor_minute, iso_z
from worker.sandbox.notion.users import Actor

_CAN_HOLD_CHILDREN = frozenset(
    [
        "paragraph",
        "bulleted_list_item",
        "numbered_list_item",
        "quote",
        "toggle",
        "to_do",
        "callout",
        "heading_1",
        "heading_2",
        "heading_3",
        "table",
    ]
)


def _user_ref(user_id: str) -> Json:
    return {"object": "user", "id": user_id}


def _envelope(
    state: State,
    record: PageRec | BlockRec | DatabaseRec,
    block_type: str,
    content: Json,
    parent: Json,
) -> Json:
    is_database = isinstance(record, DatabaseRec)
    return {
        "object": "block",
        "id": record.id,
        "parent": parent,
        "created_time": iso_z(floor_minute(record.created_ms)),
        "last_edited_time": iso_z(floor_minute(record.edited_ms)),
        "created_by": _user_ref(record.created_by),
        "last_edited_by": _user_ref(record.edited_by),
        "has_children": False if is_database else state.has_children(record.id),
        "in_trash": record.in_trash,
        "type": block_type,
        block_type: content,
        "archived": record.in_trash,
    }


def render_block(state: State, object_id: str) -> Json:
    """Any child of a page or block: a content block, a `child_page` or a `child_database`."""
    if object_id in state.pages:
        page = state.pages[object_id]
        title = {"title": state.page_title(page)}
        return _envelope(state, page, "child_page", title, page.parent)
    if object_id in state.databases:
        database = state.databases[object_id]
        title = {"title": plain_text(database.title)}
        return _envelope(state, database, "child_database", title, database.parent)
    block = state.blocks[object_id]
    return _envelope(state, block, block.type, block.content, block.parent)


def insert_specs(
    state: State, actor: Actor, container_id: str, specs: list[BlockSpec], at: int | None
) -> list[str]:
    """Store validated blocks (recursively) under a page or block; returns the new ids."""
    now = state.now_minute_ms()
    kind = "page_id" if container_id in state.pages else "block_id"
    new_ids = []
    for spec in specs:
        block = BlockRec(
            id=new_id(),
            type=spec.type,
            content=spec.content,
            parent={"type": kind, kind: container_id},
            created_ms=now,
            edited_ms=now,
            created_by=actor.user_id,
            edited_by=actor.user_id,
        )
        state.blocks[block.id] = block
        insert_specs(state, actor, block.id, spec.children, None)
        new_ids.append(block.id)
    children = state.children_of(container_id)
    position = len(children) if at is None else at
    children[position:position] = new_ids
    return new_ids


def _position(state: State, container_id: str, body: Json) -> int | None:
    """Where appended blocks go: `after` (2025-09-03) or `position` (2026-03-11 style)."""
    if "after" in body and "position" in body:
        raise validation_error("body failed validation: send either `after` or `position`.")
    children = state.children_of(container_id)
    after: object = body.get("after")
    if "position" in body:
        position = require_dict(body["position"], "body.position")
        kind = position.get("type")
        if kind == "start":
            return 0
        if kind == "end":
            return None
        if kind != "after_block":
            raise invalid("body.position.type", '`"after_block"`, `"start"` or `"end"`', kind)
        after = require_dict(position.get("after_block"), "body.position.after_block").get("id")
        path = "body.position.after_block.id"
    else:
        path = "body.after"
    if after is None:
        return None
    after_id = require_id(after, path)
    if after_id not in children:
        raise validation_error(
            f"Block with ID {after_id} is not a child of block with ID {container_id}."
        )
    return children.index(after_id) + 1


def _container(state: State, actor: Actor, block_id: str) -> PageRec | BlockRec:
    record = state.block_like(actor, block_id)
    if isinstance(record, DatabaseRec):
        raise validation_error(
            "Can't append blocks to a database; create pages in its data source instead."
        )
    if record.in_trash:
        raise archived_error()
    if isinstance(record, BlockRec) and record.type not in _CAN_HOLD_CHILDREN:
        raise validation_error(f"Block type {record.type} does not support children.")
    return record


def _check_table_children(record: PageRec | BlockRec, specs: list[BlockSpec]) -> None:
    """Tables take only rows of their width; rows go nowhere else."""
    width = record.content.get("table_width") if isinstance(record, BlockRec) else None
    is_table = isinstance(record, BlockRec) and record.type == "table"
    for i, spec in enumerate(specs):
        if (spec.type == "table_row") != is_table:
            raise invalid(f"body.children[{i}].type", "a block that fits its parent", spec.type)
        if is_table and width is not None:
            check_row_width(spec.content, width, f"body.children[{i}].table_row")


def append_children(state: State, actor: Actor, block_id: str, body: Json) -> Json:
    check_keys(body, ("children", "after", "position"), "body")
    record = _container(state, actor, block_id)
    if "children" not in body:
        raise invalid("body.children", "defined", None)
    specs = BlockParser(state).parse_children(body["children"], "body.children")
    _check_table_children(record, specs)
    at = _position(state, record.id, body)
    new_ids = insert_specs(state, actor, record.id, specs, at)
    state.touch_content(record.id, actor)
    return list_body([render_block(state, i) for i in new_ids], None, "block")


def list_children(state: State, actor: Actor, block_id: str, cursor: str | None, size: int) -> Json:
    record = state.block_like(actor, block_id)
    children = [] if isinstance(record, DatabaseRec) else record.children
    start, _ = window(children, cursor, len(children), "query.start_cursor")
    visible = [c for c in children[start:] if not state.is_trashed(c)]
    page = visible[:size]
    next_cursor = visible[size] if len(visible) > size else None
    return list_body([render_block(state, c) for c in page], next_cursor, "block")


def retrieve_block(state: State, actor: Actor, block_id: str) -> Json:
    record = state.block_like(actor, block_id)
    return render_block(state, record.id)


def trash_flag(body: Json) -> bool | None:
    flags = {k: require_bool(body[k], f"body.{k}") for k in ("in_trash", "archived") if k in body}
    if len(set(flags.values())) > 1:
        raise validation_error("body failed validation: in_trash and archived disagree.")
    return next(iter(flags.values()), None)


def set_trashed(state: State, actor: Actor, object_id: str, trashed: bool) -> None:
    """Trash or restore a page, database or block; the containing page counts as edited."""
    record = state.record(object_id)
    if record is None or record.in_trash == trashed:
        return
    record.in_trash = trashed
    if isinstance(record, DatabaseRec):
        record.edited_ms, record.edited_by = state.now_ms(), actor.user_id
    elif isinstance(record, PageRec):
        state.touch_page(record, actor)
    else:
        state.touch_content(record.id, actor)
    parent = state.parent_of(object_id)
    if parent is not None and not isinstance(record, BlockRec):
        state.touch_content(parent, actor)


def update_block(state: State, actor: Actor, block_id: str, body: Json) -> Json:
    record = state.block_like(actor, block_id)
    trash = trash_flag(body)
    changes: Json | None = None
    if not isinstance(record, BlockRec):
        check_keys(body, ("in_trash", "archived"), "body")
    else:
        check_keys(body, ("type", record.type, "in_trash", "archived"), "body")
        if body.get("type", record.type) != record.type:
            raise invalid("body.type", f'`"{record.type}"`', body["type"])
        if record.type in body:
            changes = _content_changes(state, record, body[record.type])
    if record.in_trash and trash is not False:
        raise archived_error()
    if trash is False:
        set_trashed(state, actor, record.id, trashed=False)
    if isinstance(record, BlockRec) and changes is not None:
        record.content = {**record.content, **changes}
        state.touch_content(record.id, actor)
    if trash:
        set_trashed(state, actor, record.id, trashed=True)
    return render_block(state, record.id)


def _content_changes(state: State, block: BlockRec, raw: object) -> Json:
    if block.type not in SUPPORTED_TYPES:
        raise validation_error(f"Block type {block.type} can't be updated.")
    changes = BlockParser(state).parse_update(block.type, raw, f"body.{block.type}")
    if block.type == "table_row" and "cells" in changes:
        table = state.blocks.get(parent_ref(block.parent) or "")
        if table is not None and table.type == "table":
            check_row_width(changes, table.content["table_width"], f"body.{block.type}")
    return changes


def delete_block(state: State, actor: Actor, block_id: str) -> Json:
    record = state.block_like(actor, block_id)
    if record.in_trash:
        raise archived_error()
    set_trashed(state, actor, record.id, trashed=True)
    return render_block(state, record.id)
