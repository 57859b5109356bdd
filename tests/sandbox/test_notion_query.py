"""Notion emulator: data-source queries — filters, sorts, pagination, the 10,000-row cap."""

from __future__ import annotations

import time
from typing import Any

import pytest
from notion_client import APIResponseError
from notion_client.helpers import collect_paginated_api

from tests.sandbox.reference import recorded


def _title(name: str) -> dict[str, Any]:
    return {"title": [{"text": {"content": name}}]}


def _names(response: dict[str, Any]) -> list[str]:
    return [r["properties"]["Name"]["title"][0]["plain_text"] for r in response["results"]]


@pytest.fixture
def notion_rows(notion_sandbox) -> tuple[Any, str]:
    """Five incidents with varied values (created one minute apart, oldest first)."""
    _, source_id = notion_sandbox.create_incidents(
        Tags={"multi_select": {}},
        Cost={"number": {}},
        Paged={"checkbox": {}},
        Email={"email": {}},
        Ticket={"unique_id": {"prefix": "INC"}},
    )
    aiko, ben = (notion_sandbox.workspace.person(n).notion_id for n in ("aiko", "ben"))
    rows = [
        {
            "Name": _title("Alpha outage"),
            "Severity": {"select": {"name": "SEV1"}},
            "Cost": {"number": 10},
            "Tags": {"multi_select": [{"name": "db"}]},
            "Commander": {"people": [{"id": aiko}]},
            "Paged": {"checkbox": True},
            "Declared at": {"date": {"start": "2026-07-01"}},
            "Status": {"status": {"name": "Done"}},
        },
        {
            "Name": _title("Beta latency"),
            "Severity": {"select": {"name": "SEV2"}},
            "Cost": {"number": 25.5},
            "Tags": {"multi_select": [{"name": "db"}, {"name": "eu"}]},
            "Commander": {"people": [{"id": ben}]},
            "Declared at": {"date": {"start": "2026-07-03T23:30:00Z"}},
            "Slack thread": {"url": "https://slack.test/p1"},
        },
        {
            "Name": _title("gamma login bug"),
            "Severity": {"select": {"name": "SEV3"}},
            "Email": {"email": "oncall@example.com"},
            "Declared at": {"date": {"start": "2026-07-04T08:00:00+00:00"}},
            "Status": {"status": {"name": "In progress"}},
        },
        {"Name": _title("Delta"), "Cost": {"number": 0}},
        {
            "Name": _title("Epsilon paging storm"),
            "Severity": {"select": {"name": "SEV1"}},
            "Tags": {"multi_select": [{"name": "pager"}]},
            "Paged": {"checkbox": True},
        },
    ]
    for row in rows:
        notion_sandbox.emulator.insert_pages(source_id, [row], as_user="aiko")
        notion_sandbox.clock.advance(minutes=1)
    return notion_sandbox.client(), source_id


