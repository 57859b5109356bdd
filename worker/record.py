"""Memory: what the worker keeps about one incident between polls (plain data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from worker.snapshot import Incident

# Where an incident stands with respect to Slack.
Phase = Literal[
    "waiting",  # seen, not announced yet (e.g. no title yet, within the grace period)
    "adopted",  # seen on the first run already resolved: deliberately never announced
    # seen with a thread link but no memory of it (the state store was lost): its thread is
    # read back (whose it is, the last status update, the reminders sent) before it counts
    # as announced
    "adopting",
    "announced",  # has (or is getting) a parent message and thread
]


@dataclass(frozen=True)
class IncidentRecord:
    """What the worker remembers about one incident between polls."""

    page_id: str
    snapshot: Incident
    phase: Phase = "waiting"
    thread_ts: str | None = None
    permalink: str | None = None
    seq: int = 0
    last_update_at: datetime | None = None
    timeline_page_id: str | None = None
    postmortem_page_id: str | None = None
    # The channel the thread lives in (None: the one in the permalink, or the setting's).
    channel: str | None = None
    # When the worker first saw the row (Notion's creation time is rounded to the minute).
    first_seen_at: datetime | None = None
