"""Render (pages): an incident → the contexts of the timeline and postmortem templates, rendered."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo

from worker.config import Settings
from worker.pages.templates import MarkdownSafe, TemplateSet
from worker.snapshot import Incident, Person, Value

TIMELINE_TEMPLATE: Final = "timeline.md.j2"
POSTMORTEM_TEMPLATE: Final = "postmortem.md.j2"
TIMELINE_ENTRY_TEMPLATE: Final = "timeline_entry.md.j2"
PAGE_TEMPLATES: Final = (TIMELINE_TEMPLATE, TIMELINE_ENTRY_TEMPLATE, POSTMORTEM_TEMPLATE)

EntryKind = Literal[
    "declared",  # text: the incident's title
    "change",  # text: what changed, worded by the caller ("Status: Investigating → Identified")
    "status_update",  # text: the update as written in Notion
    "nudge",  # text: the reminder, e.g. "Status update overdue (due 14:05)"
    "mitigated",  # text: optional detail
    "resolved",  # text: optional detail
    "reopened",  # text: optional detail
    "escalated",  # text: e.g. "SEV3 → SEV1"
    "note",  # text: anything else
]


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline page: when, what kind of thing, what, and who."""

    at: datetime
    kind: EntryKind
    text: str = ""
    actor: Person | None = None


@dataclass(frozen=True)
class StatusUpdate:
    """One edit of the row's *Status update* property, as the worker recorded it."""

    at: datetime
    author: Person | None
    text: str


@dataclass(frozen=True)
class IncidentFacts:
    """The incident as templates see it (`incident`); see templates/README.md."""

    page_id: str
    title: str
    status: str | None
    severity: str | None
    commander: Person | None  # the first of `commanders`
    commanders: tuple[Person, ...]
    scribe: Person | None
    scribes: tuple[Person, ...]
    impact: str
    customer_comms: str | None
    latest_status_update: str
    declared_at: datetime  # Declared at, or the row's creation time when it is empty
    mitigated_at: datetime | None
    resolved_at: datetime | None
    time_to_mitigate: timedelta | None  # declared → mitigated
    time_to_resolve: timedelta | None  # declared → resolved
    is_resolved: bool
    url: str
    properties: Mapping[str, str]  # every mirrored property by its Notion name → display text


@dataclass(frozen=True)
class Links:
    """Where things are (`links`); None when not known yet."""

    notion: str | None
    slack_thread: str | None
    timeline: str | None
    postmortem: str | None


@dataclass(frozen=True)
class ResponseFacts:
    """How the response went, measured (`response`), to start the postmortem's discussion."""

    status_update_count: int
    first_update_after: timedelta | None  # declared → first status update
    longest_update_gap: timedelta | None  # longest stretch without an update until mitigation
    update_cadence: timedelta | None  # the configured cadence for the severity (None: off)
    late_updates: int  # stretches longer than the cadence


# --- contexts -----------------------------------------------------------------------------


# Notion keeps times to the minute (its own rounded down), the worker to the second: an
# end up to a minute "before" its start is the same minute, not a time travel.
_SAME_MINUTE: Final = timedelta(minutes=1)


def _elapsed(start: datetime, end: datetime | None) -> timedelta | None:
    """end - start; zero when the end is within a minute before the start (rounding); None
    when the end is unknown or truly earlier."""
    if end is None or end <= start - _SAME_MINUTE:
        return None
    return max(end - start, timedelta(0))


def _first(people: tuple[Person, ...]) -> Person | None:
    return people[0] if people else None


def _display(value: Value) -> str:
    if value.is_people:
        return ", ".join(person.name or person.id for person in value.people)
    return value.text


def _properties(incident: Incident, settings: Settings) -> dict[str, str]:
    shown: dict[str, str] = {}
    for key, value in incident.mirrored:
        name = key.removeprefix("prop:") if key.startswith("prop:") else None
        name = name or settings.properties.names.get(key, key)
        shown[name] = _display(value)
    return shown


def incident_facts(incident: Incident, settings: Settings) -> IncidentFacts:
    """The snapshot as templates see it; durations are None when a time is unknown."""
    declared = incident.declared_at or incident.created_time
    return IncidentFacts(
        page_id=incident.page_id,
        title=incident.title,
        status=incident.status,
        severity=incident.severity,
        commander=_first(incident.commander),
        commanders=incident.commander,
        scribe=_first(incident.scribe),
        scribes=incident.scribe,
        impact=incident.impact,
        customer_comms=incident.customer_comms,
        latest_status_update=incident.status_update,
        declared_at=declared,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        time_to_mitigate=_elapsed(declared, incident.mitigated_at),
        time_to_resolve=_elapsed(declared, incident.resolved_at),
        is_resolved=incident.status in settings.resolved_statuses,
        url=incident.url,
        properties=_properties(incident, settings),
    )


def _links(incident: Incident, slack_thread_url: str | None) -> Links:
    return Links(
        notion=incident.url or None,
        slack_thread=slack_thread_url or incident.slack_thread,
        timeline=incident.timeline_url,
        postmortem=incident.postmortem_url,
    )


def _context(
    facts: IncidentFacts, links: Links, settings: Settings, now: datetime
) -> dict[str, object]:
    return {
        "incident": facts,
        "links": links,
        "now": now,
        "locale": settings.locale,
        "timezone": settings.timezone.key,
    }