def _query(client: Any, source_id: str, **body: Any) -> list[str]:
    return _names(client.data_sources.query(source_id, **body))


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"property": "Name", "title": {"contains": "OUTAGE"}}, ["Alpha outage"]),
        ({"property": "Name", "title": {"equals": "Delta"}}, ["Delta"]),
        ({"property": "Name", "rich_text": {"starts_with": "gamma"}}, ["gamma login bug"]),
        ({"property": "Name", "title": {"ends_with": "storm"}}, ["Epsilon paging storm"]),
        ({"property": "Name", "title": {"does_not_contain": "a"}}, []),
        ({"property": "Impact", "rich_text": {"is_empty": True}}, "all"),
        ({"property": "Slack thread", "url": {"is_not_empty": True}}, ["Beta latency"]),
        ({"property": "Email", "email": {"equals": "oncall@example.com"}}, ["gamma login bug"]),
        ({"property": "Cost", "number": {"greater_than": 5}}, ["Alpha outage", "Beta latency"]),
        ({"property": "Cost", "number": {"less_than_or_equal_to": 0}}, ["Delta"]),
        (
            {"property": "Cost", "number": {"is_empty": True}},
            ["gamma login bug", "Epsilon paging storm"],
        ),
        (
            {"property": "Cost", "number": {"does_not_equal": 10}},
            ["Beta latency", "gamma login bug", "Delta", "Epsilon paging storm"],
        ),
        (
            {"property": "Paged", "checkbox": {"equals": True}},
            ["Alpha outage", "Epsilon paging storm"],
        ),
        (
            {"property": "Severity", "select": {"equals": "SEV1"}},
            ["Alpha outage", "Epsilon paging storm"],
        ),
        (
            {"property": "Severity", "select": {"does_not_equal": "SEV1"}},
            ["Beta latency", "gamma login bug", "Delta"],
        ),
        ({"property": "Severity", "select": {"is_empty": True}}, ["Delta"]),
        (
            {"property": "Status", "status": {"equals": "Not started"}},
            ["Beta latency", "Delta", "Epsilon paging storm"],
        ),
        (
            {"property": "Status", "status": {"equals": ["Done", "In progress"]}},
            ["Alpha outage", "gamma login bug"],
        ),
        (
            {"property": "Tags", "multi_select": {"contains": "db"}},
            ["Alpha outage", "Beta latency"],
        ),
        (
            {"property": "Tags", "multi_select": {"does_not_contain": "db"}},
            ["gamma login bug", "Delta", "Epsilon paging storm"],
        ),
        ({"property": "Declared at", "date": {"on_or_after": "2026-07-04"}}, ["gamma login bug"]),
        (
            {"property": "Declared at", "date": {"before": "2026-07-03T23:45:00Z"}},
            ["Alpha outage", "Beta latency"],
        ),
        ({"property": "Declared at", "date": {"equals": "2026-07-01"}}, ["Alpha outage"]),
        (
            {"property": "Declared at", "date": {"is_empty": True}},
            ["Delta", "Epsilon paging storm"],
        ),
        (
            {"property": "Ticket", "unique_id": {"greater_than": 3}},
            ["Delta", "Epsilon paging storm"],
        ),
        (
            {"timestamp": "created_time", "created_time": {"after": "2026-07-04T09:10:00Z"}},
            ["gamma login bug", "Delta", "Epsilon paging storm"],
        ),
        (
            {
                "and": [
                    {"property": "Severity", "select": {"equals": "SEV1"}},
                    {
                        "or": [
                            {"property": "Cost", "number": {"equals": 10}},
                            {"property": "Tags", "multi_select": {"contains": "pager"}},
                        ]
                    },
                ]
            },
            ["Alpha outage", "Epsilon paging storm"],
        ),
    ],
)
def test_filters(notion_rows, condition, expected) -> None:
    client, source_id = notion_rows
    everything = [
        "Alpha outage",
        "Beta latency",
        "gamma login bug",
        "Delta",
        "Epsilon paging storm",
    ]
    names = _query(
        client,
        source_id,
        filter=condition,
        sorts=[{"timestamp": "created_time", "direction": "ascending"}],
    )
    assert names == (everything if expected == "all" else expected)


def test_people_filters_know_me(notion_sandbox, notion_rows) -> None:
    _, source_id = notion_rows
    aiko = notion_sandbox.client("aiko")
    mine = _query(aiko, source_id, filter={"property": "Commander", "people": {"contains": "me"}})
    assert mine == ["Alpha outage"]
    unassigned = _query(
        aiko, source_id, filter={"property": "Commander", "people": {"is_empty": True}}
    )
    assert sorted(unassigned) == ["Delta", "Epsilon paging storm", "gamma login bug"]


def test_relative_dates_are_accepted(notion_rows) -> None:
    client, source_id = notion_rows
    for op, value in (
        ("on_or_after", "today"),
        ("before", "one_week_from_now"),
        ("past_week", {}),
        ("this_week", {}),
        ("next_month", {}),
    ):
        client.data_sources.query(
            source_id, filter={"property": "Declared at", "date": {op: value}}
        )
    recent = _query(
        client,
        source_id,
        filter={"timestamp": "last_edited_time", "last_edited_time": {"past_week": {}}},
    )
    assert len(recent) == 5


