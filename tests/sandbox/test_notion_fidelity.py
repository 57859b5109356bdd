"""Notion emulator fidelity: responses against the official OpenAPI schemas and against
recordings of the real API (same keys and value types, recursively).

Tolerated differences, because we emulate Notion-Version 2025-09-03 while the OpenAPI
document describes 2026-03-11:
- `archived` (pages, blocks, databases, data sources) and `is_archived` (pages) are sent by
  2025-09-03 (the recordings show them) and were removed in 2026-03-11;
- `request_id` is on every real response but not in the documented schemas;
- `person.email_verified` is in the recorded user objects but not in the schema.
Block appends take `after` (2025-09-03) as well as `position` (2026-03-11); both are tested in
test_notion_blocks.py.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from notion_client import APIResponseError, Client

from tests.sandbox.reference import (
    Interaction,
    cassette,
    component_validator,
    openapi,
    response_validator,
    schema_errors,
    shape_differences,
)
from worker.sandbox.notion.blocks import CODE_LANGUAGES
from worker.sandbox.notion.ids import parse_id
from worker.sandbox.notion.richtext import API_COLORS
from worker.sandbox.notion.schema import SELECT_COLORS

_LOG = logging.getLogger("tests.notion_sdk")
_ONLY_IN_2025 = ("archived", "is_archived")
_OBJECTS = ("page", "database", "data_source", "block")


def as_documented(value: Any, top: bool = True) -> Any:
    """A response with the tolerated 2025-09-03 extras (see the module docstring) removed."""
    if isinstance(value, list):
        return [as_documented(item, top=False) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        if key in _ONLY_IN_2025 and value.get("object") in _OBJECTS:
            continue
        if (key == "request_id" and top) or key == "email_verified":
            continue
        result[key] = as_documented(item, top=False)
    return result


def _assert_valid(validator: Any, instance: Any) -> None:
    assert schema_errors(validator, as_documented(instance)) == []


# -- the official OpenAPI document ----------------------------------------------------------


def test_enums_are_taken_from_the_openapi_document() -> None:
    schemas = openapi()["components"]["schemas"]
    assert set(schemas["languageRequest"]["enum"]) == CODE_LANGUAGES
    assert set(schemas["apiColor"]["enum"]) == API_COLORS
    assert list(schemas["selectColor"]["enum"]) == list(SELECT_COLORS)


@pytest.fixture
def notion_everything(notion_sandbox) -> dict[str, Any]:
    """One of each kind of object, made through the API."""
    bot = notion_sandbox.client()
    workspace = notion_sandbox.workspace
    database_id, source_id = notion_sandbox.create_incidents(
        Tags={"multi_select": {}},
        Cost={"number": {}},
        Paged={"checkbox": {}},
        Email={"email": {}},
        Phone={"phone_number": {}},
        Files={"files": {}},
        Created={"created_time": {}},
        Author={"created_by": {}},
        Edited={"last_edited_time": {}},
        Editor={"last_edited_by": {}},
        Ticket={"unique_id": {"prefix": "INC"}},
        Score={"formula": {"expression": "1"}},
    )
    source = bot.data_sources.update(
        source_id,
        properties={"Related": {"relation": {"data_source_id": source_id, "single_property": {}}}},
    )
    row = bot.pages.create(
        parent={"data_source_id": source_id},
        properties={
            "Name": {"title": [{"text": {"content": "API down"}}]},
            "Severity": {"select": {"name": "SEV1"}},
            "Tags": {"multi_select": [{"name": "db"}]},
            "Commander": {
                # People only: a bot here is refused (see test_notion_users.py).
                "people": [
                    {"id": workspace.people[0].notion_id},
                    {"id": workspace.people[1].notion_id},
                ]
            },
            "Declared at": {"date": {"start": "2026-07-04T09:00:00Z"}},
            "Files": {"files": [{"name": "graph", "external": {"url": "https://x.test/g"}}]},
            "Cost": {"number": 3},
        },
    )
    rich = [
        {"text": {"content": "x", "link": {"url": "https://x.test"}}},
        {"mention": {"user": {"id": workspace.people[0].notion_id}}},
        {"mention": {"page": {"id": row["id"]}}},
        {"mention": {"date": {"start": "2026-07-04"}}},
        {"equation": {"expression": "x^2"}},
    ]
    appended = bot.blocks.children.append(
        row["id"],
        children=[
            {"paragraph": {"rich_text": rich}},
            {"heading_1": {"rich_text": rich}},
            {"heading_2": {"rich_text": []}},
            {"heading_3": {"rich_text": [], "is_toggleable": True}},
            {"bulleted_list_item": {"rich_text": []}},
            {"numbered_list_item": {"rich_text": []}},
            {"to_do": {"rich_text": [], "checked": True}},
            {"toggle": {"rich_text": []}},
            {"quote": {"rich_text": []}},
            {"callout": {"rich_text": [], "icon": {"emoji": "🚨"}}},
            {"code": {"rich_text": [], "language": "plain text"}},
            {"divider": {}},
            {"bookmark": {"url": "https://x.test"}},
            {"equation": {"expression": "x"}},
            {"link_to_page": {"page_id": workspace.parent_page_id}},
            {"table": {"table_width": 1, "children": [{"table_row": {"cells": [rich]}}]}},
        ],
    )
    sub_page = bot.pages.create(
        parent={"page_id": row["id"]},
        properties={"title": [{"text": {"content": "Postmortem"}}]},
        icon={"external": {"url": "https://x.test/i.png"}},
    )
    return {
        "bot": bot,
        "database": bot.databases.retrieve(database_id),
        "source": source,
        "source_id": source_id,
        "row": bot.pages.retrieve(row["id"]),
        "sub_page": sub_page,
        "appended": appended,
        "table_id": appended["results"][-1]["id"],
    }


def test_objects_match_the_documented_schemas(notion_everything) -> None:
    _assert_valid(component_validator("pageObjectResponse"), notion_everything["row"])
    _assert_valid(component_validator("pageObjectResponse"), notion_everything["sub_page"])
    _assert_valid(component_validator("databaseObjectResponse"), notion_everything["database"])
    _assert_valid(component_validator("dataSourceObjectResponse"), notion_everything["source"])
    for block in notion_everything["appended"]["results"]:
        _assert_valid(component_validator("blockObjectResponse"), block)


def test_lists_match_the_documented_schemas(notion_sandbox, notion_everything) -> None:
    bot = notion_everything["bot"]
    row_id = notion_everything["row"]["id"]
    checks = [
        ("/v1/users", "get", bot.users.list()),
        ("/v1/users/me", "get", bot.users.me()),
        (
            "/v1/users/{user_id}",
            "get",
            bot.users.retrieve(notion_sandbox.workspace.people[0].notion_id),
        ),
        ("/v1/blocks/{block_id}/children", "patch", notion_everything["appended"]),
        ("/v1/blocks/{block_id}/children", "get", bot.blocks.children.list(row_id)),
        (
            "/v1/blocks/{block_id}/children",
            "get",
            bot.blocks.children.list(notion_everything["table_id"]),
        ),
        ("/v1/blocks/{block_id}", "get", bot.blocks.retrieve(row_id)),
        (
            "/v1/data_sources/{data_source_id}/query",
            "post",
            bot.data_sources.query(notion_everything["source_id"]),
        ),
        ("/v1/search", "post", bot.search()),
        (
            "/v1/pages/{page_id}/properties/{property_id}",
            "get",
            bot.pages.properties.retrieve(row_id, "title"),
        ),
        (
            "/v1/pages/{page_id}/properties/{property_id}",
            "get",
            bot.pages.properties.retrieve(
                row_id, notion_everything["row"]["properties"]["Commander"]["id"]
            ),
        ),
        (
            "/v1/pages/{page_id}/properties/{property_id}",
            "get",
            bot.pages.properties.retrieve(
                row_id, notion_everything["row"]["properties"]["Severity"]["id"]
            ),
        ),
        (
            "/v1/data_sources/{data_source_id}/templates",
            "get",
            bot.data_sources.list_templates(notion_everything["source_id"]),
        ),
    ]
    for path, method, body in checks:
        assert schema_errors(response_validator(path, method), as_documented(body)) == [], path


def _sdk_error(call: Any) -> tuple[int, Any]:
    with pytest.raises(APIResponseError) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body)


def test_errors_match_the_documented_schemas(notion_sandbox) -> None:
    bot = notion_sandbox.client()
    page = notion_sandbox.workspace.parent_page_id
    stranger = Client(auth="ntn_nope", base_url=notion_sandbox.base_url, logger=_LOG)
    cases = [
        _sdk_error(lambda: bot.pages.retrieve("not-an-id")),
        _sdk_error(lambda: bot.request(path="nowhere", method="GET")),
        _sdk_error(lambda: bot.pages.update(page, properties={"Nope": {}})),
        _sdk_error(lambda: stranger.pages.retrieve(page)),
        _sdk_error(lambda: bot.pages.retrieve("0" * 32)),
    ]
    # What the SDK cannot send: no Notion-Version header, a body that is not JSON.
    for response in (
        notion_sandbox.raw("GET", f"/v1/pages/{page}", headers={"Notion-Version": ""}),
        notion_sandbox.raw(
            "PATCH", f"/v1/pages/{page}", content=b"{", headers={"Content-Type": "application/json"}
        ),
    ):
        cases.append((response.status_code, response.json()))
    assert sorted(status for status, _ in cases) == [400, 400, 400, 400, 400, 401, 404]
    for status, body in cases:
        validator = response_validator("/v1/pages/{page_id}", "get", str(status))
        assert schema_errors(validator, as_documented(body)) == []
    limited = {"object": "error", "status": 429, "code": "rate_limited", "message": "m"}
    assert schema_errors(component_validator("error_api_429"), limited) == []


# -- recordings of the real API -------------------------------------------------------------

_RECORDED_ROOT = "393abc1e-edcd-80f3-813b-e205934558c6"
_RECORDED_BOT = "7775f3a3-893f-43fa-b625-460c61094c78"
_RECORDED_PERSON = "a4f789cc-7bc8-4cf0-82b9-a8ba7d985ecf"
_MAPPED_KEYS = ("id", "next_cursor")


class Replayer:
    """Sends a cassette's requests to the emulator, translating recorded ids to ours."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.http = httpx.Client(base_url=sandbox.base_url)
        workspace = sandbox.workspace
        self.ids = {
            _RECORDED_ROOT: workspace.parent_page_id,
            _RECORDED_BOT: workspace.notion_bot_id,
            _RECORDED_PERSON: workspace.people[0].notion_id,
        }

    def translate(self, text: str) -> str:
        for real, ours in self.ids.items():
            text = text.replace(real, ours).replace(real.replace("-", ""), ours.replace("-", ""))
        return text

    def send(self, interaction: Interaction) -> httpx.Response:
        token = "ntn_invalid" if interaction.status == 401 else self.sandbox.workspace.notion_token
        body = None
        if interaction.request_body is not None:
            body = json.loads(self.translate(json.dumps(interaction.request_body)))
        return self.http.request(
            interaction.method,
            self.translate(interaction.path),
            json=body,
            headers={"Authorization": f"Bearer {token}", "Notion-Version": "2025-09-03"},
        )

    def learn(self, real: Any, ours: Any) -> None:
        """Pair up ids seen at the same place in the recorded and in our response."""
        if isinstance(real, dict) and isinstance(ours, dict):
            for key in real.keys() & ours.keys():
                recorded_id, our_id = parse_id(real[key]), parse_id(ours[key])
                if key in _MAPPED_KEYS and recorded_id and our_id:
                    self.ids.setdefault(recorded_id, our_id)
                self.learn(real[key], ours[key])
        elif isinstance(real, list) and isinstance(ours, list):
            for real_item, our_item in zip(real, ours, strict=False):
                self.learn(real_item, our_item)


