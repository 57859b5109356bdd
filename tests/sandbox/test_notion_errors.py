"""Notion emulator: authentication, versions, routing, JSON, sharing (404) and rate limits."""

from __future__ import annotations

import json
import logging
import time

import pytest
from notion_client import APIResponseError, Client

from tests.sandbox.reference import recorded
from worker.sandbox.notion import NotionEmulator
from worker.sandbox.notion.limits import NotionLimits
from worker.sandbox.ratelimit import WindowLimit
from worker.sandbox.server import ServedApp
from worker.sandbox.workspace import make_workspace

_LOG = logging.getLogger("tests.notion_sdk")


def _error_body(response) -> dict:
    body = response.json()
    assert set(body) >= {"object", "status", "code", "message", "request_id"}
    assert body["object"] == "error"
    assert body["status"] == response.status_code
    assert response.headers["x-notion-request-id"] == body["request_id"]
    return body


def test_unknown_or_missing_token_is_401_like_notion(notion_sandbox) -> None:
    real = recorded("test_api_response_error", "GET", "/v1/users", status=401)
    client = Client(auth="ntn_not_a_real_token", base_url=notion_sandbox.base_url, logger=_LOG)
    with pytest.raises(APIResponseError) as caught:
        client.users.list()
    assert caught.value.status == 401
    assert caught.value.code == "unauthorized"
    assert str(caught.value) == real["message"] == "API token is invalid."

    response = notion_sandbox.raw("GET", "/v1/users", headers={"Authorization": ""})
    assert response.status_code == 401
    assert _error_body(response)["code"] == "unauthorized"


def test_missing_version_header_is_400_missing_version(notion_sandbox) -> None:
    response = notion_sandbox.raw("GET", "/v1/users", headers={"Notion-Version": ""})
    assert response.status_code == 400
    body = _error_body(response)
    assert body["code"] == "missing_version"
    assert "Notion-Version" in body["message"]


def test_unknown_route_is_invalid_request_url(notion_sandbox) -> None:
    real = recorded("test_api_response_error", "GET", "/v1/invalid", status=400)
    with pytest.raises(APIResponseError) as caught:
        notion_sandbox.client().request(path="invalid", method="GET")
    assert caught.value.code == "invalid_request_url"
    assert str(caught.value) == real["message"]
    response = notion_sandbox.raw("DELETE", "/v1/pages/" + notion_sandbox.workspace.parent_page_id)
    assert _error_body(response)["code"] == "invalid_request_url"


def test_data_source_routes_need_version_2025_09_03(notion_sandbox) -> None:
    _, source_id = notion_sandbox.create_incidents()
    old = notion_sandbox.raw(
        "GET", f"/v1/data_sources/{source_id}", headers={"Notion-Version": "2022-06-28"}
    )
    assert old.status_code == 400
    assert _error_body(old)["code"] == "invalid_request_url"
    current = notion_sandbox.raw("GET", f"/v1/data_sources/{source_id}")
    assert current.status_code == 200


