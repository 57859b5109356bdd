"""Notion emulator: pages — rows written by people, property values, timestamps, trash."""

from __future__ import annotations

from typing import Any

import pytest
from notion_client import APIResponseError

from tests.sandbox.reference import recorded
from worker.sandbox.notion.properties import PAGE_REFERENCE_CAP, render_value
from worker.sandbox.notion.records import PageRec


def _text(content: str) -> list[dict[str, Any]]:
    return [{"text": {"content": content}}]


def _all_types(notion_sandbox) -> str:
    _, source_id = notion_sandbox.create_incidents(
        Tags={"multi_select": {}},
        Cost={"number": {"format": "dollar"}},
        Paged={"checkbox": {}},
        Email={"email": {}},
        Phone={"phone_number": {}},
        Files={"files": {}},
        Created={"created_time": {}},
        Edited={"last_edited_time": {}},
        Author={"created_by": {}},
        Editor={"last_edited_by": {}},
        ID={"unique_id": {"prefix": "INC"}},
        Score={"formula": {"expression": "1"}},
    )
    return source_id


def test_rows_written_by_a_person_show_that_person(notion_sandbox) -> None:
    _, source_id = notion_sandbox.create_incidents()
    aiko = notion_sandbox.workspace.person("aiko")
    row = notion_sandbox.client("aiko").pages.create(
        parent={"data_source_id": source_id}, properties={"Name": {"title": _text("API down")}}
    )
    assert row["created_by"] == {"object": "user", "id": aiko.notion_id}
    assert row["last_edited_by"] == {"object": "user", "id": aiko.notion_id}
    edited = notion_sandbox.client("ben").pages.update(
        row["id"], properties={"Impact": {"rich_text": _text("EU customers")}}
    )
    ben = notion_sandbox.workspace.person("ben")
    assert edited["created_by"]["id"] == aiko.notion_id
    assert edited["last_edited_by"]["id"] == ben.notion_id


