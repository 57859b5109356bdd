"""Notion emulator: page property values — validate writes against the schema, render reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from worker.sandbox.notion.dates import normalise_date
from worker.sandbox.notion.errors import (
    check_keys,
    invalid,
    missing,
    require_bool,
    require_dict,
    require_list,
    require_str,
    too_long,
    validation_error,
)
from worker.sandbox.notion.ids import parse_id
from worker.sandbox.notion.records import PageRec
from worker.sandbox.notion.richtext import (
    MAX_URL,
    MentionResolver,
    check_user_ref,
    parse_rich_text,
    require_person,
)
from worker.sandbox.notion.schema import (
    ALL_TYPES,
    READ_ONLY_TYPES,
    Prop,
    check_option_name,
    find_property,
    new_option,
)
from worker.sandbox.notion.timefmt import iso_z

# Page objects list at most this many references per people/relation property.
PAGE_REFERENCE_CAP = 25
MAX_SHORT_TEXT = 100  # OAS stringRequest: email, phone_number
_WRITABLE_ORDER = (
    "title",
    "rich_text",
    "number",
    "url",
    "select",
    "multi_select",
    "people",
    "email",
    "phone_number",
    "date",
    "checkbox",
    "relation",
    "files",
    "status",
)


class ValueContext(MentionResolver, Protocol):
    """What property values need to know about the workspace."""

    def user_object(self, user_id: str) -> dict[str, Any] | None: ...

    def is_row_of(self, page_id: str, data_source_id: str) -> bool: ...


def _read_only_error(path: str) -> Exception:
    lines = [f"{path}.{t} should be defined, instead was `undefined`." for t in _WRITABLE_ORDER]
    return validation_error("body failed validation. Fix one:\n" + "\n".join(lines))


class ValueParser:
    """Parses one request's `properties` into stored values keyed by property id.

    Select options named for the first time are created only when `commit()` is called, so a
    request that fails validation leaves the schema untouched.
    """

    def __init__(self, schema: list[Prop], ctx: ValueContext, path: str = "body.properties"):
        self.schema = schema
        self.ctx = ctx
        self.path = path
        self._pending: list[tuple[Prop, dict[str, Any]]] = []

    def parse(self, raw: object) -> dict[str, Any]:
        given = require_dict(raw, self.path)
        values: dict[str, Any] = {}
        for key, value in given.items():
            prop = find_property(self.schema, key)
            if prop is None:
                raise validation_error(f"{key} is not a property that exists.")
            values[prop["id"]] = self._parse_one(prop, value, f"{self.path}.{key}")
        return values

    def commit(self) -> None:
        for prop, option in self._pending:
            prop[prop["type"]]["options"].append(option)
        self._pending.clear()

    def _parse_one(self, prop: Prop, raw: object, path: str) -> Any:
        value = require_dict(raw, path)
        prop_type = prop["type"]
        if prop_type in READ_ONLY_TYPES:
            raise _read_only_error(path)
        if prop_type not in value:
            if value.get("type") or any(k in ALL_TYPES for k in value):
                raise validation_error(f"{prop['name']} is expected to be {prop_type}.")
            raise missing(f"{path}.{prop_type}")
        check_keys(value, ("type", "id", prop_type), path)
        return _PARSERS[prop_type](self, prop, value[prop_type], f"{path}.{prop_type}")

    # -- per type ---------------------------------------------------------------------------

    def rich_text(self, prop: Prop, raw: object, path: str) -> Any:
        del prop
        return parse_rich_text(raw, path, self.ctx)

    def number(self, prop: Prop, raw: object, path: str) -> Any:
        del prop
        if raw is not None and (not isinstance(raw, int | float) or isinstance(raw, bool)):
            raise invalid(path, "a number or `null`", raw)
        return raw

    def checkbox(self, prop: Prop, raw: object, path: str) -> Any:
        del prop
        return require_bool(raw, path)

    def short_text(self, prop: Prop, raw: object, path: str) -> Any:
        if raw is None:
            return None
        text = require_str(raw, path)
        limit = MAX_URL if prop["type"] == "url" else MAX_SHORT_TEXT
        if len(text) > limit:
            raise too_long(path, limit, len(text))
        return text

    def date(self, prop: Prop, raw: object, path: str) -> Any:
        del prop
        return None if raw is None else normalise_date(raw, path)

    def select(self, prop: Prop, raw: object, path: str) -> Any:
        return None if raw is None else self._option(prop, raw, path, create=True)

    def status(self, prop: Prop, raw: object, path: str) -> Any:
        return None if raw is None else self._option(prop, raw, path, create=False)

    def multi_select(self, prop: Prop, raw: object, path: str) -> Any:
        items = require_list(raw, path)
        ids = [
            self._option(prop, item, f"{path}[{i}]", create=True) for i, item in enumerate(items)
        ]
        return list(dict.fromkeys(ids))

    def people(self, prop: Prop, raw: object, path: str) -> Any:
        del prop
        result = []
        for i, item in enumerate(require_list(raw, path)):
            check_user_ref(require_dict(item, f"{path}[{i}]"), f"{path}[{i}]")
            user_id = _item_id(item, f"{path}[{i}]")
            require_person(self.ctx.user_object(user_id), user_id)
            result.append(user_id)
        return list(dict.fromkeys(result))

    def relation(self, prop: Prop, raw: object, path: str) -> Any:
        source_id = prop["relation"]["data_source_id"]
        result = []
        for i, item in enumerate(require_list(raw, path)):
            page_id = _item_id(item, f"{path}[{i}]")
            if not self.ctx.is_row_of(page_id, source_id):
                raise validation_error(
                    f"Relation {prop['name']} can only point at pages of data source "
                    f"{source_id}; {page_id} is not one of them."
                )
            result.append(page_id)
        return list(dict.fromkeys(result))

    def files(self, prop: Prop, raw: object, path: str) -> Any:
        del prop
        result = []
        for i, item in enumerate(require_list(raw, path)):
            entry = require_dict(item, f"{path}[{i}]")
            check_keys(entry, ("name", "type", "external"), f"{path}[{i}]")
            if "external" not in entry:
                raise missing(f"{path}[{i}].external")
            url = require_str(
                require_dict(entry["external"], f"{path}[{i}].external").get("url"),
                f"{path}[{i}].external.url",
            )
            name = require_str(entry.get("name", url), f"{path}[{i}].name")
            result.append({"name": name, "type": "external", "external": {"url": url}})
        return result

    def _option(self, prop: Prop, raw: object, path: str, *, create: bool) -> str:
        given = require_dict(raw, path)
        check_keys(given, ("id", "name", "color", "description"), path)
        options = prop[prop["type"]]["options"]
        pending = [o for p, o in self._pending if p is prop]
        for option in [*options, *pending]:
            if option["id"] == given.get("id") or (
                "id" not in given and option["name"] == given.get("name")
            ):
                return str(option["id"])
        if "name" not in given:
            raise validation_error(f"Invalid {prop['type']} option id: {given.get('id')}")
        name = check_option_name(given["name"], f"{path}.name")
        if not create:
            raise validation_error(
                f'Invalid status option "{name}" for property "{prop["name"]}". Status options '
                "must already exist: they can't be created via the API."
            )
        option = new_option(name, {o["id"] for o in [*options, *pending]}, given.get("color"))
        self._pending.append((prop, option))
        return str(option["id"])


def _item_id(item: object, path: str) -> str:
    entry = require_dict(item, path)
    object_id = parse_id(entry.get("id"))
    if object_id is None:
        raise invalid(f"{path}.id", "a valid uuid", entry.get("id"))
    return object_id


_PARSERS: dict[str, Callable[[ValueParser, Prop, object, str], Any]] = {
    "title": ValueParser.rich_text,
    "rich_text": ValueParser.rich_text,
    "number": ValueParser.number,
    "checkbox": ValueParser.checkbox,
    "url": ValueParser.short_text,
    "email": ValueParser.short_text,
    "phone_number": ValueParser.short_text,
    "date": ValueParser.date,
    "select": ValueParser.select,
    "status": ValueParser.status,
    "multi_select": ValueParser.multi_select,
    "people": ValueParser.people,
    "relation": ValueParser.relation,
    "files": ValueParser.files,
}


def default_status_option(prop: Prop) -> str | None:
    """New rows start at the first option of the status's To-do group, as in Notion."""
    groups = prop["status"]["groups"]
    for group in groups:
        if group["name"] == "To-do" and group["option_ids"]:
            return str(group["option_ids"][0])
    options = prop["status"]["options"]
    return str(options[0]["id"]) if options else None


