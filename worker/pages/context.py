"""Render (pages): an incident → the contexts of the timeline and postmortem templates; samples."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

from worker.config import BUNDLED_TEMPLATES, Secret, Settings
from worker.errors import TemplateError
from worker.pages.templates import DEFAULT_LIMITS, Limits, MarkdownSafe, TemplateSet
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


# --- samples ------------------------------------------------------------------------------

SampleVariant = Literal["basic", "japanese", "long", "hostile", "sparse"]
SAMPLE_VARIANTS: Final[tuple[SampleVariant, ...]] = get_args(SampleVariant)

SAMPLE_DECLARED: Final = datetime(2026, 11, 28, 5, 2, tzinfo=UTC)
SAMPLE_AIKO: Final = Person("22222222-2222-4222-8222-222222222222", "Aiko Tanaka")
SAMPLE_BEN: Final = Person("33333333-3333-4333-8333-333333333333", "Ben Carter")
SAMPLE_HANA: Final = Person("44444444-4444-4444-8444-444444444444", "佐藤 花 🌸")
SAMPLE_HOSTILE: Final = Person("55555555-5555-4555-8555-555555555555", "](http://evil) *Mallory*")
SAMPLE_PAGE_ID: Final = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"

_LONG_IMPACT_PARAGRAPH: Final = (
    "Card payments at checkout failed for about a third of customers in the EU region; "
    "retries succeeded after two or three attempts. Support saw 14 tickets; no data was lost. "
)
_TITLES: Final[dict[SampleVariant, str]] = {
    "basic": "Checkout payments failing",
    "japanese": "決済APIの遅延 🔥 — 一部のお客様で注文が完了しない",
    "long": "Checkout payments failing (long incident)",
    "hostile": "# [click](http://evil) *x* <script>alert(1)</script> | `code` [!WARNING]",
    "sparse": "",
}


def _impact(variant: SampleVariant) -> str:
    if variant == "long":  # exactly 5,000 characters, ending in an astral emoji
        ending = "\n\nEnd. 🚀"
        return (_LONG_IMPACT_PARAGRAPH * 60)[: 5_000 - len(ending)] + ending
    return {
        "basic": "About 30% of card payments failed for 40 minutes.\nNo data loss.",
        "japanese": "EU リージョンで決済の約3割が失敗しました。\n\nお問い合わせ: 14件 🙇‍♀️ 👍🏽",
        "hostile": "- [ ] not a to-do\n# not a heading\n> not a quote\n1. not a list\n---\n"
        "[link](https://evil.example) ![img](https://evil.example/x.png) &amp; <b>bold</b>",
        "sparse": "",
    }[variant]


def sample_incident(variant: SampleVariant = "basic") -> Incident:
    """A resolved incident (still investigating for `sparse`) to preview and check templates."""
    if variant == "sparse":
        return Incident(
            page_id=SAMPLE_PAGE_ID,
            url="",
            created_time=SAMPLE_DECLARED,
            last_edited_time=SAMPLE_DECLARED,
            last_edited_by=None,
            status="Investigating",
        )
    hours = 9 if variant == "long" else 1
    commander = {"japanese": SAMPLE_HANA, "hostile": SAMPLE_HOSTILE}.get(variant, SAMPLE_AIKO)
    return Incident(
        page_id=SAMPLE_PAGE_ID,
        url=f"https://www.notion.so/Checkout-{SAMPLE_PAGE_ID.replace('-', '')}",
        created_time=SAMPLE_DECLARED,
        last_edited_time=SAMPLE_DECLARED + timedelta(hours=hours, minutes=10),
        last_edited_by=SAMPLE_BEN.id,
        title=_TITLES[variant],
        status="Resolved",
        severity="SEV2",
        commander=(commander,),
        scribe=(SAMPLE_BEN,),
        impact=_impact(variant),
        status_update=_update_text(variant, 3),
        customer_comms="Customers notified",
        declared_at=SAMPLE_DECLARED,
        mitigated_at=SAMPLE_DECLARED + timedelta(minutes=25),
        resolved_at=SAMPLE_DECLARED + timedelta(hours=hours, minutes=8),
        slack_thread="https://example.slack.com/archives/C0INCIDENTS/p1764306120000100",
        timeline_url="https://www.notion.so/Timeline-bbbbbbbbbbbb4bbb8bbbbbbbbbbbbbbb",
        mirrored=(("title", Value(text=_TITLES[variant])), ("severity", Value(text="SEV2"))),
    )


def _update_text(variant: SampleVariant, index: int) -> str:
    if variant == "japanese":
        return f"第{index}報: 原因を特定し、切り戻しを進めています 🙏\n次回の報告は15分後です。"
    if variant == "hostile":
        return f"# update {index}\n[x](http://evil) **bold** `code` | pipe"
    return (
        f"Update {index}: rollback in progress; error rate back under 1%.\nNext update in 15 min."
    )


def sample_status_updates(variant: SampleVariant = "basic") -> tuple[StatusUpdate, ...]:
    if variant == "sparse":
        return ()
    count = 40 if variant == "long" else 3
    step = timedelta(minutes=13)
    author = SAMPLE_HANA if variant == "japanese" else SAMPLE_BEN
    return tuple(
        StatusUpdate(
            SAMPLE_DECLARED + step * (i + 1) - timedelta(minutes=9),
            author,
            _update_text(variant, i + 1),
        )
        for i in range(count)
    )


_ENTRY_CYCLE: Final[tuple[tuple[EntryKind, str], ...]] = (
    ("change", "Status: Investigating → Identified"),
    ("status_update", "Rollback in progress; error rate back under 1%."),
    ("nudge", "Status update overdue"),
    ("change", "Commander: Aiko Tanaka → Ben Carter"),
    ("note", "Paged the payments on-call"),
)


_JAPANESE_ENTRY_TEXTS: Final = (
    "ステータス: 調査中 → 原因特定 🔍",
    "切り戻しを開始しました。エラー率は1%未満に戻りつつあります 🙏",
    "状況報告の期限を過ぎています",
    "コマンダー: Aiko Tanaka → 佐藤 花 🌸",
    "決済チームのオンコールを呼び出しました 📟",
)


def sample_timeline_entries(variant: SampleVariant = "basic") -> tuple[TimelineEntry, ...]:
    """A declaration, then changes and updates: 300 entries in `long`, 6 otherwise."""
    if variant == "sparse":
        return (TimelineEntry(SAMPLE_DECLARED, "declared", "", None),)
    count = 300 if variant == "long" else 6
    actor = SAMPLE_HANA if variant == "japanese" else SAMPLE_BEN
    resolved_at = SAMPLE_DECLARED + timedelta(hours=9 if variant == "long" else 1, minutes=8)
    step = (resolved_at - SAMPLE_DECLARED) / count
    entries = [TimelineEntry(SAMPLE_DECLARED, "declared", _TITLES[variant], SAMPLE_AIKO)]
    for index in range(1, count - 1):
        kind, text = _ENTRY_CYCLE[index % len(_ENTRY_CYCLE)]
        if variant == "japanese":
            text = _JAPANESE_ENTRY_TEXTS[index % len(_JAPANESE_ENTRY_TEXTS)]
        elif variant == "hostile":
            text = f"# [x](http://evil) *{index}* | - [ ] `y`"
        at = SAMPLE_DECLARED + step * index
        entries.append(TimelineEntry(at, kind, text, None if kind == "nudge" else actor))
    entries.append(TimelineEntry(resolved_at, "resolved", "", actor))
    return tuple(entries)


def sample_settings(
    locale: Literal["en", "ja"] = "en",
    timezone: ZoneInfo | None = None,
    templates_dir: Path = BUNDLED_TEMPLATES,
) -> Settings:
    """Settings for previews and checks without a workspace (no tokens at all)."""
    return Settings(
        notion_token=Secret(""),
        notion_database_id="",
        slack_bot_token=Secret(""),
        slack_channel_id="",
        database_url=Secret("sqlite://"),
        templates_dir=templates_dir,
        locale=locale,
        timezone=timezone or ZoneInfo("UTC"),
    )


def sample_now(variant: SampleVariant = "basic") -> datetime:
    incident = sample_incident(variant)
    return (incident.resolved_at or incident.created_time) + timedelta(minutes=5)


def sample_timeline_context(
    settings: Settings, variant: SampleVariant = "basic"
) -> dict[str, object]:
    return timeline_context(sample_incident(variant), settings, sample_now(variant))


def sample_timeline_markdown(
    templates: TemplateSet, settings: Settings, variant: SampleVariant = "basic"
) -> str:
    """The timeline page as it would read after the incident: header, then every entry."""
    page = templates.render(TIMELINE_TEMPLATE, sample_timeline_context(settings, variant))
    return page.rstrip("\n") + "\n\n" + _sample_entries(templates, settings, variant)


def _sample_entries(templates: TemplateSet, settings: Settings, variant: SampleVariant) -> str:
    return "".join(
        timeline_entry_markdown(entry, settings, templates=templates, day_of=SAMPLE_DECLARED)
        for entry in sample_timeline_entries(variant)
    )


def sample_postmortem_context(
    settings: Settings,
    variant: SampleVariant = "basic",
    *,
    timeline_markdown: str | None = None,
    templates: TemplateSet | None = None,
) -> dict[str, object]:
    """The postmortem context of a sample; the timeline is rendered with `templates`
    unless `timeline_markdown` is given. Raises TemplateError if the timeline fails."""
    if timeline_markdown is None:
        timeline_markdown = sample_timeline_markdown(
            templates or templates_for(settings), settings, variant
        )
    return postmortem_context(
        sample_incident(variant),
        status_updates=sample_status_updates(variant),
        timeline_markdown=timeline_markdown,
        settings=settings,
        now=sample_now(variant),
    )


def check_templates(
    templates_dir: Path,
    locale: str,
    *,
    timezone: ZoneInfo | None = None,
    limits: Limits = DEFAULT_LIMITS,
    settings: Settings | None = None,
) -> list[TemplateError]:
    """Render every page template against every sample, each with every severity and every
    status of `settings` (a template may fail only for SEV1, or only once resolved); the
    distinct errors, in order.

    For `incident-worker check` (and `render --sample`): an empty list means the set works.
    Each template is checked on its own, so one broken file does not hide another.
    """
    try:
        templates = TemplateSet.load(templates_dir, locale, timezone=timezone, limits=limits)
    except TemplateError as exc:
        return [exc]
    samples = sample_settings("ja" if locale == "ja" else "en", timezone, templates_dir)
    if settings is not None:
        samples = replace(
            settings,
            templates_dir=samples.templates_dir,
            locale=samples.locale,
            timezone=samples.timezone,
        )
    errors: dict[tuple[str, int | None, str], TemplateError] = {}
    for variant in SAMPLE_VARIANTS:
        for error in _check_variant(templates, samples, variant):
            errors.setdefault((error.template, error.line, error.problem), error)
    return list(errors.values())


def sample_cases(settings: Settings, variant: SampleVariant) -> list[Incident]:
    """The sample as it is, then with each severity and each status the settings name."""
    sample = sample_incident(variant)
    cases = [sample]
    for severity in settings.severity_options:
        for status in settings.status_options:
            case = _with_values(sample, severity=severity, status=status)
            if case != sample:
                cases.append(case)
    return cases


def _with_values(incident: Incident, *, severity: str, status: str) -> Incident:
    shown = {"severity": Value(text=severity), "status": Value(text=status)}
    mirrored = tuple((key, shown.get(key, value)) for key, value in incident.mirrored)
    return replace(incident, severity=severity, status=status, mirrored=mirrored)


def _check_variant(
    templates: TemplateSet, settings: Settings, variant: SampleVariant
) -> list[TemplateError]:
    errors: list[TemplateError] = []
    entries = "## Entries\n"  # what the postmortem sees of a page whose templates failed
    try:
        entries = _sample_entries(templates, settings, variant)
    except TemplateError as exc:
        errors.append(exc)
    now = sample_now(variant)
    updates = sample_status_updates(variant)
    for incident in sample_cases(settings, variant):
        header = "## Entries\n"
        try:
            header = templates.render(TIMELINE_TEMPLATE, timeline_context(incident, settings, now))
        except TemplateError as exc:
            errors.append(exc)
        timeline = header.strip("\n") + "\n\n" + entries.strip("\n") + "\n"
        context = postmortem_context(
            incident, status_updates=updates, timeline_markdown=timeline, settings=settings, now=now
        )
        try:
            templates.render(POSTMORTEM_TEMPLATE, context)
        except TemplateError as exc:
            errors.append(exc)
    return errors
