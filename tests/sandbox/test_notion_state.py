"""Notion emulator: users, search, bulk rows and dump/load of the whole state."""

from __future__ import annotations

import json

import pytest
from notion_client import APIResponseError
from notion_client.helpers import collect_paginated_api

from tests.sandbox.reference import recorded, shape_differences
from worker.sandbox.notion import NotionEmulator
from worker.sandbox.notion.errors import NotionError
from worker.sandbox.notion.limits import NotionLimits


def test_users_are_the_bot_and_the_people(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    workspace = notion_sandbox.workspace
    users = bot.users.list()
    assert [u["id"] for u in users["results"]] == [
        *(p.notion_id for p in workspace.people),
        workspace.notion_bot_id,
    ]
    real = recorded("test_users_list", "GET", "/v1/users")
    assert shape_differences(real, users) == []
    assert shape_differences(real["results"][-1], users["results"][-1]) == []  # the bot
    me = bot.users.me()
    assert me["type"] == "bot"
    assert me["name"] == workspace.notion_bot_name
    assert me["bot"]["owner"] == {"type": "workspace", "workspace": True}
    assert me["bot"]["workspace_name"] == workspace.notion_workspace_name
    assert notion_sandbox.client("chidi").users.me()["person"]["email"] == "chidi@example.com"
    assert bot.users.retrieve(workspace.people[1].notion_id)["name"] == workspace.people[1].name
    first = bot.users.list(page_size=2)
    assert first["next_cursor"] == workspace.people[2].notion_id
    assert len(collect_paginated_api(bot.users.list, page_size=2)) == 5
    with pytest.raises(APIResponseError) as caught:
        bot.users.retrieve("00000000-0000-4000-8000-000000000000")
    assert caught.value.code == "object_not_found"


def test_the_parent_page_is_shared_with_the_integration(notion_sandbox) -> None:
    page = notion_sandbox.client().pages.retrieve(notion_sandbox.workspace.parent_page_id)
    assert page["parent"] == {"type": "workspace", "workspace": True}
    assert page["properties"]["title"]["title"][0]["plain_text"] == "Incident response"
    assert page["created_by"]["id"] == notion_sandbox.workspace.people[0].notion_id


def test_search_finds_titles_the_token_can_see(notion_sandbox) -> None:
    bot, aiko = notion_sandbox.client(), notion_sandbox.client("aiko")
    _, source_id = notion_sandbox.create_incidents()
    aiko.pages.create(
        parent={"workspace": True},
        properties={"title": [{"text": {"content": "Private incident notes"}}]},
    )
    notion_sandbox.clock.advance(minutes=1)
    bot.pages.create(
        parent={"data_source_id": source_id},
        properties={"Name": {"title": [{"text": {"content": "Incident: API down"}}]}},
    )

    def titles(client, **body) -> list[str]:
        found = client.search(**body)["results"]
        return [
            r["properties"]["Name" if "Name" in r["properties"] else "title"]["title"][0][
                "plain_text"
            ]
            if r["object"] == "page"
            else r["title"][0]["plain_text"]
            for r in found
        ]

    found = titles(bot, query="incident")  # newest edit first; the other two share a minute
    assert found[0] == "Incident: API down"
    assert set(found[1:]) == {"Incidents", "Incident response"}
    assert titles(bot, query="incident", filter={"property": "object", "value": "data_source"}) == [
        "Incidents"
    ]
    assert "Private incident notes" in titles(aiko, query="incident")
    oldest_first = titles(
        bot, query="incident", sort={"timestamp": "last_edited_time", "direction": "ascending"}
    )
    assert oldest_first[-1] == "Incident: API down"
    real = recorded("test_collect_paginated_api", "POST", "/v1/search")
    assert shape_differences(real, bot.search(query="response")) == []
    paged = bot.search(query="incident", page_size=1)
    assert paged["has_more"] is True
    assert len(collect_paginated_api(bot.search, query="incident", page_size=1)) == 3


def test_insert_pages_validates_like_the_api_and_acts_as_a_user(notion_sandbox) -> None:
    _, source_id = notion_sandbox.create_incidents()
    ids = notion_sandbox.emulator.insert_pages(
        source_id, [{"Name": {"title": [{"text": {"content": "bulk"}}]}}], as_user="ben@example.com"
    )
    row = notion_sandbox.client().pages.retrieve(ids[0])
    assert row["created_by"]["id"] == notion_sandbox.workspace.person("ben").notion_id
    with pytest.raises(NotionError) as caught:
        notion_sandbox.emulator.insert_pages(source_id, [{"Status": {"status": {"name": "Nope"}}}])
    assert caught.value.code == "validation_error"
    with pytest.raises(KeyError):
        notion_sandbox.emulator.share("00000000-0000-4000-8000-000000000000")


def test_dump_and_load_round_trip_the_whole_state(
    notion_sandbox, notion_server, notion_clock
) -> None:
    bot, aiko = notion_sandbox.client(), notion_sandbox.client("aiko")
    _, source_id = notion_sandbox.create_incidents()
    row = aiko.pages.create(
        parent={"data_source_id": source_id},
        properties={"Severity": {"select": {"name": "SEV9"}}},
        children=[{"to_do": {"rich_text": [{"text": {"content": "call vendor"}}]}}],
    )
    private = aiko.pages.create(parent={"workspace": True}, properties={})
    notion_sandbox.emulator.set_status_options(source_id, "Status", [("Investigating", "To-do")])
    dumped = notion_sandbox.emulator.dump()
    text = json.dumps(dumped)  # JSON-serialisable

    fresh = NotionEmulator(notion_sandbox.workspace, limits=NotionLimits.off(), clock=notion_clock)
    fresh.load(json.loads(text))
    assert fresh.dump() == dumped
    before = {
        "row": bot.pages.retrieve(row["id"]),
        "source": bot.data_sources.retrieve(source_id),
        "children": bot.blocks.children.list(row["id"]),
        "search": bot.search(),
    }
    _, switch = notion_server
    switch.app = fresh.app  # from here on the loaded copy answers
    after = {
        "row": bot.pages.retrieve(row["id"]),
        "source": bot.data_sources.retrieve(source_id),
        "children": bot.blocks.children.list(row["id"]),
        "search": bot.search(),
    }
    for key, value in before.items():
        value.pop("request_id")
        after[key].pop("request_id")
    assert after == before
    with pytest.raises(APIResponseError):
        bot.pages.retrieve(private["id"])  # sharing survives too
    with pytest.raises(ValueError, match="format"):
        fresh.load({"format": 99})
