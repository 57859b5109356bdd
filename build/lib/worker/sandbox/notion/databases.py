"""Notion emulator: databases (containers) and data sources (schemas) — create, read, update."""

from __future__ import annotations

from worker.sandbox.notion.content import set_trashed, trash_flag
from worker.sandbox.notion.errors import (
    archived_error,
    check_keys,
    invalid,
    require_bool,
    require_dict,
    validation_error,
)
from worker.sandbox.notion.icons import parse_cover, parse_icon
from worker.sandbox.notion.ids import new_id
from worker.sandbox.notion.pages import WORKSPACE_PAGE_MESSAGE
from worker.sandbox.notion.records import DatabaseRec, DataSourceRec, Json
from worker.sandbox.notion.richtext import parse_rich_text, plain_text
from worker.sandbox.notion.schema import SchemaUpdate, initial_schema
from worker.sandbox.notion.store import State, object_url, require_id
from worker.sandbox.notion.timefmt import iso_offset, iso_z
from worker.sandbox.notion.users import Actor

_DATABASE_CREATE_KEYS = (
    "parent",
    "title",
    "description",
    "is_inline",
    "initial_data_source",
    "icon",
    "cover",
)
_DATABASE_UPDATE_KEYS = (
    "title",
    "description",
    "icon",
    "cover",
    "in_trash",
    "archived",
    "is_inline",
    "is_locked",
)
_SOURCE_UPDATE_KEYS = (
    "title",
    "description",
    "icon",
    "cover",
    "properties",
    "in_trash",
    "archived",
)


class _SchemaLinks:
    """Relations may point at data sources the caller can see."""

    def __init__(self, state: State, actor: Actor) -> None:
        self.state = state
        self.actor = actor

    def relation_database(self, data_source_id: str) -> str | None:
        source = self.state.data_sources.get(data_source_id)
        if source is None or not self.state.can_see(self.actor, data_source_id):
            return None
        return source.database_id


# -- rendering ------------------------------------------------------------------------------


def render_database(state: State, database: DatabaseRec) -> Json:
    sources = [state.data_sources[s] for s in database.data_sources]
    return {
        "object": "database",
        "id": database.id,
        "title": database.title,
        "description": database.description,
        "parent": database.parent,
        "is_inline": database.is_inline,
        "in_trash": database.in_trash,
        "is_locked": database.is_locked,
        "created_time": iso_offset(database.created_ms),
        "last_edited_time": iso_offset(database.edited_ms),
        "data_sources": [
            {"id": s.id, "name": plain_text(s.title)} for s in sources if not s.in_trash
        ],
        "icon": database.icon,
        "cover": database.cover,
        "url": object_url(database.id),
        "public_url": None,
        "archived": database.in_trash,
    }


def render_data_source(state: State, source: DataSourceRec) -> Json:
    database = state.databases[source.database_id]
    return {
        "object": "data_source",
        "id": source.id,
        "cover": source.cover,
        "icon": source.icon,
        "created_time": iso_z(source.created_ms),
        "created_by": {"object": "user", "id": source.created_by},
        "last_edited_by": {"object": "user", "id": source.edited_by},
        "last_edited_time": iso_z(source.edited_ms),
        "title": source.title,
        "description": source.description,
        "is_inline": database.is_inline,
        "properties": {p["name"]: dict(p) for p in source.properties},
        "parent": {"type": "database_id", "database_id": database.id},
        "database_parent": database.parent,
        "url": object_url(database.id),
        "public_url": None,
        "in_trash": source.in_trash,
        "archived": source.in_trash,
    }


# -- databases ------------------------------------------------------------------------------


def _database_parent(state: State, actor: Actor, raw: object) -> Json:
    parent = require_dict(raw, "body.parent")
    if parent.get("workspace") is True:
        if actor.is_bot:
            raise validation_error(WORKSPACE_PAGE_MESSAGE)
        return {"type": "workspace", "workspace": True}
    if "page_id" not in parent:
        raise invalid("body.parent.page_id", "defined", None)
    page = state.page(actor, require_id(parent["page_id"], "body.parent.page_id"))
    if page.in_trash:
        raise archived_error()
    return {"type": "page_id", "page_id": page.id}


def create_database(state: State, actor: Actor, body: Json) -> Json:
    check_keys(body, _DATABASE_CREATE_KEYS, "body")
    if "parent" not in body:
        raise invalid("body.parent", "defined", None)
    parent = _database_parent(state, actor, body["parent"])
    title = parse_rich_text(body.get("title", []), "body.title", state)
    description = parse_rich_text(body.get("description", []), "body.description", state)
    initial = require_dict(body.get("initial_data_source") or {}, "body.initial_data_source")
    check_keys(initial, ("properties",), "body.initial_data_source")
    schema = initial_schema(
        initial.get("properties"), "body.initial_data_source.properties", _SchemaLinks(state, actor)
    )
    now = state.now_ms()
    database = DatabaseRec(
        id=new_id(),
        parent=parent,
        title=title,
        description=description,
        created_ms=now,
        edited_ms=now,
        created_by=actor.user_id,
        edited_by=actor.user_id,
        is_inline=require_bool(body.get("is_inline", False), "body.is_inline"),
        icon=parse_icon(body.get("icon"), "body.icon"),
        cover=parse_cover(body.get("cover"), "body.cover"),
    )
    state.databases[database.id] = database
    _add_source(state, actor, database, [dict(t) for t in title], schema, icon=None)
    container = parent.get("page_id")
    if container is not None:
        state.children_of(container).append(database.id)
        state.touch_content(container, actor)
    return render_database(state, database)


