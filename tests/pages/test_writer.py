"""Page writer: an append whose outcome is unknown is found again, not sent twice — also when
its text holds a mention, which Notion answers with the person's name (found by the chaos
benchmark: timeline entries crediting someone were doubled)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from worker.config import Settings
from worker.errors import ServiceError
from worker.notion import NotionGateway
from worker.pages.parse import ChildBlock, parse_child_block
from worker.pages.to_blocks import markdown_to_blocks
from worker.pages.writer import PageWriter, same_blocks
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.notion.limits import NotionLimits

BEN_ID = "33333333-3333-4333-8333-333333333333"
ENTRY = f"- **09:12** — Status update: rolled back — [@Ben Carter](notion-user:{BEN_ID})"


def _as_notion_returns(user_id: str, name: str) -> dict[str, Any]:
    """The block Notion lists for ENTRY: plain_text everywhere, the mention resolved."""

    def text(content: str, *, bold: bool = False) -> dict[str, Any]:
        return {
            "type": "text",
            "text": {"content": content, "link": None},
            "annotations": {"bold": bold, "italic": False, "code": False},
            "plain_text": content,
            "href": None,
        }

    mention = {
        "type": "mention",
        "mention": {"type": "user", "user": {"object": "user", "id": user_id, "name": name}},
        "annotations": {"bold": False},
        "plain_text": f"@{name}",
        "href": None,
    }
    rich = [text("09:12", bold=True), text(" — Status update: rolled back — "), mention]
    return {
        "object": "block",
        "id": "b1",
        "type": "bulleted_list_item",
        "bulleted_list_item": {"rich_text": rich, "color": "default"},
    }


def _listed(user_id: str, name: str) -> ChildBlock:
    """The block as the gateway hands it over (`NotionGateway.child_blocks`)."""
    return parse_child_block(_as_notion_returns(user_id, name))


def test_a_block_with_a_mention_matches_what_notion_returns_for_it() -> None:
    sent = markdown_to_blocks(ENTRY)
    assert same_blocks([_listed(BEN_ID, "Ben Carter")], sent)
    assert same_blocks([_listed(BEN_ID.replace("-", ""), "Ben")], sent)
    other = "44444444-4444-4444-8444-444444444444"
    assert not same_blocks([_listed(other, "Ben Carter")], sent)


@pytest.fixture
def notion() -> Iterator[tuple[NotionGateway, str, str]]:
    options = SandboxOptions(notion_limits=NotionLimits.off())
    with Sandbox(options) as box:
        settings = Settings.from_env(
            {
                "NOTION_TOKEN": box.workspace.notion_token,
                "NOTION_BASE_URL": box.notion_base_url,
                "NOTION_REQUESTS_PER_SECOND": "1000",
                "SLACK_POSTS_PER_SECOND": "1000",
            },
            require_workspace=False,
        )
        gateway = NotionGateway.build(settings)
        page = gateway.client.pages.create(
            parent={"page_id": box.workspace.parent_page_id},
            properties={"title": [{"text": {"content": "Timeline"}}]},
        )
        try:
            yield gateway, str(page["id"]), box.workspace.person("Ben").notion_id  # type: ignore[index]
        finally:
            gateway.close()


def test_an_entry_with_a_mention_sent_before_a_crash_is_not_appended_again(
    notion: tuple[NotionGateway, str, str],
) -> None:
    gateway, page_id, ben = notion
    writer = PageWriter(gateway, lambda: None)
    blocks = markdown_to_blocks(ENTRY.replace(BEN_ID, ben))
    saved: list[dict[str, Any]] = []
    ids = writer.append_once(page_id, blocks, {}, lambda p: saved.append(copy.deepcopy(p)), "entry")
    # What the outbox holds when the worker died after sending, before hearing back.
    after_crash = saved[0]
    assert after_crash == {"appended": {}, "uncertain": "entry"}
    again = writer.append_once(page_id, blocks, after_crash, lambda p: None, "entry")
    assert again == ids
    assert len(list(gateway.list_children(page_id))) == 1


def test_a_refused_append_leaves_nothing_to_look_for(
    notion: tuple[NotionGateway, str, str],
) -> None:
    """A 4xx (here Notion refusing to mention a bot) means nothing was saved: the next
    attempt sends again, without listing the page to look for what it sent."""
    gateway, page_id, ben = notion
    writer = PageWriter(gateway, lambda: None)
    bot = gateway.me().id
    refused = markdown_to_blocks(f"- [Incident Worker](notion-user:{bot})")
    saved: list[dict[str, Any]] = []
    with pytest.raises(ServiceError) as caught:
        writer.append_once(page_id, refused, {}, lambda p: saved.append(copy.deepcopy(p)), "e")
    assert caught.value.status == 400
    assert saved[-1] == {"appended": {}}
    blocks = markdown_to_blocks(ENTRY.replace(BEN_ID, ben))
    writer.append_once(page_id, blocks, saved[-1], lambda p: None, "e")
    assert len(list(gateway.list_children(page_id))) == 1


def test_blocks_put_after_another_are_found_there_after_a_crash(
    notion: tuple[NotionGateway, str, str],
) -> None:
    """An entry placed in time order (after an earlier one, before later ones): a retry
    after an unknown outcome looks right after that block, not at the end."""
    gateway, page_id, _ben = notion
    writer = PageWriter(gateway, lambda: None)
    first, last = (
        writer.append_once(page_id, markdown_to_blocks(f"- {text}"), {}, lambda p: None, text)[0]
        for text in ("09:00 first", "09:30 last")
    )
    middle = markdown_to_blocks("- 09:10 middle")
    saved: list[dict[str, Any]] = []
    ids = writer.append_once(
        page_id, middle, {}, lambda p: saved.append(copy.deepcopy(p)), "m", after=first
    )
    again = writer.append_once(page_id, middle, saved[0], lambda p: None, "m", after=first)
    assert again == ids
    assert [b["id"] for b in gateway.list_children(page_id)] == [first, *ids, last]
