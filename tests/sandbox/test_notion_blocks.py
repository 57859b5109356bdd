"""Notion emulator: blocks and rich text — append, list, update, delete, and request limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from notion_client import APIResponseError

from tests.sandbox.reference import recorded, shape_differences
from worker.sandbox.notion.blocks import MAX_BLOCKS_PER_REQUEST


def _paragraph(content: str) -> dict[str, Any]:
    return {"paragraph": {"rich_text": [{"text": {"content": content}}]}}


def _toggle(content: str, children: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"rich_text": [{"text": {"content": content}}]}
    if children is not None:
        body["children"] = children
    return {"toggle": body}


@pytest.fixture
def notion_page(notion_sandbox) -> tuple[Any, str]:
    client = notion_sandbox.client()
    page = client.pages.create(
        parent={"page_id": notion_sandbox.workspace.parent_page_id},
        properties={"title": [{"text": {"content": "Timeline"}}]},
    )
    return client, page["id"]


def _error(call: Any) -> str:
    with pytest.raises(APIResponseError) as caught:
        call()
    assert caught.value.code == "validation_error"
    assert caught.value.status == 400
    return str(caught.value)


def test_append_list_retrieve_update_delete(notion_page) -> None:
    client, page_id = notion_page
    appended = client.blocks.children.append(page_id, children=[_paragraph("I'm a paragraph.")])
    real = recorded("test_blocks_children_create", "PATCH", "/v1/blocks/")
    assert shape_differences(real, appended) == []
    block_id = appended["results"][0]["id"]
    assert appended["results"][0]["parent"] == {"type": "page_id", "page_id": page_id}
    updated = client.blocks.update(
        block_id,
        paragraph={
            "rich_text": [
                {
                    "text": {"content": "I'm an updated paragraph."},
                    "annotations": {"bold": True, "color": "red_background"},
                }
            ]
        },
    )
    real_update = recorded("test_blocks_update", "PATCH", "/v1/blocks/393abc1e-edcd-8153")
    assert updated["paragraph"] == {
        **real_update["paragraph"],
        "rich_text": updated["paragraph"]["rich_text"],
    }
    assert (
        updated["paragraph"]["rich_text"][0]["annotations"]
        == (real_update["paragraph"]["rich_text"][0]["annotations"])
    )
    deleted = client.blocks.delete(block_id)
    assert (deleted["in_trash"], deleted["archived"]) == (True, True)
    assert client.blocks.retrieve(block_id)["in_trash"] is True
    assert client.blocks.children.list(page_id)["results"] == []
    assert "archived" in _error(lambda: client.blocks.update(block_id, paragraph={}))
    assert "archived" in _error(lambda: client.blocks.delete(block_id))
    restored = client.blocks.update(block_id, archived=False)
    assert restored["in_trash"] is False
    assert [b["id"] for b in client.blocks.children.list(page_id)["results"]] == [block_id]


def test_children_paginate_by_next_block_id(notion_page) -> None:
    client, page_id = notion_page
    ids = [
        b["id"]
        for b in client.blocks.children.append(
            page_id, children=[_paragraph(f"paragraph {i}") for i in range(5)]
        )["results"]
    ]
    first = client.blocks.children.list(page_id, page_size=2)
    assert [b["id"] for b in first["results"]] == ids[:2]
    assert first["next_cursor"] == ids[2]
    second = client.blocks.children.list(page_id, page_size=2, start_cursor=first["next_cursor"])
    assert [b["id"] for b in second["results"]] == ids[2:4]
    client.blocks.delete(ids[4])
    assert client.blocks.children.list(page_id, page_size=2, start_cursor=ids[4])["results"] == []
    real = recorded("test_iterate_paginated_api", "GET", "/v1/blocks/393abc1e-edcd-814b")
    assert shape_differences(real, first) == []


def test_after_and_position_place_new_blocks(notion_page) -> None:
    client, page_id = notion_page
    a, b = (
        r["id"]
        for r in client.blocks.children.append(
            page_id, children=[_paragraph("a"), _paragraph("b")]
        )["results"]
    )
    client.blocks.children.append(page_id, children=[_paragraph("a2")], after=a)
    client.blocks.children.append(page_id, children=[_paragraph("0")], position={"type": "start"})
    client.blocks.children.append(
        page_id,
        children=[_paragraph("b2")],
        position={"type": "after_block", "after_block": {"id": b}},
    )
    client.blocks.children.append(page_id, children=[_paragraph("end")], position={"type": "end"})
    texts = [
        r["paragraph"]["rich_text"][0]["plain_text"]
        for r in client.blocks.children.list(page_id)["results"]
    ]
    assert texts == ["0", "a", "a2", "b", "b2", "end"]
    assert "not a child" in _error(
        lambda: client.blocks.children.append(page_id, children=[_paragraph("x")], after=page_id)
    )


def test_block_types_render_like_notion(notion_sandbox, notion_page) -> None:
    client, page_id = notion_page
    rich = [{"text": {"content": "x"}}]
    children = [
        {"heading_2": {"rich_text": rich, "is_toggleable": True, "children": [_paragraph("in")]}},
        {"bulleted_list_item": {"rich_text": rich}},
        {"numbered_list_item": {"rich_text": rich, "color": "blue"}},
        {"to_do": {"rich_text": rich, "checked": True}},
        {"quote": {"rich_text": rich}},
        {"callout": {"rich_text": rich, "icon": {"emoji": "🚨"}, "color": "red_background"}},
        {"code": {"rich_text": [{"text": {"content": "print(1)"}}], "language": "python"}},
        {"divider": {}},
        {"bookmark": {"url": "https://status.example.com"}},
        {"equation": {"expression": "e^{i\\pi} + 1 = 0"}},
        {"link_to_page": {"page_id": notion_sandbox.workspace.parent_page_id}},
        {
            "table": {
                "table_width": 2,
                "has_column_header": True,
                "children": [
                    {
                        "table_row": {
                            "cells": [
                                [{"text": {"content": "when"}}],
                                [{"text": {"content": "what"}}],
                            ]
                        }
                    }
                ],
            }
        },
    ]
    results = client.blocks.children.append(page_id, children=children)["results"]
    by_type = {r["type"]: r for r in results}
    assert list(by_type) == [next(iter(c)) for c in children]
    assert by_type["heading_2"]["has_children"] is True
    assert by_type["heading_2"]["heading_2"]["is_toggleable"] is True
    assert by_type["to_do"]["to_do"]["checked"] is True
    assert by_type["callout"]["callout"]["icon"] == {"type": "emoji", "emoji": "🚨"}
    assert by_type["code"]["code"] == {
        "caption": [],
        "rich_text": by_type["code"]["code"]["rich_text"],
        "language": "python",
    }
    assert by_type["divider"]["divider"] == {}
    assert by_type["bookmark"]["bookmark"] == {"caption": [], "url": "https://status.example.com"}
    assert by_type["link_to_page"]["link_to_page"] == {
        "type": "page_id",
        "page_id": notion_sandbox.workspace.parent_page_id,
    }
    assert by_type["table"]["table"] == {
        "table_width": 2,
        "has_column_header": True,
        "has_row_header": False,
    }
    rows = client.blocks.children.list(by_type["table"]["id"])["results"]
    assert rows[0]["table_row"]["cells"][1][0]["plain_text"] == "what"
    assert rows[0]["parent"] == {"type": "block_id", "block_id": by_type["table"]["id"]}
    nested = client.blocks.children.list(by_type["heading_2"]["id"])["results"]
    assert nested[0]["paragraph"]["rich_text"][0]["plain_text"] == "in"


def test_mentions_and_equations_render_as_rich_text(notion_sandbox, notion_page) -> None:
    client, page_id = notion_page
    aiko = notion_sandbox.workspace.person("aiko")
    rich = [
        {"mention": {"user": {"id": aiko.notion_id}}},
        {"mention": {"page": {"id": page_id}}},
        {"mention": {"type": "date", "date": {"start": "2022-12-16", "end": None}}},
        {"equation": {"expression": "E = mc^2"}},
        {"type": "text", "text": {"content": " see runbook", "link": {"url": "https://x.test"}}},
    ]
    block = client.blocks.children.append(page_id, children=[{"paragraph": {"rich_text": rich}}])
    items = block["results"][0]["paragraph"]["rich_text"]
    assert items[0]["plain_text"] == "@Aiko Tanaka"
    assert items[0]["mention"]["user"]["person"]["email"] == aiko.email
    assert items[1]["plain_text"] == "Timeline"
    assert items[1]["href"].endswith(page_id.replace("-", ""))
    real_date = recorded("test_is_mention_rich_text_item_response", "PATCH", "/v1/blocks/")
    assert items[2] == real_date["results"][0]["paragraph"]["rich_text"][0]
    real_equation = recorded("test_is_equation_rich_text_item_response", "PATCH", "/v1/blocks/")
    assert items[3] == real_equation["results"][0]["paragraph"]["rich_text"][0]
    assert items[4]["href"] == "https://x.test"


def test_text_content_is_limited_to_2000_utf16_units(notion_page) -> None:
    client, page_id = notion_page
    client.blocks.children.append(page_id, children=[_paragraph("x" * 2000)])
    client.blocks.children.append(page_id, children=[_paragraph("😀" * 1000)])  # 2 units each
    client.blocks.children.append(page_id, children=[_paragraph("é" * 2000)])  # 1 unit each
    message = _error(
        lambda: client.blocks.children.append(
            page_id, children=[_paragraph("ok"), _paragraph("x"), _paragraph("😀" * 1000 + "!")]
        )
    )
    assert message == (
        "body failed validation: body.children[2].paragraph.rich_text[0].text.content.length "
        "should be ≤ `2000`, instead was `2001`."
    )
    too_long_link = {
        "paragraph": {
            "rich_text": [
                {"text": {"content": "x", "link": {"url": "https://x.test/" + "a" * 2000}}}
            ]
        }
    }
    assert "text.link.url.length should be ≤ `2000`" in _error(
        lambda: client.blocks.children.append(page_id, children=[too_long_link])
    )
    equation = {"paragraph": {"rich_text": [{"equation": {"expression": "x" * 1001}}]}}
    assert "equation.expression.length should be ≤ `1000`, instead was `1001`" in _error(
        lambda: client.blocks.children.append(page_id, children=[equation])
    )
    many = {"paragraph": {"rich_text": [{"text": {"content": "x"}}] * 101}}
    assert "body.children[0].paragraph.rich_text.length should be ≤ `100`, instead was `101`." in (
        _error(lambda: client.blocks.children.append(page_id, children=[many]))
    )


def test_at_most_100_children_per_request(notion_sandbox, notion_page) -> None:
    client, page_id = notion_page
    client.blocks.children.append(page_id, children=[_paragraph("x")] * 100)
    expected = "body failed validation: body.children.length should be ≤ `100`, instead was `101`."
    assert (
        _error(lambda: client.blocks.children.append(page_id, children=[_paragraph("x")] * 101))
        == expected
    )
    assert expected in _error(
        lambda: client.pages.create(
            parent={"page_id": page_id}, properties={}, children=[_paragraph("x")] * 101
        )
    )


def test_two_levels_of_nesting_per_request(notion_page) -> None:
    client, page_id = notion_page
    two_levels = _toggle("top", [_toggle("child", [_paragraph("grandchild")])])
    client.blocks.children.append(page_id, children=[two_levels])
    three_levels = _toggle("top", [_toggle("child", [_toggle("grandchild", [_paragraph("x")])])])
    message = _error(lambda: client.blocks.children.append(page_id, children=[three_levels]))
    assert "body.children[0].toggle.children[0].toggle.children[0].toggle.children" in message
    assert "should be not present" in message
    # Deeper trees are built by appending to the blocks created before.
    grandchild = client.blocks.children.list(
        client.blocks.children.list(client.blocks.children.list(page_id)["results"][0]["id"])[
            "results"
        ][0]["id"]
    )["results"][0]
    client.blocks.children.append(grandchild["id"], children=[_paragraph("deeper")])


def test_at_most_1000_blocks_per_request(notion_page) -> None:
    client, page_id = notion_page
    nine = [_paragraph("c")] * 9
    thousand = [_toggle("t", nine) for _ in range(100)]
    client.blocks.children.append(page_id, children=thousand)
    too_many = [*[_toggle("t", nine) for _ in range(99)], _toggle("t", [*nine, _paragraph("c")])]
    message = _error(lambda: client.blocks.children.append(page_id, children=too_many))
    assert f"`{MAX_BLOCKS_PER_REQUEST}`" in message
    assert "1001" in message


def test_bodies_over_500_kb_are_refused(notion_page) -> None:
    client, page_id = notion_page
    full = {"paragraph": {"rich_text": [{"text": {"content": "x" * 2000}}] * 100}}
    assert len(json.dumps({"children": [full] * 3})) > 500 * 1024  # each block is valid
    message = _error(lambda: client.blocks.children.append(page_id, children=[full] * 3))
    assert "`512000`" in message
    client.blocks.children.append(page_id, children=[full] * 2)


def test_tables_need_rows_of_their_width(notion_page) -> None:
    client, page_id = notion_page

    def table(*widths: int) -> dict[str, Any]:
        rows = [{"table_row": {"cells": [[{"text": {"content": "c"}}]] * w}} for w in widths]
        return {"table": {"table_width": 2, "children": rows}}

    assert "at least 1 table_row" in _error(
        lambda: client.blocks.children.append(page_id, children=[table()])
    )
    assert "cells.length should be `2`" in _error(
        lambda: client.blocks.children.append(page_id, children=[table(2, 3)])
    )
    table_id = client.blocks.children.append(page_id, children=[table(2)])["results"][0]["id"]
    row = {"table_row": {"cells": [[], []]}}
    client.blocks.children.append(table_id, children=[row])
    assert len(client.blocks.children.list(table_id)["results"]) == 2
    assert _error(lambda: client.blocks.children.append(page_id, children=[row]))
    assert _error(lambda: client.blocks.children.append(table_id, children=[_paragraph("x")]))


@pytest.mark.parametrize(
    ("child", "fragment"),
    [
        ({"code": {"rich_text": [], "language": "cobol-ish"}}, "language"),
        ({"image": {"external": {"url": "https://x.test/a.png"}}}, "supported block type"),
        ({"child_page": {"title": "x"}}, "child_page"),
        ({"paragraph": {"rich_text": [], "colour": "red"}}, "colour should be not present"),
        ({"paragraph": {"rich_text": [], "color": "rainbow"}}, "color should be a valid color"),
        ({"divider": {}, "type": "paragraph"}, "paragraph should be defined"),
    ],
)
def test_invalid_blocks_are_validation_errors(notion_page, child, fragment) -> None:
    client, page_id = notion_page
    assert fragment in _error(lambda: client.blocks.children.append(page_id, children=[child]))


def test_blocks_that_hold_no_children_refuse_them(notion_page) -> None:
    client, page_id = notion_page
    divider = client.blocks.children.append(page_id, children=[{"divider": {}}])["results"][0]
    assert "does not support children" in _error(
        lambda: client.blocks.children.append(divider["id"], children=[_paragraph("x")])
    )


def test_deleting_a_sub_page_through_the_blocks_api(notion_sandbox, notion_page) -> None:
    client, page_id = notion_page
    deleted = client.blocks.delete(page_id)
    assert deleted["type"] == "child_page"
    assert deleted["child_page"] == {"title": "Timeline"}
    assert client.pages.retrieve(page_id)["in_trash"] is True
    parent = notion_sandbox.workspace.parent_page_id
    assert client.blocks.children.list(parent)["results"] == []
