"""Tests for worker.pages.limits: the limits pass, request planning and plan execution."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.pages.limits import (
    MAX_REQUEST_BYTES,
    ROOT,
    AppendRequest,
    BlockRef,
    BlockTooLargeError,
    PlanExecutionError,
    children_of,
    count_blocks,
    enforce_limits,
    execute_requests,
    json_size,
    plan_requests,
    referenced_requests,
    split_utf16,
    utf16_len,
)
from worker.pages.to_blocks import markdown_to_blocks

Block = dict[str, Any]
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def t(content: str, link: str | None = None, **annotations: bool) -> dict[str, Any]:
    text: dict[str, Any] = {"content": content}
    if link is not None:
        text["link"] = {"url": link}
    item: dict[str, Any] = {"type": "text", "text": text}
    if annotations:
        item["annotations"] = annotations
    return item


def b(kind: str, *rich: dict[str, Any], children: Sequence[Block] = (), **extra: Any) -> Block:
    body: dict[str, Any] = {"rich_text": list(rich), **extra}
    if children:
        body["children"] = list(children)
    return {"object": "block", "type": kind, kind: body}


def row(*cells: str) -> Block:
    return {"object": "block", "type": "table_row", "table_row": {"cells": [[t(c)] for c in cells]}}


def table(rows: Sequence[Block], width: int = 2) -> Block:
    body = {"table_width": width, "has_column_header": True, "children": list(rows)}
    return {"object": "block", "type": "table", "table": body}


def contents(items: Sequence[dict[str, Any]]) -> list[str]:
    return [item["text"]["content"] for item in items]


# --- UTF-16 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [("", 0), ("abc", 3), ("日本語", 3), ("😀", 2), ("a😀b", 4), ("👩‍🚒", 5), ("é", 1)],
)
def test_utf16_len_counts_like_javascript(text: str, units: int) -> None:
    assert utf16_len(text) == units


@pytest.mark.parametrize(
    ("text", "limit", "pieces"),
    [
        ("", 2000, [""]),
        ("abc", 2, ["ab", "c"]),
        ("a" * 1999 + "😀", 2000, ["a" * 1999, "😀"]),
        ("a" * 1998 + "😀", 2000, ["a" * 1998 + "😀"]),
        ("😀" * 3, 3, ["😀", "😀", "😀"]),
        ("😀" * 3, 4, ["😀😀", "😀"]),
        ("a" * 5000, 2000, ["a" * 2000, "a" * 2000, "a" * 1000]),
    ],
)
def test_split_utf16(text: str, limit: int, pieces: list[str]) -> None:
    assert split_utf16(text, limit) == pieces


def test_split_utf16_joins_split_surrogate_pairs_and_replaces_lone_ones() -> None:
    assert split_utf16("a\ud83d\ude00b\ud800", 2000) == ["a😀b\ufffd"]


# --- the limits pass ----------------------------------------------------------------------


def test_a_5000_character_paragraph_is_split_into_items_with_the_same_style() -> None:
    (paragraph,) = enforce_limits([b("paragraph", t("x" * 5000, "https://x.test", bold=True))])
    items = paragraph["paragraph"]["rich_text"]
    assert contents(items) == ["x" * 2000, "x" * 2000, "x" * 1000]
    assert all(item["annotations"] == {"bold": True} for item in items)
    assert all(item["text"]["link"] == {"url": "https://x.test"} for item in items)


def test_emoji_are_counted_as_two_units_and_never_cut() -> None:
    (paragraph,) = enforce_limits([b("paragraph", t("😀" * 1500))])
    assert contents(paragraph["paragraph"]["rich_text"]) == ["😀" * 1000, "😀" * 500]


def test_japanese_text_splits_at_2000_characters() -> None:
    text = "障害対応中。" * 1000
    (paragraph,) = enforce_limits([b("paragraph", t(text))])
    items = contents(paragraph["paragraph"]["rich_text"])
    assert [len(item) for item in items] == [2000, 2000, 2000]
    assert "".join(items) == text


def test_a_too_long_link_is_dropped_and_the_text_kept() -> None:
    url = "https://x.test/" + "a" * 2000
    (paragraph,) = enforce_limits([b("paragraph", t("here", url))])
    assert paragraph["paragraph"]["rich_text"] == [t("here")]


def test_more_than_100_items_split_the_block_and_children_go_last() -> None:
    items = [t(f"{n} ", bold=n % 2 == 0) for n in range(250)]
    child = b("paragraph", t("child"))
    parts = enforce_limits([b("to_do", *items, children=[child], checked=True)])
    assert [len(part["to_do"]["rich_text"]) for part in parts] == [100, 100, 50]
    assert all(part["type"] == "to_do" and part["to_do"]["checked"] for part in parts)
    assert [children_of(part) for part in parts] == [[], [], [child]]
    assert [i for part in parts for i in part["to_do"]["rich_text"]] == items


def test_a_long_code_block_splits_into_items_then_blocks() -> None:
    parts = enforce_limits([b("code", t("y" * 250_000), language="python")])
    assert [len(part["code"]["rich_text"]) for part in parts] == [49, 49, 27]
    assert all(part["code"]["language"] == "python" for part in parts)
    assert "".join(i["text"]["content"] for part in parts for i in part["code"]["rich_text"]) == (
        "y" * 250_000
    )


def test_a_long_block_equation_becomes_latex_code() -> None:
    expression = "x+" * 600
    block = {"object": "block", "type": "equation", "equation": {"expression": expression}}
    (code,) = enforce_limits([block])
    assert code["type"] == "code"
    assert code["code"]["language"] == "latex"
    assert "".join(contents(code["code"]["rich_text"])) == expression


def test_a_long_inline_equation_becomes_code_text() -> None:
    item = {"type": "equation", "equation": {"expression": "y" * 1500}}
    (paragraph,) = enforce_limits([b("paragraph", item)])
    assert paragraph["paragraph"]["rich_text"] == [t("y" * 1500, code=True)]


def test_short_equations_and_mentions_are_untouched() -> None:
    items = [
        {"type": "equation", "equation": {"expression": "E=mc^2"}},
        {"type": "mention", "mention": {"user": {"id": "u"}}},
    ]
    (paragraph,) = enforce_limits([b("paragraph", *items)])
    assert paragraph["paragraph"]["rich_text"] == items


def test_tables_are_capped_at_100_columns_and_cells_at_100_items() -> None:
    wide = {"object": "block", "type": "table_row", "table_row": {"cells": [[t("c")]] * 120}}
    crowded = {
        "object": "block",
        "type": "table_row",
        "table_row": {"cells": [[t(f"{n},") for n in range(150)]]},
    }
    (limited,) = enforce_limits([table([wide, crowded], width=120)])
    assert limited["table"]["table_width"] == 100
    wide_row, crowded_row = limited["table"]["children"]
    assert len(wide_row["table_row"]["cells"]) == 100
    cell = crowded_row["table_row"]["cells"][0]
    assert len(cell) == 100
    assert cell[-1] == t("".join(f"{n}," for n in range(99, 150)))


def test_a_table_without_rows_is_dropped() -> None:
    assert enforce_limits([table([])]) == []


def test_enforce_limits_does_not_modify_its_input() -> None:
    blocks = [b("paragraph", t("x" * 5000), children=[b("paragraph", *[t("y")] * 150)])]
    before = copy.deepcopy(blocks)
    enforce_limits(blocks)
    assert blocks == before


# --- planning -----------------------------------------------------------------------------


def test_nothing_to_send_plans_no_request() -> None:
    assert plan_requests([]) == []


def test_300_list_items_go_in_three_ordered_root_batches() -> None:
    items = [b("bulleted_list_item", t(f"item {n}")) for n in range(300)]
    requests = plan_requests(items)
    assert [request.parent for request in requests] == [ROOT, ROOT, ROOT]
    assert [list(request.children) for request in requests] == [
        items[:100],
        items[100:200],
        items[200:],
    ]


def test_the_first_batch_can_be_smaller_for_page_creation() -> None:
    items = [b("paragraph", t(f"{n}")) for n in range(150)]
    requests = plan_requests(items, first_batch_limit=10)
    assert [len(request.children) for request in requests] == [10, 100, 40]


@pytest.mark.parametrize("limit", [0, 101])
def test_first_batch_limit_must_be_a_valid_batch_size(limit: int) -> None:
    with pytest.raises(ValueError, match="first_batch_limit"):
        plan_requests([b("paragraph", t("x"))], first_batch_limit=limit)


def test_a_five_level_list_is_sent_two_levels_at_a_time() -> None:
    blocks = markdown_to_blocks("- 1\n  - 2\n    - 3\n      - 4\n        - 5\n- after")
    requests = plan_requests(blocks)
    item = lambda text, *children: b("bulleted_list_item", t(text), children=children)  # noqa: E731
    assert requests == [
        AppendRequest(ROOT, (item("1"), item("after"))),
        AppendRequest(BlockRef(0, 0), (item("2"),)),
        AppendRequest(BlockRef(1, 0), (item("3", item("4", item("5"))),)),
    ]
    assert referenced_requests(requests) == frozenset({0, 1})


def test_a_150_row_table_sends_100_rows_then_appends_the_rest_to_the_table() -> None:
    rows = [row(f"{n}", "日本😀") for n in range(150)]
    requests = plan_requests([b("paragraph", t("before")), table(rows), b("paragraph", t("after"))])
    assert len(requests) == 2
    first, rest = requests
    assert first.parent == ROOT
    assert first.children[1]["table"]["children"] == rows[:100]
    assert rest == AppendRequest(BlockRef(0, 1), tuple(rows[100:]))


def test_a_table_may_sit_two_levels_down_with_its_rows() -> None:
    rows = [row("a", "b")]
    blocks = [b("bulleted_list_item", t("x"), children=[b("paragraph", t("y")), table(rows)])]
    assert plan_requests(blocks) == [AppendRequest(ROOT, tuple(blocks))]


def test_a_table_three_levels_down_waits_for_its_grandparent() -> None:
    rows = [row("a", "b")]
    inner = b("bulleted_list_item", t("y"), children=[table(rows)])
    blocks = [b("bulleted_list_item", t("x"), children=[inner])]
    # Its rows would be a fourth level, so the outer item goes alone and the rest follows.
    assert plan_requests(blocks) == [
        AppendRequest(ROOT, (b("bulleted_list_item", t("x")),)),
        AppendRequest(BlockRef(0, 0), (inner,)),
    ]


def test_requests_stay_under_1000_blocks() -> None:
    blocks = [
        b("bulleted_list_item", t(f"{n}"), children=[b("paragraph", t("c"))] * 30)
        for n in range(60)
    ]
    requests = plan_requests(blocks)
    assert all(count_blocks(list(request.children)) <= 1000 for request in requests)
    assert len(requests) > 1


def test_requests_stay_under_the_byte_budget() -> None:
    text = "長い説明文です。" * 5000  # ~120 KB of UTF-8 per paragraph
    blocks = [b("paragraph", t(text)) for _ in range(20)]
    requests = plan_requests(blocks)
    sizes = [json_size({"children": list(request.children)}) for request in requests]
    assert all(size <= 450_000 for size in sizes)
    assert len(requests) >= 5


def test_a_block_that_cannot_fit_alone_is_an_error() -> None:
    huge = {
        "object": "block",
        "type": "table_row",
        "table_row": {"cells": [[t("z" * 2000)] * 100]},
    }
    with pytest.raises(BlockTooLargeError) as raised:
        plan_requests([table([huge], width=1)], budget_bytes=100_000)
    assert raised.value.block_type == "table"


# --- execution ----------------------------------------------------------------------------


class FakeNotion:
    """An in-memory `append` that checks every request against Notion's limits."""

    def __init__(self) -> None:
        self.children: dict[str, list[str]] = {"page": []}
        self.blocks: dict[str, Block] = {}
        self.calls: list[tuple[str, list[Block]]] = []

    def append(self, parent_id: str, children: list[Block]) -> list[str]:
        assert parent_id in self.children, f"unknown parent {parent_id}"
        assert_request_within_limits(children)
        self.calls.append((parent_id, children))
        return [self._store(parent_id, child) for child in children]

    def _store(self, parent_id: str, block: Block) -> str:
        block_id = f"block-{len(self.blocks)}"
        kind = block["type"]
        body = {key: value for key, value in block[kind].items() if key != "children"}
        self.blocks[block_id] = {**block, kind: body}
        self.children[block_id] = []
        self.children[parent_id].append(block_id)
        for child in children_of(block):
            self._store(block_id, child)
        return block_id

    def tree(self, parent_id: str = "page") -> list[Block]:
        return [_with_children(self.blocks[i], self.tree(i)) for i in self.children[parent_id]]


