"""Notion gateway: errors classified by their real codes, transient ones retried, and the
waits Notion asks for honoured without sleeping through them."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import notion_client
import pytest
from httpx import Response
from notion_client.errors import APIResponseError, build_request_error

from tests.e2e.harness import Harness
from tests.factories import T0, settings
from worker.config import Settings
from worker.errors import ServiceError
from worker.notion import (
    PEOPLE_TTL_S,
    NotionGateway,
    _is_transient,
    as_service_error,
    from_slack_values,
    response_hook,
)
from worker.pacing import Hold
from worker.reports import NotionWait
from worker.sandbox import Sandbox
from worker.snapshot import Person


def _error(status: int, code: str) -> APIResponseError:
    """The error notion-client itself builds from Notion's answer."""
    body = {"object": "error", "status": status, "code": code, "message": "m", "request_id": "r-1"}
    response = httpx.Response(status, json=body, request=httpx.Request("POST", "http://x/v1/pages"))
    error = build_request_error(response, response.text)
    assert isinstance(error, APIResponseError)
    return error


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (429, "rate_limited", True),
        (500, "internal_server_error", True),
        (503, "service_unavailable", True),
        (504, "gateway_timeout", True),
        (409, "conflict_error", True),
        (400, "validation_error", False),
        (404, "object_not_found", False),
        (401, "unauthorized", False),
    ],
)
def test_codes_are_compared_by_value(status: int, code: str, transient: bool) -> None:
    error = _error(status, code)
    assert _is_transient(error) is transient
    assert as_service_error("pages.create", error, write=False).code == code


def test_not_found_says_to_share_the_database() -> None:
    error = as_service_error("databases.retrieve", _error(404, "object_not_found"), write=False)
    assert "shared with the integration" in str(error)
    assert "request id r-1" in str(error)


def test_a_failed_write_has_an_unknown_outcome_unless_it_was_rate_limited() -> None:
    assert as_service_error(
        "pages.create", _error(500, "internal_server_error"), write=True
    ).outcome_unknown
    assert not as_service_error(
        "pages.create", _error(429, "rate_limited"), write=True
    ).outcome_unknown


def test_a_conflict_means_nothing_was_saved() -> None:
    """409 conflict_error: the write collided with another and Notion saved nothing
    (tests/sandbox/test_notion_conflicts.py), so a create need not be looked for."""
    error = as_service_error("pages.create", _error(409, "conflict_error"), write=True)
    assert error.retryable
    assert not error.outcome_unknown


def _gateway() -> NotionGateway:
    settings = Settings.from_env({"NOTION_TOKEN": "ntn_test"}, require_workspace=False)
    return NotionGateway(None, settings)  # type: ignore[arg-type]


def _answers(*outcomes: Exception | dict[str, str]):  # type: ignore[no-untyped-def]
    sent: list[int] = []

    def send() -> dict[str, str]:
        outcome = outcomes[len(sent)]
        sent.append(1)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return send, sent


def test_a_create_that_met_a_conflict_is_sent_again_at_once() -> None:
    send, sent = _answers(_error(409, "conflict_error"), {"id": "p-1"})
    assert _gateway().call("pages.create", send, idempotent=False) == {"id": "p-1"}
    assert len(sent) == 2


def test_a_create_that_met_a_server_error_is_not_sent_again() -> None:
    """A 500 may come after the page was made: only the caller can look and decide."""
    send, sent = _answers(_error(500, "internal_server_error"), {"id": "p-1"})
    with pytest.raises(ServiceError) as caught:
        _gateway().call("pages.create", send, idempotent=False)
    assert caught.value.outcome_unknown
    assert len(sent) == 1


# --- waits Notion asks for (https://developers.notion.com/reference/request-limits) ----------

_BUDGET = {"rate_limit_reason": "public_api_request_rate_limit"}
_SHARED = {"rate_limit_reason": "public_api_space_request_rate_limit"}


def _answer(status: int, retry_after: str | None = None, data: dict | None = None) -> Response:
    """An answer as Notion sends it: 429 bodies name the limit in `additional_data`."""
    if status == 200:
        return Response(200, json={"object": "user", "id": "u-1", "type": "bot"})
    codes = {429: "rate_limited", 529: "service_overload", 500: "internal_server_error"}
    body = {"object": "error", "status": status, "code": codes[status], "message": "m"}
    if data is not None:
        body["additional_data"] = data
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Response(status, json=body, headers=headers)


