"""Render (pages): sample incidents to preview and check templates without a workspace."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

from worker.config import BUNDLED_TEMPLATES, Secret, Settings
from worker.errors import TemplateError
from worker.pages.context import (
    POSTMORTEM_TEMPLATE,
    TIMELINE_TEMPLATE,
    EntryKind,
    StatusUpdate,
    TimelineEntry,
    postmortem_context,
    templates_for,
    timeline_context,
    timeline_entry_markdown,
)
from worker.pages.templates import DEFAULT_LIMITS, Limits, TemplateSet
from worker.snapshot import Incident, Person, Value

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