def _with_children(block: Block, children: list[Block]) -> Block:
    kind = block["type"]
    body = {key: value for key, value in block[kind].items() if key != "children"}
    if children:
        body["children"] = children
    return {**block, kind: body}


def normalised(blocks: Sequence[Block]) -> list[Block]:
    return [_with_children(block, normalised(children_of(block))) for block in blocks]


def assert_request_within_limits(children: list[Block]) -> None:
    assert 1 <= len(children) <= 100
    assert count_blocks(children) <= 1000
    assert json_size({"children": children}) <= MAX_REQUEST_BYTES
    for child in children:
        for grandchild in children_of(child):
            assert all(not children_of(great) for great in children_of(grandchild)), "depth > 2"
    _assert_blocks_within_limits(children)


def _assert_blocks_within_limits(blocks: list[Block]) -> None:
    assert len(blocks) <= 100
    for block in blocks:
        body = block[block["type"]]
        if block["type"] == "table":
            assert body["children"], "a table needs its first rows"
        for items in [body.get("rich_text", []), *body.get("cells", [])]:
            assert len(items) <= 100
            for item in items:
                _assert_item_within_limits(item)
        _assert_blocks_within_limits(children_of(block))


def _assert_item_within_limits(item: dict[str, Any]) -> None:
    text = item.get("text")
    if text is None:
        return
    assert utf16_len(text["content"]) <= 2000
    assert not LONE_SURROGATE.search(text["content"])
    if text.get("link"):
        assert utf16_len(text["link"]["url"]) <= 2000