def test_timestamps_are_rounded_down_to_the_minute(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    row = bot.pages.create(parent={"data_source_id": source_id}, properties={})
    assert row["created_time"] == row["last_edited_time"] == "2026-07-04T09:09:00.000Z"
    notion_sandbox.clock.advance(minutes=2, seconds=59)
    edited = bot.pages.update(row["id"], properties={"Slack thread": {"url": "https://x.test/1"}})
    assert edited["created_time"] == "2026-07-04T09:09:00.000Z"
    assert edited["last_edited_time"] == "2026-07-04T09:12:00.000Z"
    notion_sandbox.clock.advance(minutes=5)
    block = bot.blocks.children.append(
        row["id"], children=[{"paragraph": {"rich_text": _text("timeline")}}]
    )["results"][0]
    assert block["created_time"] == "2026-07-04T09:17:00.000Z"
    # A content edit is an edit of the page.
    assert bot.pages.retrieve(row["id"])["last_edited_time"] == "2026-07-04T09:17:00.000Z"


def test_every_schema_property_appears_with_notion_empty_values(notion_sandbox) -> None:
    source_id = _all_types(notion_sandbox)
    row = notion_sandbox.client().pages.create(parent={"data_source_id": source_id}, properties={})
    props = row["properties"]
    values = {name: prop[prop["type"]] for name, prop in props.items()}
    assert values["Name"] == values["Impact"] == values["Commander"] == values["Tags"] == []
    assert values["Files"] == []
    assert values["Cost"] is values["Severity"] is values["Declared at"] is None
    assert values["Slack thread"] is values["Email"] is values["Phone"] is None
    assert values["Paged"] is False
    assert values["Status"]["name"] == "Not started"  # new rows start at the default status
    assert values["ID"] == {"prefix": "INC", "number": 1}
    assert values["Score"] == {"type": "string", "string": None}
    assert values["Created"] == values["Edited"] == row["created_time"]
    assert (
        values["Author"]["id"] == values["Editor"]["id"] == notion_sandbox.workspace.notion_bot_id
    )
    assert values["Author"]["type"] == "bot"
    assert props["Name"]["id"] == "title"
    for name, prop in props.items():
        assert set(prop) == {"id", "type", prop["type"]}, name
        if name != "Name":
            assert prop["id"] != "title"
            assert "%" in prop["id"] or prop["id"].isascii()


def test_property_values_round_trip_in_notion_shapes(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    source_id = _all_types(notion_sandbox)
    ben = notion_sandbox.workspace.person("ben")
    written = {
        "Name": {
            "title": [
                {
                    "text": {"content": "Checkout fails", "link": {"url": "https://x.test"}},
                    "annotations": {"bold": True},
                }
            ]
        },
        "Impact": {"rich_text": _text("EU")},
        "Cost": {"number": 12.5},
        "Severity": {"select": {"name": "SEV2"}},
        "Tags": {"multi_select": [{"name": "db"}, {"name": "eu"}]},
        "Status": {"status": {"name": "In progress"}},
        "Declared at": {"date": {"start": "2026-07-04T09:30:00Z"}},
        "Commander": {"people": [{"object": "user", "id": ben.notion_id}]},
        "Files": {"files": [{"name": "graph", "external": {"url": "https://x.test/g.png"}}]},
        "Paged": {"checkbox": True},
        "Slack thread": {"url": "https://slack.test/archives/C1/p1"},
        "Email": {"email": "oncall@example.com"},
        "Phone": {"phone_number": "+81 3 0000 0000"},
    }
    row = bot.pages.create(parent={"data_source_id": source_id}, properties=written)
    props = bot.pages.retrieve(row["id"])["properties"]
    title = props["Name"]["title"][0]
    assert title["href"] == "https://x.test"
    assert title["text"] == {"content": "Checkout fails", "link": {"url": "https://x.test"}}
    assert title["annotations"]["bold"] is True
    assert set(title["annotations"]) == {
        "bold",
        "italic",
        "strikethrough",
        "underline",
        "code",
        "color",
    }
    assert props["Cost"]["number"] == 12.5
    assert set(props["Severity"]["select"]) == {"id", "name", "color"}
    assert props["Severity"]["select"]["name"] == "SEV2"
    assert [o["name"] for o in props["Tags"]["multi_select"]] == ["db", "eu"]
    assert props["Status"]["status"]["name"] == "In progress"
    assert props["Declared at"]["date"] == {
        "start": "2026-07-04T09:30:00.000+00:00",
        "end": None,
        "time_zone": None,
    }
    commander = props["Commander"]["people"][0]
    assert commander == {
        "object": "user",
        "id": ben.notion_id,
        "name": "Ben Carter",
        "avatar_url": commander["avatar_url"],
        "type": "person",
        "person": {"email": "ben@example.com", "email_verified": True},
    }
    assert props["Files"]["files"] == [
        {"name": "graph", "type": "external", "external": {"url": "https://x.test/g.png"}}
    ]
    assert props["Paged"]["checkbox"] is True
    assert props["Phone"]["phone_number"] == "+81 3 0000 0000"
    cleared = bot.pages.update(
        row["id"],
        properties={
            "Severity": {"select": None},
            "Cost": {"number": None},
            "Tags": {"multi_select": []},
        },
    )["properties"]
    assert cleared["Severity"]["select"] is None
    assert cleared["Cost"]["number"] is None
    assert cleared["Tags"]["multi_select"] == []


def test_dates_keep_their_form(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()

    def written(date: dict[str, Any]) -> Any:
        row = bot.pages.create(
            parent={"data_source_id": source_id}, properties={"Declared at": {"date": date}}
        )
        return row["properties"]["Declared at"]["date"]

    assert written({"start": "2026-07-04"}) == {
        "start": "2026-07-04",
        "end": None,
        "time_zone": None,
    }
    assert written(
        {"start": "2026-07-04T10:30:00.000+02:00", "end": "2026-07-04T11:00:00+02:00"}
    ) == {
        "start": "2026-07-04T10:30:00.000+02:00",
        "end": "2026-07-04T11:00:00.000+02:00",
        "time_zone": None,
    }
    assert written({"start": "2026-07-04T10:30:00", "time_zone": "Asia/Tokyo"})["start"] == (
        "2026-07-04T10:30:00.000+09:00"
    )
    for bad in (
        {"start": "2026-07-04T10:30:00Z", "time_zone": "Asia/Tokyo"},
        {"start": "yesterday-ish"},
        {"start": "2026-07-04", "time_zone": "Mars/Olympus"},
    ):
        with pytest.raises(APIResponseError) as caught:
            written(bad)
        assert caught.value.code == "validation_error"


def test_select_creates_options_but_status_does_not(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    row = bot.pages.create(
        parent={"data_source_id": source_id}, properties={"Severity": {"select": {"name": "SEV0"}}}
    )
    options = bot.data_sources.retrieve(source_id)["properties"]["Severity"]["select"]["options"]
    created = next(o for o in options if o["name"] == "SEV0")
    assert row["properties"]["Severity"]["select"]["id"] == created["id"]
    with pytest.raises(APIResponseError) as caught:
        bot.pages.update(row["id"], properties={"Status": {"status": {"name": "Mitigated"}}})
    assert caught.value.code == "validation_error"
    assert "Mitigated" in str(caught.value)
    assert "Status" in str(caught.value)
    with pytest.raises(APIResponseError) as caught:
        bot.pages.update(row["id"], properties={"Severity": {"select": {"name": "a,b"}}})
    assert str(caught.value) == "Invalid select option, commas not allowed: a,b"
    # The failed requests created no option.
    after = bot.data_sources.retrieve(source_id)["properties"]["Severity"]["select"]["options"]
    assert len(after) == len(options)


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"Nope": {"rich_text": []}}, "Nope is not a property that exists."),
        ({"Severity": {"status": {"name": "SEV1"}}}, "Severity is expected to be select."),
        ({"Severity": {"select": {"id": "zzzz"}}}, "Invalid select option id: zzzz"),
        ({"Commander": {"people": [{"id": "00000000-0000-4000-8000-000000000000"}]}}, "user"),
        ({"Name": {"title": "plain"}}, "body.properties.Name.title should be an array"),
    ],
)
def test_invalid_property_values_are_validation_errors(notion_sandbox, properties, message) -> None:
    _, source_id = notion_sandbox.create_incidents()
    with pytest.raises(APIResponseError) as caught:
        notion_sandbox.client().pages.create(
            parent={"data_source_id": source_id}, properties=properties
        )
    assert caught.value.code == "validation_error"
    assert message in str(caught.value)