# -- rendering ------------------------------------------------------------------------------


def _option_value(prop: Prop, option_id: object) -> dict[str, Any] | None:
    for option in prop[prop["type"]]["options"]:
        if option["id"] == option_id:
            return {"id": option["id"], "name": option["name"], "color": option["color"]}
    return None


def _user(ctx: ValueContext, user_id: str) -> dict[str, Any]:
    return ctx.user_object(user_id) or {"object": "user", "id": user_id}


def render_value(prop: Prop, page: PageRec, ctx: ValueContext) -> dict[str, Any]:
    prop_type = prop["type"]
    stored = page.properties.get(prop["id"])
    result: dict[str, Any] = {"id": prop["id"], "type": prop_type}
    renderer = _RENDERERS.get(prop_type)
    if renderer is not None:
        result[prop_type] = renderer(prop, page, ctx, stored)
    elif prop_type == "relation":
        refs = stored or []
        result["relation"] = [{"id": r} for r in refs[:PAGE_REFERENCE_CAP]]
        result["has_more"] = len(refs) > PAGE_REFERENCE_CAP
    else:
        result[prop_type] = stored if stored is not None else _EMPTY.get(prop_type)
    return result


_EMPTY: dict[str, Any] = {
    "title": [],
    "rich_text": [],
    "multi_select": [],
    "people": [],
    "files": [],
    "checkbox": False,
}

