"""Sandbox Slack: Block Kit checks for messages, answered as Slack's json-pointer messages.

Limits follow docs.slack.dev (blocks, section, header, context) as summarised in
reference/slack/slack-api.md §4; message wording follows real `invalid_blocks` answers
("[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

MAX_BLOCKS = 50
MAX_BLOCK_ID = 255
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
MAX_FIELDS = 10
HEADER_TEXT_MAX = 150
CONTEXT_MAX_ELEMENTS = 10
CONTEXT_TEXT_MAX = 3000
ACTIONS_MAX_ELEMENTS = 25
MARKDOWN_BLOCK_MAX = 12000
IMAGE_ALT_MAX = 2000
# The total text of a message's blocks, each block within its own limits: real Slack refuses
# more with `msg_blocks_too_long`. Undocumented; measured at 13,202 and 13,297 characters
# (reference/slack/limits-measured.md: metabase/metabase 79908, slackapi/bolt-js 2509, 2867).
MESSAGE_BLOCKS_TEXT_MAX = 13_200

TEXT_TYPES = ("plain_text", "mrkdwn")
_BLOCK = ("type", "block_id")
# The block types Slack accepts in messages and the properties each may have (those of
# slack-sdk's models/blocks, which tests/sandbox/test_slack_blocks.py holds this table to):
# any other property is refused. The types without a checker below pass shallowly.
BLOCK_PROPERTIES: dict[str, frozenset[str]] = {
    kind: frozenset((*_BLOCK, *extra))
    for kind, extra in {
        "section": ("text", "fields", "accessory", "expand"),
        "header": ("text",),
        "context": ("elements",),
        "divider": (),
        "actions": ("elements",),
        "image": ("image_url", "slack_file", "alt_text", "title"),
        "rich_text": ("elements",),
        "markdown": ("text",),
        "input": ("label", "element", "hint", "optional", "dispatch_action"),
        "file": ("external_id", "source"),
        "video": (
            "alt_text",
            "author_name",
            "description",
            "provider_icon_url",
            "provider_name",
            "thumbnail_url",
            "title",
            "title_url",
            "video_url",
        ),
        "table": ("rows", "column_settings"),
        "context_actions": ("elements",),
    }.items()
}
KNOWN_BLOCK_TYPES = frozenset(BLOCK_PROPERTIES)
_TEXT_KEYS = {"plain_text": {"type", "text", "emoji"}, "mrkdwn": {"type", "text", "verbatim"}}


def problem(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def validate_blocks(blocks: list[Any]) -> list[str]:
    """Every problem Slack would report for a message's `blocks`; empty when valid."""
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(problem(f"no more than {MAX_BLOCKS} items allowed", "/blocks"))
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        problems += _check_block(block, f"/blocks/{index}", seen_ids)
    return problems


def blocks_text_length(node: Any) -> int:
    """The characters of every `text` string in the blocks (text objects, markdown blocks,
    rich-text elements): what Slack's total limit counts."""
    if isinstance(node, list):
        return sum(blocks_text_length(item) for item in node)
    if not isinstance(node, dict):
        return 0
    total = 0
    for key, value in node.items():
        if key == "text" and isinstance(value, str):
            total += len(value)
        else:
            total += blocks_text_length(value)
    return total


def _check_block(block: Any, at: str, seen_ids: set[str]) -> list[str]:
    if not isinstance(block, dict):
        return [problem("failed to match all allowed schemas", at)]
    kind = block.get("type")
    if not isinstance(kind, str):
        return [problem("missing required field: type", at)]
    if kind not in KNOWN_BLOCK_TYPES:
        return [problem(f"unsupported type: {kind}", f"{at}/type")]
    extra = sorted(set(block) - BLOCK_PROPERTIES[kind])
    if extra:
        return [problem(f"invalid additional property: {extra[0]}", at)]
    problems = _check_block_id(block.get("block_id"), at, seen_ids)
    checker = _CHECKERS.get(kind)
    if checker is not None:
        problems += checker(block, at)
    return problems


def _check_block_id(block_id: Any, at: str, seen_ids: set[str]) -> list[str]:
    if block_id is None:
        return []
    if not isinstance(block_id, str):
        return [problem("must be a string", f"{at}/block_id")]
    if len(block_id) > MAX_BLOCK_ID:
        return [problem(f"must be less than {MAX_BLOCK_ID + 1} characters", f"{at}/block_id")]
    if block_id in seen_ids:
        return [problem(f"duplicate block_id: {block_id}", f"{at}/block_id")]
    seen_ids.add(block_id)
    return []