def test_sorts_by_property_and_timestamp(notion_rows) -> None:
    client, source_id = notion_rows
    by_cost = _query(client, source_id, sorts=[{"property": "Cost", "direction": "descending"}])
    assert by_cost[:3] == ["Beta latency", "Alpha outage", "Delta"]
    assert set(by_cost[3:]) == {"gamma login bug", "Epsilon paging storm"}  # empty values last
    by_cost_up = _query(client, source_id, sorts=[{"property": "Cost", "direction": "ascending"}])
    assert by_cost_up[:3] == ["Delta", "Alpha outage", "Beta latency"]  # empty values last
    severity_then_new = _query(
        client,
        source_id,
        sorts=[
            {"property": "Severity", "direction": "ascending"},
            {"timestamp": "created_time", "direction": "descending"},
        ],
    )
    assert severity_then_new == [
        "Epsilon paging storm",
        "Alpha outage",
        "Beta latency",
        "gamma login bug",
        "Delta",
    ]
    default = _query(client, source_id)
    assert default == [
        "Epsilon paging storm",
        "Delta",
        "gamma login bug",
        "Beta latency",
        "Alpha outage",
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"filter": {"property": "Nope", "select": {"equals": "x"}}},
            "Could not find property with name or id: Nope",
        ),
        (
            {"filter": {"property": "Status", "select": {"equals": "Done"}}},
            "database property status does not match filter select",
        ),
        (
            {
                "filter": {
                    "and": [{"or": [{"and": [{"property": "Name", "title": {"is_empty": True}}]}]}]
                }
            },
            "nests compound filters",
        ),
        ({"filter": {"property": "Cost", "number": {"greater_than": "5"}}}, "should be a number"),
        ({"filter": {"property": "Cost", "number": {"between": 5}}}, "should be not present"),
        (
            {"sorts": [{"property": "Nope", "direction": "ascending"}]},
            "Could not find sort property with name or id: Nope",
        ),
        ({"sorts": [{"property": "Cost", "direction": "up"}]}, "direction"),
        ({"page_size": 101}, "body.page_size should be ≤ `100`, instead was `101`."),
        # A JSON body's page_size is a number, never a string (the OpenAPI document's
        # `page_size: {type: number}` in the data source query body; query strings differ).
        ({"page_size": "10"}, 'body.page_size should be a number, instead was `"10"`.'),
        ({"start_cursor": "not-a-cursor"}, "body.start_cursor should be a valid uuid"),
        ({"start_cursor": "00000000-0000-4000-8000-000000000000"}, "body.start_cursor"),
    ],
)
def test_invalid_queries_are_validation_errors(notion_rows, body, fragment) -> None:
    client, source_id = notion_rows
    with pytest.raises(APIResponseError) as caught:
        client.data_sources.query(source_id, **body)
    assert caught.value.code == "validation_error"
    assert fragment in str(caught.value)


def test_trashed_rows_are_left_out(notion_rows) -> None:
    client, source_id = notion_rows
    first = client.data_sources.query(source_id)["results"][0]
    client.pages.update(first["id"], in_trash=True)
    assert "Epsilon paging storm" not in _query(client, source_id)
    assert _query(client, source_id, in_trash=True) == ["Epsilon paging storm"]


def test_filter_properties_limits_row_properties(notion_rows) -> None:
    client, source_id = notion_rows
    rows = client.data_sources.query(source_id, filter_properties=["title"])["results"]
    assert all(set(r["properties"]) == {"Name"} for r in rows)