def test_executing_a_plan_rebuilds_the_tree() -> None:
    markdown = "\n\n".join(
        [
            "# Incident 障害 🔥",
            "x" * 5000,
            "\n".join(f"- item {n}" for n in range(300)),
            "- a\n  - b\n    - c\n      - d\n        - e",
            "| n | v |\n|---|---|\n" + "\n".join(f"| {n} | 値😀 |" for n in range(150)),
        ]
    )
    blocks = markdown_to_blocks(markdown)
    notion = FakeNotion()
    ids = execute_requests(plan_requests(blocks), "page", notion.append)
    assert notion.tree() == normalised(enforce_limits(blocks))
    assert sorted(ids) == list(range(len(notion.calls)))


def test_the_first_batch_can_be_sent_with_page_creation() -> None:
    blocks = [b("bulleted_list_item", t("a"), children=[b("paragraph", t("b"))] * 150)]
    requests = plan_requests(blocks)
    notion = FakeNotion()
    # What `pages.create(children=...)` followed by listing the page's children gives.
    first_ids = notion.append("page", list(requests[0].children))
    assert 0 in referenced_requests(requests)
    execute_requests(requests, "page", notion.append, done={0: first_ids})
    assert len(notion.calls) == len(requests)
    assert notion.tree() == normalised(blocks)