def _add_source(
    state: State,
    actor: Actor,
    database: DatabaseRec,
    title: list[Json],
    schema: list[Json],
    *,
    icon: Json | None,
) -> DataSourceRec:
    now = state.now_minute_ms()
    source = DataSourceRec(
        id=new_id(),
        database_id=database.id,
        title=title,
        description=[],
        properties=schema,
        created_ms=now,
        edited_ms=now,
        created_by=actor.user_id,
        edited_by=actor.user_id,
        icon=icon,
    )
    state.data_sources[source.id] = source
    database.data_sources.append(source.id)
    return source


def retrieve_database(state: State, actor: Actor, database_id: str) -> Json:
    return render_database(state, state.database(actor, database_id))


def update_database(state: State, actor: Actor, database_id: str, body: Json) -> Json:
    check_keys(body, _DATABASE_UPDATE_KEYS, "body")
    database = state.database(actor, database_id)
    trash = trash_flag(body)
    if database.in_trash and trash is not False:
        raise archived_error()
    title = parse_rich_text(body.get("title", database.title), "body.title", state)
    description = parse_rich_text(
        body.get("description", database.description), "body.description", state
    )
    icon = parse_icon(body["icon"], "body.icon") if "icon" in body else database.icon
    cover = parse_cover(body["cover"], "body.cover") if "cover" in body else database.cover
    is_inline = require_bool(body.get("is_inline", database.is_inline), "body.is_inline")
    is_locked = require_bool(body.get("is_locked", database.is_locked), "body.is_locked")
    database.title, database.description = title, description
    database.icon, database.cover = icon, cover
    database.is_inline, database.is_locked = is_inline, is_locked
    database.edited_ms, database.edited_by = state.now_ms(), actor.user_id
    if trash is not None:
        set_trashed(state, actor, database.id, trashed=trash)
    return render_database(state, database)


# -- data sources ---------------------------------------------------------------------------


def create_data_source(state: State, actor: Actor, body: Json) -> Json:
    check_keys(body, ("parent", "properties", "title", "icon"), "body")
    parent = require_dict(body.get("parent"), "body.parent")
    check_keys(parent, ("type", "database_id"), "body.parent")
    database = state.database(
        actor, require_id(parent.get("database_id"), "body.parent.database_id")
    )
    if database.in_trash:
        raise archived_error()
    if "properties" not in body:
        raise invalid("body.properties", "defined", None)
    schema = initial_schema(body["properties"], "body.properties", _SchemaLinks(state, actor))
    title = parse_rich_text(body.get("title", []), "body.title", state)
    icon = parse_icon(body.get("icon"), "body.icon")
    source = _add_source(state, actor, database, title, schema, icon=icon)
    return render_data_source(state, source)


def retrieve_data_source(state: State, actor: Actor, source_id: str) -> Json:
    return render_data_source(state, state.data_source(actor, source_id))


def update_data_source(state: State, actor: Actor, source_id: str, body: Json) -> Json:
    check_keys(body, _SOURCE_UPDATE_KEYS, "body")
    source = state.data_source(actor, source_id)
    trash = trash_flag(body)
    if source.in_trash and trash is not False:
        raise archived_error()
    title = parse_rich_text(body.get("title", source.title), "body.title", state)
    description = parse_rich_text(
        body.get("description", source.description), "body.description", state
    )
    icon = parse_icon(body["icon"], "body.icon") if "icon" in body else source.icon
    cover = parse_cover(body["cover"], "body.cover") if "cover" in body else source.cover
    update = SchemaUpdate(source.properties, _SchemaLinks(state, actor))
    if "properties" in body:
        update.apply(body["properties"], "body.properties")
    source.title, source.description, source.icon, source.cover = title, description, icon, cover
    source.properties = update.props
    _drop_stale_values(state, source, update.changed)
    if trash is not None:
        source.in_trash = trash
    source.edited_ms, source.edited_by = state.now_minute_ms(), actor.user_id
    return render_data_source(state, source)


def _drop_stale_values(state: State, source: DataSourceRec, changed: set[str]) -> None:
    if not changed:
        return
    for row_id in source.rows:
        values = state.pages[row_id].properties
        for prop_id in changed:
            values.pop(prop_id, None)


def list_templates(state: State, actor: Actor, source_id: str) -> Json:
    """The sandbox has no page templates; the real answer carries no `request_id` either."""
    state.data_source(actor, source_id)
    return {"templates": [], "has_more": False, "next_cursor": None}
