"""Notion blocks → Markdown: render block response objects as Markdown to read pages back."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Any, Final, Literal, TypeAlias

from markdown_it import MarkdownIt

from worker.pages.blocks import Block, RichText, callout_kind

_TABLE_AWARE: Final = MarkdownIt("commonmark", {"html": False}).enable(["table"])
_ALWAYS_ESCAPED: Final = frozenset("\\`*[]<~")
_LINE_START_ESCAPED: Final = frozenset("#>-+=")
_DELIMITER_ROW: Final = re.compile(r"[|: \t]*-[-|: \t]*")  # a GFM table's second line
_ORDERED_MARKER: Final = re.compile(r"^(\d{1,9})([.)])")
_ENTITY_LIKE: Final = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_BACKTICKS: Final = re.compile(r"`+")
_BARE_MARKER: Final = re.compile(r"^(?:-|[0-9]+\.)$")
_NEEDS_POINTY: Final = re.compile(r"[\s()<>\\]")

_MARK_ORDER: Final = {"bold": 0, "italic": 1, "strikethrough": 2}
_DELIMITERS: Final = {"bold": "**", "italic": "*", "strikethrough": "~~"}

_LIST_FAMILY: Final = {
    "bulleted_list_item": "bullet",
    "to_do": "bullet",
    "toggle": "bullet",
    "numbered_list_item": "ordered",
}
_MEDIA_TYPES: Final = ("image", "video", "pdf", "file", "audio", "bookmark", "embed")
_SILENT_TYPES: Final = ("table_of_contents", "breadcrumb", "unsupported")


def blocks_to_markdown(blocks: Sequence[Block]) -> str:
    """Render Notion block response objects (with `children` added by the caller, at the
    block level or inside the type body) as Markdown that `markdown_to_blocks` reads back
    into the same structure.

    Lossy by design for what Markdown cannot say: colours, underline, toggles (rendered as
    bullets), captions, empty paragraphs and the names inside mentions (taken from
    `plain_text`). Unknown block types render their text, or their children, or nothing.
    """
    lines = _render_sequence(blocks)
    return "\n".join(lines) + "\n" if lines else ""


def rich_text_to_markdown(items: Sequence[RichText]) -> str:
    """Render rich-text items as inline Markdown (annotations, links, mentions, breaks)."""
    return _render_inline(items, single_line=False)


# --- blocks -----------------------------------------------------------------------------


def _kind(block: Block) -> str:
    return str(block.get("type", ""))


def _body(block: Block) -> dict[str, Any]:
    body = block.get(_kind(block))
    return body if isinstance(body, dict) else {}


def _children(block: Block) -> list[Block]:
    children = block.get("children")
    if not isinstance(children, list):
        children = _body(block).get("children")
    return children if isinstance(children, list) else []


def _rich(body: dict[str, Any], key: str = "rich_text") -> list[RichText]:
    items = body.get(key)
    return items if isinstance(items, list) else []


def _render_sequence(blocks: Sequence[Block]) -> list[str]:
    lines: list[str] = []
    previous: str | None = None
    number = 0
    for block in blocks:
        family = _LIST_FAMILY.get(_kind(block))
        number = number + 1 if family == "ordered" and previous == "ordered" else 1
        rendered = _render_block(block, number)
        if not rendered:
            continue
        if lines and (family is None or family != previous):
            lines.append("")
        lines.extend(rendered)
        previous = family
    return lines


def _render_block(block: Block, number: int) -> list[str]:
    kind = _kind(block)
    if kind in _MEDIA_TYPES:
        return _media(block)
    if kind in _SILENT_TYPES:
        return []
    handler = _BLOCK_RENDERERS.get(kind)
    if handler is not None:
        return handler(block, number)
    return _fallback(block)


def _text_lines(text: str) -> list[str]:
    return text.split("\n") if text else []


def _with_children(lines: list[str], block: Block) -> list[str]:
    children = _render_sequence(_children(block))
    if lines and children:
        return [*lines, "", *children]
    return [*lines, *children]


def _paragraph(block: Block, _number: int) -> list[str]:
    return _with_children(_text_lines(rich_text_to_markdown(_rich(_body(block)))), block)


def _heading(block: Block, _number: int) -> list[str]:
    level = int(_kind(block).rsplit("_", 1)[-1])
    text = _render_inline(_rich(_body(block)), single_line=level > 2)
    if "\n" in text:  # only setext headings (levels 1 and 2) can span lines
        setext = [*text.split("\n"), "===" if level == 1 else "---"]
        if _reads_as_heading(setext):
            return _with_children(setext, block)
        text = _render_inline(_rich(_body(block)), single_line=True)
    # A trailing "#" run would be read as the heading's closing sequence.
    if text.endswith("#") and not text.endswith("\\#"):
        text = text[:-1] + "\\#"
    head = "#" * level + (f" {text}" if text else "")
    return _with_children([head], block)


def _reads_as_heading(lines: list[str]) -> bool:
    """Whether `lines` parse as one heading (a "|" line above "---" may read as a table)."""
    tokens = _TABLE_AWARE.parse("\n".join(lines))
    return bool(tokens) and tokens[0].type == "heading_open"


def _list_item(block: Block, number: int) -> list[str]:
    kind = _kind(block)
    body = _body(block)
    marker = f"{number}." if kind == "numbered_list_item" else "-"
    head = marker
    if kind == "to_do":
        head = f"{marker} [{'x' if body.get('checked') else ' '}]"
    indent = " " * (len(marker) + 1)
    text_lines = _text_lines(rich_text_to_markdown(_rich(body)))
    lines = [f"{head} {text_lines[0]}" if text_lines else head]
    lines += [_indented(indent, line) for line in text_lines[1:]]
    children = _children(block)
    child_lines = _render_sequence(children)
    # A paragraph child, or an empty list item (which cannot interrupt a paragraph),
    # would otherwise read as part of the item's text.
    if (
        text_lines
        and child_lines
        and (_kind(children[0]) not in _LIST_FAMILY or _BARE_MARKER.match(child_lines[0]))
    ):
        lines.append("")
    lines += [_indented(indent, line) for line in child_lines]
    return lines


def _indented(indent: str, line: str) -> str:
    return indent + line if line else ""


def _quoted(lines: list[str]) -> list[str]:
    return [f"> {line}" if line else ">" for line in lines]


def _quote(block: Block, _number: int) -> list[str]:
    lines = _with_children(_text_lines(rich_text_to_markdown(_rich(_body(block)))), block)
    return _quoted(lines) if lines else [">"]


def _callout(block: Block, _number: int) -> list[str]:
    body = _body(block)
    icon = body.get("icon")
    emoji = str(icon.get("emoji", "")) if isinstance(icon, dict) else ""
    text_lines = _text_lines(rich_text_to_markdown(_rich(body)))
    return _quoted(_with_children([f"[!{callout_kind(emoji)}]", *text_lines], block))


def _code(block: Block, _number: int) -> list[str]:
    body = _body(block)
    content = "".join(_plain(item) for item in _rich(body))
    language = str(body.get("language") or "plain text")
    info = "" if language == "plain text" else language.replace(" ", "-")
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *(content.split("\n") if content else []), fence]


def _divider(_block: Block, _number: int) -> list[str]:
    return ["---"]


def _table(block: Block, _number: int) -> list[str]:
    rows = [_body(row).get("cells", []) for row in _children(block)]
    if not rows:
        return []
    width = int(_body(block).get("table_width") or max(len(cells) for cells in rows))
    rendered = [_table_row(cells, width) for cells in rows]
    separator = "| " + " | ".join(["---"] * width) + " |"
    return [rendered[0], separator, *rendered[1:]]


def _table_row(cells: list[list[RichText]], width: int) -> str:
    padded = [*cells[:width], *([[]] * (width - len(cells)))]
    texts = [_render_inline(cell, single_line=True).replace("|", "\\|") for cell in padded]
    return "| " + " | ".join(texts) + " |"


def _equation(block: Block, _number: int) -> list[str]:
    expression = str(_body(block).get("expression", ""))
    item = {"type": "text", "text": {"content": f"$${expression}$$"}}
    return _text_lines(rich_text_to_markdown([item]))


def _page_link(block: Block, _number: int) -> list[str]:
    kind = _kind(block)
    body = _body(block)
    target = str(body.get("type", "page_id"))
    mention_kind = "database" if kind == "child_database" or target == "database_id" else "page"
    target_id = str(block.get("id", "")) if kind.startswith("child_") else str(body.get(target))
    label = str(body.get("title") or ("database" if mention_kind == "database" else "page"))
    mention = {mention_kind: {"id": target_id}}
    return [rich_text_to_markdown([{"type": "mention", "mention": mention, "plain_text": label}])]


def _media(block: Block) -> list[str]:
    body = _body(block)
    source = body.get(str(body.get("type", "")))
    url = str(body.get("url") or (source.get("url", "") if isinstance(source, dict) else ""))
    label = "".join(_plain(item) for item in _rich(body, "caption")) or body.get("name") or url
    if not url:
        return _text_lines(rich_text_to_markdown([{"type": "text", "text": {"content": label}}]))
    item = {"type": "text", "text": {"content": str(label), "link": {"url": url}}}
    return _text_lines(rich_text_to_markdown([item]))


def _container(block: Block, _number: int) -> list[str]:
    return _render_sequence(_children(block))


def _fallback(block: Block) -> list[str]:
    return _paragraph(block, 1)


_BLOCK_RENDERERS: Final[dict[str, Callable[[Block, int], list[str]]]] = {
    "paragraph": _paragraph,
    "heading_1": _heading,
    "heading_2": _heading,
    "heading_3": _heading,
    "heading_4": _heading,
    "bulleted_list_item": _list_item,
    "numbered_list_item": _list_item,
    "to_do": _list_item,
    "toggle": _list_item,
    "quote": _quote,
    "callout": _callout,
    "code": _code,
    "divider": _divider,
    "table": _table,
    "equation": _equation,
    "child_page": _page_link,
    "child_database": _page_link,
    "link_to_page": _page_link,
    "column_list": _container,
    "column": _container,
    "synced_block": _container,
    "template": _container,
}


# --- inline -----------------------------------------------------------------------------

_AtomKind: TypeAlias = Literal["text", "code", "raw", "space", "break"]


@dataclass(frozen=True, slots=True)
class _Atom:
    """One piece of inline output. `space` and `break` are neutral: they never open or
    close emphasis, so whitespace always sits outside the delimiters."""

    kind: _AtomKind
    value: str
    marks: frozenset[str] = frozenset()

    @property
    def neutral(self) -> bool:
        return self.kind in {"space", "break"}


def _plain(item: RichText) -> str:
    text = item.get("text")
    if isinstance(text, dict) and "content" in text:
        return str(text["content"])
    return str(item.get("plain_text", ""))


def _marks(item: RichText) -> frozenset[str]:
    annotations = item.get("annotations")
    flags = annotations if isinstance(annotations, dict) else {}
    return frozenset(name for name in _MARK_ORDER if flags.get(name))


def _link_of(item: RichText) -> str | None:
    """The link of a text item (None for mentions, equations and unlinked text)."""
    if _item_kind(item) != "text":
        return None
    text = item.get("text")
    link = text.get("link") if isinstance(text, dict) else None
    url = link.get("url") if isinstance(link, dict) else item.get("href")
    return str(url) if url else None


def _item_kind(item: RichText) -> str:
    kind = item.get("type")
    if isinstance(kind, str):
        return kind
    return next((key for key in ("text", "mention", "equation") if key in item), "text")


def _atoms(items: Sequence[RichText], single_line: bool) -> list[_Atom]:
    atoms: list[_Atom] = []
    for link, group in groupby(items, key=_link_of):
        grouped = list(group)
        if link is None:
            atoms.extend(atom for item in grouped for atom in _item_atoms(item, single_line))
        else:
            atoms.extend(_link_atoms(link, grouped, single_line))
    return atoms


def _link_atoms(url: str, items: list[RichText], single_line: bool) -> list[_Atom]:
    """One atom for a run of items sharing a link: `[inner](url)`, with the emphasis that
    all of them share kept outside so that it can continue around the link."""
    inner = [atom for item in items for atom in _item_atoms(item, single_line)]
    if not inner:
        return []
    shared = frozenset.intersection(*(atom.marks for atom in inner))
    text = _write([replace(atom, marks=atom.marks - shared) for atom in inner], line_start=False)
    return [_Atom("raw", f"[{text}]({_destination(url)})", shared)]


def _item_atoms(item: RichText, single_line: bool) -> list[_Atom]:
    kind = _item_kind(item)
    if kind == "mention":
        return [_Atom("raw", _mention(item), _marks(item))]
    text = _plain(item)
    if kind == "equation":
        equation = item.get("equation")
        expression = equation.get("expression", text) if isinstance(equation, dict) else text
        text = f"${expression}$"
    annotations = item.get("annotations")
    code = isinstance(annotations, dict) and bool(annotations.get("code"))
    return _text_atoms(text, _marks(item), code=code, single_line=single_line)


def _text_atoms(text: str, marks: frozenset[str], *, code: bool, single_line: bool) -> list[_Atom]:
    atoms: list[_Atom] = []
    for position, line in enumerate(text.split("\n")):
        if position:
            atoms.append(
                _Atom("space", " ", marks) if single_line else _Atom("break", "\\\n", marks)
            )
        if code:
            atoms.extend([_Atom("code", line, marks)] if line else [])
            continue
        core = line.strip(" \t")
        lead = line[: len(line) - len(line.lstrip(" \t"))]
        trail = line[len(lead) + len(core) :]
        atoms.extend(_Atom("space", part, marks) for part in (lead,) if part)
        atoms.extend(_Atom("text", part, marks) for part in (core,) if part)
        atoms.extend(_Atom("space", part, marks) for part in (trail,) if part)
    return atoms


def _mention(item: RichText) -> str:
    mention = item.get("mention")
    mention = mention if isinstance(mention, dict) else {}
    kind = str(mention.get("type") or next(iter(mention), ""))
    value = mention.get(kind)
    value = value if isinstance(value, dict) else {}
    label = _escape(_plain(item).replace("\n", " "), line_start=False)
    if kind in {"user", "page", "database"} and value.get("id"):
        return f"[{label}](notion-{kind}:{value['id']})"
    if kind == "date" and value.get("start"):
        end = f"/{value['end']}" if value.get("end") else ""
        return f"[{label}](notion-date:{value['start']}{end})"
    href = item.get("href")
    return f"[{label}]({_destination(str(href))})" if href else label


def _render_inline(items: Sequence[RichText], *, single_line: bool) -> str:
    atoms = _atoms(items, single_line)
    # A hard break cannot end a paragraph (it would read as a literal backslash).
    while atoms and atoms[-1].neutral:
        atoms.pop()
    return _write(atoms, line_start=True)


def _write(atoms: Sequence[_Atom], *, line_start: bool) -> str:
    writer = _Writer(line_start=line_start)
    for index, atom in enumerate(atoms):
        if atom.neutral:
            writer.close_unless(atom.marks)
            writer.neutral(atom)
            continue
        writer.switch(atom.marks, atoms[index:])
        writer.content(atom)
    writer.switch(frozenset(), [])
    return writer.text()


@dataclass
class _Writer:
    """Emits atoms, opening and closing delimiters as a properly nested stack."""

    line_start: bool
    parts: list[tuple[str, bool]] = field(default_factory=list)  # (markdown, neutral)
    stack: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(part for part, _neutral in self.parts)

    def neutral(self, atom: _Atom) -> None:
        if atom.kind == "break":
            self.parts.append((atom.value, True))
            self.line_start = True
        elif not self.line_start:  # leading whitespace of a line is not Markdown content
            self.parts.append((atom.value, True))

    def content(self, atom: _Atom) -> None:
        if atom.kind == "text":
            self.parts.append((_escape(atom.value, line_start=self.line_start), False))
        elif atom.kind == "code":
            self.parts.append((_code_span(atom.value), False))
        else:
            self.parts.append((atom.value, False))
        self.line_start = False

    def close_unless(self, kept: frozenset[str]) -> None:
        while self.stack and not set(self.stack) <= kept:
            self._close(self.stack.pop())

    def switch(self, wanted: frozenset[str], ahead: Sequence[_Atom]) -> None:
        """Close what `wanted` lacks, then open what it adds (longest-lasting first)."""
        self.close_unless(wanted)
        missing = [mark for mark in wanted if mark not in self.stack]
        missing.sort(key=lambda mark: (-_run_length(mark, ahead), _MARK_ORDER[mark]))
        for mark in missing:
            self.parts.append((_DELIMITERS[mark], False))
            self.stack.append(mark)

    def _close(self, mark: str) -> None:
        # Closing delimiters must follow non-whitespace, so whitespace moves after them.
        moved: list[tuple[str, bool]] = []
        while self.parts and self.parts[-1][1]:
            moved.append(self.parts.pop())
        self.parts.append((_DELIMITERS[mark], False))
        self.parts.extend(reversed(moved))


def _run_length(mark: str, ahead: Sequence[_Atom]) -> int:
    length = 0
    for atom in ahead:
        if mark not in atom.marks:
            break
        length += 0 if atom.neutral else 1
    return length


def _destination(url: str) -> str:
    url = url.replace("\n", "%0A")
    if url and not _NEEDS_POINTY.search(url):
        return _ENTITY_LIKE.sub(lambda match: "\\" + match.group(0), url)
    escaped = url.replace("\\", "\\\\").replace("<", "\\<").replace(">", "\\>")
    return f"<{_ENTITY_LIKE.sub(lambda match: chr(92) + match.group(0), escaped)}>"


def _code_span(content: str) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    fence = "`" * (longest + 1)
    padded = content.startswith("`") or content.endswith("`")
    padded = padded or (content.startswith(" ") and content.endswith(" ") and bool(content.strip()))
    return f"{fence} {content} {fence}" if padded else f"{fence}{content}{fence}"


def _escape(text: str, *, line_start: bool) -> str:
    out: list[str] = []
    for index, char in enumerate(text):
        if char in _ALWAYS_ESCAPED or (char == "_" and _at_word_boundary(text, index)):
            out.append("\\" + char)
        elif char == "&" and _ENTITY_LIKE.match(text, index):
            out.append("\\&")
        elif char == "!" and index == len(text) - 1:  # a link may follow: "![" is an image
            out.append("\\!")
        else:
            out.append(char)
    escaped = "".join(out)
    if not line_start or not escaped:
        return escaped
    if escaped[0] in _LINE_START_ESCAPED:
        return "\\" + escaped
    if _DELIMITER_ROW.fullmatch(escaped):
        dash = escaped.index("-")
        return f"{escaped[:dash]}\\{escaped[dash:]}"
    return _ORDERED_MARKER.sub(r"\1\\\2", escaped, count=1)


def _at_word_boundary(text: str, index: int) -> bool:
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    return not (before.isalnum() and after.isalnum())