class _Notion:
    """A gateway on a scripted Notion, with a clock and a sleep the test controls."""

    def __init__(self, *answers: Response | Exception, **callbacks: Any) -> None:
        self.answers = list(answers)
        self.requests = 0
        self.now = 100.0
        self.slept: list[float] = []
        client = notion_client.Client(
            client=httpx.Client(transport=httpx.MockTransport(self._serve)),
            auth="ntn_" + "x" * 40,
            base_url="http://notion.test",
            retry=False,
            logger=logging.getLogger("tests.notion_sdk"),
        )
        self.gateway = NotionGateway(
            client, settings(), hold=Hold(clock=lambda: self.now), sleep=self._sleep, **callbacks
        )

    def _serve(self, request: httpx.Request) -> Response:
        self.requests += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def me(self) -> dict:
        return self.gateway.call("users.me", self.gateway.client.users.me, idempotent=True)

    def create(self) -> dict:
        def write() -> object:
            return self.gateway.client.pages.create(parent={"page_id": "p"}, properties={})

        return self.gateway.call("pages.create", write, idempotent=False)


def test_a_wait_of_a_moment_is_sat_out_inside_the_call() -> None:
    notion = _Notion(_answer(429, "1", _BUDGET), _answer(200))
    assert notion.me()["id"] == "u-1"
    assert notion.slept == [1.0]
    assert notion.requests == 2


def test_repeats_and_requests_no_answer_came_for_are_reported_to_the_callbacks() -> None:
    """What /metrics counts besides the answers (the runtime hands in the callbacks)."""
    heard: list[tuple[int | None, str | None]] = []
    retries: list[str] = []
    notion = _Notion(
        httpx.ConnectError("connection refused"),
        _answer(200),
        on_response=lambda status, code: heard.append((status, code)),
        on_retry=lambda: retries.append("retry"),
    )
    assert notion.me()["id"] == "u-1"
    assert retries == ["retry"]
    assert heard == [(None, "connection")]


def test_every_answer_is_reported_with_notions_error_code() -> None:
    heard: list[tuple[int | None, str | None]] = []
    answers = iter([_answer(200), _answer(429, "1", _BUDGET), Response(502, text="<html>")])
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: next(answers)),
        event_hooks={"response": [response_hook(lambda s, c: heard.append((s, c)))]},
    )
    bodies = [client.get("https://api.notion.test/v1/users/me") for _ in range(3)]
    assert bodies[1].json()["code"] == "rate_limited"  # the hook read it; the SDK still can
    assert heard == [(200, None), (429, "rate_limited"), (502, None)]


def test_a_minute_long_wait_holds_every_call_until_it_is_over() -> None:
    notion = _Notion(_answer(429, "60", _BUDGET), _answer(200))
    with pytest.raises(ServiceError) as caught:
        notion.me()
    first = caught.value
    assert (first.code, first.retry_after_s, first.asked_to_wait) == ("rate_limited", 60.0, True)
    assert not first.outcome_unknown
    assert notion.slept == []  # nothing slept through: the scheduler thread is free
    notion.now += 30.0
    with pytest.raises(ServiceError) as again:
        notion.me()
    assert again.value.retry_after_s == 30.0
    assert again.value.asked_to_wait
    assert "request budget for the minute is spent" in str(again.value)
    assert notion.requests == 1  # not asked again early
    assert notion.gateway.waiting(T0) == NotionWait(
        T0 + timedelta(seconds=30), "this integration's request budget for the minute is spent"
    )
    notion.now += 30.0
    assert notion.gateway.waiting(T0) is None
    assert notion.me()["id"] == "u-1"
    assert notion.requests == 2


def test_a_write_refused_unread_is_sent_again_but_an_unknown_outcome_is_not() -> None:
    refused = _Notion(_answer(429, "1", _BUDGET), _answer(200))
    refused.create()
    assert refused.requests == 2
    failed = _Notion(_answer(500), _answer(200))
    with pytest.raises(ServiceError) as caught:
        failed.create()
    assert caught.value.outcome_unknown
    assert failed.requests == 1


