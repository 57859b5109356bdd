"""Pages: contexts from incidents, timeline entries, samples, and every bundled template
rendered, converted to Notion blocks and checked against Notion's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import notion_client
import pytest

from tests.factories import AIKO, BEN, T0, row, settings
from worker.config import BUNDLED_TEMPLATES, NOTION_VERSION
from worker.pages.context import (
    PAGE_TEMPLATES,
    POSTMORTEM_TEMPLATE,
    SAMPLE_AIKO,
    SAMPLE_BEN,
    SAMPLE_HANA,
    SAMPLE_HOSTILE,
    SAMPLE_VARIANTS,
    TIMELINE_TEMPLATE,
    IncidentFacts,
    Links,
    ResponseFacts,
    SampleVariant,
    StatusUpdate,
    TimelineEntry,
    check_templates,
    incident_facts,
    nest_headings,
    postmortem_context,
    render_postmortem_page,
    render_timeline_page,
    sample_cases,
    sample_incident,
    sample_postmortem_context,
    sample_settings,
    sample_status_updates,
    sample_timeline_context,
    sample_timeline_entries,
    sample_timeline_markdown,
    timeline_context,
    timeline_entry_markdown,
)
from worker.pages.limits import (
    MAX_ARRAY_ITEMS,
    MAX_CHILDREN_PER_REQUEST,
    MAX_TEXT_UTF16,
    AppendRequest,
    children_of,
    execute_requests,
    plan_requests,
    utf16_len,
)
from worker.pages.templates import MarkdownSafe, TemplateSet
from worker.pages.to_blocks import markdown_to_blocks
from worker.pages.to_markdown import blocks_to_markdown
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.notion.limits import NotionLimits
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


# --- every bundled template, both locales, every sample ---------------------------------


def _assert_within_notion_limits(requests: list[AppendRequest]) -> None:
    assert requests
    for request in requests:
        assert 0 < len(request.children) <= MAX_CHILDREN_PER_REQUEST
        for block in request.children:
            _assert_block_within_limits(block, depth=1)


def _assert_block_within_limits(block: dict[str, Any], depth: int) -> None:
    assert depth <= 3  # a request's children, theirs, and theirs (2 levels of nesting)
    body = block[block["type"]]
    rich = list(body.get("rich_text", [])) + [i for c in body.get("cells", []) for i in c]
    assert len(body.get("rich_text", [])) <= MAX_ARRAY_ITEMS
    for item in rich:
        if item["type"] == "text":
            assert utf16_len(item["text"]["content"]) <= MAX_TEXT_UTF16
    for child in children_of(block):
        _assert_block_within_limits(child, depth + 1)


def _texts(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for block in blocks:
        body = block[block["type"]]
        items += body.get("rich_text", [])
        items += [item for cell in body.get("cells", []) for item in cell]
        items += _texts(children_of(block))
    return items


def _plain(blocks: list[dict[str, Any]]) -> str:
    return "".join(item["text"]["content"] for item in _texts(blocks) if item["type"] == "text")


def _rendered(locale: Locale, variant: SampleVariant) -> tuple[str, str]:
    """(timeline page with entries, postmortem) as the worker would write them."""
    config = sample_settings(locale, TOKYO)
    templates = TemplateSet.load(BUNDLED_TEMPLATES, locale, timezone=TOKYO)
    timeline = sample_timeline_markdown(templates, config, variant)
    read_back = blocks_to_markdown(markdown_to_blocks(timeline))
    context = sample_postmortem_context(config, variant, timeline_markdown=read_back)
    return timeline, templates.render(POSTMORTEM_TEMPLATE, context)


@pytest.mark.parametrize("variant", SAMPLE_VARIANTS)
@pytest.mark.parametrize("locale", LOCALES)
def test_bundled_templates_render_samples_into_blocks_within_notion_limits(
    locale: Locale, variant: SampleVariant
) -> None:
    timeline, postmortem = _rendered(locale, variant)

    for markdown in (timeline, postmortem):
        blocks = markdown_to_blocks(markdown)
        assert blocks
        _assert_within_notion_limits(plan_requests(blocks))
    postmortem_blocks = markdown_to_blocks(postmortem)
    assert postmortem_blocks[0]["type"] == "callout"
    assert [b["type"] for b in postmortem_blocks if b["type"] == "to_do"] == ["to_do"] * 3
    assert any(b["type"] == "table" for b in postmortem_blocks)
    timeline_blocks = markdown_to_blocks(timeline)
    assert timeline_blocks[-1]["type"] == "bulleted_list_item"  # entries come last


@pytest.mark.parametrize("locale", LOCALES)
def test_the_long_sample_keeps_all_of_its_impact_and_entries(locale: Locale) -> None:
    impact = sample_incident("long").impact
    assert len(impact) == 5_000
    assert len(sample_timeline_entries("long")) == 300

    timeline, postmortem = _rendered(locale, "long")

    assert timeline.count("\n- **") == 300
    assert postmortem.count("\n- **") == 300
    assert impact.split("\n")[0] in postmortem
    blocks = markdown_to_blocks(postmortem)
    assert len(plan_requests(blocks)) > 1  # more than 100 blocks: several requests
    assert "".join(impact.split()) in "".join(_plain(blocks).split())


@pytest.mark.parametrize("locale", LOCALES)
def test_japanese_and_emoji_survive(locale: Locale) -> None:
    _, postmortem = _rendered(locale, "japanese")
    text = _plain(markdown_to_blocks(postmortem))

    assert "決済APIの遅延 🔥" in text
    assert "🙇‍♀️ 👍🏽" in text
    mentioned = [i["mention"]["user"]["id"] for i in _texts(markdown_to_blocks(postmortem))
                 if i["type"] == "mention"]  # fmt: skip
    assert "44444444-4444-4444-8444-444444444444" in mentioned


@pytest.mark.parametrize("locale", LOCALES)
def test_hostile_text_injects_no_links_headings_or_lists(locale: Locale) -> None:
    clean_timeline, clean_postmortem = _rendered(locale, "basic")
    timeline, postmortem = _rendered(locale, "hostile")

    for clean, hostile in ((clean_timeline, timeline), (clean_postmortem, postmortem)):
        clean_blocks, blocks = markdown_to_blocks(clean), markdown_to_blocks(hostile)
        assert [b["type"] for b in blocks] == [b["type"] for b in clean_blocks]
        links = {i["text"]["link"]["url"] for i in _texts(blocks) if i["type"] == "text" and
                 i["text"].get("link")}  # fmt: skip
        assert not any("evil" in url for url in links)
    assert "# [click](http://evil) *x*" in _plain(markdown_to_blocks(postmortem))


@pytest.mark.parametrize("zone", [None, TOKYO])
@pytest.mark.parametrize("locale", LOCALES)
def test_check_templates_passes_for_the_bundled_sets(locale: str, zone: ZoneInfo | None) -> None:
    assert check_templates(BUNDLED_TEMPLATES, locale, timezone=zone) == []


def test_bundled_sets_have_the_page_templates() -> None:
    for locale in LOCALES:
        names = TemplateSet.load(BUNDLED_TEMPLATES, locale).names()
        assert set(PAGE_TEMPLATES) <= set(names)


def test_check_templates_reports_each_broken_file_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "en"
    folder.mkdir()
    for name in PAGE_TEMPLATES:
        (folder / name).write_text((BUNDLED_TEMPLATES / "en" / name).read_text("utf-8"), "utf-8")
    (folder / TIMELINE_TEMPLATE).write_text("# T\n\n{{ incident.titel }}\n", "utf-8")
    (folder / POSTMORTEM_TEMPLATE).write_text("# P\n{% for u in status_updates %}\n", "utf-8")

    errors = check_templates(tmp_path, "en")

    assert [(e.template, e.line) for e in errors] == [
        ("en/timeline.md.j2", 3),
        ("en/postmortem.md.j2", 2),
    ]
    assert "undefined attribute 'titel'" in errors[0].problem
    assert "syntax error" in errors[1].problem
    assert check_templates(tmp_path, "ja")[0].template == "ja/"


@pytest.mark.parametrize(
    ("line", "env"),
    [
        ("{% if incident.severity == 'SEV1' %}{{ incident.nope }}{% endif %}", {}),
        ("{% if incident.status == 'Identified' %}{{ incident.nope }}{% endif %}", {}),
        (
            "{% if incident.severity == 'P0' %}{{ incident.nope }}{% endif %}",
            {"SEVERITY_OPTIONS": "P0,P1", "UPDATE_CADENCE": "P0=5m,P1=off"},
        ),
    ],
    ids=["sev1-only", "identified-only", "the-team's-own-severity"],
)
def test_check_templates_tries_every_severity_and_status(
    tmp_path: Path, line: str, env: dict[str, str]
) -> None:
    folder = tmp_path / "en"
    folder.mkdir()
    for name in PAGE_TEMPLATES:
        (folder / name).write_text((BUNDLED_TEMPLATES / "en" / name).read_text("utf-8"), "utf-8")
    with (folder / TIMELINE_TEMPLATE).open("a", encoding="utf-8") as handle:
        handle.write("\n" + line + "\n")

    errors = check_templates(tmp_path, "en", settings=settings(**env))

    assert [e.template for e in errors] == ["en/timeline.md.j2"]
    assert "nope" in errors[0].problem


def test_sample_cases_cover_every_severity_and_status() -> None:
    cases = sample_cases(sample_settings(), "basic")
    pairs = {(c.severity, c.status) for c in cases}
    assert {(s, t) for s in ("SEV1", "SEV4") for t in ("Investigating", "Resolved")} <= pairs
    assert len(pairs) == 16
    sev1 = next(c for c in cases if c.severity == "SEV1")
    assert dict(sev1.mirrored)["severity"].text == "SEV1"  # what templates show agrees


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


# --- the sandbox, with Notion's limits on, accepts the pages ----------------------------


@pytest.mark.parametrize("variant", SAMPLE_VARIANTS)
@pytest.mark.parametrize("locale", ["en", "ja"])
def test_the_sandbox_accepts_every_page_and_the_timeline_reads_back(
    locale: Locale, variant: SampleVariant
) -> None:
    config = sample_settings(locale, TOKYO)
    templates = TemplateSet.load(BUNDLED_TEMPLATES, locale, timezone=TOKYO)
    options = SandboxOptions(notion_limits=NotionLimits.off())
    with Sandbox(options) as box:
        info = box.info()
        client = notion_client.Client(
            auth=info["notion_token"], base_url=box.notion_base_url, notion_version=NOTION_VERSION
        )
        parent = info["parent_page_id"]
        timeline = sample_timeline_markdown(templates, config, variant)
        timeline_id = _create_page(client, parent, _as_workspace_people(timeline, box))
        read_back = blocks_to_markdown(_read_blocks(client, timeline_id))
        context = sample_postmortem_context(config, variant, timeline_markdown=read_back)
        postmortem = templates.render(POSTMORTEM_TEMPLATE, context)
        _create_page(client, parent, _as_workspace_people(postmortem, box))
        statuses = {entry["status"] for entry in box.notion_log.entries()}

    assert statuses == {200}
    assert read_back.count("\n- **") == len(sample_timeline_entries(variant))


def _as_workspace_people(markdown: str, box: Sandbox) -> str:
    """The samples' people made the sandbox's: Notion refuses a mention of a user it does not
    know (tests/sandbox/test_notion_users.py)."""
    samples = (SAMPLE_AIKO, SAMPLE_BEN, SAMPLE_HANA, SAMPLE_HOSTILE)
    for sample, person in zip(samples, box.workspace.people, strict=False):
        markdown = markdown.replace(f"notion-user:{sample.id}", f"notion-user:{person.notion_id}")
    return markdown


def _create_page(client: notion_client.Client, parent: str, markdown: str) -> str:
    requests = plan_requests(markdown_to_blocks(markdown))
    page = _answer(
        client.pages.create(
            parent={"page_id": parent},
            properties={"title": {"title": [{"text": {"content": "Page"}}]}},
            children=list(requests[0].children),
        )
    )
    first = [block["id"] for block in _list(client, page["id"])]

    def append(parent_id: str, children: list[dict[str, Any]]) -> list[str]:
        answer = _answer(client.blocks.children.append(block_id=parent_id, children=children))
        return [block["id"] for block in answer["results"]]

    execute_requests(requests, page["id"], append, done={0: first})
    return str(page["id"])


def _answer(response: object) -> dict[str, Any]:
    """The sync client's answer (its type also admits the async client's awaitable)."""
    assert isinstance(response, dict)
    return response


def _list(client: notion_client.Client, block_id: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        extra = {"start_cursor": cursor} if cursor else {}
        answer = _answer(client.blocks.children.list(block_id=block_id, page_size=100, **extra))
        blocks += answer["results"]
        if not answer.get("has_more"):
            return blocks
        cursor = answer["next_cursor"]


def _read_blocks(client: notion_client.Client, block_id: str) -> list[dict[str, Any]]:
    blocks = _list(client, block_id)
    for block in blocks:
        if block.get("has_children"):
            block["children"] = _read_blocks(client, block["id"])
    return blocks


def test_sample_entries_and_updates_are_ordered_in_time() -> None:
    for variant in SAMPLE_VARIANTS:
        entries = sample_timeline_entries(variant)
        assert [e.at for e in entries] == sorted(e.at for e in entries)
        assert entries[0].kind == "declared"
        updates = sample_status_updates(variant)
        assert [u.at for u in updates] == sorted(u.at for u in updates)
