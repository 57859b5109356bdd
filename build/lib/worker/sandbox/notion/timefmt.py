"""Notion emulator: timestamps — epoch milliseconds in records, Notion's two string forms out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_MS = 60_000


def epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def floor_minute(ms: int) -> int:
    """Pages, blocks and data sources keep `*_time` rounded down to the minute."""
    return ms - ms % _MINUTE_MS


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def iso_z(ms: int) -> str:
    """`2026-07-04T09:09:00.000Z`: pages, blocks, data sources."""
    moment = from_ms(ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_offset(ms: int) -> str:
    """`2026-07-04T09:09:45.607+00:00`: database containers (not truncated, other format)."""
    moment = from_ms(ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"
