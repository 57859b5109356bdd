"""Notion emulator: data-source schemas — property configs, their updates, status options."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, Protocol

from worker.sandbox.notion.errors import (
    check_keys,
    invalid,
    require_dict,
    require_list,
    require_str,
    too_long,
    validation_error,
)
from worker.sandbox.notion.ids import new_short_id, parse_id, same_short_id

Prop = dict[str, Any]

SELECT_COLORS = (
    "default",
    "gray",
    "brown",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "red",
)
SIMPLE_TYPES = (
    "title",
    "rich_text",
    "date",
    "people",
    "files",
    "checkbox",
    "url",
    "email",
    "phone_number",
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
)
READ_ONLY_TYPES = frozenset(
    [
        "formula",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "unique_id",
    ]
)
STATUS_GROUPS = (("To-do", "gray"), ("In progress", "blue"), ("Complete", "green"))
_DEFAULT_STATUS = (("Not started", "To-do"), ("In progress", "In progress"), ("Done", "Complete"))
_GROUP_OPTION_COLORS = {"To-do": "default", "In progress": "blue", "Complete": "green"}
MAX_DESCRIPTION = 280


class SchemaContext(Protocol):
    """What building a relation config needs from the rest of the workspace."""

    def relation_database(self, data_source_id: str) -> str | None:
        """The database id of a data source the caller may relate to (None if unknown)."""
        ...


def find_property(props: list[Prop], key: str) -> Prop | None:
    """Properties are addressed by name or by id (ids arrive encoded or decoded)."""
    for prop in props:
        if prop["name"] == key:
            return prop
    for prop in props:
        if same_short_id(prop["id"], key):
            return prop
    return None


def color_for(name: str) -> str:
    """Notion picks a colour for options created implicitly; ours is stable per name."""
    return SELECT_COLORS[zlib.crc32(name.encode()) % len(SELECT_COLORS)]


def new_option(name: str, taken: set[str], color: str | None = None) -> dict[str, Any]:
    option_id = new_short_id(taken)
    taken.add(option_id)
    return {"id": option_id, "name": name, "color": color or color_for(name), "description": None}


def check_option_name(name: object, path: str) -> str:
    text = require_str(name, path)
    if "," in text:
        raise validation_error(f"Invalid select option, commas not allowed: {text}")
    if len(text) > 100:
        raise too_long(path, 100, len(text))
    return text


def property_type_of(raw: dict[str, Any], path: str) -> str | None:
    declared = raw.get("type")
    present = [k for k in raw if k in ALL_TYPES]
    if isinstance(declared, str):
        if declared not in ALL_TYPES:
            raise invalid(f"{path}.type", "a supported property type", declared)
        return declared
    return present[0] if len(present) == 1 else None


def build_property(
    name: str, raw: object, path: str, taken_ids: set[str], ctx: SchemaContext
) -> Prop:
    """A new property from its request config (`{"select": {...}}`, `{"type":"date",...}`)."""
    value = require_dict(raw, path)
    prop_type = property_type_of(value, path)
    if prop_type is None:
        raise invalid(path, "an object with one property type", raw)
    check_keys(value, ("type", "name", "description", prop_type), path)
    config = _CONFIG_BUILDERS[prop_type](value.get(prop_type) or {}, f"{path}.{prop_type}", ctx)
    if prop_type == "title":
        prop_id = "title"
    else:
        prop_id = new_short_id(taken_ids)
        taken_ids.add(prop_id)
    return {
        "id": prop_id,
        "name": name,
        "description": _description(value.get("description"), f"{path}.description"),
        "type": prop_type,
        prop_type: config,
    }


def _description(raw: object, path: str) -> str | None:
    if raw is None:
        return None
    text = require_str(raw, path)
    if len(text) > MAX_DESCRIPTION:
        raise too_long(path, MAX_DESCRIPTION, len(text))
    return text


def _empty(raw: dict[str, Any], path: str, ctx: SchemaContext) -> dict[str, Any]:
    del ctx
    check_keys(require_dict(raw, path), (), path)
    return {}


def _number(raw: dict[str, Any], path: str, ctx: SchemaContext) -> dict[str, Any]:
    del ctx
    check_keys(require_dict(raw, path), ("format",), path)
    return {"format": require_str(raw.get("format", "number"), f"{path}.format")}


def _options(raw: dict[str, Any], path: str, ctx: SchemaContext) -> dict[str, Any]:
    del ctx
    check_keys(require_dict(raw, path), ("options",), path)
    options = require_list(raw.get("options", []), f"{path}.options")
    taken: set[str] = set()
    result = []
    for i, item in enumerate(options):
        option = require_dict(item, f"{path}.options[{i}]")
        check_keys(option, ("name", "color", "description", "id"), f"{path}.options[{i}]")
        name = check_option_name(option.get("name"), f"{path}.options[{i}].name")
        color = option.get("color")
        if color is not None and color not in SELECT_COLORS:
            raise invalid(f"{path}.options[{i}].color", "a select color", color)
        result.append(new_option(name, taken, color))
        result[-1]["description"] = option.get("description")
    return {"options": result}


def _status(raw: dict[str, Any], path: str, ctx: SchemaContext) -> dict[str, Any]:
    del ctx
    if require_dict(raw, path):
        # The API cannot set status options (only people in the Notion UI can).
        raise invalid(path, "an empty object (status options can't be set via the API)", raw)
    return default_status()


def default_status() -> dict[str, Any]:
    return status_config(list(_DEFAULT_STATUS), previous=None)


def status_config(
    options: list[tuple[str, str]], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """A status config from (name, group) pairs, keeping the ids of options that stay."""
    groups = {name for name, _ in STATUS_GROUPS}
    known = {o["name"]: o for o in (previous or {}).get("options", [])}
    taken = {o["id"] for o in known.values()}
    built = []
    for name, group in options:
        if group not in groups:
            raise ValueError(f"status group must be one of {sorted(groups)}, got {group!r}")
        old = known.get(name)
        option = dict(old) if old else new_option(name, taken, _GROUP_OPTION_COLORS[group])
        built.append((option, group))
    old_groups = {g["name"]: g["id"] for g in (previous or {}).get("groups", [])}
    group_taken = set(old_groups.values())
    return {
        "options": [option for option, _ in built],
        "groups": [
            {
                "id": old_groups.get(name) or _new_group_id(group_taken),
                "name": name,
                "color": color,
                "option_ids": [o["id"] for o, g in built if g == name],
            }
            for name, color in STATUS_GROUPS
        ],
    }


def _new_group_id(taken: set[str]) -> str:
    group_id = new_short_id(taken, length=8)
    taken.add(group_id)
    return group_id


def _relation(raw: dict[str, Any], path: str, ctx: SchemaContext) -> dict[str, Any]:
    value = require_dict(raw, path)
    check_keys(
        value, ("data_source_id", "database_id", "type", "single_property", "dual_property"), path
    )
    source_id = parse_id(value.get("data_source_id"))
    if source_id is None:
        raise invalid(f"{path}.data_source_id", "a valid uuid", value.get("data_source_id"))
    database_id = ctx.relation_database(source_id)
    if database_id is None:
        raise validation_error(f"Could not find data source with ID: {source_id}.")
    kind = "dual_property" if "dual_property" in value else "single_property"
    return {
        "database_id": database_id,
        "data_source_id": source_id,
        "type": kind,
        kind: {},
    }


def _formula(raw: dict[str, Any], path: str, ctx: SchemaContext) -> dict[str, Any]:
    del ctx
    check_keys(require_dict(raw, path), ("expression",), path)
    return {"expression": require_str(raw.get("expression", ""), f"{path}.expression")}


def _rollup(raw: dict[str, Any], path: str, ctx: SchemaContext) -> dict[str, Any]:
    del ctx
    value = require_dict(raw, path)
    return {
        "rollup_property_name": value.get("rollup_property_name", ""),
        "relation_property_name": value.get("relation_property_name", ""),
        "rollup_property_id": value.get("rollup_property_id", ""),
        "relation_property_id": value.get("relation_property_id", ""),
        "function": value.get("function", "show_original"),
    }


def _unique_id(raw: dict[str, Any], path: str, ctx: SchemaContext) -> dict[str, Any]:
    del ctx
    check_keys(require_dict(raw, path), ("prefix",), path)
    prefix = raw.get("prefix")
    return {"prefix": None if prefix is None else require_str(prefix, f"{path}.prefix")}


_CONFIG_BUILDERS: dict[str, Callable[[dict[str, Any], str, SchemaContext], dict[str, Any]]] = {
    **{t: _empty for t in SIMPLE_TYPES},
    "number": _number,
    "select": _options,
    "multi_select": _options,
    "status": _status,
    "relation": _relation,
    "formula": _formula,
    "rollup": _rollup,
    "unique_id": _unique_id,
}
ALL_TYPES = frozenset(_CONFIG_BUILDERS)


def initial_schema(raw: object, path: str, ctx: SchemaContext) -> list[Prop]:
    """The properties of a new data source; a title property "Name" is added if none is given."""
    given = require_dict(raw, path) if raw is not None else {}
    taken: set[str] = set()
    props = [build_property(n, v, f"{path}.{n}", taken, ctx) for n, v in given.items()]
    titles = [p for p in props if p["type"] == "title"]
    if len(titles) > 1:
        raise validation_error("A data source can have only one title property.")
    if not titles:
        props.insert(0, build_property("Name", {"title": {}}, path, taken, ctx))
    return props


class SchemaUpdate:
    """`PATCH /v1/data_sources/{id}` `properties`: add, rename, retype, reconfigure, delete.

    `changed` lists the ids whose stored row values no longer apply (deleted or retyped).
    """

    def __init__(self, props: list[Prop], ctx: SchemaContext) -> None:
        self.props = [dict(p) for p in props]
        self.ctx = ctx
        self.changed: set[str] = set()

    def apply(self, raw: object, path: str) -> list[Prop]:
        updates = require_dict(raw, path)
        for key, value in updates.items():
            self._apply_one(key, value, f"{path}.{key}")
        return self.props

    def _apply_one(self, key: str, value: object, path: str) -> None:
        existing = find_property(self.props, key)
        if existing is None:
            if value is None:
                raise validation_error(f"{key} is not a property that exists.")
            self._add(key, value, path)
            return
        if value is None:
            if existing["type"] == "title":
                raise validation_error("Cannot delete the title property.")
            self.props.remove(existing)
            self.changed.add(existing["id"])
            return
        self._modify(existing, require_dict(value, path), path)

    def _add(self, name: str, value: object, path: str) -> None:
        taken = {p["id"] for p in self.props}
        prop = build_property(name, value, path, taken, self.ctx)
        if prop["type"] == "title":
            raise validation_error("A data source can have only one title property.")
        self.props.append(prop)

    def _modify(self, prop: Prop, value: dict[str, Any], path: str) -> None:
        if "name" in value:
            new_name = require_str(value["name"], f"{path}.name")
            clash = find_property(self.props, new_name)
            if clash is not None and clash is not prop:
                raise validation_error(f"A property named {new_name} already exists.")
            prop["name"] = new_name
        if "description" in value:
            prop["description"] = _description(value["description"], f"{path}.description")
        new_type = property_type_of(value, path)
        if new_type is not None:
            self._reconfigure(prop, new_type, value, path)

    def _reconfigure(self, prop: Prop, new_type: str, value: dict[str, Any], path: str) -> None:
        old_type = prop["type"]
        if old_type == "title" and new_type != "title":
            raise validation_error("Cannot change the type of the title property.")
        if new_type == "title" and old_type != "title":
            raise validation_error("A data source can have only one title property.")
        config = value.get(new_type) or {}
        if new_type == old_type == "status":
            _status(config, f"{path}.status", self.ctx)
            return
        if new_type == old_type and new_type in ("select", "multi_select"):
            prop[new_type] = _merge_options(prop[new_type], config, f"{path}.{new_type}")
            return
        prop[new_type] = _CONFIG_BUILDERS[new_type](config, f"{path}.{new_type}", self.ctx)
        if new_type != old_type:
            del prop[old_type]
            prop["type"] = new_type
            self.changed.add(prop["id"])


def _merge_options(current: dict[str, Any], raw: object, path: str) -> dict[str, Any]:
    """Sent options replace the list; options matched by id or name keep their ids."""
    value = require_dict(raw, path)
    if "options" not in value:
        return current
    items = require_list(value["options"], f"{path}.options")
    old = current["options"]
    taken = {o["id"] for o in old}
    merged = []
    for i, item in enumerate(items):
        option = require_dict(item, f"{path}.options[{i}]")
        match = next(
            (o for o in old if o["id"] == option.get("id") or o["name"] == option.get("name")),
            None,
        )
        name = check_option_name(
            option.get("name", match["name"] if match else None), f"{path}.options[{i}].name"
        )
        kept = dict(match) if match else new_option(name, taken, option.get("color"))
        kept["name"] = name
        merged.append(kept)
    return {"options": merged}
