"""Render (notes): a Slack message's mrkdwn → Notion rich text, valid for Notion by construction.

A thread message people send to the timeline arrives as Slack wrote it: `*bold*`, `_italic_`,
`~strike~`, `` `code` ``, ```` ```pre``` ````, `<url|label>`, `<@U…>`, `<#C…|name>`,
`<!here>`, `<!subteam^S…>`, `:emoji:` shortcodes, and `&amp;` `&lt;` `&gt;` for the three
characters Slack escapes. The timeline shows it the way Slack did, as Notion rich text.

Whatever the text, what comes out is something Notion takes: every item's content and link
within 2,000 UTF-16 units, no lone surrogates, a link only for a URL Notion accepts (http,
https, mailto, without spaces or control characters), at most `max_items` items (the overflow
keeps its words as plain text; only text beyond what any item budget can hold is cut, with
an ellipsis), and a user mention only for a Notion person the caller knows (`Names.people`):
everyone else is named in plain text. Markup that does not close is kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Final

import emoji

from worker.pages.blocks import RichText
from worker.pages.limits import MAX_ARRAY_ITEMS, MAX_TEXT_UTF16, split_utf16, utf16_len

_MARKERS: Final = {"*": "bold", "_": "italic", "~": "strikethrough"}
_FENCE: Final = "```"
_ELLIPSIS: Final = "…"
# `<…>`: Slack's links, mentions and special commands (never spanning a line, never nested).
_ANGLE: Final = re.compile(r"<([^<>\n]+)>")
_SHORTCODE: Final = re.compile(r":([a-z0-9_+'-]+(?:::skin-tone-[2-6])?):")
_SKIN_TONES: Final = {str(n): chr(0x1F3FB + n - 2) for n in range(2, 7)}
# A URL Notion links: http(s) with a host, or mailto; no whitespace, quotes or controls.
_LINKABLE: Final = re.compile(
    r"(?:https?://[^\s/?#<>\"\\^`{|}\x00-\x1f\x7f]+[^\s<>\"\x00-\x1f\x7f]*"
    r"|mailto:[^\s<>\"\x00-\x1f\x7f]+)",
    re.IGNORECASE,
)
_SPECIAL: Final = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


@dataclass(frozen=True)
class Names:
    """What the message's ids are called: Slack user, channel and user-group ids → names,
    and Slack user ids → Notion person ids (those become Notion mentions)."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    people: Mapping[str, str] = field(default_factory=dict)


NO_NAMES: Final = Names()


@dataclass(frozen=True)
class _Run:
    """A stretch of text with one look: marks, a link, or a Notion person mentioned."""

    text: str
    marks: frozenset[str] = frozenset()
    url: str | None = None
    person: str | None = None


# --- entry point --------------------------------------------------------------------------


def to_rich_text(
    text: str, names: Names = NO_NAMES, *, max_items: int = MAX_ARRAY_ITEMS
) -> list[RichText]:
    """`text` (a message's mrkdwn) → at most `max_items` Notion rich-text request items."""
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    runs = _merge(_document(text, names))
    items = [item for run in runs for item in _items(run)]
    return _fit(items, max_items)


def to_plain_text(text: str, names: Names = NO_NAMES) -> str:
    """What the message reads as, without its formatting (for logs, titles, comparisons)."""
    return "".join(run.text for run in _document(text, names))


# --- parsing ------------------------------------------------------------------------------


def _document(text: str, names: Names) -> list[_Run]:
    """Preformatted blocks first (they span lines and hold no other markup), then the rest."""
    runs: list[_Run] = []
    rest = text
    while True:
        start = rest.find(_FENCE)
        end = rest.find(_FENCE, start + len(_FENCE)) if start >= 0 else -1
        if start < 0 or end < 0 or end == start + len(_FENCE):
            runs.extend(_inline(rest, frozenset(), names))
            return runs
        runs.extend(_inline(rest[:start], frozenset(), names))
        runs.extend(_code(rest[start + len(_FENCE) : end], names))
        rest = rest[end + len(_FENCE) :]


def _inline(text: str, marks: frozenset[str], names: Names) -> list[_Run]:
    runs: list[_Run] = []
    plain: list[str] = []
    index = 0
    while index < len(text):
        found = _token(text, index, marks, names)
        if found is None:
            plain.append(text[index])
            index += 1
            continue
        token_runs, index = found
        if plain:
            runs.append(_Run(_decorate("".join(plain)), marks))
            plain = []
        runs.extend(token_runs)
    if plain:
        runs.append(_Run(_decorate("".join(plain)), marks))
    return runs


def _token(
    text: str, index: int, marks: frozenset[str], names: Names
) -> tuple[list[_Run], int] | None:
    """The markup starting at `index` (its runs, and where it ends), or None: a character."""
    char = text[index]
    if char == "<":
        angle = _ANGLE.match(text, index)
        if angle is not None:
            return [_angle(angle.group(1), marks, names)], angle.end()
    elif char == "`":
        close = text.find("`", index + 1)
        if close > index + 1 and "\n" not in text[index + 1 : close]:
            return _code(text[index + 1 : close], names, marks), close + 1
    elif char in _MARKERS and _MARKERS[char] not in marks:
        closer = _closer(text, index)
        if closer is not None:
            inner = _inline(text[index + 1 : closer], marks | {_MARKERS[char]}, names)
            return inner, closer + 1
    return None


def _closer(text: str, index: int) -> int | None:
    """Where the emphasis opened at `index` closes on the same line, Slack-style: the marker
    opens after a non-word character and before a non-space, and closes after a non-space
    and before a non-word character."""
    marker = text[index]
    after = text[index + 1 : index + 2]
    if (index > 0 and _wordlike(text[index - 1])) or not after or after.isspace():
        return None
    if after == marker:
        return None
    position = index + 2
    while True:
        close = text.find(marker, position)
        if close < 0 or "\n" in text[index:close]:
            return None
        following = text[close + 1 : close + 2]
        if not text[close - 1].isspace() and not (following and _wordlike(following)):
            return close
        position = close + 1