def test_an_overloaded_notion_is_waited_for_too() -> None:
    notion = _Notion(_answer(529, "5"))
    with pytest.raises(ServiceError) as caught:
        notion.me()
    assert caught.value.asked_to_wait
    assert notion.gateway.hold.reason == "Notion is overloaded (service_overload)"
    assert notion.gateway.hold.remaining_s() == 5.0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_BUDGET, "this integration's request budget for the minute is spent"),
        (_SHARED, "the request limit shared by the workspace's integrations is reached"),
        ({"rate_limit_reason": "something_new"}, "rate limited (something_new)"),
        (None, "rate limited"),
    ],
)
def test_the_wait_says_which_limit_in_words(data: dict | None, reason: str) -> None:
    notion = _Notion(_answer(429, "20", data))
    with pytest.raises(ServiceError):
        notion.me()
    assert notion.gateway.hold.reason == reason


def test_a_wait_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    notion = _Notion(_answer(429, "60", _BUDGET), _answer(429, "60", _SHARED))
    for _ in range(3):
        with pytest.raises(ServiceError):
            notion.me()
    notion.now += 60.0
    with pytest.raises(ServiceError):
        notion.me()  # a new wait: said again
    said = [r.getMessage() for r in caplog.records if r.name == "worker.notion"]
    assert len(said) == 2
    assert "Notion asked to wait 60s" in said[0]
    assert "shared by the workspace" in said[1]


# --- pages and blocks come back parsed (worker/pages/parse.py) -------------------------------

ROW = {
    "object": "page",
    "id": "row-1",
    "url": "https://www.notion.so/row-1",
    "in_trash": False,
    "archived": False,
    "created_by": {"object": "user", "id": "bot-1"},
    "properties": {
        "Status": {"id": "s", "type": "select", "select": {"name": "Draft", "color": "gray"}},
        "Owner": {"id": "o", "type": "people", "people": [{"object": "user", "id": "u-ben"}]},
    },
}


def _block(block_id: str, kind: str, body: dict, **extra: object) -> dict:
    return {"object": "block", "id": block_id, "type": kind, kind: body, **extra}


class _Scripted:
    """A gateway on a Notion that answers from a list, keeping every request it was sent."""

    def __init__(self, *answers: Response) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, dict]] = []
        client = notion_client.Client(
            client=httpx.Client(transport=httpx.MockTransport(self._serve)),
            auth="ntn_" + "x" * 40,
            base_url="http://notion.test",
            retry=False,
            logger=logging.getLogger("tests.notion_sdk"),
        )
        self.gateway = NotionGateway(client, settings(), sleep=lambda _s: None)

    def _serve(self, request: httpx.Request) -> Response:
        body = json.loads(request.content) if request.content else dict(request.url.params)
        self.sent.append((request.method, request.url.path, body))
        return self.answers.pop(0)


def test_a_page_comes_back_parsed() -> None:
    trashed = {**ROW, "id": "row-2", "archived": True, "properties": {}}
    notion = _Scripted(Response(200, json=ROW), Response(200, json=trashed))

    page = notion.gateway.page("row-1")
    gone = notion.gateway.page("row-2")

    assert (page.id, page.url, page.in_trash, page.created_by) == (
        "row-1",
        "https://www.notion.so/row-1",
        False,
        "bot-1",
    )
    assert page.properties["Status"].text == "Draft"
    assert [p.id for p in page.properties["Owner"].people] == ["u-ben"]
    assert gone.in_trash  # `archived`, as older answers say it
    assert [(method, path) for method, path, _ in notion.sent] == [
        ("GET", "/v1/pages/row-1"),
        ("GET", "/v1/pages/row-2"),
    ]


def test_a_query_sends_the_filter_and_gives_rows_parsed() -> None:
    notion = _Scripted(Response(200, json={"results": [ROW], "has_more": False}))
    where = {"property": "Incident", "relation": {"contains": "incident-1"}}

    rows = notion.gateway.query("ds-1", where)

    assert [(row.id, row.created_by) for row in rows] == [("row-1", "bot-1")]
    body = {"filter": where, "page_size": 100}
    assert notion.sent == [("POST", "/v1/data_sources/ds-1/query", body)]


