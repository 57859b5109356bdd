"""Tests for worker.pages.to_markdown: Notion block responses → Markdown, and the round trip."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.pages.to_blocks import markdown_to_blocks
from worker.pages.to_markdown import blocks_to_markdown, rich_text_to_markdown

USER = "37ebdcd9-e87a-4613-a443-df789558867f"
PAGE = "1429989f-e8ac-4eff-bc8f-57f56486db54"
DEFAULT_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}


# --- request → response, as Notion would answer -------------------------------------------


def as_response(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn block *request* objects into response-like blocks (children at the block level,
    rich text with `plain_text`, full `annotations` and `href`), as the worker's reader sees."""
    return [_block_response(block, f"block-{n}") for n, block in enumerate(blocks)]


def _block_response(block: dict[str, Any], block_id: str) -> dict[str, Any]:
    kind = block["type"]
    body = {key: value for key, value in block[kind].items() if key != "children"}
    if "rich_text" in body:
        body["rich_text"] = [_item_response(item) for item in body["rich_text"]]
    if "cells" in body:
        body["cells"] = [[_item_response(item) for item in cell] for cell in body["cells"]]
    if kind == "code":
        body.setdefault("caption", [])
    children = block[kind].get("children", [])
    response: dict[str, Any] = {
        "object": "block",
        "id": block_id,
        "type": kind,
        kind: body,
        "has_children": bool(children),
        "in_trash": False,
    }
    if children:
        response["children"] = [
            _block_response(child, f"{block_id}-{n}") for n, child in enumerate(children)
        ]
    return response


def _item_response(item: dict[str, Any]) -> dict[str, Any]:
    annotations = {**DEFAULT_ANNOTATIONS, **item.get("annotations", {})}
    if "text" in item:
        link = item["text"].get("link")
        return {
            "type": "text",
            "text": {"content": item["text"]["content"], "link": link},
            "annotations": annotations,
            "plain_text": item["text"]["content"],
            "href": link["url"] if link else None,
        }
    mention = item["mention"]
    kind = next(iter(mention))
    labels = {"user": "@Aiko Tanaka", "page": "Postmortem", "database": "Incidents"}
    label = labels.get(kind) or mention[kind].get("start", "")
    return {
        "type": "mention",
        "mention": {"type": kind, **mention},
        "annotations": annotations,
        "plain_text": label,
        "href": None,
    }


# --- response fixtures → Markdown ---------------------------------------------------------


def rt(content: str, href: str | None = None, **flags: bool) -> dict[str, Any]:
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": href} if href else None},
        "annotations": {**DEFAULT_ANNOTATIONS, **flags},
        "plain_text": content,
        "href": href,
    }


def blk(kind: str, *rich: dict[str, Any], children: list[Any] | None = None, **extra: Any) -> Any:
    block: dict[str, Any] = {
        "object": "block",
        "type": kind,
        kind: {"rich_text": list(rich), "color": "default", **extra},
        "has_children": bool(children),
    }
    if children:
        block["children"] = children
    return block