def timeline_context(
    incident: Incident, settings: Settings, now: datetime, *, slack_thread_url: str | None = None
) -> dict[str, object]:
    """The variables of `timeline.md.j2`: incident, links, now, locale, timezone.

    `slack_thread_url` overrides the row's *Slack thread* property, which may not be
    written back yet when the page is created.
    """
    facts = incident_facts(incident, settings)
    return _context(facts, _links(incident, slack_thread_url), settings, now)


def response_facts(
    incident: IncidentFacts, updates: Sequence[StatusUpdate], settings: Settings
) -> ResponseFacts:
    """Measure the status-update rhythm; `updates` must be oldest first."""
    cadence_s = settings.update_cadence_s.get(incident.severity or "")
    cadence = timedelta(seconds=cadence_s) if cadence_s else None
    declared = incident.declared_at
    end = incident.mitigated_at or incident.resolved_at
    moments = [declared]
    moments += [
        max(u.at, declared)
        for u in updates
        if _elapsed(declared, u.at) is not None and (end is None or u.at <= end + _SAME_MINUTE)
    ]
    if end is not None and _elapsed(declared, end) is not None:
        moments.append(max(end, moments[-1]))
    gaps = [later - earlier for earlier, later in pairwise(moments)]
    return ResponseFacts(
        status_update_count=len(updates),
        first_update_after=_elapsed(declared, updates[0].at) if updates else None,
        longest_update_gap=max(gaps) if gaps else None,
        update_cadence=cadence,
        late_updates=sum(1 for gap in gaps if cadence is not None and gap > cadence),
    )


def postmortem_context(
    incident: Incident,
    *,
    status_updates: Sequence[StatusUpdate],
    timeline_markdown: str,
    settings: Settings,
    now: datetime,
    slack_thread_url: str | None = None,
) -> dict[str, object]:
    """The variables of `postmortem.md.j2`: the timeline's, plus status_updates (oldest
    first), response, and timeline_markdown — the timeline page read back as Markdown
    (`blocks_to_markdown`) so hand edits are kept; its headings are made level 3 so they
    sit under the postmortem's own."""
    facts = incident_facts(incident, settings)
    updates = tuple(sorted(status_updates, key=lambda update: update.at))
    context = _context(facts, _links(incident, slack_thread_url), settings, now)
    context.update(
        status_updates=updates,
        response=response_facts(facts, updates, settings),
        timeline_markdown=MarkdownSafe(nest_headings(timeline_markdown)),
    )
    return context


_FENCE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_HEADING: Final = re.compile(r"^ {0,3}#{1,6}(?=[ \t]|$)")


def nest_headings(markdown: str, level: int = 3) -> str:
    """Every ATX heading outside fenced code set to `level` (Notion has three levels)."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)[0] * len(opened.group(1))
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            out.append(_ATX_HEADING.sub("#" * level, line))
            continue
        out.append(line)
    return "\n".join(out)


def timeline_entry_context(
    entry: TimelineEntry, settings: Settings, *, day_of: datetime | None = None
) -> dict[str, object]:
    """The variables of `timeline_entry.md.j2`: entry, show_date, locale, timezone.

    `show_date` is true when the entry falls on another local day than `day_of` (the
    incident's declaration), so a long incident's entries carry their date.
    """
    tz = settings.timezone
    show_date = (
        day_of is not None and entry.at.astimezone(tz).date() != day_of.astimezone(tz).date()
    )
    return {
        "entry": entry,
        "show_date": show_date,
        "locale": settings.locale,
        "timezone": tz.key,
    }


@lru_cache(maxsize=8)
def _cached_set(templates_dir: Path, locale: str, timezone: str) -> TemplateSet:
    return TemplateSet.load(templates_dir, locale, timezone=ZoneInfo(timezone))


def templates_for(settings: Settings) -> TemplateSet:
    """The set named by TEMPLATES_DIR and LOCALE (cached; files are re-read when they change)."""
    return _cached_set(settings.templates_dir, settings.locale, settings.timezone.key)


def timeline_entry_markdown(
    entry: TimelineEntry,
    settings: Settings,
    *,
    templates: TemplateSet | None = None,
    day_of: datetime | None = None,
) -> str:
    """One timeline entry as Markdown (one bullet): append its blocks to the timeline page."""
    context = timeline_entry_context(entry, settings, day_of=day_of)
    rendered = (templates or templates_for(settings)).render(TIMELINE_ENTRY_TEMPLATE, context)
    return rendered.strip("\n") + "\n"


def render_timeline_page(
    incident: Incident,
    settings: Settings,
    now: datetime,
    *,
    templates: TemplateSet | None = None,
    slack_thread_url: str | None = None,
) -> str:
    """The timeline page's Markdown (header and the Entries heading). Raises TemplateError."""
    context = timeline_context(incident, settings, now, slack_thread_url=slack_thread_url)
    return (templates or templates_for(settings)).render(TIMELINE_TEMPLATE, context)


def render_postmortem_page(
    incident: Incident,
    *,
    status_updates: Sequence[StatusUpdate],
    timeline_markdown: str,
    settings: Settings,
    now: datetime,
    templates: TemplateSet | None = None,
    slack_thread_url: str | None = None,
) -> str:
    """The postmortem page's Markdown. Raises TemplateError."""
    context = postmortem_context(
        incident,
        status_updates=status_updates,
        timeline_markdown=timeline_markdown,
        settings=settings,
        now=now,
        slack_thread_url=slack_thread_url,
    )
    return (templates or templates_for(settings)).render(POSTMORTEM_TEMPLATE, context)
