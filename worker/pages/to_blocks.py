"""Templates → Notion blocks: parse rendered Markdown into Notion block request objects."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Final

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.tasklists import tasklists_plugin

from worker.pages.blocks import CALLOUT_STYLES, Block, RichText

_MENTION_SCHEMES: Final = ("notion-user:", "notion-page:", "notion-database:", "notion-date:")


class _Parser(MarkdownIt):
    """markdown-it that leaves mention URLs alone: its URL normaliser would read
    `notion-date:2026-07-04T09:30:00+09:00` as host and port and reorder it."""

    def normalizeLink(self, url: str) -> str:
        if url.lower().startswith(_MENTION_SCHEMES):
            return url.strip()
        return super().normalizeLink(url)


_MD: Final = (
    _Parser("commonmark", {"html": False}).enable(["table", "strikethrough"]).use(tasklists_plugin)
)

# Notion answers 400 "Invalid URL for link" for relative links, so only absolute ones survive.
_LINKABLE_URL: Final = re.compile(r"^(?:https?://[^\s]|mailto:[^\s])", re.IGNORECASE)
_NOTION_ID: Final = re.compile(
    r"^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
    re.IGNORECASE,
)
_LINE_START_SPACE: Final = re.compile(r"\n[ \t]+")
_CALLOUT_MARKER: Final = re.compile(
    rf"^\[!({'|'.join(CALLOUT_STYLES)})\](?:[ \t]+|(?=\\?\n)|$)", re.IGNORECASE
)

# Notion's `languageRequest` enum (official OpenAPI document).
NOTION_LANGUAGES: Final = frozenset(
    {
        "abap", "abc", "agda", "arduino", "ascii art", "assembly", "bash", "basic", "bnf",
        "c", "c#", "c++", "clojure", "coffeescript", "coq", "css", "dart", "dhall", "diff",
        "docker", "ebnf", "elixir", "elm", "erlang", "f#", "flow", "fortran", "gherkin",
        "glsl", "go", "graphql", "groovy", "haskell", "hcl", "html", "idris", "java",
        "javascript", "json", "julia", "kotlin", "latex", "less", "lisp", "livescript",
        "llvm ir", "lua", "makefile", "markdown", "markup", "matlab", "mathematica",
        "mermaid", "nix", "notion formula", "objective-c", "ocaml", "pascal", "perl", "php",
        "plain text", "powershell", "prolog", "protobuf", "purescript", "python", "r",
        "racket", "reason", "ruby", "rust", "sass", "scala", "scheme", "scss", "shell",
        "smalltalk", "solidity", "sql", "swift", "toml", "typescript", "vb.net", "verilog",
        "vhdl", "visual basic", "webassembly", "xml", "yaml", "java/c/c++/c#",
    }
)  # fmt: skip

_LANGUAGE_ALIASES: Final[dict[str, str]] = {
    "py": "python", "python3": "python", "py3": "python", "pyi": "python",
    "sh": "shell", "zsh": "shell", "ksh": "shell", "console": "shell",
    "shell-session": "shell", "shellscript": "shell", "fish": "shell",
    "js": "javascript", "jsx": "javascript", "mjs": "javascript", "cjs": "javascript",
    "node": "javascript", "ts": "typescript", "tsx": "typescript", "mts": "typescript",
    "yml": "yaml", "md": "markdown", "rb": "ruby", "rs": "rust", "golang": "go",
    "kt": "kotlin", "kts": "kotlin", "cs": "c#", "csharp": "c#", "cpp": "c++",
    "cc": "c++", "cxx": "c++", "hpp": "c++", "h": "c", "fs": "f#", "fsharp": "f#",
    "objc": "objective-c", "objectivec": "objective-c", "ps1": "powershell",
    "pwsh": "powershell", "ps": "powershell", "dockerfile": "docker", "make": "makefile",
    "mk": "makefile", "tex": "latex", "text": "plain text", "txt": "plain text",
    "plain": "plain text", "plaintext": "plain text", "none": "plain text",
    "htm": "html", "xhtml": "html", "svg": "xml", "jsonc": "json", "json5": "json",
    "jsonl": "json", "ndjson": "json", "hs": "haskell", "ex": "elixir", "exs": "elixir",
    "erl": "erlang", "ml": "ocaml", "pl": "perl", "proto": "protobuf", "tf": "hcl",
    "terraform": "hcl", "gql": "graphql", "vb": "visual basic", "vbnet": "vb.net",
    "wasm": "webassembly", "wat": "webassembly", "clj": "clojure", "cljs": "clojure",
    "coffee": "coffeescript", "scm": "scheme", "rkt": "racket", "jl": "julia",
    "sol": "solidity", "ll": "llvm ir", "patch": "diff", "mysql": "sql",
    "postgresql": "sql", "postgres": "sql", "psql": "sql", "pgsql": "sql", "plsql": "sql",
    "sqlite": "sql", "asm": "assembly", "nasm": "assembly", "sv": "verilog",
    "systemverilog": "verilog", "wl": "mathematica", "purs": "purescript",
    "re": "reason", "mmd": "mermaid", "feature": "gherkin", "gradle": "groovy",
    "ino": "arduino", "f90": "fortran", "lhs": "haskell", "emacs-lisp": "lisp",
    "elisp": "lisp", "commonlisp": "lisp", "ascii": "ascii art",
}  # fmt: skip

PLAIN_TEXT_LANGUAGE: Final = "plain text"


def markdown_to_blocks(text: str) -> list[Block]:
    """Convert Markdown into Notion block request objects (limits not yet applied).

    The result is what `pages.create(children=...)` / `blocks.children.append` take, except
    that Notion's size limits are not enforced here: pass it through
    `worker.pages.limits.plan_requests` (which applies `enforce_limits`) before sending.
    Never raises on any input; anything unsupported becomes a paragraph with its text.
    """
    return _blocks(_tree(_MD.parse(text)))


def notion_language(info: str) -> str:
    """Map a fence info string (`py`, `yml`, `C++ title=x`) onto Notion's code-language enum."""
    words = info.strip().split()
    if not words:
        return PLAIN_TEXT_LANGUAGE
    name = words[0].lower()
    for candidate in (name, name.replace("-", " "), name.replace("_", " ")):
        if candidate in NOTION_LANGUAGES:
            return candidate
    return _LANGUAGE_ALIASES.get(name, PLAIN_TEXT_LANGUAGE)