INLINE_CASES: list[tuple[str, list[dict[str, Any]], str]] = [
    ("plain", [rt("hello")], "hello"),
    ("bold", [rt("b", bold=True)], "**b**"),
    ("italic", [rt("i", italic=True)], "*i*"),
    ("strike", [rt("s", strikethrough=True)], "~~s~~"),
    ("code", [rt("x = 1", code=True)], "`x = 1`"),
    ("code with backtick", [rt("a`b", code=True)], "``a`b``"),
    ("code starting with backtick", [rt("`a", code=True)], "`` `a ``"),
    (
        "nested",
        [rt("a ", bold=True), rt("b", bold=True, italic=True), rt(" c", bold=True)],
        "**a *b* c**",
    ),
    ("separate styled words", [rt("a", italic=True), rt(" "), rt("b", italic=True)], "*a* *b*"),
    ("whitespace moves outside", [rt("bold ", bold=True), rt("plain")], "**bold** plain"),
    ("link", [rt("Runbook", "https://x.test/rb")], "[Runbook](https://x.test/rb)"),
    ("bold link", [rt("rb", "https://x.test", bold=True)], "**[rb](https://x.test)**"),
    (
        "styled part of link",
        [rt("a ", "https://x.test"), rt("b", "https://x.test", bold=True)],
        "[a **b**](https://x.test)",
    ),
    ("link with parentheses", [rt("w", "https://x.test/a(b)")], "[w](<https://x.test/a(b)>)"),
    ("link with space", [rt("w", "https://x.test/a b")], "[w](<https://x.test/a b>)"),
    ("hard break", [rt("one\ntwo")], "one\\\ntwo"),
    ("trailing break dropped", [rt("one\n")], "one"),
    ("escapes", [rt("*a* [b] `c` <d> ~e~ \\")], "\\*a\\* \\[b\\] \\`c\\` \\<d> \\~e\\~ \\\\"),
    ("underscore in a word", [rt("snake_case and _x_")], "snake_case and \\_x\\_"),
    ("entity-like ampersand", [rt("&amp; & b")], "\\&amp; & b"),
    ("heading-like start", [rt("# not a heading")], "\\# not a heading"),
    ("list-like start", [rt("- not a list\n+ nor this")], "\\- not a list\\\n\\+ nor this"),
    ("ordered-like start", [rt("1. not a list")], "1\\. not a list"),
    ("quote-like start", [rt("> not a quote")], "\\> not a quote"),
    ("table-like line", [rt("a | b\n|---|---|")], "a | b\\\n|\\---|---|"),
    ("bang before link", [rt("wow!"), rt("x", "https://x.test")], "wow\\![x](https://x.test)"),
    (
        "user mention",
        [
            {
                "type": "mention",
                "mention": {"type": "user", "user": {"object": "user", "id": USER}},
                "plain_text": "@Aiko",
                "href": None,
            }
        ],
        f"[@Aiko](notion-user:{USER})",
    ),
    (
        "page mention",
        [
            {
                "type": "mention",
                "mention": {"type": "page", "page": {"id": PAGE}},
                "plain_text": "Postmortem",
                "href": "https://www.notion.so/x",
            }
        ],
        f"[Postmortem](notion-page:{PAGE})",
    ),
    (
        "date mention",
        [
            {
                "type": "mention",
                "mention": {
                    "type": "date",
                    "date": {"start": "2026-07-04", "end": None, "time_zone": None},
                },
                "plain_text": "2026-07-04",
            }
        ],
        "[2026-07-04](notion-date:2026-07-04)",
    ),
    (
        "date range mention",
        [
            {
                "type": "mention",
                "mention": {"type": "date", "date": {"start": "2026-07-04", "end": "2026-07-05"}},
                "plain_text": "July 4 → 5",
            }
        ],
        "[July 4 → 5](notion-date:2026-07-04/2026-07-05)",
    ),
    (
        "link preview mention",
        [
            {
                "type": "mention",
                "mention": {"type": "link_preview", "link_preview": {"url": "https://x.test"}},
                "plain_text": "x.test",
                "href": "https://x.test",
            }
        ],
        "[x.test](https://x.test)",
    ),
    (
        "equation",
        [{"type": "equation", "equation": {"expression": "a_1"}, "plain_text": "a_1"}],
        "$a_1$",
    ),
    ("japanese and emoji", [rt("障害 "), rt("重要", bold=True), rt(" 🔥")], "障害 **重要** 🔥"),
]


@pytest.mark.parametrize(
    ("items", "markdown"), [c[1:] for c in INLINE_CASES], ids=[c[0] for c in INLINE_CASES]
)
def test_rich_text_to_markdown(items: list[dict[str, Any]], markdown: str) -> None:
    assert rich_text_to_markdown(items) == markdown


