"""Notion emulator: pages — create (rows and sub-pages), retrieve, update, property items."""

from __future__ import annotations

from typing import Any

from worker.sandbox.notion.blocks import BlockParser
from worker.sandbox.notion.content import insert_specs, set_trashed, trash_flag
from worker.sandbox.notion.errors import (
    archived_error,
    check_keys,
    invalid,
    not_present,
    require_bool,
    require_dict,
    validation_error,
)
from worker.sandbox.notion.icons import parse_cover, parse_icon
from worker.sandbox.notion.ids import new_id
from worker.sandbox.notion.paging import list_body, query_page_size
from worker.sandbox.notion.properties import (
    ValueParser,
    default_status_option,
    render_properties,
    render_value,
)
from worker.sandbox.notion.records import DataSourceRec, Json, PageRec
from worker.sandbox.notion.richtext import parse_rich_text
from worker.sandbox.notion.schema import Prop, find_property
from worker.sandbox.notion.store import State, require_id
from worker.sandbox.notion.timefmt import iso_z
from worker.sandbox.notion.users import Actor

_TITLE_PROP: Prop = {"id": "title", "name": "title", "description": None, "type": "title"}
_CREATE_KEYS = (
    "parent",
    "properties",
    "icon",
    "cover",
    "children",
    "content",
    "template",
    "position",
    "markdown",
)
_UPDATE_KEYS = (
    "properties",
    "icon",
    "cover",
    "is_locked",
    "in_trash",
    "archived",
    "template",
    "erase_content",
)
WORKSPACE_PAGE_MESSAGE = (
    "Internal integrations aren't owned by a single user, so creating workspace-level "
    "private pages is not supported."
)


def schema_of(state: State, page: PageRec) -> list[Prop] | None:
    """The data-source schema of a row, or None for a page under a page or the workspace."""
    source_id = page.parent.get("data_source_id")
    if source_id is None or source_id not in state.data_sources:
        return None
    return state.data_sources[source_id].properties


def render_page(state: State, page: PageRec, only: list[str] | None = None) -> Json:
    schema = schema_of(state, page)
    if schema is None:
        schema = [_TITLE_PROP] if page.parent.get("type") != "data_source_id" else []
    return {
        "object": "page",
        "id": page.id,
        "created_time": iso_z(page.created_ms),
        "last_edited_time": iso_z(page.edited_ms),
        "created_by": {"object": "user", "id": page.created_by},
        "last_edited_by": {"object": "user", "id": page.edited_by},
        "cover": page.cover,
        "icon": page.icon,
        "parent": page.parent,
        "in_trash": page.in_trash,
        "is_archived": False,
        "is_locked": page.is_locked,
        "properties": render_properties(schema, page, state, only),
        "url": state.page_url(page),
        "public_url": None,
        "archived": page.in_trash,
    }


# -- create ---------------------------------------------------------------------------------


def _row_parent(state: State, actor: Actor, parent: Json) -> DataSourceRec:
    if "data_source_id" in parent:
        return state.data_source(
            actor, require_id(parent["data_source_id"], "body.parent.data_source_id")
        )
    database = state.database(actor, require_id(parent["database_id"], "body.parent.database_id"))
    sources = [s for s in database.data_sources if not state.data_sources[s].in_trash]
    if len(sources) != 1:
        raise validation_error(
            f"Database with ID {database.id} has {len(sources)} data sources; "
            "use a data_source_id parent to say which one the page belongs to."
        )
    return state.data_sources[sources[0]]


def _check_template(body: Json) -> None:
    template = body.get("template")
    if template is not None and require_dict(template, "body.template").get("type") != "none":
        raise invalid(
            "body.template.type", '`"none"` (the sandbox has no page templates)', template
        )
    if "markdown" in body:
        raise not_present("body.markdown", body["markdown"])


def _children_specs(state: State, body: Json) -> list[Any]:
    if "children" in body and "content" in body:
        raise validation_error("body failed validation: send either `children` or `content`.")
    key = "content" if "content" in body else "children"
    if key not in body:
        return []
    return BlockParser(state).parse_children(body[key], f"body.{key}")