def check_text_object(value: Any, at: str, kinds: tuple[str, ...], max_len: int) -> list[str]:
    """A composition text object: its type, its keys, and 1..max_len characters of text."""
    if not isinstance(value, dict):
        return [problem("failed to match all allowed schemas", at)]
    kind = value.get("type")
    if kind not in kinds:
        return [
            problem("failed to match all allowed schemas", at),
            problem("must be a valid enum value", f"{at}/type"),
        ]
    extra = sorted(set(value) - _TEXT_KEYS[str(kind)])
    if extra:
        return [
            problem("failed to match all allowed schemas", at),
            problem(f"invalid additional property: {extra[0]}", at),
        ]
    text = value.get("text")
    if not isinstance(text, str):
        return [problem("missing required field: text", at)]
    if not text:
        return [problem("must be more than 0 characters", f"{at}/text")]
    if len(text) > max_len:
        return [
            problem("failed to match all allowed schemas", at),
            problem(f"must be less than {max_len + 1} characters", f"{at}/text"),
        ]
    return []


def _check_section(block: dict[str, Any], at: str) -> list[str]:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        return [problem("must define either `text` or `fields`", f"{at}/type")]
    problems: list[str] = []
    if text is not None:
        problems += check_text_object(text, f"{at}/text", TEXT_TYPES, SECTION_TEXT_MAX)
    if fields is not None:
        problems += _check_fields(fields, f"{at}/fields")
    return problems


def _check_fields(fields: Any, at: str) -> list[str]:
    if not isinstance(fields, list) or not fields:
        return [problem("must provide an array of at least 1 items", at)]
    if len(fields) > MAX_FIELDS:
        return [problem(f"no more than {MAX_FIELDS} items allowed", at)]
    problems: list[str] = []
    for index, item in enumerate(fields):
        problems += check_text_object(item, f"{at}/{index}", TEXT_TYPES, FIELD_TEXT_MAX)
    return problems


def _check_header(block: dict[str, Any], at: str) -> list[str]:
    if "text" not in block:
        return [problem("missing required field: text", at)]
    return check_text_object(block["text"], f"{at}/text", ("plain_text",), HEADER_TEXT_MAX)


def _check_context(block: dict[str, Any], at: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [problem("missing required field: elements", at)]
    if len(elements) > CONTEXT_MAX_ELEMENTS:
        return [problem(f"no more than {CONTEXT_MAX_ELEMENTS} items allowed", f"{at}/elements")]
    problems: list[str] = []
    for index, element in enumerate(elements):
        here = f"{at}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            problems += _check_image_source(element, here)
        else:
            problems += check_text_object(element, here, TEXT_TYPES, CONTEXT_TEXT_MAX)
    return problems


def _check_actions(block: dict[str, Any], at: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [problem("missing required field: elements", at)]
    if len(elements) > ACTIONS_MAX_ELEMENTS:
        return [problem(f"no more than {ACTIONS_MAX_ELEMENTS} items allowed", f"{at}/elements")]
    return []


def _check_markdown(block: dict[str, Any], at: str) -> list[str]:
    text = block.get("text")
    if not isinstance(text, str):
        return [problem("missing required field: text", at)]
    if len(text) > MARKDOWN_BLOCK_MAX:
        return [problem(f"must be less than {MARKDOWN_BLOCK_MAX + 1} characters", f"{at}/text")]
    return []


def _check_image(block: dict[str, Any], at: str) -> list[str]:
    problems = _check_image_source(block, at)
    title = block.get("title")
    if title is not None:
        problems += check_text_object(title, f"{at}/title", ("plain_text",), 2000)
    return problems


def _check_image_source(element: dict[str, Any], at: str) -> list[str]:
    if "image_url" not in element and "slack_file" not in element:
        return [problem("must provide either `image_url` or `slack_file`", at)]
    alt = element.get("alt_text")
    if not isinstance(alt, str):
        return [problem("missing required field: alt_text", at)]
    if len(alt) > IMAGE_ALT_MAX:
        return [problem(f"must be less than {IMAGE_ALT_MAX + 1} characters", f"{at}/alt_text")]
    return []


def _check_rich_text(block: dict[str, Any], at: str) -> list[str]:
    if not isinstance(block.get("elements"), list):
        return [problem("missing required field: elements", at)]
    return []


_CHECKERS: dict[str, Callable[[dict[str, Any], str], list[str]]] = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "markdown": _check_markdown,
    "image": _check_image,
    "rich_text": _check_rich_text,
}


def normalise_blocks(blocks: list[dict[str, Any]], seed: str) -> list[dict[str, Any]]:
    """What Slack stores: every block gets a `block_id`; text objects get their defaults."""
    stored: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        copy = _with_text_defaults(block)
        if "block_id" not in copy:
            copy = {**copy, "block_id": _block_id(f"{seed}:{index}")}
        stored.append(copy)
    return stored


def with_text_defaults(node: Any) -> Any:
    """Text objects anywhere in `node` with the defaults Slack stores (`emoji`, `verbatim`)."""
    return _with_text_defaults(node)


def _with_text_defaults(node: Any) -> Any:
    if isinstance(node, list):
        return [_with_text_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _with_text_defaults(value) for key, value in node.items()}
    if isinstance(copy.get("text"), str):
        if copy.get("type") == "plain_text":
            copy.setdefault("emoji", True)
        elif copy.get("type") == "mrkdwn":
            copy.setdefault("verbatim", False)
    return copy


def _block_id(seed: str) -> str:
    """Slack invents short random block ids; ours are derived, so runs are reproducible."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:5])
