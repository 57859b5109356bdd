"""Parse: Notion's answers about pages and blocks (raw JSON, once, at the edge) → small frozen
dataclasses; the Notion gateway returns these to the page writer and the page effects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from worker.pages.blocks import Block, RichText
from worker.snapshot import Value, display_value


@dataclass(frozen=True)
class NotionPage:
    """A page or a database row as Notion answers for it (retrieved, created or queried)."""

    id: str
    url: str = ""
    in_trash: bool = False  # in Notion's trash (`archived` in older answers)
    created_by: str | None = None  # a user id
    # Every property by its Notion name, as a reader sees it (people keep their ids).
    properties: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class ChildBlock:
    """A block as its parent lists it: enough to find again what the worker wrote there."""

    id: str
    type: str
    text: str = ""  # `block_text`: what it says, comparable with the block that was sent
    title: str = ""  # a child page's or child database's title
    in_trash: bool = False
    created_by: str | None = None


def _creator(raw: Mapping[str, Any]) -> str | None:
    user = raw.get("created_by")
    return user.get("id") if isinstance(user, dict) else None


def parse_page(raw: Mapping[str, Any]) -> NotionPage:
    properties = raw.get("properties")
    return NotionPage(
        id=str(raw["id"]),
        url=str(raw.get("url") or ""),
        in_trash=bool(raw.get("in_trash") or raw.get("archived")),
        created_by=_creator(raw),
        properties={
            name: display_value(prop)
            for name, prop in (properties if isinstance(properties, dict) else {}).items()
            if isinstance(prop, dict)
        },
    )


def parse_child_block(raw: Block) -> ChildBlock:
    body = raw.get(str(raw.get("type", "")))
    title = body.get("title") if isinstance(body, dict) else None
    return ChildBlock(
        id=str(raw["id"]),
        type=str(raw.get("type", "")),
        text=block_text(raw),
        title=str(title or ""),
        in_trash=bool(raw.get("in_trash")),
        created_by=_creator(raw),
    )


# --- a block's text, the same whether the worker sent it or Notion returned it --------------

_MENTION_KINDS: Final = ("user", "page", "database", "date", "template_mention", "link_preview")


def _mention_key(mention: dict[str, Any]) -> str:
    """A mention by what it points at: Notion answers a user mention with the user's name in
    `plain_text` (and its own id spelling), which the mention we sent does not carry."""
    kind = next((k for k in _MENTION_KINDS if k in mention), "")
    target = mention.get(kind)
    if not isinstance(target, dict):
        return f"\x00{kind}\x00"
    ref = target.get("start") if kind == "date" else target.get("id", target.get("url", ""))
    return f"\x00{kind}:{str(ref).replace('-', '').lower()}\x00"


def _visible(item: RichText) -> str:
    """One rich text item, the same whether we sent it or Notion returned it."""
    kind = str(item.get("type") or ("mention" if "mention" in item else "text"))
    inner = item.get(kind)
    if kind == "mention":
        return _mention_key(inner if isinstance(inner, dict) else {})
    if kind == "equation":
        return str(inner.get("expression", "")) if isinstance(inner, dict) else ""
    text = item.get("text")
    if isinstance(text, dict) and "content" in text:
        return str(text["content"])
    return str(item.get("plain_text", ""))


def block_text(block: Block) -> str:
    """What a block says (its rich text, mentions by what they point at), so that a block
    Notion lists can be compared with a block request the worker sent."""
    body = block.get(str(block.get("type", "")))
    items = body.get("rich_text") if isinstance(body, dict) else None
    return "".join(_visible(item) for item in items or [] if isinstance(item, dict))