def test_read_only_properties_cannot_be_written(notion_sandbox) -> None:
    source_id = _all_types(notion_sandbox)
    bot = notion_sandbox.client()
    row = bot.pages.create(parent={"data_source_id": source_id}, properties={})
    for name, value in (
        ("Created", {"created_time": "2026-01-01T00:00:00Z"}),
        ("ID", {"unique_id": {"number": 7}}),
        ("Score", {"formula": {"string": "x"}}),
        ("Editor", {"last_edited_by": {"id": notion_sandbox.workspace.notion_bot_id}}),
    ):
        with pytest.raises(APIResponseError) as caught:
            bot.pages.update(row["id"], properties={name: value})
        assert caught.value.code == "validation_error"
        assert str(caught.value).startswith("body failed validation. Fix one:")


def test_unique_ids_count_per_data_source(notion_sandbox) -> None:
    source_id = _all_types(notion_sandbox)
    ids = notion_sandbox.emulator.insert_pages(source_id, [{}, {}, {}])
    numbers = [
        notion_sandbox.client().pages.retrieve(i)["properties"]["ID"]["unique_id"]["number"]
        for i in ids
    ]
    assert numbers == [1, 2, 3]
    _, other = notion_sandbox.create_incidents(ID={"unique_id": {}})
    first = notion_sandbox.client().pages.create(parent={"data_source_id": other}, properties={})
    assert first["properties"]["ID"]["unique_id"] == {"prefix": None, "number": 1}


