"""Render, last step: Slack's message limits, and mrkdwn cut to them without breaking it.

The builders in `messages.py` budget their own text with `cut`, `share` and `split`;
`fit_blocks` is the last line of defence that holds every limit whatever a builder did.
Lengths are counted in UTF-16 code units: never fewer than the characters Slack counts (an
emoji is one character to Slack, two units here), so what fits here fits there.
"""

from __future__ import annotations

import copy
import re
from typing import Any

# Block Kit and chat.update limits (reference/slack/slack-api.md §4).
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
FIELDS_MAX = 10
CONTEXT_ELEMENTS_MAX = 10
CONTEXT_TEXT_MAX = 3000
BLOCKS_MAX = 50
TEXT_MAX = 4000  # chat.update answers msg_too_long above it (chat.postMessage cuts at 40,000)
# The total text of a message's blocks: real Slack refuses more than about 13,200 characters
# with msg_blocks_too_long (reference/slack/limits-measured.md); keep a safety margin.
BLOCKS_TEXT_MAX = 12_000

_MARKS = "\u0300-\u036f\u200c\u20d0-\u20ff\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f"
# The pieces a cut never splits: a mention or link the worker built (escaped text holds no
# `<` or `>`), an escaped control character, a flag, a character with its combining marks
# and variation selectors, and emoji joined by zero-width joiners.
_ATOM = re.compile(
    r"<[^<>\n]*>"
    r"|&(?:amp|lt|gt);"
    r"|[\U0001f1e6-\U0001f1ff]{2}"
    rf"|.[{_MARKS}]*(?:\u200d.[{_MARKS}]*)*",
    re.DOTALL,
)
_FENCE = "```"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut(text: str, limit: int, tail: str = "…") -> str:
    """`text` if it fits in `limit` units; otherwise its longest prefix of whole pieces (an
    entity, a mention, a link, a character with its marks), ending at a line or word break
    when one is near, followed by `tail` — all within `limit`. A code block the cut leaves
    open is closed. A tail longer than the limit becomes a bare "…"."""
    if utf16_len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if utf16_len(tail) > limit:
        tail = "…"
    budget = limit - utf16_len(tail)
    kept = _prefix(text, budget)
    if kept.count(_FENCE) % 2:
        kept = _prefix(text, budget - 4)
        kept = kept + "\n" + _FENCE if kept.count(_FENCE) % 2 else kept
    return kept + tail


def _prefix(text: str, budget: int) -> str:
    """The longest prefix of whole pieces within `budget`, pulled back to a line break in its
    last third or else to a word break in its last quarter; no trailing blanks."""
    if budget <= 0:
        return ""
    used = end = 0
    line_end = word_end = 0
    for piece in _ATOM.finditer(text):
        size = utf16_len(piece.group())
        if used + size > budget:
            break
        used += size
        end = piece.end()
        if piece.group() == "\n":
            line_end = piece.start()
        elif piece.group().isspace():
            word_end = piece.start()
    if line_end * 3 >= end * 2 and line_end:
        end = line_end
    elif word_end * 4 >= end * 3 and word_end:
        end = word_end
    return text[:end].rstrip()


def split(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` units, broken at lines where it can be, none
    empty (Slack refuses an empty text object)."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        head = _prefix(rest, limit)
        if head:
            pieces.append(head)
            rest = rest[len(head) :].removeprefix("\n")
            continue
        first = _ATOM.match(rest)
        end = first.end() if first else 1
        if not rest[:end].isspace():  # one piece (a link) longer than the limit: not shown
            pieces.append("…")
        rest = rest[end:].removeprefix("\n")
    pieces.append(rest)
    return [piece for piece in pieces if piece.strip()]


def share(wanted: list[int], total: int) -> list[int]:
    """Split `total` units among texts that want `wanted` each: whatever fits is given in
    full, and the longest texts share what is left equally (so one long field never
    starves the others)."""
    given = [0] * len(wanted)
    left = max(0, total)
    order = sorted(range(len(wanted)), key=lambda index: wanted[index])
    for rank, index in enumerate(order):
        fair = left // (len(wanted) - rank)
        given[index] = min(max(0, wanted[index]), fair)
        left -= given[index]
    return given


def fit_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks within every Slack limit: at most 50 blocks, each text object within its
    own limit and never empty, and all their text within BLOCKS_TEXT_MAX. A copy; blocks
    that fit come back unchanged."""
    fitted = [_fit_block(block) for block in blocks[:BLOCKS_MAX]]
    texts = [obj for block in fitted for obj, _ in _text_objects(block)]
    sizes = [utf16_len(obj["text"]) for obj in texts]
    if sum(sizes) > BLOCKS_TEXT_MAX:
        for obj, size, allowed in zip(texts, sizes, share(sizes, BLOCKS_TEXT_MAX), strict=True):
            if size > allowed:
                obj["text"] = cut(obj["text"], max(1, allowed))
    return fitted


def _fit_block(block: dict[str, Any]) -> dict[str, Any]:
    fitted = copy.deepcopy(block)
    if isinstance(fitted.get("fields"), list):
        fitted["fields"] = fitted["fields"][:FIELDS_MAX]
    if isinstance(fitted.get("elements"), list):
        fitted["elements"] = fitted["elements"][:CONTEXT_ELEMENTS_MAX]
    for obj, limit in _text_objects(fitted):
        obj["text"] = cut(obj["text"], limit) if obj["text"].strip() else "…"
    return fitted


def _text_objects(block: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """The block's text objects (header, section text, fields, context), each with its limit."""
    kind = block.get("type")
    found: list[tuple[dict[str, Any], int]] = []
    text = block.get("text")
    if isinstance(text, dict) and isinstance(text.get("text"), str):
        found.append((text, HEADER_MAX if kind == "header" else SECTION_MAX))
    for key, limit in (("fields", FIELD_MAX), ("elements", CONTEXT_TEXT_MAX)):
        for item in block.get(key) or ():
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                found.append((item, limit))
    return found


def fits(blocks: list[dict[str, Any]], text: str) -> bool:
    """Does a message already hold every limit (what the builders promise)?"""
    return fit_blocks(blocks) == blocks and utf16_len(text) <= TEXT_MAX