def test_execution_stops_when_append_returns_the_wrong_number_of_ids() -> None:
    requests = plan_requests([b("paragraph", t("a")), b("paragraph", t("b"))])
    with pytest.raises(PlanExecutionError) as raised:
        execute_requests(requests, "page", lambda _parent, _children: ["only-one"])
    assert raised.value.request_index == 0


def test_execution_needs_the_ids_of_referenced_requests() -> None:
    requests = plan_requests(
        [b("bulleted_list_item", t("a"), children=[b("paragraph", t("b"))] * 101)]
    )
    notion = FakeNotion()
    with pytest.raises(PlanExecutionError, match="has no id"):
        execute_requests(requests, "page", notion.append, done={0: []})


# --- properties ---------------------------------------------------------------------------

ANNOTATIONS = st.dictionaries(
    st.sampled_from(["bold", "italic", "strikethrough", "code"]), st.just(True), max_size=2
)
SHORT_TEXT = st.text(max_size=12)
LONG_TEXT = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", "日本", "😀", "é👩‍🚒"]),
    st.integers(300, 2100),
)
URL = st.one_of(st.none(), st.just("https://x.test/"), st.just("https://x.test/" + "u" * 2000))


@st.composite
def rich_items(draw: st.DrawFn, max_size: int = 6) -> list[dict[str, Any]]:
    drawn = draw(
        st.lists(st.tuples(st.one_of(SHORT_TEXT, LONG_TEXT), URL, ANNOTATIONS), max_size=max_size)
    )
    return [t(content, link, **flags) for content, link, flags in drawn]