BLOCK_CASES: list[tuple[str, list[Any], str]] = [
    ("nothing", [], ""),
    ("paragraphs", [blk("paragraph", rt("a")), blk("paragraph", rt("b"))], "a\n\nb\n"),
    ("empty paragraph skipped", [blk("paragraph"), blk("paragraph", rt("b"))], "b\n"),
    (
        "headings",
        [blk("heading_1", rt("A")), blk("heading_2", rt("B")), blk("heading_3", rt("C"))],
        "# A\n\n## B\n\n### C\n",
    ),
    ("heading 4", [blk("heading_4", rt("D"))], "#### D\n"),
    ("trailing hash in heading", [blk("heading_2", rt("C#"))], "## C\\#\n"),
    ("multi-line h1 is setext", [blk("heading_1", rt("a\nb"))], "a\\\nb\n===\n"),
    ("multi-line h3 joins lines", [blk("heading_3", rt("a\nb"))], "### a b\n"),
    (
        "bullets",
        [blk("bulleted_list_item", rt("a")), blk("bulleted_list_item", rt("b"))],
        "- a\n- b\n",
    ),
    (
        "numbers restart after other blocks",
        [
            blk("numbered_list_item", rt("a")),
            blk("numbered_list_item", rt("b")),
            blk("paragraph", rt("p")),
            blk("numbered_list_item", rt("c")),
        ],
        "1. a\n2. b\n\np\n\n1. c\n",
    ),
    (
        "nested lists indent by marker width",
        [
            blk(
                "numbered_list_item",
                rt("a"),
                children=[
                    blk(
                        "bulleted_list_item",
                        rt("b"),
                        children=[blk("to_do", rt("c"), checked=True)],
                    )
                ],
            )
        ],
        "1. a\n   - b\n     - [x] c\n",
    ),
    (
        "list item with a paragraph",
        [blk("bulleted_list_item", rt("a"), children=[blk("paragraph", rt("more"))])],
        "- a\n\n  more\n",
    ),
    (
        "list item with two lines",
        [blk("bulleted_list_item", rt("a\nb"))],
        "- a\\\n  b\n",
    ),
    (
        "to-dos",
        [blk("to_do", rt("x"), checked=False), blk("to_do", rt("y"), checked=True)],
        "- [ ] x\n- [x] y\n",
    ),
    (
        "toggle as bullet",
        [blk("toggle", rt("t"), children=[blk("paragraph", rt("in"))])],
        "- t\n\n  in\n",
    ),
    ("quote", [blk("quote", rt("q"))], "> q\n"),
    (
        "quote with children",
        [blk("quote", rt("q"), children=[blk("bulleted_list_item", rt("a"))])],
        "> q\n>\n> - a\n",
    ),
    (
        "callout",
        [blk("callout", rt("Careful"), icon={"type": "emoji", "emoji": "⚠️"})],
        "> [!WARNING]\n> Careful\n",
    ),
    (
        "callout with unknown icon",
        [blk("callout", rt("x"), icon={"type": "emoji", "emoji": "🐙"})],
        "> [!NOTE]\n> x\n",
    ),
    (
        "callout with children",
        [
            blk(
                "callout",
                rt("x"),
                icon={"type": "emoji", "emoji": "💡"},
                children=[blk("paragraph", rt("y"))],
            )
        ],
        "> [!TIP]\n> x\n>\n> y\n",
    ),
    ("code", [blk("code", rt("x = 1\ny"), language="python")], "```python\nx = 1\ny\n```\n"),
    ("code plain text", [blk("code", rt("x"), language="plain text")], "```\nx\n```\n"),
    (
        "code language with space",
        [blk("code", rt("+"), language="ascii art")],
        "```ascii-art\n+\n```\n",
    ),
    (
        "code with fences inside",
        [blk("code", rt("```\nx\n```"), language="markdown")],
        "````markdown\n```\nx\n```\n````\n",
    ),
    ("divider", [{"object": "block", "type": "divider", "divider": {}}], "---\n"),
    (
        "table",
        [
            {
                "object": "block",
                "type": "table",
                "table": {"table_width": 2, "has_column_header": True, "has_row_header": False},
                "children": [
                    {"type": "table_row", "table_row": {"cells": [[rt("a")], [rt("b|c")]]}},
                    {"type": "table_row", "table_row": {"cells": [[rt("1", code=True)], []]}},
                ],
            }
        ],
        "| a | b\\|c |\n| --- | --- |\n| `1` |  |\n",
    ),
    (
        "image",
        [
            {
                "type": "image",
                "image": {
                    "type": "external",
                    "external": {"url": "https://x.test/g.png"},
                    "caption": [],
                },
            }
        ],
        "[https://x.test/g.png](https://x.test/g.png)\n",
    ),
    (
        "bookmark with caption",
        [{"type": "bookmark", "bookmark": {"url": "https://x.test", "caption": [rt("Dashboard")]}}],
        "[Dashboard](https://x.test)\n",
    ),
    (
        "child page",
        [{"type": "child_page", "id": PAGE, "child_page": {"title": "Postmortem"}}],
        f"[Postmortem](notion-page:{PAGE})\n",
    ),
    (
        "link to page",
        [{"type": "link_to_page", "link_to_page": {"type": "page_id", "page_id": PAGE}}],
        f"[page](notion-page:{PAGE})\n",
    ),
    ("equation block", [{"type": "equation", "equation": {"expression": "x^2"}}], "$$x^2$$\n"),
    (
        "columns are transparent",
        [
            {
                "type": "column_list",
                "column_list": {},
                "children": [
                    {"type": "column", "column": {}, "children": [blk("paragraph", rt("left"))]},
                    {"type": "column", "column": {}, "children": [blk("paragraph", rt("right"))]},
                ],
            }
        ],
        "left\n\nright\n",
    ),
    ("table of contents skipped", [{"type": "table_of_contents", "table_of_contents": {}}], ""),
    ("unsupported skipped", [{"type": "unsupported", "unsupported": {}}], ""),
    ("unknown with text", [{"type": "sparkle", "sparkle": {"rich_text": [rt("hi")]}}], "hi\n"),
    (
        "children inside the body",
        [
            {
                "type": "bulleted_list_item",
                "bulleted_list_item": {
                    "rich_text": [rt("a")],
                    "children": [blk("bulleted_list_item", rt("b"))],
                },
            }
        ],
        "- a\n  - b\n",
    ),
]


