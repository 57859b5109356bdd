"""Notion emulator: data-source query filters — validate them, then evaluate them on rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from worker.sandbox.notion.dates import is_date_only, parse_instant
from worker.sandbox.notion.errors import (
    check_keys,
    invalid,
    not_present,
    require_dict,
    require_list,
    require_str,
    validation_error,
)
from worker.sandbox.notion.ids import parse_id
from worker.sandbox.notion.records import PageRec
from worker.sandbox.notion.rowvalues import META_EXTRACTORS, QueryEnv, extractor
from worker.sandbox.notion.schema import find_property

Predicate = Callable[[PageRec], bool]
Condition = Callable[[Any], bool]
MAX_COMPOUND_LEVELS = 2


# -- conditions -----------------------------------------------------------------------------


def _empty_check(op: str, operand: object, path: str) -> Condition:
    if operand is not True:
        raise invalid(f"{path}.{op}", "`true`", operand)
    wanted = op == "is_empty"
    return lambda value: (value in (None, "", [])) == wanted


def _text(op: str, operand: object, path: str, env: QueryEnv) -> Condition:
    del env
    text = require_str(operand, f"{path}.{op}")
    folded = text.casefold()
    ops: dict[str, Condition] = {
        "equals": lambda v: v == text,
        "does_not_equal": lambda v: v != text,
        "contains": lambda v: folded in str(v).casefold(),
        "does_not_contain": lambda v: folded not in str(v).casefold(),
        "starts_with": lambda v: str(v).casefold().startswith(folded),
        "ends_with": lambda v: str(v).casefold().endswith(folded),
    }
    return ops[op]


def _number(op: str, operand: object, path: str, env: QueryEnv) -> Condition:
    del env
    if not isinstance(operand, int | float) or isinstance(operand, bool):
        raise invalid(f"{path}.{op}", "a number", operand)
    n = float(operand)
    ops: dict[str, Condition] = {
        "equals": lambda v: v is not None and v == n,
        "does_not_equal": lambda v: v is None or v != n,
        "greater_than": lambda v: v is not None and v > n,
        "less_than": lambda v: v is not None and v < n,
        "greater_than_or_equal_to": lambda v: v is not None and v >= n,
        "less_than_or_equal_to": lambda v: v is not None and v <= n,
    }
    return ops[op]


def _checkbox(op: str, operand: object, path: str, env: QueryEnv) -> Condition:
    del env
    if not isinstance(operand, bool):
        raise invalid(f"{path}.{op}", "a boolean", operand)
    return (lambda v: v is operand) if op == "equals" else (lambda v: v is not operand)


def _names(operand: object, path: str) -> set[str]:
    if isinstance(operand, list):
        return {require_str(item, f"{path}[{i}]") for i, item in enumerate(operand)}
    return {require_str(operand, path)}


def _select(op: str, operand: object, path: str, env: QueryEnv) -> Condition:
    del env
    names = _names(operand, f"{path}.{op}")
    return (lambda v: v in names) if op == "equals" else (lambda v: v not in names)


def _multi_select(op: str, operand: object, path: str, env: QueryEnv) -> Condition:
    del env
    names = _names(operand, f"{path}.{op}")
    if op == "contains":
        return lambda v: bool(names.intersection(v))
    return lambda v: not names.intersection(v)


def _references(op: str, operand: object, path: str, env: QueryEnv) -> Condition:
    if operand == "me":
        wanted = env.me
    else:
        parsed = parse_id(operand)
        if parsed is None:
            raise invalid(f"{path}.{op}", "a valid uuid", operand)
        wanted = parsed
    return (lambda v: wanted in v) if op == "contains" else (lambda v: wanted not in v)


_RELATIVE_DAYS = {
    "today": 0,
    "tomorrow": 1,
    "yesterday": -1,
    "one_week_ago": -7,
    "one_week_from_now": 7,
    "one_month_ago": -30,
    "one_month_from_now": 30,
}
# Relative ranges are approximated in days from `now` (UTC): weeks start on Monday.
_RANGES = {
    "past_week": (-7, 0),
    "past_month": (-30, 0),
    "past_year": (-365, 0),
    "next_week": (0, 7),
    "next_month": (0, 30),
    "next_year": (0, 365),
}


def _date_operand(operand: object, path: str, env: QueryEnv) -> date | datetime:
    text = require_str(operand, path)
    if text in _RELATIVE_DAYS:
        return env.now.date() + timedelta(days=_RELATIVE_DAYS[text])
    moment = parse_instant(text)
    if moment is None:
        raise invalid(path, "a valid ISO 8601 date or date-time", operand)
    return moment.date() if is_date_only(text) else moment


def _date(op: str, operand: object, path: str, env: QueryEnv) -> Condition:
    if op in _RANGES or op == "this_week":
        if operand != {}:
            raise invalid(f"{path}.{op}", "an empty object", operand)
        today = env.now.date()
        if op == "this_week":
            low = today - timedelta(days=today.weekday())
            high = low + timedelta(days=6)
        else:
            low, high = (today + timedelta(days=d) for d in _RANGES[op])
        return lambda v: v is not None and low <= v.date() <= high
    target = _date_operand(operand, f"{path}.{op}", env)
    compare = _DATE_COMPARE[op]
    if isinstance(target, datetime):
        return lambda v: v is not None and compare(v, target)
    return lambda v: v is not None and compare(v.date(), target)


_DATE_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "equals": lambda a, b: a == b,
    "before": lambda a, b: a < b,
    "after": lambda a, b: a > b,
    "on_or_before": lambda a, b: a <= b,
    "on_or_after": lambda a, b: a >= b,
}

ConditionBuilder = Callable[[str, object, str, QueryEnv], Condition]
_EMPTY_OPS = ("is_empty", "is_not_empty")
_FAMILIES: dict[str, tuple[ConditionBuilder, tuple[str, ...]]] = {
    "text": (
        _text,
        ("equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "ends_with"),
    ),
    "number": (
        _number,
        (
            "equals",
            "does_not_equal",
            "greater_than",
            "less_than",
            "greater_than_or_equal_to",
            "less_than_or_equal_to",
        ),
    ),
    "checkbox": (_checkbox, ("equals", "does_not_equal")),
    "select": (_select, ("equals", "does_not_equal")),
    "multi_select": (_multi_select, ("contains", "does_not_contain")),
    "people": (_references, ("contains", "does_not_contain")),
    "files": (_references, ()),
    "date": (_date, (*_DATE_COMPARE, *_RANGES, "this_week")),
}
# filter key → operator family; which filter keys each property type accepts.
_FILTER_FAMILY = {
    "title": "text",
    "rich_text": "text",
    "url": "text",
    "email": "text",
    "phone_number": "text",
    "number": "number",
    "unique_id": "number",
    "checkbox": "checkbox",
    "select": "select",
    "status": "select",
    "multi_select": "multi_select",
    "people": "people",
    "created_by": "people",
    "last_edited_by": "people",
    "relation": "people",
    "files": "files",
    "date": "date",
    "created_time": "date",
    "last_edited_time": "date",
}
_ACCEPTED_KEYS = {
    "title": ("title", "rich_text"),
    "rich_text": ("rich_text", "title"),
    "created_time": ("created_time", "date"),
    "last_edited_time": ("last_edited_time", "date"),
    "created_by": ("created_by", "people"),
    "last_edited_by": ("last_edited_by", "people"),
}


def build_condition(family: str, raw: object, path: str, env: QueryEnv) -> Condition:
    """`{op: operand}` for one operator family (exactly one operator)."""
    condition = require_dict(raw, path)
    builder, ops = _FAMILIES[family]
    if len(condition) != 1:
        raise invalid(path, "an object with exactly one operator", raw)
    op, operand = next(iter(condition.items()))
    if op in _EMPTY_OPS:
        return _empty_check(op, operand, path)
    if op not in ops:
        raise not_present(f"{path}.{op}", operand)
    return builder(op, operand, path, env)


# -- filters --------------------------------------------------------------------------------


def compile_filter(
    raw: object, env: QueryEnv, path: str = "body.filter", level: int = 0
) -> Predicate:
    value = require_dict(raw, path)
    for compound in ("and", "or"):
        if compound in value:
            return _compound(compound, value, env, path, level + 1)
    if "timestamp" in value:
        return _timestamp_filter(value, env, path)
    if "property" in value:
        return _property_filter(value, env, path)
    raise invalid(path, "a property filter, a timestamp filter, `and` or `or`", raw)


def _compound(kind: str, value: dict[str, Any], env: QueryEnv, path: str, level: int) -> Predicate:
    check_keys(value, (kind,), path)
    if level > MAX_COMPOUND_LEVELS:
        raise validation_error(
            f"body failed validation: {path} nests compound filters deeper than "
            f"{MAX_COMPOUND_LEVELS} levels; use a property or timestamp filter here."
        )
    items = require_list(value[kind], f"{path}.{kind}")
    parts = [
        compile_filter(item, env, f"{path}.{kind}[{i}]", level) for i, item in enumerate(items)
    ]
    if kind == "and":
        return lambda page: all(p(page) for p in parts)
    return lambda page: any(p(page) for p in parts)


def _timestamp_filter(value: dict[str, Any], env: QueryEnv, path: str) -> Predicate:
    kind = value["timestamp"]
    if kind not in ("created_time", "last_edited_time"):
        raise invalid(f"{path}.timestamp", '`"created_time"` or `"last_edited_time"`', kind)
    check_keys(value, ("timestamp", "type", kind), path)
    if kind not in value:
        raise invalid(f"{path}.{kind}", "defined", None)
    condition = build_condition("date", value[kind], f"{path}.{kind}", env)
    get = META_EXTRACTORS[kind]
    return lambda page: condition(get(page))


def _property_filter(value: dict[str, Any], env: QueryEnv, path: str) -> Predicate:
    key = require_str(value["property"], f"{path}.property")
    prop = find_property(env.schema, key)
    if prop is None:
        raise validation_error(f"Could not find property with name or id: {key}")
    filter_keys = [k for k in value if k not in ("property", "type")]
    if len(filter_keys) != 1:
        raise invalid(path, f"an object with one filter condition for {prop['type']}", value)
    filter_key = filter_keys[0]
    prop_type = prop["type"]
    if filter_key not in _ACCEPTED_KEYS.get(prop_type, (prop_type,)):
        raise validation_error(f"database property {prop_type} does not match filter {filter_key}")
    sub_path = f"{path}.{filter_key}"
    if prop_type in ("formula", "rollup"):
        condition = _computed_condition(prop_type, value[filter_key], sub_path, env)
    else:
        condition = build_condition(_FILTER_FAMILY[prop_type], value[filter_key], sub_path, env)
    get = extractor(prop)
    return lambda page: condition(get(page))


def _computed_condition(kind: str, raw: object, path: str, env: QueryEnv) -> Condition:
    """Formulas and rollups hold no computed values here: they evaluate as empty."""
    value = require_dict(raw, path)
    if len(value) != 1:
        raise invalid(path, "an object with exactly one condition", raw)
    sub_key, sub = next(iter(value.items()))
    if kind == "rollup" and sub_key in ("any", "none", "every"):
        require_dict(sub, f"{path}.{sub_key}")
        return lambda v: sub_key != "any"
    families = {"string": "text", "checkbox": "checkbox", "number": "number", "date": "date"}
    if sub_key not in families:
        raise not_present(f"{path}.{sub_key}", sub)
    return build_condition(families[sub_key], sub, f"{path}.{sub_key}", env)
