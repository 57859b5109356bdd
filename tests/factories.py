"""Builders of Notion page objects and settings for the pure tests (shapes as Notion sends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from worker.config import Settings
from worker.properties import PROPERTIES

BOT_ID = "11111111-1111-4111-8111-111111111111"
AIKO = {
    "id": "22222222-2222-4222-8222-222222222222",
    "name": "Aiko Tanaka",
    "email": "aiko@example.com",
}
BEN = {
    "id": "33333333-3333-4333-8333-333333333333",
    "name": "Ben Carter",
    "email": "ben@example.com",
}

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """The moment `seconds` after T0: tests that count time in seconds start from there."""
    return T0 + timedelta(seconds=seconds)


def settings(**env: str) -> Settings:
    base = {
        "NOTION_TOKEN": "ntn_" + "x" * 40,
        "SLACK_BOT_TOKEN": "xoxb-1-" + "y" * 24,
        "NOTION_INCIDENTS_DATABASE_ID": "0123456789abcdef0123456789abcdef",
        "SLACK_CHANNEL_ID": "C0INCIDENTS",
    }
    base.update(env)
    return Settings.from_env(base)


def rich(text: str) -> list[dict[str, Any]]:
    if not text:
        return []
    return [
        {
            "type": "text",
            "text": {"content": text, "link": None},
            "annotations": {
                "bold": False,
                "italic": False,
                "strikethrough": False,
                "underline": False,
                "code": False,
                "color": "default",
            },
            "plain_text": text,
            "href": None,
        }
    ]


def user(person: dict[str, str]) -> dict[str, Any]:
    return {
        "object": "user",
        "id": person["id"],
        "name": person["name"],
        "avatar_url": None,
        "type": "person",
        "person": {"email": person["email"]},
    }


def _option(name: str | None) -> dict[str, Any] | None:
    return {"id": name.lower(), "name": name, "color": "red"} if name else None


def _date(moment: datetime | None) -> dict[str, Any] | None:
    if moment is None:
        return None
    return {
        "start": moment.isoformat().replace("+00:00", ".000+00:00"),
        "end": None,
        "time_zone": None,
    }


# An empty value of each Notion type, as a row shows a property nobody filled in.
_EMPTY: dict[str, Any] = {"title": [], "rich_text": [], "people": [], "multi_select": []}


def row(
    page_id: str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
    *,
    title: str = "Checkout down",
    status: str | None = "Investigating",
    severity: str | None = "SEV2",
    commander: list[dict[str, str]] | None = None,
    scribe: list[dict[str, str]] | None = None,
    impact: str = "",
    status_update: str = "",
    customer_comms: str | None = None,
    declared_at: datetime | None = None,
    resolved_at: datetime | None = None,
    mitigated_at: datetime | None = None,
    next_update_due: datetime | None = None,
    slack_thread: str | None = None,
    edited: datetime = T0,
    created: datetime = T0,
    editor: str = AIKO["id"],
    status_type: str = "select",
    extra: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A data-source row as `data_sources.query` returns it (2025-09-03)."""
    props: dict[str, Any] = {
        "Name": {"id": "title", "type": "title", "title": rich(title)},
        "Status": {"id": "st", "type": status_type, status_type: _option(status)},
        "Severity": {"id": "sv", "type": "select", "select": _option(severity)},
        "Commander": {"id": "cm", "type": "people", "people": [user(p) for p in commander or []]},
        "Scribe": {"id": "sc", "type": "people", "people": [user(p) for p in scribe or []]},
        "Impact": {"id": "im", "type": "rich_text", "rich_text": rich(impact)},
        "Status update": {"id": "su", "type": "rich_text", "rich_text": rich(status_update)},
        "Customer comms": {"id": "cc", "type": "select", "select": _option(customer_comms)},
        "Declared at": {"id": "da", "type": "date", "date": _date(declared_at)},
        "Mitigated at": {"id": "ma", "type": "date", "date": _date(mitigated_at)},
        "Resolved at": {"id": "ra", "type": "date", "date": _date(resolved_at)},
        "Next update due": {"id": "nu", "type": "date", "date": _date(next_update_due)},
        "Slack thread": {"id": "sl", "type": "url", "url": slack_thread},
        "Timeline": {"id": "tl", "type": "url", "url": None},
        "Postmortem": {"id": "pm", "type": "url", "url": None},
    }
    for prop in PROPERTIES:  # any other property of the registry, empty
        if prop.default_name not in props:
            kind = prop.created_type
            props[prop.default_name] = {"id": prop.key, "type": kind, kind: _EMPTY.get(kind)}
    props.update(extra or {})
    for name in drop:
        props.pop(name, None)
    stamp = "%Y-%m-%dT%H:%M:00.000Z"
    return {
        "object": "page",
        "id": page_id,
        "created_time": created.strftime(stamp),
        "last_edited_time": edited.strftime(stamp),
        "created_by": {"object": "user", "id": AIKO["id"]},
        "last_edited_by": {"object": "user", "id": editor},
        "cover": None,
        "icon": None,
        "parent": {"type": "data_source_id", "data_source_id": "ds", "database_id": "db"},
        "in_trash": False,
        "is_archived": False,
        "is_locked": False,
        "archived": False,
        "properties": props,
        "url": f"https://app.notion.com/p/Checkout-{page_id.replace('-', '')}",
        "public_url": None,
    }