@pytest.mark.parametrize(
    ("blocks", "markdown"), [c[1:] for c in BLOCK_CASES], ids=[c[0] for c in BLOCK_CASES]
)
def test_blocks_to_markdown(blocks: list[Any], markdown: str) -> None:
    assert blocks_to_markdown(blocks) == markdown


CANONICAL = f"""# Incident 2026-07-04: API errors 障害

> [!WARNING]
> Customers see **5xx** on `/v1/orders`.

## Timeline

- 09:30 [Aiko Tanaka](notion-user:{USER}) declared **SEV2**
- 09:42 rolled back *release 1.2.3*
  - verified in [Grafana](https://grafana.test/d/abc)
- [ ] write the [Postmortem](notion-page:{PAGE})
- [x] open ~~#inc-old~~ #inc-api 🔥

1. detect
2. mitigate

| Service | Status |
| --- | --- |
| api | **down** |
| web | ok |

```yaml
rollback: true
```

---

> Quoted line\\
> second line
>
> > nested
"""


def test_canonical_markdown_survives_the_round_trip_unchanged() -> None:
    blocks = markdown_to_blocks(CANONICAL)
    assert blocks_to_markdown(as_response(blocks)).replace("@Aiko Tanaka", "Aiko Tanaka") == (
        CANONICAL
    )


@pytest.mark.parametrize(
    "markdown",
    [
        "*a* *b*",
        "**a *b* c**",
        "***a** b*",
        "[*a* *b*](https://x.test)",
        "a ~~\\\nb~~",
        "**a\\\nb**",
        "wow![x](https://x.test)",
        "# Title #",
        "Title\nsecond line\n===",
        "- a\n\n  b",
        "-\n  - x",
        "1) x\n2) y",
        "> [!NOTE]\n>\n> para",
        "> \\[!NOTE\\] quoted marker",
        "| a \\| b |\n|---|\n| `x \\| y` |",
        "snake_case _em_ __strong__",
        "1. one\n\n   ```py\n   x = 1\n   ```",
        "```\n```inside\n```",
        "text with trailing tab\t\nnext",
        f"[x](notion-date:2026-07-04T09:30:00+09:00) [y](notion-user:{USER})",
    ],
)
def test_tricky_markdown_round_trips(markdown: str) -> None:
    once = round_trip(markdown)
    assert markdown_to_blocks(once) == markdown_to_blocks(markdown), once
    assert round_trip(once) == once


# --- the round-trip property ---------------------------------------------------------------

WORD = st.lists(
    st.sampled_from([*"abcxyz0189é", "日本", "語", "😀", "👩‍🚒", "-", ".", "!", "#"]),
    min_size=1,
    max_size=5,
).map("".join)
ESCAPED = st.sampled_from(["\\*", "\\_", "\\#", "\\[", "\\]", "&amp;", "\\<", "\\`", "\\~", "\\\\"])
PLAIN = st.lists(st.one_of(WORD, ESCAPED), min_size=1, max_size=3).map("".join)


def _styles(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            word,
            f"**{word}**",
            f"*{word}*",
            f"~~{word}~~",
            f"***{word}***",
            f"**~~{word}~~**",
            f"[{word}](https://x.test/{len(word)})",
            f"**[{word}](https://x.test)**",
            f"[{word}](notion-user:{USER})",
            f"*[{word}](notion-page:{PAGE})*",
            "[when](notion-date:2026-07-04T09:30:00+09:00)",
        ]
    )