def test_trashed_pages_cannot_be_edited_until_restored(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    row = bot.pages.create(parent={"data_source_id": source_id}, properties={})
    trashed = bot.pages.update(row["id"], in_trash=True)
    assert (trashed["in_trash"], trashed["archived"]) == (True, True)
    with pytest.raises(APIResponseError) as caught:
        bot.pages.update(row["id"], properties={"Impact": {"rich_text": _text("x")}})
    assert str(caught.value) == (
        "Can't edit block that is archived. You must unarchive the block before editing."
    )
    restored = bot.pages.update(
        row["id"], archived=False, properties={"Impact": {"rich_text": _text("x")}}
    )
    assert restored["in_trash"] is False
    assert restored["properties"]["Impact"]["rich_text"][0]["plain_text"] == "x"


def test_sub_pages_become_child_page_blocks_at_the_end(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    parent_id = notion_sandbox.workspace.parent_page_id
    database_id, _ = notion_sandbox.create_incidents()
    page = bot.pages.create(
        parent={"page_id": parent_id},
        properties={"title": [{"text": {"content": "Postmortem: API down (2026-07-04)"}}]},
        icon={"emoji": "📝"},
        children=[{"heading_1": {"rich_text": _text("Summary")}}],
    )
    real = recorded("test_pages_create", "POST", "/v1/pages")
    assert set(page) == set(real)
    assert page["parent"] == {"type": "page_id", "page_id": parent_id}
    assert page["url"] == (
        "https://app.notion.com/p/Postmortem-API-down-2026-07-04-" + page["id"].replace("-", "")
    )
    assert page["icon"] == {"type": "emoji", "emoji": "📝"}
    assert list(page["properties"]) == ["title"]
    children = bot.blocks.children.list(parent_id)["results"]
    assert [c["id"] for c in children] == [database_id, page["id"]]
    assert children[1]["type"] == "child_page"
    assert children[1]["child_page"] == {"title": "Postmortem: API down (2026-07-04)"}
    assert children[1]["has_children"] is True
    with pytest.raises(APIResponseError):
        bot.pages.create(parent={"page_id": parent_id}, properties={"Status": {"select": None}})
    with pytest.raises(APIResponseError) as caught:
        bot.pages.retrieve(database_id)
    assert "is a database, not a page" in str(caught.value)


def test_filter_properties_limits_the_returned_properties(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    row = bot.pages.create(parent={"data_source_id": source_id}, properties={})
    status_id = row["properties"]["Status"]["id"]
    only = bot.pages.retrieve(row["id"], filter_properties=["title", status_id])
    assert set(only["properties"]) == {"Name", "Status"}


def test_property_items_paginate(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    people = [{"id": p.notion_id} for p in notion_sandbox.workspace.people]
    row = bot.pages.create(
        parent={"data_source_id": source_id},
        properties={
            "Name": {"title": _text("a") + _text("b") + _text("c")},
            "Commander": {"people": people},
        },
    )
    commander_id = row["properties"]["Commander"]["id"]
    first = bot.pages.properties.retrieve(row["id"], commander_id, page_size=3)
    assert first["object"] == "list"
    assert first["type"] == "property_item"
    assert first["property_item"]["type"] == "people"
    assert first["has_more"] is True
    assert first["property_item"]["next_url"].endswith(f"start_cursor={first['next_cursor']}")
    rest = bot.pages.properties.retrieve(row["id"], commander_id, start_cursor=first["next_cursor"])
    names = [item["people"]["name"] for item in first["results"] + rest["results"]]
    assert names == [p.name for p in notion_sandbox.workspace.people]
    title = bot.pages.properties.retrieve(row["id"], "title")
    assert [item["title"]["plain_text"] for item in title["results"]] == ["a", "b", "c"]
    real = recorded("test_pages_properties_retrieve", "GET", "/v1/pages/")
    assert set(title) == set(real)
    assert set(title["results"][0]) == set(real["results"][0])
    severity = bot.pages.properties.retrieve(row["id"], row["properties"]["Severity"]["id"])
    assert severity["object"] == "property_item"
    assert severity["select"] is None


def test_page_objects_show_at_most_25_references() -> None:
    people = [f"00000000-0000-4000-8000-{i:012d}" for i in range(30)]
    prop = {"id": "p", "name": "P", "type": "people", "people": {}}
    page = PageRec("x", {}, {"p": people, "r": people}, 0, 0, "u", "u")

    class Users:
        def user_object(self, user_id: str) -> None:
            return None

    rendered = render_value(prop, page, Users())  # type: ignore[arg-type]
    assert len(rendered["people"]) == PAGE_REFERENCE_CAP == 25
    relation = {"id": "r", "name": "R", "type": "relation", "relation": {}}
    rendered = render_value(relation, page, Users())  # type: ignore[arg-type]
    assert len(rendered["relation"]) == 25
    assert rendered["has_more"] is True


def test_every_property_item_is_reachable_by_its_url_encoded_id(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    source_id = _all_types(notion_sandbox)
    row = bot.pages.create(parent={"data_source_id": source_id}, properties={})
    for name, prop in row["properties"].items():
        item = bot.pages.properties.retrieve(row["id"], prop["id"])
        kind = item["property_item"]["type"] if item["object"] == "list" else item["type"]
        assert kind == prop["type"], name


def test_a_failed_create_leaves_nothing_behind(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    with pytest.raises(APIResponseError):
        bot.pages.create(
            parent={"data_source_id": source_id},
            properties={"Severity": {"select": {"name": "SEV5"}}},
            children=[{"paragraph": {"rich_text": [{"text": {"content": "x" * 2001}}]}}],
        )
    assert bot.data_sources.query(source_id)["results"] == []
    options = bot.data_sources.retrieve(source_id)["properties"]["Severity"]["select"]["options"]
    assert "SEV5" not in [o["name"] for o in options]
