"""Tests for worker.pages.to_blocks: Markdown → Notion block request objects."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from worker.pages.blocks import CALLOUT_STYLES
from worker.pages.limits import plan_requests
from worker.pages.to_blocks import markdown_to_blocks, notion_language

USER = "37ebdcd9-e87a-4613-a443-df789558867f"
PAGE = "1429989fe8ac4effbc8f57f56486db54"


def t(content: str, link: str | None = None, **annotations: bool) -> dict[str, Any]:
    text: dict[str, Any] = {"content": content}
    if link is not None:
        text["link"] = {"url": link}
    item: dict[str, Any] = {"type": "text", "text": text}
    if annotations:
        item["annotations"] = annotations
    return item


def m(mention: dict[str, Any], **annotations: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "mention", "mention": mention}
    if annotations:
        item["annotations"] = annotations
    return item


def b(kind: str, *rich: dict[str, Any], children: list[Any] | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {"rich_text": list(rich), **extra}
    if children:
        body["children"] = children
    return {"object": "block", "type": kind, kind: body}


def p(*rich: dict[str, Any]) -> Any:
    return b("paragraph", *rich)


def code(content: str, language: str) -> Any:
    rich = [t(content)] if content else []
    return {"object": "block", "type": "code", "code": {"rich_text": rich, "language": language}}


def callout(kind: str, *rich: dict[str, Any], children: list[Any] | None = None) -> Any:
    style = CALLOUT_STYLES[kind]
    icon = {"type": "emoji", "emoji": style.emoji}
    return b("callout", *rich, children=children, icon=icon, color=style.color)


def row(*cells: list[dict[str, Any]]) -> Any:
    return {"object": "block", "type": "table_row", "table_row": {"cells": list(cells)}}


def table(width: int, *rows: Any) -> Any:
    body = {
        "table_width": width,
        "has_column_header": True,
        "has_row_header": False,
        "children": list(rows),
    }
    return {"object": "block", "type": "table", "table": body}


DIVIDER = {"object": "block", "type": "divider", "divider": {}}

CASES: list[tuple[str, str, list[Any]]] = [
    ("empty", "", []),
    ("blank lines", "\n\n  \n", []),
    ("h1", "# Title", [b("heading_1", t("Title"))]),
    ("h2", "## Timeline", [b("heading_2", t("Timeline"))]),
    ("h3", "### Notes", [b("heading_3", t("Notes"))]),
    ("h4 becomes h3", "#### Deep", [b("heading_3", t("Deep"))]),
    ("h6 becomes h3", "###### Deeper", [b("heading_3", t("Deeper"))]),
    ("setext h1", "Title\n=====", [b("heading_1", t("Title"))]),
    ("closing hashes", "# Title ##", [b("heading_1", t("Title"))]),
    ("paragraph", "Plain words.", [p(t("Plain words."))]),
    ("two paragraphs", "one\n\ntwo", [p(t("one")), p(t("two"))]),
    ("soft break", "one\ntwo", [p(t("one\ntwo"))]),
    ("hard break backslash", "one\\\ntwo", [p(t("one\ntwo"))]),
    ("hard break spaces", "one  \ntwo", [p(t("one\ntwo"))]),
    ("bold", "**bold**", [p(t("bold", bold=True))]),
    ("italic", "*it* and _it_", [p(t("it", italic=True), t(" and "), t("it", italic=True))]),
    ("strike", "~~gone~~", [p(t("gone", strikethrough=True))]),
    ("inline code", "run `make test`", [p(t("run "), t("make test", code=True))]),
    (
        "nested annotations combine",
        "**a *b* c**",
        [p(t("a ", bold=True), t("b", bold=True, italic=True), t(" c", bold=True))],
    ),
    ("bold italic", "***both***", [p(t("both", bold=True, italic=True))]),
    (
        "code inside bold",
        "**see `x`**",
        [p(t("see ", bold=True), t("x", bold=True, code=True))],
    ),
    (
        "strike inside italic",
        "*~~old~~ new*",
        [p(t("old", italic=True, strikethrough=True), t(" new", italic=True))],
    ),
    ("link", "[Runbook](https://x.test/rb)", [p(t("Runbook", "https://x.test/rb"))]),
    (
        "bold link",
        "**[Runbook](https://x.test)**",
        [p(t("Runbook", "https://x.test", bold=True))],
    ),
    (
        "annotation inside link",
        "[the *run* book](https://x.test)",
        [
            p(
                t("the ", "https://x.test"),
                t("run", "https://x.test", italic=True),
                t(" book", "https://x.test"),
            )
        ],
    ),
    ("mailto link", "[mail](mailto:oncall@x.test)", [p(t("mail", "mailto:oncall@x.test"))]),
    ("relative link keeps text only", "[notes](./notes.md)", [p(t("notes"))]),
    ("anchor link keeps text only", "[up](#top)", [p(t("up"))]),
    ("autolink", "<https://x.test/a>", [p(t("https://x.test/a", "https://x.test/a"))]),
    ("image", "![graph](https://x.test/g.png)", [p(t("graph", "https://x.test/g.png"))]),
    (
        "image without alt",
        "![](https://x.test/g.png)",
        [p(t("https://x.test/g.png", "https://x.test/g.png"))],
    ),
    ("relative image", "![graph](g.png)", [p(t("graph"))]),
    (
        "image inside link",
        "[![b](https://x.test/b.svg)](https://ci.test)",
        [p(t("b", "https://ci.test"))],
    ),
    (
        "user mention",
        f"Commander: [Aiko Tanaka](notion-user:{USER})",
        [p(t("Commander: "), m({"user": {"id": USER}}))],
    ),
    (
        "bold user mention",
        f"**[Aiko](notion-user:{USER})**",
        [p(m({"user": {"id": USER}}, bold=True))],
    ),
    ("page mention", f"[doc](notion-page:{PAGE})", [p(m({"page": {"id": PAGE}}))]),
    ("database mention", f"[db](notion-database:{PAGE})", [p(m({"database": {"id": PAGE}}))]),
    ("date mention", "[today](notion-date:2026-07-04)", [p(m({"date": {"start": "2026-07-04"}}))]),
    (
        "datetime mention",
        "[then](notion-date:2026-07-04T09:30:00+09:00)",
        [p(m({"date": {"start": "2026-07-04T09:30:00+09:00"}}))],
    ),
    (
        "date range mention",
        "[window](notion-date:2026-07-04/2026-07-05)",
        [p(m({"date": {"start": "2026-07-04", "end": "2026-07-05"}}))],
    ),
    ("autolink mention", f"<notion-user:{USER}>", [p(m({"user": {"id": USER}}))]),
    ("bad user id stays text", "[Aiko](notion-user:aiko)", [p(t("Aiko"))]),
    ("bad date stays text", "[soon](notion-date:tomorrow)", [p(t("soon"))]),
    (
        "bullets",
        "- one\n- two",
        [b("bulleted_list_item", t("one")), b("bulleted_list_item", t("two"))],
    ),
    (
        "numbers",
        "1. one\n2. two",
        [b("numbered_list_item", t("one")), b("numbered_list_item", t("two"))],
    ),
    ("numbers from 3", "3) three", [b("numbered_list_item", t("three"))]),
    (
        "nested list",
        "- a\n  - b\n    1. c\n- d",
        [
            b(
                "bulleted_list_item",
                t("a"),
                children=[
                    b(
                        "bulleted_list_item",
                        t("b"),
                        children=[b("numbered_list_item", t("c"))],
                    )
                ],
            ),
            b("bulleted_list_item", t("d")),
        ],
    ),
    (
        "list item with paragraphs",
        "- first\n\n  second",
        [b("bulleted_list_item", t("first"), children=[p(t("second"))])],
    ),
    (
        "list item with code",
        "- run\n\n  ```sh\n  make\n  ```",
        [b("bulleted_list_item", t("run"), children=[code("make", "shell")])],
    ),
    ("empty list item", "-", [b("bulleted_list_item")]),
    (
        "empty item with nested list",
        "-\n  - inner",
        [b("bulleted_list_item", children=[b("bulleted_list_item", t("inner"))])],
    ),
    (
        "to-dos",
        "- [ ] page the DBA\n- [x] open the channel",
        [
            b("to_do", t("page the DBA"), checked=False),
            b("to_do", t("open the channel"), checked=True),
        ],
    ),
    (
        "to-do with nested items",
        "- [X] **done**\n  - [ ] sub",
        [
            b(
                "to_do",
                t("done", bold=True),
                checked=True,
                children=[b("to_do", t("sub"), checked=False)],
            )
        ],
    ),
    ("not a to-do", "- [ ]", [b("bulleted_list_item", t("[ ]"))]),
    ("quote", "> said so", [b("quote", t("said so"))]),
    (
        "quote with more paragraphs",
        "> first\n>\n> second",
        [b("quote", t("first"), children=[p(t("second"))])],
    ),
    (
        "quote starting with a list",
        "> - a",
        [b("quote", children=[b("bulleted_list_item", t("a"))])],
    ),
    ("empty quote", ">", [b("quote")]),
    ("nested quote", "> a\n>\n> > b", [b("quote", t("a"), children=[b("quote", t("b"))])]),
    ("callout note", "> [!NOTE]\n> Read this.", [callout("NOTE", t("Read this."))]),
    ("callout tip", "> [!TIP]\n> Try this.", [callout("TIP", t("Try this."))]),
    ("callout important", "> [!IMPORTANT]\n> Must.", [callout("IMPORTANT", t("Must."))]),
    (
        "callout warning",
        "> [!WARNING]\n> **Careful**",
        [callout("WARNING", t("Careful", bold=True))],
    ),
    ("callout caution", "> [!CAUTION]\n> Stop.", [callout("CAUTION", t("Stop."))]),
    ("callout lower case", "> [!note]\n> x", [callout("NOTE", t("x"))]),
    ("callout same line", "> [!TIP] inline", [callout("TIP", t("inline"))]),
    ("callout marker only", "> [!NOTE]", [callout("NOTE")]),
    (
        "callout with children",
        "> [!WARNING]\n> Impact\n>\n> - api\n> - web",
        [
            callout(
                "WARNING",
                t("Impact"),
                children=[b("bulleted_list_item", t("api")), b("bulleted_list_item", t("web"))],
            )
        ],
    ),
    ("escaped alert stays a quote", "> \\[!NOTE\\] x", [b("quote", t("[!NOTE] x"))]),
    ("unknown alert stays a quote", "> [!FYI]\n> x", [b("quote", t("[!FYI]\nx"))]),
    ("fenced python", "```python\nx = 1\n```", [code("x = 1", "python")]),
    ("py alias", "```py\nx\n```", [code("x", "python")]),
    ("sh alias", "```sh\nls\n```", [code("ls", "shell")]),
    ("js alias", "```js\nx\n```", [code("x", "javascript")]),
    ("yml alias", "```yml\na: 1\n```", [code("a: 1", "yaml")]),
    ("info with attributes", "```C++ title=x\nint\n```", [code("int", "c++")]),
    ("language with a space", "```ascii-art\n+-+\n```", [code("+-+", "ascii art")]),
    ("unknown language", "```klingon\nx\n```", [code("x", "plain text")]),
    ("no language", "```\nx\n```", [code("x", "plain text")]),
    ("tilde fence", "~~~bash\nls\n~~~", [code("ls", "bash")]),
    ("empty fence", "```\n```", [code("", "plain text")]),
    ("multi-line code", "```\na\n\n  b\n```", [code("a\n\n  b", "plain text")]),
    ("indented code", "    indented", [code("indented", "plain text")]),
    ("thematic break", "---", [DIVIDER]),
    ("stars break", "***", [DIVIDER]),
    (
        "table",
        "| a | **b** |\n|---|:-:|\n| 1 | 2 |",
        [table(2, row([t("a")], [t("b", bold=True)]), row([t("1")], [t("2")]))],
    ),
    (
        "table pads short rows",
        "| a | b | c |\n|---|---|---|\n| 1 |",
        [table(3, row([t("a")], [t("b")], [t("c")]), row([t("1")], [], []))],
    ),
    (
        "table drops extra cells",
        "| a |\n|---|\n| 1 | 2 |",
        [table(1, row([t("a")]), row([t("1")]))],
    ),
    (
        "table with escaped pipe",
        "| a |\n|---|\n| x \\| y |",
        [table(1, row([t("a")]), row([t("x | y")]))],
    ),
    (
        "raw html stays text",
        "<b>bold</b> <script>x()</script>",
        [p(t("<b>bold</b> <script>x()</script>"))],
    ),
    ("html block stays text", "<div>\nhi\n</div>", [p(t("<div>\nhi\n</div>"))]),
    ("entities", "&amp; &copy; &#35;", [p(t("& © #"))]),
    ("escapes", "\\*not\\* \\# \\[x\\]", [p(t("*not* # [x]"))]),
    ("japanese", "障害対応 **重要**", [p(t("障害対応 "), t("重要", bold=True))]),
    ("emoji", "🔥 on fire 👩‍🚒", [p(t("🔥 on fire 👩‍🚒"))]),
    ("link reference", "[rb][1]\n\n[1]: https://x.test", [p(t("rb", "https://x.test"))]),
]


@pytest.mark.parametrize(
    ("markdown", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_markdown_to_blocks(markdown: str, expected: list[Any]) -> None:
    assert markdown_to_blocks(markdown) == expected


@pytest.mark.parametrize(
    ("info", "language"),
    [
        ("python", "python"),
        ("PY", "python"),
        ("py3", "python"),
        ("sh", "shell"),
        ("zsh", "shell"),
        ("bash", "bash"),
        ("js", "javascript"),
        ("ts", "typescript"),
        ("yml", "yaml"),
        ("yaml", "yaml"),
        ("json", "json"),
        ("sql", "sql"),
        ("postgresql", "sql"),
        ("go", "go"),
        ("golang", "go"),
        ("rs", "rust"),
        ("c#", "c#"),
        ("csharp", "c#"),
        ("cpp", "c++"),
        ("dockerfile", "docker"),
        ("llvm-ir", "llvm ir"),
        ("plain_text", "plain text"),
        ("text", "plain text"),
        ("java/c/c++/c#", "java/c/c++/c#"),
        ("mermaid", "mermaid"),
        ("", "plain text"),
        ("   ", "plain text"),
        ("brainfuck", "plain text"),
    ],
)
def test_notion_language(info: str, language: str) -> None:
    assert notion_language(info) == language


def test_every_mapped_language_is_in_the_official_enum() -> None:
    enum = set(_openapi()["components"]["schemas"]["languageRequest"]["enum"])
    from worker.pages.to_blocks import _LANGUAGE_ALIASES, NOTION_LANGUAGES

    assert enum == NOTION_LANGUAGES
    assert set(_LANGUAGE_ALIASES.values()) <= enum


def test_input_is_not_limited_here_but_planning_fixes_it() -> None:
    blocks = markdown_to_blocks("x" * 5000)
    assert blocks == [p(t("x" * 5000))]
    (request,) = plan_requests(blocks)
    assert [item["text"]["content"] for item in request.children[0]["paragraph"]["rich_text"]] == [
        "x" * 2000,
        "x" * 2000,
        "x" * 1000,
    ]


# --- every output is a valid request --------------------------------------------------------


def _reference_dir() -> Path:
    configured = os.environ.get("INCIDENT_WORKER_REFERENCE_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / "reference"


@cache
def _openapi() -> dict[str, Any]:
    path = _reference_dir() / "notion" / "openapi-official.json"
    return dict(json.loads(path.read_text("utf-8")))


@cache
def _append_validator() -> Draft202012Validator:
    """The official schema of the `PATCH /v1/blocks/{id}/children` body."""
    document = _openapi()
    operation = document["paths"]["/v1/blocks/{block_id}/children"]["patch"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]})


def assert_valid_requests(markdown: str) -> None:
    validator = _append_validator()
    for request in plan_requests(markdown_to_blocks(markdown)):
        errors = [
            error.message[:300]
            for error in validator.iter_errors({"children": list(request.children)})
        ]
        assert not errors, (markdown, errors)


def test_every_case_gives_schema_valid_requests() -> None:
    assert_valid_requests("\n\n".join(markdown for _, markdown, _ in CASES))


MARKDOWN_PIECES = st.sampled_from(
    [
        *"ab c1.-*_`#>[]()!|\\\n\t~+=:<&;",
        "\n\n",
        "日本語",
        "😀",
        "    ",
        "- ",
        "1. ",
        "> ",
        "```",
        "```py\n",
        "~~~",
        "[!NOTE]\n",
        "](https://x.test)",
        f"](notion-user:{USER})",
        "](notion-date:2026-01-02)",
        "](relative)",
        "**",
        "~~",
        "\n| a | b |\n|---|---|\n| c |",
        "  - ",
        "- [ ] ",
        "- [x] ",
        "<b>",
        "&amp;",
        "===",
        "---",
        "![",
        "<https://a.test>",
    ]
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MARKDOWN_PIECES, max_size=40).map("".join))
def test_any_markdown_converts_to_valid_requests(markdown: str) -> None:
    assert_valid_requests(markdown)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(markdown: str) -> None:
    blocks = markdown_to_blocks(markdown)
    assert all(block["object"] == "block" for block in blocks)


@pytest.mark.parametrize(
    "markdown",
    [
        "*" * 5000 + "a" + "*" * 5000,
        "_a " * 3000 + " b_" * 3000,
        "[a" * 2000 + "](https://x.test)" * 2000,
        ">" * 500 + " deep",
        "- " * 500 + "deep",
        "`" * 10000,
    ],
    ids=["stars", "underscores", "brackets", "quotes", "lists", "backticks"],
)
def test_pathological_nesting_does_not_recurse_out(markdown: str) -> None:
    assert_valid_requests(markdown)
