"""Notion emulator: icons and covers — the request forms accepted and how they are stored."""

from __future__ import annotations

from typing import Any

from worker.sandbox.notion.errors import check_keys, invalid, require_dict, require_str


def _external(value: dict[str, Any], path: str) -> dict[str, Any]:
    check_keys(value, ("type", "external"), path)
    external = require_dict(value["external"], f"{path}.external")
    url = require_str(external.get("url"), f"{path}.external.url")
    return {"type": "external", "external": {"url": url}}


def parse_icon(raw: object, path: str) -> dict[str, Any] | None:
    """`{emoji}` or `{external:{url}}` (with optional `type`); null removes the icon."""
    if raw is None:
        return None
    value = require_dict(raw, path)
    if "emoji" in value:
        check_keys(value, ("type", "emoji"), path)
        return {"type": "emoji", "emoji": require_str(value["emoji"], f"{path}.emoji")}
    if "external" in value:
        return _external(value, path)
    raise invalid(path, "an emoji or external icon", raw)


def parse_cover(raw: object, path: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = require_dict(raw, path)
    if "external" not in value:
        raise invalid(path, "an external cover", raw)
    return _external(value, path)
