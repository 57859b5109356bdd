"""Thread history: the worker's own messages in a thread, read back when its memory of the
incident was lost (pure). Each message carries its action key (and a few facts) in Slack's
message metadata, so the thread says whose it is, when the last status update came and
which reminders were already sent."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.nag import NagMemory

# A reply that restarted the status-update clock, from before messages said so themselves.
_UPDATE_REPLY = re.compile(r"^reply:[^:]+:[^:]+:update$")


@dataclass(frozen=True)
class ThreadHistory:
    """What a thread says about its incident's past."""

    # The incident the parent message was posted for (None: the parent does not say).
    owner: str | None
    # When the update clock last restarted (declaration, status update, reopening, restore).
    last_update_at: datetime
    memory: NagMemory


@dataclass(frozen=True)
class _Said:
    key: str
    at: datetime  # when what it tells happened (its metadata's `at`), else when it was posted
    restarts_clock: bool


def _said(message: Mapping[str, Any]) -> _Said | None:
    metadata = message.get("metadata")
    payload = metadata.get("event_payload") if isinstance(metadata, Mapping) else None
    if not isinstance(payload, Mapping) or not isinstance(payload.get("key"), str):
        return None
    try:
        posted_at = datetime.fromtimestamp(float(message.get("ts", "")), UTC)
    except ValueError:
        return None
    at = posted_at
    if isinstance(payload.get("at"), str):
        try:
            at = datetime.fromisoformat(payload["at"])
        except ValueError:
            at = posted_at
    key = payload["key"]
    clock = bool(payload.get("clock")) or bool(_UPDATE_REPLY.match(key))
    return _Said(key=key, at=at, restarts_clock=clock)


def read_history(
    page_id: str, messages: Iterable[Mapping[str, Any]], *, declared_at: datetime
) -> ThreadHistory:
    """The history of incident `page_id` from its thread's messages (the parent first)."""
    said = [s for s in (_said(m) for m in messages) if s is not None]
    owner: str | None = None
    if said and said[0].key.startswith("post_parent:"):
        owner = said[0].key.removeprefix("post_parent:")
    last_update_at = max([declared_at, *(s.at for s in said if s.restarts_clock)])
    nudges = f"nudge:{page_id}:"
    overdue = [
        s
        for s in said
        if s.key.startswith((nudges + "update_overdue", nudges + "escalation"))
        and s.at >= last_update_at
    ]
    postmortem = [s.at for s in said if s.key.startswith(nudges + "postmortem_overdue")]
    commander_calls = [s.at for s in said if s.key.startswith(nudges + "no_commander")]
    memory = NagMemory(
        silence_since=last_update_at,
        nudges_since_update=len(overdue),
        last_nudge_at=max((s.at for s in overdue), default=None),
        escalated=any(s.key.startswith(nudges + "escalation") for s in overdue),
        commander_nudged=bool(commander_calls),
        commander_nudged_at=max(commander_calls, default=None),
        commander_escalated=any(s.key.startswith(nudges + "commander_escalation") for s in said),
        severity_nudged=any(s.key.startswith(nudges + "no_severity") for s in said),
        last_postmortem_reminder_at=max(postmortem, default=None),
    )
    return ThreadHistory(owner=owner, last_update_at=last_update_at, memory=memory)