def test_child_blocks_follow_every_page_of_the_listing() -> None:
    title = {"title": "Payments — Timeline"}
    page_block = _block("b-1", "child_page", title, in_trash=True, created_by={"id": "bot-1"})
    text = {"type": "text", "text": {"content": "Hi "}, "plain_text": "Hi "}
    mention = {"type": "mention", "mention": {"user": {"id": "U-1"}}, "plain_text": "@Ben"}
    paragraph_block = _block("b-2", "paragraph", {"rich_text": [text, mention]})
    first = {"results": [page_block], "has_more": True, "next_cursor": "c-2"}
    second = {"results": [paragraph_block], "has_more": False, "next_cursor": None}
    notion = _Scripted(Response(200, json=first), Response(200, json=second))

    page, paragraph = notion.gateway.child_blocks("page-1")

    assert (page.id, page.type, page.title, page.in_trash, page.created_by) == (
        "b-1",
        "child_page",
        "Payments — Timeline",
        True,
        "bot-1",
    )
    # A mention reads as what it points at (Notion spells ids its own way), not as its name.
    assert (paragraph.id, paragraph.type) == ("b-2", "paragraph")
    assert paragraph.text == "Hi \x00user:u1\x00"
    assert [query.get("start_cursor") for _, _, query in notion.sent] == [None, "c-2"]


def test_a_created_page_gives_its_id_and_url() -> None:
    notion = _Scripted(Response(200, json=ROW))
    children = [_block("", "paragraph", {"rich_text": []})]

    page = notion.gateway.create_page({"page_id": "p"}, {"title": []}, children)

    assert (page.id, page.url) == ("row-1", "https://www.notion.so/row-1")
    body = {"parent": {"page_id": "p"}, "properties": {"title": []}, "children": children}
    assert notion.sent == [("POST", "/v1/pages", body)]


def test_appended_blocks_give_their_ids_in_order() -> None:
    created = {"results": [_block("n-1", "paragraph", {}), _block("n-2", "divider", {})]}
    notion = _Scripted(Response(200, json=created))
    children = [_block("", "paragraph", {"rich_text": []}), _block("", "divider", {})]

    assert notion.gateway.append_blocks("page-1", children) == ["n-1", "n-2"]
    assert notion.sent == [("PATCH", "/v1/blocks/page-1/children", {"children": children})]


@pytest.mark.parametrize("write", ["create_page", "append_blocks"])
def test_page_writes_are_not_sent_again_after_an_unknown_outcome(write: str) -> None:
    """A 500 may come after Notion made the page or the blocks: the page writer looks first."""
    notion = _Scripted(_answer(500), Response(200, json=ROW))
    send = {
        "create_page": lambda: notion.gateway.create_page({"page_id": "p"}, {}, []),
        "append_blocks": lambda: notion.gateway.append_blocks("page-1", []),
    }[write]
    with pytest.raises(ServiceError) as caught:
        send()
    assert caught.value.outcome_unknown
    assert len(notion.sent) == 1


def test_a_polls_idea_of_notions_time_is_its_own_threads() -> None:
    """The poll moves its cursor to Notion's time of its own query: an answer the Notion
    delivery lane gets meanwhile, a moment later, must not move it (edits would be skipped)."""
    import threading

    import httpx

    from worker.notion import ServerClock

    clock = ServerClock()
    clock.latest = None
    clock.observe(httpx.Response(200, headers={"date": "Wed, 02 Dec 2026 12:00:00 GMT"}))
    lane = threading.Thread(
        target=clock.observe,
        args=(httpx.Response(200, headers={"date": "Wed, 02 Dec 2026 12:00:07 GMT"}),),
    )
    lane.start()
    lane.join()
    assert clock.latest is not None
    assert clock.latest.isoformat() == "2026-12-02T12:00:00+00:00"


# --- several Incidents databases: one connection, one pace, one wait --------------------------


def _database(title: str, source: str) -> Response:
    plain = [{"type": "text", "plain_text": title, "text": {"content": title}}] if title else []
    return Response(
        200, json={"object": "database", "title": plain, "data_sources": [{"id": source}]}
    )


