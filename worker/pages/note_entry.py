"""Render (pages): a thread message sent to the timeline → its entry, one bulleted block.

The entry reads like the worker's other entries — the time in bold (with the date when it is
another day than the declaration), who, what — and shows the message as Slack did: the
author as a Notion mention when Slack and Notion know them by the same email (their name
otherwise), the text with its formatting (`worker.mrkdwn`), the files as links, and a link
back to the message in Slack. One block, so that an edit is one `blocks.update` of it and a
withdrawal (unpinned, deleted) strikes the same block through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from worker.mrkdwn import Names, linkable, to_rich_text
from worker.pages.blocks import Block, RichText
from worker.pages.limits import MAX_ARRAY_ITEMS, MAX_TEXT_UTF16, split_utf16
from worker.snapshot import Person
from worker.thread_notes import EntryState, ThreadNote, slack_time

ENTRY_TYPE: Final = "bulleted_list_item"
MAX_FILES: Final = 5  # links shown; the others are counted
_FILE_MARK: Final = "\N{PAPERCLIP}"
_SEPARATOR: Final = " \N{EM DASH} "


def message_time(ts: str) -> datetime:
    """When a Slack message was posted (its ts is Unix seconds)."""
    return datetime.fromtimestamp(float(slack_time(ts) or Decimal(0)), UTC)


def note_rich_text(
    note: ThreadNote,
    state: EntryState,
    *,
    people: Mapping[str, Person],
    timezone: ZoneInfo,
    day_of: datetime | None,
    permalink: str | None,
) -> list[RichText]:
    """The entry's rich text (≤ 100 items, each within Notion's limits). `people`: Notion
    people by lower-cased email; `state` `struck` draws it all struck through."""
    at = message_time(note.ts).astimezone(timezone)
    other_day = day_of is not None and at.date() != day_of.astimezone(timezone).date()
    when = at.strftime("%Y-%m-%d %H:%M %Z" if other_day else "%H:%M")
    head: list[RichText] = [_text(when, bold=True), _text(_SEPARATOR)]
    head += [_author(note, people), _text(": ")]
    tail = _files(note) + ([_text(" · "), _link("Slack", permalink)] if permalink else [])
    budget = MAX_ARRAY_ITEMS - len(head) - len(tail)
    body = to_rich_text(note.text or "", _names(note, people), max_items=budget)
    items = head + body + tail
    if state == "struck":
        items = [_struck(item) for item in items]
    return items


def note_block(rich_text: list[RichText]) -> Block:
    return {"type": ENTRY_TYPE, ENTRY_TYPE: {"rich_text": rich_text}}


def fingerprint(rich_text: list[RichText]) -> str:
    """What the entry shows, in a few characters: an entry is rewritten only when it differs."""
    text = json.dumps(rich_text, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _names(note: ThreadNote, people: Mapping[str, Person]) -> Names:
    notion: dict[str, str] = {}
    for user, slack_person in note.people.items():
        person = people.get((slack_person.email or "").lower())
        if person is not None and person.nameable:
            notion[user] = person.id
    return Names(users={u: p.name for u, p in note.people.items() if p.name}, people=notion)


def _author(note: ThreadNote, people: Mapping[str, Person]) -> RichText:
    author = note.author
    email = (author.email or "").lower() if author is not None else ""
    person = people.get(email) if email else None
    if person is not None and person.nameable:
        label = "@" + (person.name or (author.name if author is not None else ""))
        return {
            "type": "mention",
            "mention": {"type": "user", "user": {"id": person.id}},
            "plain_text": label,
        }
    name = (author.name if author is not None else "") or note.user or "someone"
    return _text(split_utf16(name, MAX_TEXT_UTF16)[0])


def _files(note: ThreadNote) -> list[RichText]:
    items: list[RichText] = []
    for file in note.files[:MAX_FILES]:
        items += [_text(f" {_FILE_MARK} "), _link(split_utf16(file.name, 200)[0], file.url)]
    hidden = len(note.files) - MAX_FILES
    if hidden > 0:
        items.append(_text(f" (+{hidden})"))
    return items


def _text(content: str, *, bold: bool = False) -> RichText:
    item: RichText = {"type": "text", "text": {"content": content}}
    if bold:
        item["annotations"] = {"bold": True}
    return item


def _link(label: str, url: str | None) -> RichText:
    """A link when Notion takes the URL (http or https, within its length); else the label."""
    item = _text(label or "link")
    if url and linkable(url):
        item["text"]["link"] = {"url": url}
    return item


def _struck(item: RichText) -> RichText:
    return {**item, "annotations": {**item.get("annotations", {}), "strikethrough": True}}