def _wordlike(char: str) -> bool:
    return char.isalnum() or char in _MARKERS


def _code(text: str, names: Names, marks: frozenset[str] = frozenset()) -> list[_Run]:
    """Code: entities decoded and `<…>` shown as its label, but no emphasis, no emoji."""
    shown = _ANGLE.sub(lambda match: _angle(match.group(1), marks, names).text, text)
    return [_Run(_entities(shown), marks | {"code"})] if shown else []


def _angle(inner: str, marks: frozenset[str], names: Names) -> _Run:
    """`<…>`: a user, a channel, a special mention, or a link."""
    target, _, label = inner.partition("|")
    label = _entities(label)
    if target.startswith("@"):
        user = target[1:]
        name = names.users.get(user) or label.lstrip("@") or user
        return _Run(f"@{name}", marks, person=names.people.get(user))
    if target.startswith("#"):
        channel = target[1:]
        return _Run(f"#{names.channels.get(channel) or label or channel}", marks)
    if target.startswith("!"):
        return _Run(_command(target[1:], label, names), marks)
    url = _entities(target)
    shown = label or url.removeprefix("mailto:")
    return _Run(shown, marks, url=url if linkable(url) else None)


def _command(command: str, label: str, names: Names) -> str:
    """`<!here>`, `<!channel>`, `<!subteam^S…|@name>`, `<!date^…|fallback>` as Slack shows them."""
    if command in _SPECIAL:
        return _SPECIAL[command]
    if command.startswith("subteam^"):
        group = command.removeprefix("subteam^")
        handle = names.groups.get(group) or label.lstrip("@") or group
        return f"@{handle}"
    return label or command.partition("^")[0]


def linkable(url: str) -> bool:
    """Whether Notion takes `url` as a link (http, https or mailto, within its length)."""
    return bool(_LINKABLE.fullmatch(url)) and utf16_len(url) <= MAX_TEXT_UTF16


def _entities(text: str) -> str:
    """Slack escapes exactly these three; `&amp;` last, so `&amp;lt;` stays `&lt;`."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _decorate(text: str) -> str:
    return _SHORTCODE.sub(_emoji, _entities(text))


def _emoji(match: re.Match[str]) -> str:
    name, _, tone = match.group(1).partition("::skin-tone-")
    found = _shortcode(name)
    if found is None:
        return match.group(0)  # a workspace's custom emoji: its name is all there is
    return found + _SKIN_TONES.get(tone, "")


@lru_cache(maxsize=1024)
def _shortcode(name: str) -> str | None:
    """Slack's shortcode → the emoji (the `emoji` library's aliases are GitHub's and Slack's
    common names; Slack writes some with hyphens where they have underscores)."""
    if name.startswith("skin-tone-"):
        return _SKIN_TONES.get(name.removeprefix("skin-tone-"))
    for candidate in (name, name.replace("-", "_")):
        code = f":{candidate}:"
        shown = emoji.emojize(code, language="alias")
        if shown != code:
            return shown
    return None


# --- Notion items -------------------------------------------------------------------------


def _merge(runs: list[_Run]) -> list[_Run]:
    """Neighbours with the same look become one (fewer items for the 100-item budget)."""
    merged: list[_Run] = []
    for run in runs:
        if not run.text:
            continue
        last = merged[-1] if merged else None
        if last is not None and _same_look(last, run):
            merged[-1] = replace(last, text=last.text + run.text)
            continue
        merged.append(run)
    return merged


def _same_look(first: _Run, second: _Run) -> bool:
    """Whether two runs can be one item (a mention is always an item of its own)."""
    if first.person is not None or second.person is not None:
        return False
    return (first.marks, first.url) == (second.marks, second.url)


def _items(run: _Run) -> list[RichText]:
    annotations = {mark: True for mark in sorted(run.marks)}
    if run.person is not None:
        item: RichText = {
            "type": "mention",
            "mention": {"type": "user", "user": {"id": run.person}},
            "plain_text": run.text,
        }
        return [item | ({"annotations": annotations} if annotations else {})]
    items: list[RichText] = []
    for piece in split_utf16(run.text):
        body: dict[str, object] = {"content": piece}
        if run.url is not None:
            body["link"] = {"url": run.url}
        item = {"type": "text", "text": body}
        items.append(item | ({"annotations": annotations} if annotations else {}))
    return items


def item_text(item: RichText) -> str:
    """What an item reads as (a mention: the name it was given)."""
    text = item.get("text")
    if isinstance(text, dict):
        return str(text.get("content", ""))
    return str(item.get("plain_text", ""))


def _fit(items: list[RichText], max_items: int) -> list[RichText]:
    """At most `max_items`: the first items as they are, the rest as plain text in as few
    items as it takes; text beyond what the budget holds is cut with an ellipsis."""
    if len(items) <= max_items:
        return items
    for kept in range(max_items - 1, -1, -1):
        rest = split_utf16("".join(item_text(item) for item in items[kept:]))
        if kept + len(rest) <= max_items:
            return items[:kept] + [{"type": "text", "text": {"content": p}} for p in rest]
    whole = "".join(item_text(item) for item in items)
    pieces = split_utf16(whole)[:max_items]
    pieces[-1] = split_utf16(pieces[-1], MAX_TEXT_UTF16 - 1)[0] + _ELLIPSIS
    return [{"type": "text", "text": {"content": piece}} for piece in pieces]