# --- blocks -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    """A block-level node: its opening token (or the token itself) and its block children.

    Inline content stays a flat token list (`token.children`): emphasis can nest thousands
    deep, which a recursive tree (like markdown-it's `SyntaxTreeNode`) cannot hold, while
    block nesting is bounded by markdown-it's `maxNesting`.
    """

    type: str
    token: Token
    children: list[_Node] = field(default_factory=list)


def _tree(tokens: Sequence[Token]) -> list[_Node]:
    root = _Node("root", Token("root", "", 0))
    stack = [root]
    for token in tokens:
        if token.nesting == 1:
            node = _Node(token.type.removesuffix("_open"), token)
            stack[-1].children.append(node)
            stack.append(node)
        elif token.nesting == -1:
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1].children.append(_Node(token.type, token))
    return root.children


def _blocks(nodes: Iterable[_Node]) -> list[Block]:
    blocks: list[Block] = []
    for node in nodes:
        handler = _BLOCK_HANDLERS.get(node.type, _fallback)
        blocks.extend(handler(node))
    return blocks


def _block(kind: str, body: dict[str, Any]) -> Block:
    return {"object": "block", "type": kind, kind: body}


def _text_body(rich_text: list[RichText], children: list[Block], **extra: object) -> dict[str, Any]:
    body: dict[str, Any] = {"rich_text": rich_text, **extra}
    if children:
        body["children"] = children
    return body


def _inline_of(node: _Node) -> list[Token]:
    """The inline tokens of a paragraph/heading/cell (empty when it has none)."""
    for child in node.children:
        if child.type == "inline":
            return list(child.token.children or [])
    return []


def _heading(node: _Node) -> list[Block]:
    level = min(int(node.token.tag[1:] or "1"), 3)
    return [_block(f"heading_{level}", {"rich_text": rich_text(_inline_of(node))})]


def _paragraph(node: _Node) -> list[Block]:
    text = rich_text(_inline_of(node))
    return [_block("paragraph", {"rich_text": text})] if text else []


def _bullet_list(node: _Node) -> list[Block]:
    return [_list_item(item, "bulleted_list_item") for item in node.children]


def _ordered_list(node: _Node) -> list[Block]:
    return [_list_item(item, "numbered_list_item") for item in node.children]


def _task_state(item: _Node, inline: list[Token]) -> bool | None:
    """`True`/`False` for a `- [x]`/`- [ ]` item (marked by the tasklists plugin), else None."""
    if "task-list-item" not in str(item.token.attrs.get("class", "")):
        return None
    if not inline or inline[0].type != "html_inline" or "checkbox" not in inline[0].content:
        return None
    return 'checked="checked"' in inline[0].content


def _list_item(item: _Node, kind: str) -> Block:
    nodes = item.children
    if not nodes or nodes[0].type != "paragraph":
        return _block(kind, _text_body([], _blocks(nodes)))
    inline = _inline_of(nodes[0])
    checked = _task_state(item, inline)
    if checked is None:
        return _block(kind, _text_body(rich_text(inline), _blocks(nodes[1:])))
    text = rich_text(inline[1:])
    return _block("to_do", _text_body(text, _blocks(nodes[1:]), checked=checked))


def _blockquote(node: _Node) -> list[Block]:
    nodes = node.children
    if not nodes or nodes[0].type != "paragraph":
        return [_block("quote", _text_body([], _blocks(nodes)))]
    inline = _inline_of(nodes[0])
    marker = _callout_marker(nodes[0], inline)
    if marker is None:
        return [_block("quote", _text_body(rich_text(inline), _blocks(nodes[1:])))]
    style = CALLOUT_STYLES[marker.group(1).upper()]
    rest = inline[0].content[marker.end() :]
    runs = _runs([Token("text", "", 0, content=rest), *inline[1:]])
    icon = {"type": "emoji", "emoji": style.emoji}
    body = _text_body(_merge(_strip_edges(runs)), _blocks(nodes[1:]), icon=icon, color=style.color)
    return [_block("callout", body)]


def _callout_marker(paragraph: _Node, inline: list[Token]) -> re.Match[str] | None:
    """The `[!NOTE]`-style marker opening a quote, matched on the source as written, so an
    escaped `\\[!NOTE\\]` stays text."""
    source = "".join(child.token.content for child in paragraph.children if child.type == "inline")
    if not _CALLOUT_MARKER.match(source) or not inline or inline[0].type != "text":
        return None
    return _CALLOUT_MARKER.match(inline[0].content)


def _code(node: _Node) -> list[Block]:
    token = node.token
    content = token.content[:-1] if token.content.endswith("\n") else token.content
    language = notion_language(token.info) if token.type == "fence" else PLAIN_TEXT_LANGUAGE
    text = [_text_item(content, _Style())] if content else []
    return [_block("code", {"rich_text": text, "language": language})]


def _divider(_node: _Node) -> list[Block]:
    return [_block("divider", {})]


def _table(node: _Node) -> list[Block]:
    rows = [row for section in node.children for row in section.children if row.type == "tr"]
    if not rows:
        return []
    width = max(1, len(rows[0].children))
    body = {
        "table_width": width,
        "has_column_header": True,
        "has_row_header": False,
        "children": [_table_row(row, width) for row in rows],
    }
    return [_block("table", body)]


def _table_row(row: _Node, width: int) -> Block:
    cells = [rich_text(_inline_of(cell)) for cell in row.children[:width]]
    cells += [[] for _ in range(width - len(cells))]
    return _block("table_row", {"cells": cells})


def _fallback(node: _Node) -> list[Block]:
    """Degrade anything unknown to a paragraph carrying its text."""
    text = _plain_text(node).strip("\n")
    return [_block("paragraph", {"rich_text": [_text_item(text, _Style())]})] if text else []


def _plain_text(node: _Node) -> str:
    if node.type == "inline":
        return "".join(token.content for token in node.token.children or [])
    if not node.children:
        return node.token.content
    return "\n".join(part for part in map(_plain_text, node.children) if part)


_BLOCK_HANDLERS: Final[dict[str, Callable[[_Node], list[Block]]]] = {
    "heading": _heading,
    "paragraph": _paragraph,
    "bullet_list": _bullet_list,
    "ordered_list": _ordered_list,
    "blockquote": _blockquote,
    "fence": _code,
    "code_block": _code,
    "hr": _divider,
    "table": _table,
}


# --- inline -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Style:
    bold: bool = False
    italic: bool = False
    strikethrough: bool = False
    code: bool = False
    link: str | None = None

    def annotations(self) -> dict[str, bool]:
        flags = {
            "bold": self.bold,
            "italic": self.italic,
            "strikethrough": self.strikethrough,
            "code": self.code,
        }
        return {name: True for name, on in flags.items() if on}


@dataclass(frozen=True, slots=True)
class _Run:
    """A stretch of text (or one mention when `mention` is set) with one style."""

    text: str
    style: _Style
    mention: dict[str, Any] | None = None


@dataclass(slots=True)
class _Inline:
    """Where a walk over flat inline tokens is: open emphasis counts and the link stack."""

    strong: int = 0
    em: int = 0
    strike: int = 0
    # One entry per open link: its URL, a mention (whose label is skipped), or None.
    links: list[str | dict[str, Any] | None] = field(default_factory=list)

    def style(self) -> _Style:
        link = self.links[-1] if self.links else None
        return _Style(
            bold=self.strong > 0,
            italic=self.em > 0,
            strikethrough=self.strike > 0,
            link=link if isinstance(link, str) else None,
        )

    def in_mention(self) -> bool:
        return any(isinstance(link, dict) for link in self.links)


def rich_text(tokens: Sequence[Token]) -> list[RichText]:
    """Notion rich-text request items for markdown-it inline tokens (annotations combined)."""
    return _merge(_strip_edges(_runs(tokens)))


def _common(first: _Style, second: _Style) -> _Style:
    return _Style(
        bold=first.bold and second.bold,
        italic=first.italic and second.italic,
        strikethrough=first.strikethrough and second.strikethrough,
        link=first.link if first.link == second.link else None,
    )


def _detach_edge_breaks(runs: list[_Run]) -> list[_Run]:
    """Give line breaks at the edges of a styled run only the style shared with the
    neighbour, as Markdown can only say it that way (`a **b`⏎`c**` is read back so)."""
    styles = [_Style() if run.mention else run.style for run in runs]
    detached: list[_Run] = []
    for index, run in enumerate(runs):
        if run.mention is not None or run.style.code or "\n" not in run.text:
            detached.append(run)
            continue
        before = styles[index - 1] if index else _Style()
        after = styles[index + 1] if index + 1 < len(runs) else _Style()
        core = run.text.strip("\n")
        lead = run.text[: len(run.text) - len(run.text.lstrip("\n"))]
        trail = run.text[len(lead) + len(core) :]
        lead_style = _common(before, run.style)
        detached.append(_Run(lead, lead_style if core else _common(lead_style, after)))
        detached.append(replace(run, text=core))
        detached.append(_Run(trail, _common(run.style, after)))
    return [run for run in detached if run.text or run.mention is not None]


def _runs(tokens: Iterable[Token]) -> list[_Run]:
    state = _Inline()
    runs: list[_Run] = []
    for token in tokens:
        handler = _INLINE_HANDLERS.get(token.type, _inline_text)
        run = handler(token, state)
        if run is not None and (run.mention is not None or not state.in_mention()):
            runs.append(run)
    return runs


def _strip_edges(runs: list[_Run]) -> list[_Run]:
    """Drop whitespace at both ends of a block's text and at the start of each line
    (outside code), as Markdown does for what it parses itself."""
    runs = _strip_line_starts(
        _detach_edge_breaks([run for run in runs if run.text or run.mention is not None])
    )
    for index, strip in ((0, str.lstrip), (-1, str.rstrip)):
        while runs and runs[index].mention is None and not runs[index].style.code:
            stripped = strip(runs[index].text, " \t\n")
            if stripped:
                runs[index] = replace(runs[index], text=stripped)
                break
            runs.pop(index)
    return runs


def _strip_line_starts(runs: list[_Run]) -> list[_Run]:
    stripped: list[_Run] = []
    line_start = False
    for run in runs:
        kept = run
        if run.mention is None and not run.style.code:
            text = _LINE_START_SPACE.sub("\n", run.text)
            kept = replace(run, text=text.lstrip(" \t") if line_start else text)
        if kept.text or kept.mention is not None:
            stripped.append(kept)
            line_start = kept.mention is None and kept.text.endswith("\n")
    return stripped


def _merge(runs: list[_Run]) -> list[RichText]:
    merged: list[_Run] = []
    for run in runs:
        last = merged[-1] if merged else None
        if last and last.mention is None and run.mention is None and last.style == run.style:
            merged[-1] = replace(last, text=last.text + run.text)
        else:
            merged.append(run)
    return [_item(run) for run in merged]


def _item(run: _Run) -> RichText:
    if run.mention is None:
        return _text_item(run.text, run.style)
    item: RichText = {"type": "mention", "mention": run.mention}
    annotations = run.style.annotations()
    if annotations:
        item["annotations"] = annotations
    return item


def _text_item(content: str, style: _Style) -> RichText:
    text: dict[str, Any] = {"content": content}
    if style.link is not None:
        text["link"] = {"url": style.link}
    item: RichText = {"type": "text", "text": text}
    annotations = style.annotations()
    if annotations:
        item["annotations"] = annotations
    return item


def _inline_text(token: Token, state: _Inline) -> _Run | None:
    return _Run(token.content, state.style()) if token.content else None


def _inline_break(_token: Token, state: _Inline) -> _Run | None:
    return _Run("\n", state.style())


def _inline_code(token: Token, state: _Inline) -> _Run | None:
    return _Run(token.content, replace(state.style(), code=True))


def _counter(name: str, step: int) -> Callable[[Token, _Inline], _Run | None]:
    def handle(_token: Token, state: _Inline) -> _Run | None:
        setattr(state, name, max(0, getattr(state, name) + step))
        return None

    return handle


def _link_open(token: Token, state: _Inline) -> _Run | None:
    href = str(token.attrs.get("href", ""))
    mention = mention_for_url(href)
    nested = state.in_mention()
    state.links.append(mention if mention is not None else linkable_url(href))
    if mention is None or nested:
        return None
    return _Run("", replace(state.style(), link=None), mention)


def _link_close(_token: Token, state: _Inline) -> _Run | None:
    if state.links:
        state.links.pop()
    return None


def _image(token: Token, state: _Inline) -> _Run | None:
    src = str(token.attrs.get("src", ""))
    mention = mention_for_url(src)
    if mention is not None:
        return _Run("", replace(state.style(), link=None), mention)
    alt = "".join(
        "\n" if child.type.endswith("break") else child.content for child in token.children or []
    )
    style = state.style()
    return _Run(alt or src, replace(style, link=style.link or linkable_url(src)))


_INLINE_HANDLERS: Final[dict[str, Callable[[Token, _Inline], _Run | None]]] = {
    "softbreak": _inline_break,
    "hardbreak": _inline_break,
    "code_inline": _inline_code,
    "strong_open": _counter("strong", 1),
    "strong_close": _counter("strong", -1),
    "em_open": _counter("em", 1),
    "em_close": _counter("em", -1),
    "s_open": _counter("strike", 1),
    "s_close": _counter("strike", -1),
    "link_open": _link_open,
    "link_close": _link_close,
    "image": _image,
}


def linkable_url(url: str) -> str | None:
    """`url` when Notion accepts it as a link (absolute http(s)/mailto), else None."""
    return url if _LINKABLE_URL.match(url) else None


def mention_for_url(url: str) -> dict[str, Any] | None:
    """The mention object for a `notion-user:`/`notion-page:`/`notion-database:`/
    `notion-date:` URL, or None when `url` is not one (or its id/date is malformed)."""
    scheme = next((s for s in _MENTION_SCHEMES if url.lower().startswith(s)), None)
    if scheme is None:
        return None
    value = url[len(scheme) :]
    kind = scheme[len("notion-") : -1]
    if kind == "date":
        return _date_mention(value)
    if not _NOTION_ID.match(value):
        return None
    return {kind: {"id": value}}


def _date_mention(value: str) -> dict[str, Any] | None:
    start, _, end = value.partition("/")
    if not _is_iso_date(start) or (end and not _is_iso_date(end)):
        return None
    date_value: dict[str, Any] = {"start": start}
    if end:
        date_value["end"] = end
    return {"date": date_value}


def _is_iso_date(value: str) -> bool:
    parsers: tuple[Callable[[str], object], ...] = (date.fromisoformat, datetime.fromisoformat)
    for parse in parsers:
        try:
            parse(value)
        except ValueError:
            continue
        return len(value) >= len("2026-01-01")
    return False
