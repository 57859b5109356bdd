"""Notion emulator: rich text — validate request items, store them in their full response form."""

from __future__ import annotations

from typing import Any, Protocol

from worker.sandbox.notion.dates import date_plain_text, normalise_date
from worker.sandbox.notion.errors import (
    bot_not_a_person,
    check_keys,
    invalid,
    missing,
    require_bool,
    require_dict,
    require_list,
    require_str,
    too_long,
    unknown_user_message,
    validation_error,
)
from worker.sandbox.notion.ids import parse_id

API_COLORS = frozenset(
    [
        "default",
        *(
            f"{c}{suffix}"
            for c in ("gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red")
            for suffix in ("", "_background")
        ),
        "default_background",
    ]
)
_FLAGS = ("bold", "italic", "strikethrough", "underline", "code")
MAX_TEXT_UTF16 = 2000
MAX_URL = 2000
MAX_EXPRESSION = 1000
_ITEM_KINDS = ("text", "mention", "equation")
# Response-only keys that clients often echo back; Notion ignores them in requests.
_ECHOED = ("plain_text", "href")
# A user in a request (`partialUserObjectRequest`): live Notion refuses `name`, `type`...
_USER_KEYS = ("id", "object")


class MentionResolver(Protocol):
    """What rich text needs to know about the workspace to render mentions."""

    def mention_user(self, user_id: str) -> dict[str, Any] | None: ...

    def mention_target(self, kind: str, object_id: str) -> tuple[str, str]:
        """(plain text, href) of a page or database mention."""
        ...


def utf16_len(text: str) -> int:
    """Notion measures `text.content` in UTF-16 code units: an emoji often counts 2."""
    return len(text.encode("utf-16-le")) // 2


def default_annotations() -> dict[str, Any]:
    return {flag: False for flag in _FLAGS} | {"color": "default"}


def text_item(content: str, link: str | None = None) -> dict[str, Any]:
    """A response rich-text item for plain `content` (used for titles and admin helpers)."""
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": default_annotations(),
        "plain_text": content,
        "href": link,
    }


def plain_text(items: list[dict[str, Any]]) -> str:
    return "".join(str(item.get("plain_text", "")) for item in items)


def require_person(user: dict[str, Any] | None, user_id: str) -> dict[str, Any]:
    """A user a request names (a mention, a people value): a known person, never a bot
    (Notion's changelog "User mentions can only be of people", 2021-08)."""
    if user is None:
        raise validation_error(unknown_user_message(user_id))
    if user.get("type") == "bot":
        raise bot_not_a_person(user_id, user.get("name"))
    return user


def check_user_ref(value: dict[str, Any], path: str) -> None:
    """`{"id": ..., "object": "user"}` and nothing else."""
    check_keys(value, _USER_KEYS, path)
    if "object" in value and value["object"] != "user":
        raise invalid(f"{path}.object", '`"user"`', value["object"])


def parse_rich_text(value: object, path: str, resolver: MentionResolver) -> list[dict[str, Any]]:
    items = require_list(value, path)
    return [parse_item(item, f"{path}[{i}]", resolver) for i, item in enumerate(items)]


def parse_item(raw: object, path: str, resolver: MentionResolver) -> dict[str, Any]:
    item = require_dict(raw, path)
    check_keys(item, ("type", "annotations", *_ITEM_KINDS, *_ECHOED), path)
    kind = _item_kind(item, path)
    annotations = _annotations(item.get("annotations"), f"{path}.annotations")
    if kind == "text":
        payload, plain, href = _text(item["text"], f"{path}.text")
    elif kind == "equation":
        payload, plain, href = _equation(item["equation"], f"{path}.equation")
    else:
        payload, plain, href = _mention(item["mention"], f"{path}.mention", resolver)
    return {
        "type": kind,
        kind: payload,
        "annotations": annotations,
        "plain_text": plain,
        "href": href,
    }


def _item_kind(item: dict[str, Any], path: str) -> str:
    declared = item.get("type")
    present = [kind for kind in _ITEM_KINDS if kind in item]
    if declared is not None and declared not in _ITEM_KINDS:
        raise invalid(f"{path}.type", '`"text"`, `"mention"` or `"equation"`', declared)
    if len(present) != 1 or (declared is not None and present[0] != declared):
        raise missing(f"{path}.{declared or 'text'}")
    return present[0]


def _annotations(raw: object, path: str) -> dict[str, Any]:
    result = default_annotations()
    if raw is None:
        return result
    given = require_dict(raw, path)
    check_keys(given, (*_FLAGS, "color"), path)
    for flag in _FLAGS:
        if flag in given:
            result[flag] = require_bool(given[flag], f"{path}.{flag}")
    if "color" in given:
        result["color"] = check_color(given["color"], f"{path}.color")
    return result


def check_color(value: object, path: str) -> str:
    if value not in API_COLORS:
        raise invalid(path, "a valid color", value)
    return str(value)


def _text(raw: object, path: str) -> tuple[dict[str, Any], str, str | None]:
    text = require_dict(raw, path)
    check_keys(text, ("content", "link"), path)
    if "content" not in text:
        raise missing(f"{path}.content")
    content = require_str(text["content"], f"{path}.content")
    length = utf16_len(content)
    if length > MAX_TEXT_UTF16:
        raise too_long(f"{path}.content", MAX_TEXT_UTF16, length)
    link = text.get("link")
    url: str | None = None
    if link is not None:
        link_obj = require_dict(link, f"{path}.link")
        check_keys(link_obj, ("url", "type"), f"{path}.link")
        url = require_str(link_obj.get("url"), f"{path}.link.url")
        if len(url) > MAX_URL:
            raise too_long(f"{path}.link.url", MAX_URL, len(url))
    return {"content": content, "link": {"url": url} if url else None}, content, url


def _equation(raw: object, path: str) -> tuple[dict[str, Any], str, str | None]:
    equation = require_dict(raw, path)
    check_keys(equation, ("expression",), path)
    expression = require_str(equation.get("expression"), f"{path}.expression")
    if len(expression) > MAX_EXPRESSION:
        raise too_long(f"{path}.expression", MAX_EXPRESSION, len(expression))
    return {"expression": expression}, expression, None


def _mention(
    raw: object, path: str, resolver: MentionResolver
) -> tuple[dict[str, Any], str, str | None]:
    mention = require_dict(raw, path)
    kinds = [k for k in ("user", "page", "database", "date") if k in mention]
    if len(kinds) != 1:
        raise missing(f"{path}.{mention.get('type') or 'user'}")
    kind = kinds[0]
    check_keys(mention, ("type", kind), path)
    if kind == "date":
        value = normalise_date(mention["date"], f"{path}.date")
        return {"type": "date", "date": value}, date_plain_text(value), None
    target = require_dict(mention[kind], f"{path}.{kind}")
    object_id = parse_id(target.get("id"))
    if object_id is None:
        raise invalid(f"{path}.{kind}.id", "a valid uuid", target.get("id"))
    if kind == "user":
        check_user_ref(target, f"{path}.user")
        user = require_person(resolver.mention_user(object_id), object_id)
        return {"type": "user", "user": user}, f"@{user.get('name') or 'Anonymous'}", None
    plain, href = resolver.mention_target(kind, object_id)
    return {"type": kind, kind: {"id": object_id}}, plain, href