def test_each_database_has_its_gateway_sharing_the_connection_pace_and_waits() -> None:
    payments = "11111111-1111-4111-8111-111111111111"
    platform = "22222222-2222-4222-8222-222222222222"
    several = settings(NOTION_INCIDENTS_DATABASE_ID=f"{payments},{platform}")
    notion = _Scripted(_database("Payments incidents", "ds-pay"), _database("", "ds-plat"))
    root = notion.gateway
    first, second = (root.for_database(several.for_database(d)) for d in several.incident_databases)

    assert (first.data_source_id(), second.data_source_id()) == ("ds-pay", "ds-plat")
    assert (first.database_title(payments), second.database_title(platform)) == (
        "Payments incidents",
        "",
    )
    assert len(notion.sent) == 2  # each database read once, whichever gateway asks
    assert first.hold is second.hold is root.hold  # a wait Notion asks for holds every one
    assert first.pacer is second.pacer is root.pacer  # one integration, one pace
    first.close()  # a database's gateway leaves the shared connection open
    assert not root.client.client.is_closed
    root.close()
    assert root.client.client.is_closed


# --- the workspace's people by email, and a block rewritten (against the Notion emulator) ----


def _users_lists(box: Sandbox) -> int:
    answered = httpx.get(f"{box.notion_base_url}/_sandbox/requests").json()
    return sum(1 for r in answered if r["method"] == "GET" and r["path"] == "/v1/users")


def test_people_are_known_by_email_and_read_again_only_after_a_while(box: Sandbox) -> None:
    client = notion_client.Client(auth=box.workspace.notion_token, base_url=box.notion_base_url)
    gateway = NotionGateway(client, settings())
    try:
        people = gateway.people_by_email(1000.0)
        for person in box.workspace.people:
            assert people[person.email.lower()].id == person.notion_id
        assert all(not p.is_bot for p in people.values())
        gateway.people_by_email(1000.0 + PEOPLE_TTL_S - 1)
        assert _users_lists(box) == 1
        gateway.people_by_email(1000.0 + PEOPLE_TTL_S + 1)
        assert _users_lists(box) == 2
    finally:
        gateway.close()


def test_a_block_is_rewritten_in_place(box: Sandbox) -> None:
    client = notion_client.Client(auth=box.workspace.notion_token, base_url=box.notion_base_url)
    gateway = NotionGateway(client, settings())
    try:
        (block,) = gateway.append_blocks(
            box.workspace.parent_page_id,
            [{"type": "bulleted_list_item", "bulleted_list_item": {"rich_text": [_text("a")]}}],
        )
        struck = {**_text("b"), "annotations": {"strikethrough": True}}
        gateway.update_block(block, {"bulleted_list_item": {"rich_text": [struck]}})
        (raw,) = [
            b for b in gateway.list_children(box.workspace.parent_page_id) if b["id"] == block
        ]
        (item,) = raw["bulleted_list_item"]["rich_text"]
        assert (item["plain_text"], item["annotations"]["strikethrough"]) == ("b", True)
    finally:
        gateway.close()


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "text": {"content": content}}


# --- what people set from Slack ---------------------------------------------------------------


def test_someone_is_found_in_notion_by_their_slack_email_whatever_its_case(h: Harness) -> None:
    ben = h.person("Ben")
    found = h.runtime.notion.person_by_email(ben.email.upper())
    assert found is not None
    assert (found.id, found.name) == (ben.notion_id, ben.name)
    assert h.runtime.notion.person_by_email("nobody@example.com") is None


def test_a_status_update_from_slack_is_written_within_notions_limits() -> None:
    long = "🚒" * 1500 + "x" * 1000  # 4,000 UTF-16 units
    values = from_slack_values(settings(), status_update=long)
    pieces = [item["text"]["content"] for item in values["Status update"]["rich_text"]]
    assert "".join(pieces) == long
    assert all(len(p.encode("utf-16-le")) // 2 <= 2000 for p in pieces)
    commander = from_slack_values(settings(), commander=Person(id="u-ben"))
    assert commander == {"Commander": {"people": [{"object": "user", "id": "u-ben"}]}}