def create_page(state: State, actor: Actor, body: Json) -> Json:
    check_keys(body, _CREATE_KEYS, "body")
    if "parent" not in body:
        raise invalid("body.parent", "defined", None)
    parent = require_dict(body["parent"], "body.parent")
    _check_template(body)
    icon = parse_icon(body.get("icon"), "body.icon")
    cover = parse_cover(body.get("cover"), "body.cover")
    if "data_source_id" in parent or "database_id" in parent:
        source = _row_parent(state, actor, parent)
        parser = ValueParser(source.properties, state)
        values = parser.parse(body.get("properties") or {})
        specs = _children_specs(state, body)
        parser.commit()
        page = add_row(state, actor, source, values)
    else:
        container = _page_container(state, actor, parent)
        title = _page_title(state, body.get("properties") or {})
        specs = _children_specs(state, body)
        page = _new_subpage(state, actor, container, title, body.get("position"))
    page.icon, page.cover = icon, cover
    insert_specs(state, actor, page.id, specs, None)
    return render_page(state, page)


def _page_container(state: State, actor: Actor, parent: Json) -> str | None:
    if parent.get("workspace") is True:
        if actor.is_bot:
            raise validation_error(WORKSPACE_PAGE_MESSAGE)
        return None
    if "page_id" not in parent:
        raise invalid(
            "body.parent", "one of page_id, database_id, data_source_id, workspace", parent
        )
    page = state.page(actor, require_id(parent["page_id"], "body.parent.page_id"))
    if page.in_trash:
        raise archived_error()
    return page.id


def _page_title(state: State, properties: object) -> list[Json]:
    given = require_dict(properties, "body.properties")
    for key, value in given.items():
        if key != "title":
            raise not_present(f"body.properties.{key}", value)
    raw = given.get("title", [])
    if isinstance(raw, dict):
        check_keys(raw, ("type", "id", "title"), "body.properties.title")
        raw = raw.get("title", [])
    return parse_rich_text(raw, "body.properties.title", state)


def add_row(state: State, actor: Actor, source: DataSourceRec, values: Json) -> PageRec:
    """Store a validated row: statuses not given start at their default option."""
    for prop in source.properties:
        if prop["type"] == "status" and prop["id"] not in values:
            values[prop["id"]] = default_status_option(prop)
    now = state.now_minute_ms()
    page = PageRec(
        id=new_id(),
        parent={
            "type": "data_source_id",
            "data_source_id": source.id,
            "database_id": source.database_id,
        },
        properties=values,
        created_ms=now,
        edited_ms=now,
        created_by=actor.user_id,
        edited_by=actor.user_id,
        row_number=source.next_row_number,
    )
    source.next_row_number += 1
    source.rows.append(page.id)
    state.pages[page.id] = page
    return page


def _new_subpage(
    state: State, actor: Actor, container: str | None, title: list[Json], position: object
) -> PageRec:
    now = state.now_minute_ms()
    parent: Json = (
        {"type": "workspace", "workspace": True}
        if container is None
        else {"type": "page_id", "page_id": container}
    )
    page = PageRec(
        id=new_id(),
        parent=parent,
        properties={"title": title},
        created_ms=now,
        edited_ms=now,
        created_by=actor.user_id,
        edited_by=actor.user_id,
    )
    state.pages[page.id] = page
    if container is not None:
        children = state.children_of(container)
        at = _subpage_position(children, position)
        children.insert(at, page.id)
        state.touch_content(container, actor)
    return page


def _subpage_position(children: list[str], raw: object) -> int:
    """`position`: page_end (default), page_start, or after_block (a child of the parent)."""
    if raw is None:
        return len(children)
    position = require_dict(raw, "body.position")
    kind = position.get("type")
    if kind == "page_start":
        return 0
    if kind == "after_block":
        after = require_dict(position.get("after_block"), "body.position.after_block")
        after_id = require_id(after.get("id"), "body.position.after_block.id")
        if after_id not in children:
            raise validation_error(f"Block with ID {after_id} is not a child of the parent page.")
        return children.index(after_id) + 1
    if kind != "page_end":
        raise invalid("body.position.type", '`"after_block"`, `"page_start"` or `"page_end"`', kind)
    return len(children)


# -- retrieve and update --------------------------------------------------------------------