def text_block(kind: str) -> st.SearchStrategy[Block]:
    return st.builds(lambda items: b(kind, *items), rich_items())


LEAVES = st.one_of(
    text_block("paragraph"),
    text_block("heading_2"),
    st.builds(lambda items: b("code", *items, language="python"), rich_items()),
    st.just({"object": "block", "type": "divider", "divider": {}}),
    st.builds(lambda n: table([row(f"{i}", "v") for i in range(n)]), st.integers(1, 130)),
    st.builds(
        lambda count, text: b(
            "paragraph", *[t(f"{text}{n}", bold=n % 3 == 0) for n in range(count)]
        ),
        st.integers(90, 160),
        SHORT_TEXT,
    ),
)


def _with_kids(kind: str) -> st.SearchStrategy[Block]:
    return st.builds(
        lambda items, kids: b(kind, *items, children=kids),
        rich_items(max_size=2),
        st.lists(st.deferred(lambda: TREE), max_size=4),
    )


TREE: st.SearchStrategy[Block] = st.one_of(
    LEAVES,
    _with_kids("bulleted_list_item"),
    _with_kids("numbered_list_item"),
    _with_kids("quote"),
    st.builds(
        lambda count, text: b(
            "bulleted_list_item",
            t("many"),
            children=[b("paragraph", t(f"{text}{n}")) for n in range(count)],
        ),
        st.integers(90, 130),
        SHORT_TEXT,
    ),
)
DOCUMENTS = st.lists(TREE, max_size=8)


def all_text(blocks: Sequence[Block]) -> str:
    parts: list[str] = []
    for block in blocks:
        body = block[block["type"]]
        for items in [body.get("rich_text", []), *body.get("cells", [])]:
            parts.extend(item["text"]["content"] for item in items if "text" in item)
        parts.append(all_text(children_of(block)))
    return "".join(parts)


PROPERTY_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY_SETTINGS
@given(DOCUMENTS)
def test_limits_pass_keeps_text_and_respects_item_limits(blocks: list[Block]) -> None:
    limited = enforce_limits(blocks)
    _assert_blocks_within_limits_deep(limited)
    assert all_text(limited) == all_text(blocks)


def _assert_blocks_within_limits_deep(blocks: list[Block]) -> None:
    for block in blocks:
        body = block[block["type"]]
        for items in [body.get("rich_text", []), *body.get("cells", [])]:
            assert len(items) <= 100
            for item in items:
                _assert_item_within_limits(item)
        _assert_blocks_within_limits_deep(children_of(block))


@PROPERTY_SETTINGS
@given(DOCUMENTS, st.integers(1, 100))
def test_executing_any_plan_rebuilds_exactly_the_limited_tree(
    blocks: list[Block], first_batch_limit: int
) -> None:
    requests = plan_requests(blocks, first_batch_limit=first_batch_limit)
    assert not requests or len(requests[0].children) <= first_batch_limit
    for index, request in enumerate(requests):
        if isinstance(request.parent, BlockRef):
            assert request.parent.request_index < index
            assert request.parent.child_index < len(requests[request.parent.request_index].children)
    roots = [index for index, request in enumerate(requests) if request.parent == ROOT]
    assert roots == list(range(len(roots))), "root batches come first, in order"
    notion = FakeNotion()
    execute_requests(requests, "page", notion.append)
    assert notion.tree() == normalised(enforce_limits(blocks))


def test_json_size_matches_what_httpx_sends() -> None:
    body = {"children": [b("paragraph", t('日本😀 "x"'))]}
    sent = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert json_size(body) == len(sent.encode("utf-8"))
