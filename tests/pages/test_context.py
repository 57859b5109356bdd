"""Page contexts: incidents and timeline entries as templates see them, and rendered."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest

from tests.factories import AIKO, BEN, T0, row, settings
from worker.messages import utf16_len
from worker.pages.context import (
    IncidentFacts,
    Links,
    ResponseFacts,
    StatusUpdate,
    TimelineEntry,
    incident_facts,
    nest_headings,
    postmortem_context,
    render_postmortem_page,
    render_timeline_page,
    timeline_context,
    timeline_entry_markdown,
)
from worker.pages.limits import MAX_TEXT_UTF16, enforce_limits
from worker.pages.samples import (
    sample_incident,
    sample_settings,
    sample_status_updates,
    sample_timeline_context,
)
from worker.pages.templates import MarkdownSafe
from worker.pages.to_blocks import markdown_to_blocks
from worker.snapshot import Incident, Person, parse_incident

Locale = Literal["en", "ja"]
LOCALES: tuple[Locale, ...] = ("en", "ja")
TOKYO = ZoneInfo("Asia/Tokyo")
BEN_PERSON = Person(BEN["id"], BEN["name"], BEN["email"])
NOW = T0 + timedelta(hours=3)
COLON = "\N{FULLWIDTH COLON}"  # Japanese punctuation in the ja templates


def _incident(**fields: Any) -> Incident:
    return parse_incident(row(**fields), settings())


# --- contexts ---------------------------------------------------------------------------


def test_incident_facts_from_a_row() -> None:
    incident = _incident(
        title="Checkout down",
        status="Resolved",
        commander=[AIKO, BEN],
        scribe=[BEN],
        impact="30% of payments failed",
        customer_comms="Customers notified",
        declared_at=T0,
        mitigated_at=T0 + timedelta(minutes=25),
        resolved_at=T0 + timedelta(hours=1, minutes=10),
    )

    facts = incident_facts(incident, settings())

    assert facts.title == "Checkout down"
    assert facts.commander is not None
    assert facts.commander.name == "Aiko Tanaka"
    assert [p.name for p in facts.commanders] == ["Aiko Tanaka", "Ben Carter"]
    assert facts.scribe is not None
    assert facts.scribe.id == BEN["id"]
    assert facts.time_to_mitigate == timedelta(minutes=25)
    assert facts.time_to_resolve == timedelta(hours=1, minutes=10)
    assert facts.is_resolved
    assert facts.properties["Severity"] == "SEV2"
    assert facts.properties["Commander"] == "Aiko Tanaka, Ben Carter"


def test_unknown_times_give_no_durations_and_declared_falls_back_to_creation() -> None:
    created = T0 - timedelta(minutes=3)
    facts = incident_facts(_incident(created=created, status="Investigating"), settings())

    assert facts.declared_at == created
    assert facts.time_to_mitigate is None
    assert facts.time_to_resolve is None
    assert not facts.is_resolved
    assert facts.commander is None


def test_a_mitigation_before_the_declaration_is_not_a_negative_duration() -> None:
    incident = _incident(declared_at=T0, mitigated_at=T0 - timedelta(minutes=1))
    assert incident_facts(incident, settings()).time_to_mitigate is None


@pytest.mark.parametrize(
    ("declared", "resolved", "expected"),
    [
        pytest.param(T0, T0, timedelta(0), id="the same minute in Notion: zero, not unknown"),
        pytest.param(T0, T0 + timedelta(seconds=41), timedelta(seconds=41), id="seconds"),
        pytest.param(
            T0 + timedelta(seconds=41),
            T0,
            timedelta(0),
            id="observed declaration, Notion's rounded resolution: the same minute",
        ),
        pytest.param(T0, T0 - timedelta(seconds=61), None, id="truly before: unknown"),
        pytest.param(T0, None, None, id="not resolved"),
    ],
)
def test_durations_allow_for_notions_minutes(
    declared: datetime, resolved: datetime | None, expected: timedelta | None
) -> None:
    facts = incident_facts(_incident(declared_at=declared, resolved_at=resolved), settings())
    assert facts.time_to_resolve == expected


def test_an_update_in_the_declarations_minute_counts_as_the_first() -> None:
    """The declaration as the worker saw it (10:00:41), the update as Notion rounded it
    (10:00:00): the first update came at once, not never."""
    declared = T0 + timedelta(seconds=41)
    incident = _incident(
        severity="SEV2", declared_at=declared, mitigated_at=T0 + timedelta(minutes=40)
    )
    context = postmortem_context(
        incident,
        status_updates=[StatusUpdate(T0, BEN_PERSON, "Looking")],
        timeline_markdown="",
        settings=settings(),
        now=NOW,
    )
    response = context["response"]
    assert isinstance(response, ResponseFacts)
    assert response.first_update_after == timedelta(0)
    assert response.longest_update_gap == T0 + timedelta(minutes=40) - declared
    assert response.late_updates == 1


def test_timeline_context_has_documented_variables_and_thread_override() -> None:
    incident = _incident(slack_thread="https://x.slack.com/archives/C1/p1")
    context = timeline_context(incident, settings(TIMEZONE="Asia/Tokyo"), NOW)

    assert set(context) == {"incident", "links", "now", "locale", "timezone"}
    assert isinstance(context["incident"], IncidentFacts)
    assert context["links"] == Links(incident.url, "https://x.slack.com/archives/C1/p1", None, None)
    assert context["timezone"] == "Asia/Tokyo"
    overridden = timeline_context(incident, settings(), NOW, slack_thread_url="https://y/p2")
    links = overridden["links"]
    assert isinstance(links, Links)
    assert links.slack_thread == "https://y/p2"


def test_postmortem_context_sorts_updates_measures_the_response_and_nests_headings() -> None:
    incident = _incident(
        severity="SEV2",
        declared_at=T0,
        mitigated_at=T0 + timedelta(minutes=70),
        resolved_at=T0 + timedelta(minutes=90),
    )
    updates = [
        StatusUpdate(T0 + timedelta(minutes=45), BEN_PERSON, "second"),
        StatusUpdate(T0 + timedelta(minutes=5), None, "first"),
        StatusUpdate(T0 + timedelta(minutes=80), BEN_PERSON, "after mitigation"),
    ]

    context = postmortem_context(
        incident,
        status_updates=updates,
        timeline_markdown="# Timeline\n\n## Entries\n\n- 09:00 — Declared\n",
        settings=settings(),
        now=NOW,
    )

    updates_seen = context["status_updates"]
    assert isinstance(updates_seen, tuple)
    assert [u.text for u in updates_seen] == ["first", "second", "after mitigation"]
    assert context["response"] == ResponseFacts(
        status_update_count=3,
        first_update_after=timedelta(minutes=5),
        longest_update_gap=timedelta(minutes=40),
        update_cadence=timedelta(minutes=30),
        late_updates=1,
    )
    timeline = context["timeline_markdown"]
    assert isinstance(timeline, MarkdownSafe)
    assert timeline == "### Timeline\n\n### Entries\n\n- 09:00 — Declared\n"


def test_response_without_updates_or_cadence() -> None:
    context = postmortem_context(
        _incident(severity="SEV4", declared_at=T0),
        status_updates=[],
        timeline_markdown="",
        settings=settings(),
        now=NOW,
    )
    assert context["response"] == ResponseFacts(0, None, None, None, 0)


@pytest.mark.parametrize(
    ("markdown", "nested"),
    [
        ("# A\ntext\n## B\n#### C", "### A\ntext\n### B\n### C"),
        ("```\n# comment\n```\n# H", "```\n# comment\n```\n### H"),
        ("~~~~\n# x\n~~~\n~~~~\n#tag", "~~~~\n# x\n~~~\n~~~~\n#tag"),
        ("    # indented code\n \\# escaped", "    # indented code\n \\# escaped"),
    ],
)
def test_nest_headings(markdown: str, nested: str) -> None:
    assert nest_headings(markdown) == nested


# --- timeline entries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "locale", "line"),
    [
        # Notion names only the row's last editor: the entry says no more than that.
        (
            "UTC",
            "en",
            "- **05:05** — Status: Investigating → Identified — row last edited by {ben}",
        ),
        (
            "Asia/Tokyo",
            "en",
            "- **14:05** — Status: Investigating → Identified — row last edited by {ben}",
        ),
        (
            "Asia/Tokyo",
            "ja",
            "- **14:05** — Status: Investigating → Identified{open}行の最終編集者: {ben}{close}",
        ),
    ],
)
def test_a_timeline_entry_is_one_line(zone: str, locale: str, line: str) -> None:
    entry = TimelineEntry(
        datetime(2026, 11, 28, 5, 5, tzinfo=UTC),
        "change",
        "Status: Investigating → Identified",
        BEN_PERSON,
    )
    markdown = timeline_entry_markdown(entry, settings(TIMEZONE=zone, LOCALE=locale))

    ben = f"[Ben Carter](notion-user:{BEN['id']})"
    parentheses = {
        "open": "\N{FULLWIDTH LEFT PARENTHESIS}",
        "close": "\N{FULLWIDTH RIGHT PARENTHESIS}",
    }
    assert markdown == line.format(ben=ben, **parentheses) + "\n"
    blocks = markdown_to_blocks(markdown)
    assert [block["type"] for block in blocks] == ["bulleted_list_item"]


@pytest.mark.parametrize(
    ("kind", "text", "en", "ja"),
    [
        (
            "status_update",
            "All good\nnow",
            "Status update: All good now",
            f"状況報告{COLON}All good now",
        ),
        ("nudge", "Update overdue", "Reminder: Update overdue", f"リマインド{COLON}Update overdue"),
        ("resolved", "", "Resolved", "解決"),
        ("note", "# [x](http://evil)", r"\# \[x\](http://evil)", r"\# \[x\](http://evil)"),
    ],
)
def test_entry_kinds_are_worded_per_locale(kind: Any, text: str, en: str, ja: str) -> None:
    entry = TimelineEntry(T0, kind, text, None)
    assert timeline_entry_markdown(entry, settings()) == f"- **09:00** — {en}\n"
    assert timeline_entry_markdown(entry, settings(LOCALE="ja")) == f"- **09:00** — {ja}\n"


def test_entries_on_another_day_carry_their_date() -> None:
    late = TimelineEntry(datetime(2026, 11, 28, 15, 30, tzinfo=UTC), "note", "still on it")
    tokyo = settings(TIMEZONE="Asia/Tokyo")

    same_day = timeline_entry_markdown(late, settings(), day_of=T0)
    next_day = timeline_entry_markdown(late, tokyo, day_of=T0)

    assert same_day.startswith("- **15:30** — ")
    assert next_day.startswith("- **2026-11-29 00:30 JST** — ")


def test_a_long_timeline_entry_is_split_within_notions_limits() -> None:
    text = "".join(f"update {i:04d}; " for i in range(500))  # 6,500 characters
    entry = TimelineEntry(at=T0, kind="status_update", text=text, actor=None)
    blocks = enforce_limits(
        markdown_to_blocks(timeline_entry_markdown(entry, settings(), day_of=T0))
    )
    items = [item for block in blocks for item in block[block["type"]].get("rich_text", [])]
    assert all(utf16_len(i["text"]["content"]) <= MAX_TEXT_UTF16 for i in items)
    assert text.rstrip() in "".join(i["text"]["content"] for i in items)


def test_injected_notion_mentions_stay_text_in_the_timeline() -> None:
    text = f"[Ben](notion-user:{BEN['id']}) <@U0000000000> @here"
    actor = Person(id=AIKO["id"], name=f"[Ben](notion-user:{BEN['id']})")
    entry = TimelineEntry(at=T0, kind="status_update", text=text, actor=actor)
    blocks = markdown_to_blocks(timeline_entry_markdown(entry, settings(), day_of=T0))
    mentions = [
        item["mention"]["user"]["id"]
        for block in blocks
        for item in block[block["type"]].get("rich_text", [])
        if item.get("type") == "mention"
    ]
    assert mentions == [AIKO["id"]]  # only the actor, by id; nobody named in the text


def test_render_helpers_use_the_configured_set() -> None:
    incident = sample_incident("basic")
    config = sample_settings("ja", TOKYO)

    page = render_timeline_page(incident, config, NOW)
    postmortem = render_postmortem_page(
        incident,
        status_updates=sample_status_updates("basic"),
        timeline_markdown="## 記録\n\n- **14:02** — インシデント宣言\n",
        settings=config,
        now=NOW,
    )

    assert page.rstrip().endswith("## 記録")
    assert "## 根本原因" in postmortem
    assert "### 記録" in postmortem
    assert sample_timeline_context(config)["locale"] == "ja"


SECONDS = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("locale", "mitigated_s", "resolved_s", "update_s", "expected"),
    [
        pytest.param(
            "en",
            0,
            0,
            0,
            [
                ", mitigated after less than a minute, resolved after less than a minute.",
                "| Time to mitigate | less than a minute |",
                "| Time to resolve | less than a minute |",
                "- Status updates: 1, the first less than a minute after the declaration.",
                "- Longest stretch without a status update before mitigation: less than a minute",
            ],
            id="en: all in the declaration's minute (Notion's times)",
        ),
        pytest.param(
            "en",
            40,
            40,
            20,
            [
                ", mitigated after less than a minute, resolved after less than a minute.",
                "the first less than a minute after the declaration",
            ],
            id="en: seconds apart (the worker's times)",
        ),
        pytest.param(
            "en",
            25 * 60 + 59,
            3700,
            90,
            [
                ", mitigated after 25 min, resolved after 1 h 1 min.",
                "| Time to resolve | 1 h 1 min |",
                "the first 1 min after the declaration",
            ],
            id="en: minutes, cut down",
        ),
        pytest.param(
            "ja",
            0,
            0,
            20,
            [
                "、1分未満で緩和、1分未満で解決。",
                "| 解決までの時間 | 1分未満 |",
                "宣言から初報まで1分未満\N{FULLWIDTH RIGHT PARENTHESIS}",
            ],
            id="ja: within the minute",
        ),
    ],
)
def test_the_postmortem_states_short_durations_and_never_0_s(
    locale: Locale, mitigated_s: int, resolved_s: int, update_s: int, expected: list[str]
) -> None:
    incident = _incident(
        severity="SEV2",
        status="Resolved",
        declared_at=T0,
        mitigated_at=T0 + mitigated_s * SECONDS,
        resolved_at=T0 + resolved_s * SECONDS,
    )
    postmortem = render_postmortem_page(
        incident,
        status_updates=[StatusUpdate(T0 + update_s * SECONDS, BEN_PERSON, "Looking")],
        timeline_markdown="",
        settings=sample_settings(locale),
        now=NOW,
    )
    for line in expected:
        assert line in postmortem, line
    assert not re.search(r"(?<!\d)0 ?(s\b|秒)", postmortem)
