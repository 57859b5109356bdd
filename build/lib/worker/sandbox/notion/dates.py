"""Notion emulator: date values (`{start, end, time_zone}`) — parse requests, compare instants."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.sandbox.notion.errors import check_keys, invalid, require_dict

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HAS_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def is_date_only(text: str) -> bool:
    return bool(_DATE_ONLY.match(text))


def parse_instant(text: str) -> datetime | None:
    """An aware datetime for an ISO date or datetime (a date means its UTC midnight)."""
    try:
        if is_date_only(text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _render_datetime(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _normalise_one(text: object, path: str, zone: ZoneInfo | None) -> str:
    if not isinstance(text, str):
        raise invalid(path, "a string", text)
    if is_date_only(text):
        if parse_instant(text) is None:
            raise invalid(path, "a valid ISO 8601 date", text)
        return text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(path, "a valid ISO 8601 date or date-time", text) from None
    if zone is not None:
        if _HAS_OFFSET.search(text):
            raise invalid(path, "a date-time without an offset when time_zone is set", text)
        return _render_datetime(moment.replace(tzinfo=zone))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _render_datetime(moment)


def _zone(raw: object, path: str) -> ZoneInfo | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid(path, "a string", raw)
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(path, "a valid IANA time zone", raw) from None


def normalise_date(raw: object, path: str) -> dict[str, Any]:
    """A request date object → the stored/response form (`time_zone` always null on the way out).

    With `time_zone`, `start`/`end` must come without offsets; the zone's offset is then
    rendered into them, as Notion does.
    """
    value = require_dict(raw, path)
    check_keys(value, ("start", "end", "time_zone"), path)
    if "start" not in value:
        raise invalid(f"{path}.start", "defined", None)
    zone = _zone(value.get("time_zone"), f"{path}.time_zone")
    start = _normalise_one(value["start"], f"{path}.start", zone)
    end_raw = value.get("end")
    end = None if end_raw is None else _normalise_one(end_raw, f"{path}.end", zone)
    return {"start": start, "end": end, "time_zone": None}


def date_plain_text(value: dict[str, Any]) -> str:
    end = value.get("end")
    return f"{value['start']} → {end}" if end else str(value["start"])
