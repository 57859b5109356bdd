"""Notion's answers about pages and blocks, parsed once: a block Notion lists reads the same as
the block request the worker sent for it."""

from __future__ import annotations

from typing import Any

import pytest

from worker.pages.parse import ChildBlock, NotionPage, block_text, parse_child_block, parse_page
from worker.pages.to_blocks import markdown_to_blocks

USER = "33333333-3333-4333-8333-333333333333"


def test_a_page_without_properties_or_creator() -> None:
    assert parse_page({"object": "page", "id": "p-1"}) == NotionPage(id="p-1")


@pytest.mark.parametrize(
    ("flags", "in_trash"),
    [({}, False), ({"in_trash": True}, True), ({"archived": True}, True)],
    ids=["live", "in the trash", "archived (older answers)"],
)
def test_a_page_in_the_trash(flags: dict[str, bool], in_trash: bool) -> None:
    assert parse_page({"id": "p-1", **flags}).in_trash is in_trash


def test_page_properties_read_as_a_reader_sees_them() -> None:
    raw = {
        "id": "p-1",
        "properties": {
            "Status": {"type": "select", "select": None},
            "Due": {"type": "date", "date": {"start": "2026-03-09"}},
            "Owner": {"type": "people", "people": [{"id": USER, "name": "Ben Carter"}]},
        },
    }

    properties = parse_page(raw).properties

    assert properties["Status"].is_empty
    assert properties["Due"].text == "2026-03-09"
    assert [(p.id, p.name) for p in properties["Owner"].people] == [(USER, "Ben Carter")]


def test_a_listed_child_database() -> None:
    raw = {
        "object": "block",
        "id": "b-1",
        "type": "child_database",
        "child_database": {"title": "Postmortems"},
        "created_by": {"object": "user", "id": "bot-1"},
    }

    assert parse_child_block(raw) == ChildBlock(
        id="b-1", type="child_database", title="Postmortems", created_by="bot-1"
    )


def _returned(sent: dict[str, Any], rich_text: list[dict[str, Any]]) -> dict[str, Any]:
    kind = sent["type"]
    return {"object": "block", "id": "b-1", "type": kind, kind: {"rich_text": rich_text}}


@pytest.mark.parametrize(
    ("markdown", "returned"),
    [
        (
            "Plain *and* emphasised",
            [
                {"type": "text", "text": {"content": "Plain "}, "plain_text": "Plain "},
                {"type": "text", "text": {"content": "and"}, "plain_text": "and"},
                {"type": "text", "text": {"content": " emphasised"}, "plain_text": " emphasised"},
            ],
        ),
        (
            f"[@Ben](notion-user:{USER})",
            [
                {
                    "type": "mention",
                    "mention": {"type": "user", "user": {"id": USER.replace("-", "").upper()}},
                    "plain_text": "@Ben Carter",
                }
            ],
        ),
        (
            "[July 4](notion-date:2026-07-04)",
            [
                {
                    "type": "mention",
                    "mention": {"type": "date", "date": {"start": "2026-07-04", "end": None}},
                    "plain_text": "July 4, 2026",
                }
            ],
        ),
    ],
    ids=["text split differently", "a user mention, named by Notion", "a date mention"],
)
def test_a_block_notion_returns_reads_like_the_one_sent(
    markdown: str, returned: list[dict[str, Any]]
) -> None:
    (sent,) = markdown_to_blocks(markdown)

    assert parse_child_block(_returned(sent, returned)).text == block_text(sent)


def test_a_mention_of_someone_else_reads_differently() -> None:
    (sent,) = markdown_to_blocks(f"[@Ben](notion-user:{USER})")
    other = {"type": "mention", "mention": {"user": {"id": "4" * 32}}, "plain_text": "@Ben"}

    assert parse_child_block(_returned(sent, [other])).text != block_text(sent)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ({"id": "b-1", "type": "divider", "divider": {}}, ""),
        ({"id": "b-1", "type": "unsupported"}, ""),
        ({"id": "b-1", "type": "paragraph", "paragraph": None}, ""),
        ({"id": "b-1", "type": "paragraph", "paragraph": {"rich_text": None}}, ""),
        (
            {"id": "b-1", "type": "paragraph", "paragraph": {"rich_text": ["x", {"mention": 1}]}},
            "\x00\x00",  # a mention of nothing known
        ),
        ({"id": "b-1", "type": "quote", "quote": {"rich_text": [{"type": "equation"}]}}, ""),
    ],
    ids=["no text", "no body", "a null body", "null text", "odd items", "an empty equation"],
)
def test_a_block_the_worker_cannot_read_parses_all_the_same(raw: dict[str, Any], text: str) -> None:
    """Pages people edit hold anything: listing one to find the worker's own never fails."""
    assert parse_child_block(raw).text == text
