"""Notion emulator: block requests — validate types, limits and nesting; build stored content."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.sandbox.notion.errors import (
    check_keys,
    invalid,
    missing,
    not_present,
    require_bool,
    require_dict,
    require_list,
    require_str,
    too_long,
    validation_error,
)
from worker.sandbox.notion.icons import parse_icon
from worker.sandbox.notion.ids import parse_id
from worker.sandbox.notion.richtext import (
    MAX_EXPRESSION,
    MAX_URL,
    MentionResolver,
    check_color,
    parse_rich_text,
)

MAX_CHILDREN = 100
MAX_BLOCKS_PER_REQUEST = 1000
# Levels of blocks one request may carry: top-level blocks may have children, whose items
# may have children, whose items may not (OAS blockObjectRequest →
# blockObjectWithSingleLevelOfChildrenRequest → blockObjectRequestWithoutChildren).
MAX_LEVELS = 3

# Notion's code-block languages: `languageRequest` in the official OpenAPI document.
CODE_LANGUAGES = frozenset(
    [
        "abap", "abc", "agda", "arduino", "ascii art", "assembly", "bash", "basic", "bnf", "c",
        "c#", "c++", "clojure", "coffeescript", "coq", "css", "dart", "dhall", "diff", "docker",
        "ebnf", "elixir", "elm", "erlang", "f#", "flow", "fortran", "gherkin", "glsl", "go",
        "graphql", "groovy", "haskell", "hcl", "html", "idris", "java", "javascript", "json",
        "julia", "kotlin", "latex", "less", "lisp", "livescript", "llvm ir", "lua", "makefile",
        "markdown", "markup", "matlab", "mathematica", "mermaid", "nix", "notion formula",
        "objective-c", "ocaml", "pascal", "perl", "php", "plain text", "powershell", "prolog",
        "protobuf", "purescript", "python", "r", "racket", "reason", "ruby", "rust", "sass",
        "scala", "scheme", "scss", "shell", "smalltalk", "solidity", "sql", "swift", "toml",
        "typescript", "vb.net", "verilog", "vhdl", "visual basic", "webassembly", "xml", "yaml",
        "java/c/c++/c#",
    ]
)  # fmt: skip

_TEXT_TYPES = ("paragraph", "bulleted_list_item", "numbered_list_item", "quote", "toggle")
_HEADINGS = ("heading_1", "heading_2", "heading_3")
_NESTABLE = frozenset([*_TEXT_TYPES, *_HEADINGS, "to_do", "callout"])
READ_ONLY_TYPES = frozenset(["child_page", "child_database"])
_DEFAULT_CALLOUT_ICON = {"type": "emoji", "emoji": "💡"}


@dataclass
class BlockSpec:
    """A validated block of a request: its type, stored content and children."""

    type: str
    content: dict[str, Any]
    children: list[BlockSpec] = field(default_factory=list)


ContentParser = Callable[["BlockParser", dict[str, Any], str, bool], dict[str, Any]]


class BlockParser:
    """Validates the `children` of one request (creating a page or appending blocks).

    `partial=True` parses the body of a block update: only the keys sent are returned.
    """

    def __init__(self, resolver: MentionResolver) -> None:
        self.resolver = resolver
        self.count = 0

    def parse_children(self, value: object, path: str, level: int = 1) -> list[BlockSpec]:
        items = require_list(value, path, MAX_CHILDREN)
        specs = [self.parse_block(item, f"{path}[{i}]", level) for i, item in enumerate(items)]
        if level == 1 and self.count > MAX_BLOCKS_PER_REQUEST:
            raise validation_error(
                f"body failed validation: the request contains {self.count} block elements, "
                f"more than the limit of `{MAX_BLOCKS_PER_REQUEST}`."
            )
        return specs

    def parse_block(self, raw: object, path: str, level: int) -> BlockSpec:
        block = require_dict(raw, path)
        block_type = block_type_of(block, path)
        check_keys(block, ("object", "type", block_type), path)
        self.count += 1
        body = require_dict(block[block_type], f"{path}.{block_type}")
        content = _PARSERS[block_type](self, body, f"{path}.{block_type}", False)
        children = self._children(block_type, body, f"{path}.{block_type}", level)
        return BlockSpec(block_type, content, children)

    def parse_update(self, block_type: str, raw: object, path: str) -> dict[str, Any]:
        body = require_dict(raw, path)
        if "children" in body:
            raise not_present(f"{path}.children", body["children"])
        return _PARSERS[block_type](self, body, path, True)

    def _children(
        self, block_type: str, body: dict[str, Any], path: str, level: int
    ) -> list[BlockSpec]:
        if block_type == "table":
            return self._table_rows(body, path)
        if "children" not in body:
            return []
        if block_type not in _NESTABLE or level >= MAX_LEVELS:
            raise not_present(f"{path}.children", body["children"])
        return self.parse_children(body["children"], f"{path}.children", level + 1)

    def _table_rows(self, body: dict[str, Any], path: str) -> list[BlockSpec]:
        if "children" not in body:
            raise missing(f"{path}.children")
        rows = require_list(body["children"], f"{path}.children", MAX_CHILDREN)
        if not rows:
            raise invalid(f"{path}.children", "an array with at least 1 table_row", rows)
        width = body["table_width"]
        specs = []
        for i, raw in enumerate(rows):
            row_path = f"{path}.children[{i}]"
            spec = self.parse_block(raw, row_path, MAX_LEVELS)
            if spec.type != "table_row":
                raise invalid(f"{row_path}.type", "`table_row`", spec.type)
            check_row_width(spec.content, width, f"{row_path}.table_row")
            specs.append(spec)
        return specs


def block_type_of(block: dict[str, Any], path: str) -> str:
    declared = block.get("type")
    candidates = [k for k in block if k not in ("object", "type")]
    block_type = declared if isinstance(declared, str) else (candidates[0] if candidates else None)
    if block_type is None:
        raise missing(f"{path}.type")
    if block_type in READ_ONLY_TYPES:
        raise validation_error(
            f"body failed validation: {path}.{block_type} is created by the pages and databases "
            "endpoints and cannot be appended as a block."
        )
    if block_type not in _PARSERS:
        raise invalid(f"{path}.type", "a supported block type", block_type)
    if block_type not in block:
        raise missing(f"{path}.{block_type}")
    return block_type


def check_row_width(content: dict[str, Any], width: int, path: str) -> None:
    cells = content.get("cells", [])
    if len(cells) != width:
        raise validation_error(
            f"body failed validation: {path}.cells.length should be `{width}` (the table's "
            f"table_width), instead was `{len(cells)}`."
        )


def _rich_text(
    parser: BlockParser, body: dict[str, Any], path: str, key: str = "rich_text"
) -> list[dict[str, Any]]:
    return parse_rich_text(body[key], f"{path}.{key}", parser.resolver)


def _text_like(
    parser: BlockParser, body: dict[str, Any], path: str, extra: dict[str, Any], partial: bool
) -> dict[str, Any]:
    """rich_text + color (+ the type's extra keys with their defaults)."""
    check_keys(body, ("rich_text", "color", "children", *extra), path)
    if "rich_text" not in body and not partial:
        raise missing(f"{path}.rich_text")
    result: dict[str, Any] = {}
    if "rich_text" in body:
        result["rich_text"] = _rich_text(parser, body, path)
    for key, default in extra.items():
        if key in body:
            result[key] = _EXTRA_CHECKS[key](parser, body[key], f"{path}.{key}")
        elif not partial:
            result[key] = default
    if "color" in body:
        result["color"] = check_color(body["color"], f"{path}.color")
    elif not partial:
        result["color"] = "default"
    return result


def _bool(parser: BlockParser, value: object, path: str) -> bool:
    del parser
    return require_bool(value, path)


def _icon(parser: BlockParser, value: object, path: str) -> dict[str, Any] | None:
    del parser
    return parse_icon(value, path)


_EXTRA_CHECKS: dict[str, Callable[[BlockParser, object, str], Any]] = {
    "is_toggleable": _bool,
    "checked": _bool,
    "icon": _icon,
}


def _paragraph(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    content = _text_like(parser, body, path, {}, partial)
    if partial:
        return content
    # The 2025-09-03 recordings show `icon: null` inside paragraphs (and only there).
    return {"rich_text": content["rich_text"], "icon": None, "color": content["color"]}


def _plain_text_block(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    return _text_like(parser, body, path, {}, partial)


def _heading(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    return _text_like(parser, body, path, {"is_toggleable": False}, partial)


def _to_do(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    return _text_like(parser, body, path, {"checked": False}, partial)


def _callout(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    content = _text_like(parser, body, path, {"icon": dict(_DEFAULT_CALLOUT_ICON)}, partial)
    if not partial and "color" not in body:
        content["color"] = "gray_background"
    return content


def _code(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    check_keys(body, ("rich_text", "language", "caption"), path)
    result: dict[str, Any] = {}
    for key in ("rich_text", "language"):
        if key not in body and not partial:
            raise missing(f"{path}.{key}")
    if "caption" in body or not partial:
        result["caption"] = _rich_text(parser, body, path, "caption") if "caption" in body else []
    if "rich_text" in body:
        result["rich_text"] = _rich_text(parser, body, path)
    if "language" in body:
        if body["language"] not in CODE_LANGUAGES:
            raise invalid(f"{path}.language", "one of Notion's code languages", body["language"])
        result["language"] = body["language"]
    return result


def _divider(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    del parser, partial
    check_keys(body, (), path)
    return {}


def _table(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    del parser
    check_keys(body, ("table_width", "has_column_header", "has_row_header", "children"), path)
    result: dict[str, Any] = {}
    if not partial:
        width = body.get("table_width")
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise invalid(f"{path}.table_width", "an integer ≥ `1`", width)
        result["table_width"] = width
    elif "table_width" in body:
        raise validation_error("body failed validation: the table_width of a table can't change.")
    for key in ("has_column_header", "has_row_header"):
        if key in body:
            result[key] = require_bool(body[key], f"{path}.{key}")
        elif not partial:
            result[key] = False
    if partial:
        return result
    return {
        "table_width": result["table_width"],
        "has_column_header": result["has_column_header"],
        "has_row_header": result["has_row_header"],
    }


def _table_row(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    check_keys(body, ("cells",), path)
    if "cells" not in body:
        if partial:
            return {}
        raise missing(f"{path}.cells")
    cells = require_list(body["cells"], f"{path}.cells")
    return {
        "cells": [
            parse_rich_text(cell, f"{path}.cells[{i}]", parser.resolver)
            for i, cell in enumerate(cells)
        ]
    }


def _bookmark(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    check_keys(body, ("url", "caption"), path)
    result: dict[str, Any] = {}
    if "caption" in body or not partial:
        result["caption"] = _rich_text(parser, body, path, "caption") if "caption" in body else []
    if "url" in body or not partial:
        url = require_str(body.get("url"), f"{path}.url")
        if len(url) > MAX_URL:
            raise too_long(f"{path}.url", MAX_URL, len(url))
        result["url"] = url
    return result


def _equation(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    del parser, partial
    check_keys(body, ("expression",), path)
    expression = require_str(body.get("expression"), f"{path}.expression")
    if len(expression) > MAX_EXPRESSION:
        raise too_long(f"{path}.expression", MAX_EXPRESSION, len(expression))
    return {"expression": expression}


def _link_to_page(parser: BlockParser, body: dict[str, Any], path: str, partial: bool) -> Any:
    del parser, partial
    check_keys(body, ("type", "page_id", "database_id"), path)
    kind = "page_id" if "page_id" in body else "database_id"
    target = parse_id(body.get(kind))
    if target is None:
        raise invalid(f"{path}.{kind}", "a valid uuid", body.get(kind))
    return {"type": kind, kind: target}


_PARSERS: dict[str, ContentParser] = {
    "paragraph": _paragraph,
    **{t: _plain_text_block for t in _TEXT_TYPES if t != "paragraph"},
    **{t: _heading for t in _HEADINGS},
    "to_do": _to_do,
    "callout": _callout,
    "code": _code,
    "divider": _divider,
    "table": _table,
    "table_row": _table_row,
    "bookmark": _bookmark,
    "equation": _equation,
    "link_to_page": _link_to_page,
}
SUPPORTED_TYPES = frozenset(_PARSERS)