Renderer = Callable[[Prop, PageRec, ValueContext, Any], Any]


def _render_title(prop: Prop, page: PageRec, ctx: ValueContext, stored: Any) -> Any:
    del prop, page, ctx
    return list(stored or [])


_RENDERERS: dict[str, Renderer] = {
    "title": _render_title,
    "rich_text": _render_title,
    "select": lambda prop, page, ctx, stored: _option_value(prop, stored),
    "status": lambda prop, page, ctx, stored: _option_value(prop, stored),
    "multi_select": lambda prop, page, ctx, stored: [
        v for v in (_option_value(prop, s) for s in stored or []) if v is not None
    ],
    "people": lambda prop, page, ctx, stored: [
        _user(ctx, u) for u in (stored or [])[:PAGE_REFERENCE_CAP]
    ],
    "created_time": lambda prop, page, ctx, stored: iso_z(page.created_ms),
    "last_edited_time": lambda prop, page, ctx, stored: iso_z(page.edited_ms),
    "created_by": lambda prop, page, ctx, stored: _user(ctx, page.created_by),
    "last_edited_by": lambda prop, page, ctx, stored: _user(ctx, page.edited_by),
    "unique_id": lambda prop, page, ctx, stored: {
        "prefix": prop["unique_id"]["prefix"],
        "number": page.row_number,
    },
    "formula": lambda prop, page, ctx, stored: {"type": "string", "string": None},
    "rollup": lambda prop, page, ctx, stored: {
        "type": "number",
        "number": None,
        "function": prop["rollup"]["function"],
    },
}


def render_properties(
    schema: list[Prop], page: PageRec, ctx: ValueContext, only: list[str] | None = None
) -> dict[str, Any]:
    """Every property of the schema (or those named in `filter_properties`), by name."""
    props = schema if only is None else [p for p in schema if _selected(p, only)]
    return {p["name"]: render_value(p, page, ctx) for p in props}


def _selected(prop: Prop, only: list[str]) -> bool:
    return any(find_property([prop], key) is not None for key in only)