def test_malformed_json_is_invalid_json(notion_sandbox) -> None:
    response = notion_sandbox.raw(
        "POST", "/v1/search", content=b'{"query": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = _error_body(response)
    assert body["code"] == "invalid_json"
    assert body["message"] == "Error parsing JSON body."


def test_ids_in_paths_must_be_uuids(notion_sandbox) -> None:
    with pytest.raises(APIResponseError) as caught:
        notion_sandbox.client().pages.retrieve("not-a-page-id")
    assert caught.value.code == "validation_error"
    assert str(caught.value).startswith(
        "path failed validation: path.page_id should be a valid uuid"
    )
    # Ids work with or without dashes.
    compact = notion_sandbox.workspace.parent_page_id.replace("-", "")
    page = notion_sandbox.client().pages.retrieve(compact)
    assert page["id"] == notion_sandbox.workspace.parent_page_id


def test_unshared_pages_are_404_naming_the_integration(notion_sandbox) -> None:
    bot, aiko = notion_sandbox.client(), notion_sandbox.client("aiko")
    private = aiko.pages.create(
        parent={"workspace": True},
        properties={"title": [{"text": {"content": "Aiko's notes"}}]},
    )
    child = aiko.pages.create(
        parent={"page_id": private["id"]}, properties={"title": [{"text": {"content": "Deep"}}]}
    )
    with pytest.raises(APIResponseError) as caught:
        bot.pages.retrieve(private["id"])
    error = caught.value
    assert error.status == 404
    assert error.code == "object_not_found"
    assert str(error) == (
        f"Could not find page with ID: {private['id']}. Make sure the relevant pages and "
        f'databases are shared with your integration "{notion_sandbox.workspace.notion_bot_name}".'
    )
    assert error.additional_data == {"integration_id": notion_sandbox.workspace.notion_bot_id}
    with pytest.raises(APIResponseError):
        bot.blocks.children.list(private["id"])
    assert all(r["id"] != private["id"] for r in bot.search(query="Aiko")["results"])

    shared = notion_sandbox.raw("POST", "/_sandbox/share", body={"id": private["id"]}, who=None)
    assert shared.json() == {"ok": True}
    assert bot.pages.retrieve(child["id"])["id"] == child["id"]  # sharing covers descendants
    notion_sandbox.emulator.share(private["id"], shared=False)
    with pytest.raises(APIResponseError):
        bot.pages.retrieve(child["id"])


def test_the_bot_cannot_create_workspace_level_pages(notion_sandbox) -> None:
    with pytest.raises(APIResponseError) as caught:
        notion_sandbox.client().pages.create(
            parent={"workspace": True}, properties={"title": [{"text": {"content": "x"}}]}
        )
    assert caught.value.code == "validation_error"


def test_rate_limit_answers_429_with_whole_seconds_and_the_sdk_retries() -> None:
    workspace = make_workspace(3)
    limits = NotionLimits(connection=WindowLimit(1, 1.0))
    emulator = NotionEmulator(workspace, limits=limits)
    served = ServedApp(emulator.app)
    served.start()
    try:
        no_retry = Client(
            auth=workspace.notion_token, base_url=served.url, retry=False, logger=_LOG
        )
        no_retry.users.me()
        with pytest.raises(APIResponseError) as caught:
            no_retry.users.me()
        error = caught.value
        assert error.status == 429
        assert error.code == "rate_limited"
        assert error.headers["retry-after"].isdigit()
        assert int(error.headers["retry-after"]) >= 1
        body = json.loads(error.body)
        assert body["request_id"] == error.headers["x-notion-request-id"]
        # Budgets are per connection: a person is not slowed down by the bot.
        person = Client(auth=workspace.people[0].notion_token, base_url=served.url, logger=_LOG)
        assert person.users.me()["type"] == "person"
        # notion-client's own retry honours Retry-After and then succeeds.
        started = time.monotonic()
        retrying = Client(auth=workspace.notion_token, base_url=served.url, logger=_LOG)
        assert retrying.users.me()["type"] == "bot"
        assert time.monotonic() - started < 5
    finally:
        served.stop()


def test_rate_limit_zero_means_off() -> None:
    """A budget of 0 switches a limit off: more than the default budget (180 per window for
    a connection) all answered, where the defaults refuse the 181st."""
    workspace = make_workspace(3)
    answered: dict[str, list[int]] = {}
    for name, limits in (("defaults", NotionLimits()), ("off", NotionLimits.off())):
        served = ServedApp(NotionEmulator(workspace, limits=limits).app)
        served.start()
        try:
            client = Client(
                auth=workspace.notion_token, base_url=served.url, retry=False, logger=_LOG
            )
            statuses = []
            for _ in range(200):
                try:
                    client.users.me()
                    statuses.append(200)
                except APIResponseError as error:
                    statuses.append(error.status)
            answered[name] = statuses
        finally:
            served.stop()
    assert answered["defaults"].index(429) == 180
    assert answered["off"] == [200] * 200
