"""Notion emulator: databases (containers) and data sources (schemas, status options)."""

from __future__ import annotations

import pytest
from notion_client import APIResponseError

from tests.sandbox.reference import recorded

_TEXT = [{"type": "text", "text": {"content": "Postmortems"}}]


def test_create_database_without_schema_gets_one_data_source_named_like_it(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    database = bot.databases.create(
        parent={"type": "page_id", "page_id": notion_sandbox.workspace.parent_page_id},
        title=_TEXT,
    )
    real = recorded("test_databases_create", "POST", "/v1/databases")
    assert set(database) == set(real)
    assert "properties" not in database
    assert database["data_sources"][0]["name"] == "Postmortems"
    source = bot.data_sources.retrieve(database["data_sources"][0]["id"])
    assert source["properties"] == {
        "Name": {"id": "title", "name": "Name", "description": None, "type": "title", "title": {}}
    }
    assert source["parent"] == {"type": "database_id", "database_id": database["id"]}
    assert source["database_parent"] == database["parent"]
    # Databases keep milliseconds and +00:00, data sources are rounded to the minute.
    assert database["created_time"] == "2026-07-04T09:09:12.345+00:00"
    assert source["created_time"] == "2026-07-04T09:09:00.000Z"


def test_creating_a_database_adds_a_child_database_block(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    database_id, _ = notion_sandbox.create_incidents()
    children = bot.blocks.children.list(notion_sandbox.workspace.parent_page_id)["results"]
    assert [(c["id"], c["type"]) for c in children] == [(database_id, "child_database")]
    assert children[0]["child_database"] == {"title": "Incidents"}
    assert children[0]["has_children"] is False


def test_retrieve_and_update_a_database(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    database_id, source_id = notion_sandbox.create_incidents()
    notion_sandbox.clock.advance(seconds=30.5)
    updated = bot.databases.update(
        database_id,
        title=[{"text": {"content": "Incidents 2026"}}],
        description=[{"text": {"content": "Every production incident"}}],
        icon={"type": "emoji", "emoji": "🔥"},
    )
    assert updated["title"][0]["plain_text"] == "Incidents 2026"
    assert updated["description"][0]["plain_text"] == "Every production incident"
    assert updated["icon"] == {"type": "emoji", "emoji": "🔥"}
    assert updated["last_edited_time"] == "2026-07-04T09:09:42.845+00:00"
    again = bot.databases.retrieve(database_id)
    assert again["data_sources"] == [{"id": source_id, "name": "Incidents"}]
    trashed = bot.databases.update(database_id, in_trash=True)
    assert (trashed["in_trash"], trashed["archived"]) == (True, True)
    with pytest.raises(APIResponseError) as caught:
        bot.databases.update(database_id, title=[{"text": {"content": "x"}}])
    assert caught.value.code == "validation_error"


def test_schema_changes_add_rename_retype_and_delete(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    row = bot.pages.create(
        parent={"data_source_id": source_id},
        properties={
            "Name": {"title": [{"text": {"content": "x"}}]},
            "Impact": {"rich_text": [{"text": {"content": "all users"}}]},
        },
    )
    before = bot.data_sources.retrieve(source_id)["properties"]
    source = bot.data_sources.update(
        source_id,
        properties={
            "Impact": {"name": "Customer impact"},
            "Timeline": {"url": {}},
            before["Slack thread"]["id"]: None,
            "Declared at": {"rich_text": {}},
            "Name": {"name": "Title"},
        },
    )
    props = source["properties"]
    assert "Slack thread" not in props
    assert props["Customer impact"]["id"] == before["Impact"]["id"]
    assert props["Timeline"]["type"] == "url"
    assert props["Timeline"]["id"] not in {p["id"] for p in before.values()}
    assert props["Declared at"]["type"] == "rich_text"
    assert props["Title"]["id"] == "title"
    page = bot.pages.retrieve(row["id"])
    assert page["properties"]["Customer impact"]["rich_text"][0]["plain_text"] == "all users"
    assert page["properties"]["Declared at"] == {
        "id": before["Declared at"]["id"],
        "type": "rich_text",
        "rich_text": [],
    }
    assert "Slack thread" not in page["properties"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"Name": {"rich_text": {}}}, "title"),
        ({"Name": None}, "title"),
        ({"Other title": {"title": {}}}, "title"),
        ({"Nope": None}, "Nope is not a property that exists."),
    ],
)
def test_schema_changes_notion_refuses(notion_sandbox, change, fragment) -> None:
    _, source_id = notion_sandbox.create_incidents()
    with pytest.raises(APIResponseError) as caught:
        notion_sandbox.client().data_sources.update(source_id, properties=change)
    assert caught.value.code == "validation_error"
    assert fragment in str(caught.value)


def test_status_gets_notion_default_options_and_groups(notion_sandbox) -> None:
    _, source_id = notion_sandbox.create_incidents()
    status = notion_sandbox.client().data_sources.retrieve(source_id)["properties"]["Status"]
    options = status["status"]["options"]
    assert [(o["name"], o["color"]) for o in options] == [
        ("Not started", "default"),
        ("In progress", "blue"),
        ("Done", "green"),
    ]
    groups = {g["name"]: g["option_ids"] for g in status["status"]["groups"]}
    by_id = {o["id"]: o["name"] for o in options}
    assert {name: [by_id[i] for i in ids] for name, ids in groups.items()} == {
        "To-do": ["Not started"],
        "In progress": ["In progress"],
        "Complete": ["Done"],
    }


def test_status_options_cannot_be_set_through_the_api(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    options = {"options": [{"name": "Investigating"}]}
    with pytest.raises(APIResponseError) as caught:
        notion_sandbox.create_incidents(Status={"status": options})
    assert caught.value.code == "validation_error"
    _, source_id = notion_sandbox.create_incidents()
    with pytest.raises(APIResponseError) as caught:
        bot.data_sources.update(source_id, properties={"Status": {"status": options}})
    assert caught.value.code == "validation_error"
    # An empty status config is accepted and changes nothing.
    unchanged = bot.data_sources.update(source_id, properties={"Status": {"status": {}}})
    assert len(unchanged["properties"]["Status"]["status"]["options"]) == 3


def test_status_options_can_be_edited_like_a_person_in_the_ui(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    before = bot.data_sources.retrieve(source_id)["properties"]["Status"]["status"]["options"]
    wanted = [
        ["Investigating", "To-do"],
        ["Identified", "In progress"],
        ["Monitoring", "In progress"],
        ["Resolved", "Complete"],
        ["In progress", "In progress"],
    ]
    response = notion_sandbox.raw(
        "POST",
        "/_sandbox/status_options",
        body={"data_source_id": source_id, "property": "Status", "options": wanted},
    )
    assert response.json() == {"ok": True}
    status = bot.data_sources.retrieve(source_id)["properties"]["Status"]["status"]
    assert [o["name"] for o in status["options"]] == [name for name, _ in wanted]
    kept = next(o for o in status["options"] if o["name"] == "In progress")
    assert kept["id"] == next(o["id"] for o in before if o["name"] == "In progress")
    groups = {g["name"]: len(g["option_ids"]) for g in status["groups"]}
    assert groups == {"To-do": 1, "In progress": 3, "Complete": 1}
    row = bot.pages.create(
        parent={"data_source_id": source_id},
        properties={"Status": {"status": {"name": "Identified"}}},
    )
    assert row["properties"]["Status"]["status"]["name"] == "Identified"
    notion_sandbox.emulator.set_status_options(source_id, "Status", [("Open", "To-do")])
    assert bot.pages.retrieve(row["id"])["properties"]["Status"]["status"] is None
    bad = notion_sandbox.raw(
        "POST",
        "/_sandbox/status_options",
        body={"data_source_id": source_id, "property": "Status", "options": [["X", "Later"]]},
    )
    assert bad.status_code == 400


def test_database_parent_needs_a_single_data_source(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    database_id, _ = notion_sandbox.create_incidents()
    row = bot.pages.create(parent={"database_id": database_id}, properties={})
    assert row["parent"]["database_id"] == database_id
    second = bot.data_sources.create(
        parent={"type": "database_id", "database_id": database_id},
        properties={"Name": {"title": {}}},
        title=[{"text": {"content": "Archive"}}],
    )
    real = recorded("test_data_sources_create", "POST", "/v1/data_sources")
    assert set(second) == set(real)
    names = [s["name"] for s in bot.databases.retrieve(database_id)["data_sources"]]
    assert names == ["Incidents", "Archive"]
    with pytest.raises(APIResponseError) as caught:
        bot.pages.create(parent={"database_id": database_id}, properties={})
    assert caught.value.code == "validation_error"


def test_relation_properties_point_at_data_sources(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    database_id, source_id = notion_sandbox.create_incidents()
    target = bot.pages.create(parent={"data_source_id": source_id}, properties={})
    source = bot.data_sources.update(
        source_id,
        properties={"Related": {"relation": {"data_source_id": source_id, "single_property": {}}}},
    )
    relation = source["properties"]["Related"]["relation"]
    assert relation == {
        "database_id": database_id,
        "data_source_id": source_id,
        "type": "single_property",
        "single_property": {},
    }
    row = bot.pages.create(
        parent={"data_source_id": source_id},
        properties={"Related": {"relation": [{"id": target["id"]}]}},
    )
    assert row["properties"]["Related"]["relation"] == [{"id": target["id"]}]
    assert row["properties"]["Related"]["has_more"] is False
    with pytest.raises(APIResponseError):
        bot.pages.create(
            parent={"data_source_id": source_id},
            properties={"Related": {"relation": [{"id": notion_sandbox.workspace.parent_page_id}]}},
        )


def test_list_templates_is_empty(notion_sandbox) -> None:
    _, source_id = notion_sandbox.create_incidents()
    real = recorded("test_data_sources_list_templates", "GET", "/v1/data_sources/")
    ours = notion_sandbox.client().data_sources.list_templates(source_id)
    assert ours == real == {"templates": [], "has_more": False, "next_cursor": None}