def lookup_page(state: State, actor: Actor, page_id: str) -> PageRec:
    if page_id in state.databases and state.can_see(actor, page_id):
        raise validation_error(
            f"Provided ID {page_id} is a database, not a page. Use the retrieve database API "
            "instead, `GET /databases/:id`."
        )
    return state.page(actor, page_id)


def retrieve_page(state: State, actor: Actor, page_id: str, only: list[str] | None) -> Json:
    return render_page(state, lookup_page(state, actor, page_id), only)


def update_page(state: State, actor: Actor, page_id: str, body: Json) -> Json:
    check_keys(body, _UPDATE_KEYS, "body")
    page = lookup_page(state, actor, page_id)
    trash = trash_flag(body)
    if page.in_trash and trash is not False:
        raise archived_error()
    _check_template(body)
    parser = ValueParser(_writable_schema(state, page), state)
    values = parser.parse(_title_shorthand(page, body.get("properties") or {}))
    icon = parse_icon(body.get("icon"), "body.icon") if "icon" in body else page.icon
    cover = parse_cover(body.get("cover"), "body.cover") if "cover" in body else page.cover
    locked = require_bool(body.get("is_locked", page.is_locked), "body.is_locked")
    erase = require_bool(body.get("erase_content", False), "body.erase_content")
    parser.commit()
    if trash is False:
        set_trashed(state, actor, page.id, trashed=False)
    page.properties.update(values)
    page.icon, page.cover, page.is_locked = icon, cover, locked
    if erase:
        for child in list(page.children):
            set_trashed(state, actor, child, trashed=True)
    if body:
        state.touch_page(page, actor)
    if trash:
        set_trashed(state, actor, page.id, trashed=True)
    return render_page(state, page)


def _title_shorthand(page: PageRec, properties: object) -> object:
    """Pages outside data sources also take `{"title": [rich text]}`."""
    if page.parent.get("type") == "data_source_id" or not isinstance(properties, dict):
        return properties
    title = properties.get("title")
    return {**properties, "title": {"title": title}} if isinstance(title, list) else properties


def _writable_schema(state: State, page: PageRec) -> list[Prop]:
    schema = schema_of(state, page)
    return schema if schema is not None else [_TITLE_PROP]


# -- property items -------------------------------------------------------------------------

_PAGINATED = ("title", "rich_text", "people", "relation")


def property_item(
    state: State, actor: Actor, page_id: str, property_id: str, query: dict[str, Any]
) -> Json:
    """`GET /v1/pages/{id}/properties/{property_id}`: lists for title/rich_text/people/relation."""
    page = lookup_page(state, actor, page_id)
    prop = find_property(_writable_schema(state, page), property_id)
    if prop is None:
        raise validation_error(f"{property_id} is not a property that exists.")
    if prop["type"] not in _PAGINATED:
        value = render_value(prop, page, state)
        return {"object": "property_item", **value}
    items = _property_items(state, prop, page)
    size = query_page_size(query.get("page_size"), "query.page_size")
    start = _item_cursor(query.get("start_cursor"), len(items))
    end = min(start + size, len(items))
    next_cursor = str(end) if end < len(items) else None
    body = list_body(items[start:end], next_cursor, "property_item")
    next_url = None
    if next_cursor is not None:
        next_url = (
            f"https://api.notion.com/v1/pages/{page.id}/properties/{prop['id']}"
            f"?start_cursor={next_cursor}"
        )
    body["property_item"] = {
        "id": prop["id"],
        "next_url": next_url,
        "type": prop["type"],
        prop["type"]: {},
    }
    return body


def _property_items(state: State, prop: Prop, page: PageRec) -> list[Json]:
    prop_type = prop["type"]
    stored = page.properties.get(prop["id"]) or []
    items = []
    for entry in stored:
        if prop_type == "people":
            value: Any = state.user_object(entry) or {"object": "user", "id": entry}
        elif prop_type == "relation":
            value = {"id": entry}
        else:
            value = entry
        items.append(
            {"object": "property_item", "type": prop_type, "id": prop["id"], prop_type: value}
        )
    return items


def _item_cursor(raw: object, count: int) -> int:
    if raw is None:
        return 0
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) > count:
        raise invalid("query.start_cursor", "a cursor returned by a previous request", raw)
    return int(raw)
