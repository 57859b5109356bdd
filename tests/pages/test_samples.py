"""Samples: every bundled template, in both locales, rendered for every sample, converted to
Notion blocks and checked against Notion's limits (and the sandbox's); `check_templates`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import notion_client
import pytest

from tests.factories import settings
from worker.config import BUNDLED_TEMPLATES, NOTION_VERSION
from worker.pages.context import PAGE_TEMPLATES, POSTMORTEM_TEMPLATE, TIMELINE_TEMPLATE
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
from worker.pages.samples import (
    SAMPLE_AIKO,
    SAMPLE_BEN,
    SAMPLE_HANA,
    SAMPLE_HOSTILE,
    SAMPLE_VARIANTS,
    SampleVariant,
    check_templates,
    sample_cases,
    sample_incident,
    sample_postmortem_context,
    sample_settings,
    sample_status_updates,
    sample_timeline_entries,
    sample_timeline_markdown,
)
from worker.pages.templates import TemplateSet
from worker.pages.to_blocks import markdown_to_blocks
from worker.pages.to_markdown import blocks_to_markdown
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.notion.limits import NotionLimits

Locale = Literal["en", "ja"]
LOCALES: tuple[Locale, ...] = ("en", "ja")
TOKYO = ZoneInfo("Asia/Tokyo")


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