CODE_SPAN = st.builds(
    lambda text: f"`{text}`",
    st.text(st.sampled_from("ab *_[]#1"), min_size=1, max_size=5).filter(lambda s: s.strip() == s),
)
TOKEN = st.one_of(PLAIN.flatmap(_styles), CODE_SPAN)
INLINE = st.lists(TOKEN, min_size=1, max_size=6).map(" ".join)
EMPHASIS_RUN = st.lists(
    TOKEN.filter(lambda s: not s.startswith(("*", "["))), min_size=2, max_size=3
).map(lambda words: "**" + " ".join(words) + "**")
LINE = st.one_of(INLINE, st.builds(lambda a, b: f"{a} {b}", INLINE, EMPHASIS_RUN))
PARAGRAPH = st.lists(LINE, min_size=1, max_size=3).flatmap(
    lambda lines: st.sampled_from(["\n", "\\\n"]).map(lambda sep: sep.join(lines))
)


def _indent(text: str, width: int) -> str:
    return "\n".join((" " * width + line) if line else "" for line in text.split("\n"))


@st.composite
def list_block(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["-", "1.", "- [ ]", "- [x]"]))
    items = []
    for n in range(draw(st.integers(1, 3))):
        marker = f"{n + 1}." if kind == "1." else kind
        width = 3 if kind == "1." else 2
        item = f"{marker} {draw(INLINE)}"
        if depth < 3 and draw(st.booleans()):
            item += "\n" + _indent(draw(list_block(depth + 1)), width)
        items.append(item)
    return "\n".join(items)


TABLE = st.integers(1, 4).flatmap(
    lambda width: st.lists(
        st.lists(INLINE, min_size=width, max_size=width), min_size=1, max_size=4
    ).map(
        lambda rows: "\n".join(
            ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
            + ["| " + " | ".join(r) + " |" for r in rows[1:]]
        )
    )
)
CODE = st.builds(
    lambda language, lines: f"```{language}\n" + "\n".join(lines) + "\n```",
    st.sampled_from(["", "py", "yaml", "sh", "klingon", "c++"]),
    st.lists(st.text(st.sampled_from("ab =*_#>-`\t日😀"), max_size=12), max_size=4),
)
BLOCK = st.one_of(
    st.builds(lambda level, text: "#" * level + " " + text, st.integers(1, 3), INLINE),
    PARAGRAPH,
    list_block(),
    st.builds(lambda text: "> " + text.replace("\n", "\n> "), PARAGRAPH),
    st.builds(
        lambda kind, text, more: f"> [!{kind}]\n> {text}" + (f"\n>\n> {more}" if more else ""),
        st.sampled_from(["NOTE", "TIP", "IMPORTANT", "WARNING", "CAUTION"]),
        INLINE,
        st.one_of(st.none(), INLINE),
    ),
    CODE,
    st.just("---"),
    TABLE,
)
DOCUMENT = st.lists(BLOCK, min_size=1, max_size=6).map("\n\n".join)


def round_trip(markdown: str) -> str:
    return blocks_to_markdown(as_response(markdown_to_blocks(markdown)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_converter_markdown_round_trips_to_the_same_blocks(markdown: str) -> None:
    once = round_trip(markdown)
    assert markdown_to_blocks(once) == markdown_to_blocks(markdown), once
    assert round_trip(once) == once


ODD_PIECES = st.sampled_from(
    [
        *"ab c1.-`#>[]()!|\\\n\t+=:<&;",
        "\n\n",
        "日本",
        "😀",
        "    ",
        "- ",
        "1. ",
        "> ",
        "```",
        "```py\n",
        "[!NOTE]\n",
        "](https://x.test)",
        f"](notion-user:{USER})",
        "| --- |",
        "\n| a | b |\n|---|---|\n| c |",
        "  - ",
        "- [ ] ",
        "&amp;",
        "===",
        "---",
        "![",
        "<https://a.test>",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ODD_PIECES, max_size=30).map("".join))
def test_odd_markdown_round_trips_to_the_same_blocks(markdown: str) -> None:
    once = round_trip(markdown)
    assert markdown_to_blocks(once) == markdown_to_blocks(markdown), once