REPLAYED = [
    "test_pages_create",
    "test_pages_retrieve",
    "test_pages_update",
    "test_pages_delete",
    "test_pages_properties_retrieve",
    "test_is_full_page",
    "test_databases_create",
    "test_databases_retrieve",
    "test_databases_update",
    "test_is_full_database",
    "test_data_sources_create",
    "test_data_sources_retrieve",
    "test_data_sources_update",
    "test_data_sources_query",
    "test_data_sources_list_templates",
    "test_is_full_page_or_data_source",
    "test_blocks_children_create",
    "test_blocks_children_list",
    "test_iterate_paginated_api",
    "test_blocks_retrieve",
    "test_blocks_update",
    "test_blocks_delete",
    "test_is_full_block",
    "test_is_text_rich_text_item_response",
    "test_is_mention_rich_text_item_response",
    "test_is_equation_rich_text_item_response",
    "test_users_list",
    "test_users_retrieve",
    "test_users_me",
    "test_search",
    "test_collect_paginated_api",
    "test_api_response_error",
    "test_build_request_error_integration",
]


@pytest.mark.parametrize("name", REPLAYED)
def test_replayed_recordings_have_the_same_shapes(notion_sandbox, name: str) -> None:
    replayer = Replayer(notion_sandbox)
    assert cassette(name)
    for interaction in cassette(name):
        response = replayer.send(interaction)
        where = f"{name}: {interaction.method} {interaction.path}"
        assert response.status_code == interaction.status, (where, response.text)
        ours = response.json()
        assert shape_differences(interaction.response, ours) == [], where
        replayer.learn(interaction.response, ours)