def test_incremental_polling_paginates_250_rows_by_next_item_id(notion_sandbox) -> None:
    client = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    for batch in range(5):
        notion_sandbox.emulator.insert_pages(
            source_id, [{"Name": _title(f"row {batch}-{i}")} for i in range(50)], as_user="dana"
        )
        notion_sandbox.clock.advance(minutes=1)
    since = "2026-07-04T09:09:00.000Z"
    body = {
        "filter": {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": since}},
        "sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}],
        "page_size": 100,
    }
    pages, cursor, seen = [], None, []
    while True:
        response = client.data_sources.query(
            source_id, **body, **({"start_cursor": cursor} if cursor else {})
        )
        pages.append(len(response["results"]))
        seen.extend(response["results"])
        if cursor is not None:
            assert response["results"][0]["id"] == cursor  # next_cursor = the next item's id
        cursor = response["next_cursor"]
        assert response["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert pages == [100, 100, 50]
    assert len({r["id"] for r in seen}) == 250
    times = [r["last_edited_time"] for r in seen]
    assert times == sorted(times)
    assert set(times) == {f"2026-07-04T09:{m:02d}:00.000Z" for m in range(9, 14)}
    real = recorded("test_data_sources_query", "POST", "/v1/data_sources/")
    assert set(response) == set(real)
    assert (
        collect_paginated_api(client.data_sources.query, data_source_id=source_id, page_size=100)[
            249
        ]["object"]
        == "page"
    )


def test_polling_by_minute_needs_on_or_after_with_overlap(notion_sandbox) -> None:
    """Notion rounds last_edited_time down: an edit in the same minute is not `after` it."""
    client = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    first = client.pages.create(parent={"data_source_id": source_id}, properties={})
    seen_time = first["last_edited_time"]  # 09:09:00 although it is 09:09:12
    notion_sandbox.clock.advance(seconds=30)
    notion_sandbox.client("ben").pages.update(
        first["id"], properties={"Impact": {"rich_text": [{"text": {"content": "edit"}}]}}
    )

    def edited(op: str) -> int:
        return len(
            client.data_sources.query(
                source_id,
                filter={"timestamp": "last_edited_time", "last_edited_time": {op: seen_time}},
            )["results"]
        )

    assert edited("after") == 0
    assert edited("on_or_after") == 1


def test_a_cursor_survives_its_row_being_edited(notion_sandbox) -> None:
    client = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    notion_sandbox.emulator.insert_pages(source_id, [{"Name": _title(str(i))} for i in range(5)])
    body = {"filter": {"property": "Impact", "rich_text": {"is_empty": True}}, "page_size": 2}
    first = client.data_sources.query(source_id, **body)
    client.pages.update(
        first["next_cursor"], properties={"Impact": {"rich_text": [{"text": {"content": "x"}}]}}
    )
    rest = collect_paginated_api(
        client.data_sources.query,
        data_source_id=source_id,
        start_cursor=first["next_cursor"],
        **body,
    )
    assert len(first["results"]) + len(rest) == 4


def test_ten_thousand_rows_cap_a_query(notion_sandbox) -> None:
    client = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents()
    started = time.monotonic()
    ids = notion_sandbox.emulator.insert_pages(
        source_id,
        [
            {"Name": _title(f"incident {i}"), "Severity": {"select": {"name": f"SEV{1 + i % 4}"}}}
            for i in range(10_050)
        ],
    )
    inserted_s = time.monotonic() - started
    assert len(ids) == 10_050
    assert inserted_s < 60  # generous: this is a smoke check, not a benchmark
    sev1 = client.data_sources.query(
        source_id, filter={"property": "Severity", "select": {"equals": "SEV1"}}, page_size=5
    )
    assert len(sev1["results"]) == 5
    assert "request_status" not in sev1
    first = client.data_sources.query(
        source_id, sorts=[{"property": "Name", "direction": "ascending"}]
    )
    assert first["has_more"] is True
    assert first["request_status"] == {
        "type": "incomplete",
        "incomplete_reason": "query_result_limit_reached",
    }
    ordered = sorted(range(10_050), key=lambda i: f"incident {i}")
    cursor = ids[ordered[9_950]]
    last = client.data_sources.query(
        source_id,
        sorts=[{"property": "Name", "direction": "ascending"}],
        start_cursor=cursor,
    )
    assert len(last["results"]) == 50
    assert last["has_more"] is False
    assert last["next_cursor"] is None
    assert last["request_status"]["incomplete_reason"] == "query_result_limit_reached"


def test_relation_phone_and_creator_filters(notion_sandbox) -> None:
    client = notion_sandbox.client()
    _, source_id = notion_sandbox.create_incidents(Phone={"phone_number": {}})
    client.data_sources.update(
        source_id,
        properties={"Parent": {"relation": {"data_source_id": source_id, "single_property": {}}}},
    )
    parent = client.pages.create(
        parent={"data_source_id": source_id},
        properties={"Name": _title("parent"), "Phone": {"phone_number": "+81 90"}},
    )
    notion_sandbox.client("chidi").pages.create(
        parent={"data_source_id": source_id},
        properties={"Name": _title("child"), "Parent": {"relation": [{"id": parent["id"]}]}},
    )
    assert _query(
        client, source_id, filter={"property": "Parent", "relation": {"contains": parent["id"]}}
    ) == ["child"]
    assert _query(
        client, source_id, filter={"property": "Parent", "relation": {"is_empty": True}}
    ) == ["parent"]
    assert _query(
        client, source_id, filter={"property": "Phone", "phone_number": {"starts_with": "+81"}}
    ) == ["parent"]
    _, with_author = notion_sandbox.create_incidents(Author={"created_by": {}})
    notion_sandbox.client("chidi").pages.create(
        parent={"data_source_id": with_author}, properties={"Name": _title("by chidi")}
    )
    chidi = notion_sandbox.workspace.person("chidi").notion_id
    assert _query(
        client, with_author, filter={"property": "Author", "created_by": {"contains": chidi}}
    ) == ["by chidi"]
