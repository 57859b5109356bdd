"""Notion emulator: 409 `conflict_error` — overlapping writes to one page, and forced conflicts.

Notion answers a write that collides with another one to the same object with HTTP 409
`conflict_error` ("The transaction could not be completed, potentially due to a data
collision. Make sure the parameters are up to date and try again.": the status-codes page,
https://developers.notion.com/reference/status-codes, and `../shared/reference/notion/
notion-api.md` §5). The message real answers carry is "Conflict occurred while saving. Please
try again." (quoted from live answers in rowthan/pagenote#162, 2023-01, and in the reason
mariosimao/notion-sdk-php#153/#155 retries it). A 409 means the transaction was not saved.

The emulator's rule for "overlap", so that tests can provoke one deterministically: a write
to a page (its properties, blocks inside it, a sub-page created under it) or a data source
(a row created in it) is refused when another user wrote to the same page or data source less
than `conflict_window_s` ago (monotonic time; off at 0). One writer never conflicts with
itself, and reads never conflict. `force_conflicts` makes the next writes of one operation
answer 409 whatever the timing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from notion_client import APIResponseError

from tests.sandbox.conftest import NotionSandbox

CONFLICT_MESSAGE = "Conflict occurred while saving. Please try again."


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _text(content: str) -> list[dict[str, Any]]:
    return [{"text": {"content": content}}]


def _paragraph(content: str) -> dict[str, Any]:
    return {"paragraph": {"rich_text": _text(content)}}


@pytest.fixture
def overlapping(notion_sandbox: NotionSandbox) -> tuple[NotionSandbox, Monotonic, str]:
    """The emulator with a 2-second overlap window on a fake monotonic clock, and a row."""
    clock = Monotonic()
    notion_sandbox.emulator.set_conflict_window(2.0, clock=clock)
    _, source_id = notion_sandbox.create_incidents()
    row = notion_sandbox.client("aiko").pages.create(
        parent={"data_source_id": source_id}, properties={"Name": {"title": _text("API down")}}
    )
    clock.now += 10  # the row's creation is long past
    return notion_sandbox, clock, str(row["id"])


def _conflict(call: Any) -> APIResponseError:
    with pytest.raises(APIResponseError) as caught:
        call()
    assert caught.value.status == 409
    assert caught.value.code == "conflict_error"
    assert str(caught.value) == CONFLICT_MESSAGE
    return caught.value


def test_a_write_overlapping_another_users_write_to_the_row_is_refused_with_409(
    overlapping: tuple[NotionSandbox, Monotonic, str],
) -> None:
    sandbox, clock, row = overlapping
    sandbox.client("ben").pages.update(row, properties={"Impact": {"rich_text": _text("EU")}})
    clock.now += 1.5
    response = sandbox.raw(
        "PATCH",
        f"/v1/pages/{row}",
        body={"properties": {"Slack thread": {"url": "https://slack.test/p1"}}},
    )
    assert response.status_code == 409
    body = response.json()
    assert body == {
        "object": "error",
        "status": 409,
        "code": "conflict_error",
        "message": CONFLICT_MESSAGE,
        "request_id": body["request_id"],
    }
    assert response.headers["x-notion-request-id"] == body["request_id"]
    # Not saved: the loser's value is not there, the winner's is.
    values = sandbox.client("aiko").pages.retrieve(row)["properties"]
    assert values["Slack thread"]["url"] is None
    assert values["Impact"]["rich_text"][0]["plain_text"] == "EU"
    # Past the window the same write goes through.
    clock.now += 0.5
    updated = sandbox.client().pages.update(
        row, properties={"Slack thread": {"url": "https://slack.test/p1"}}
    )
    assert updated["properties"]["Slack thread"]["url"] == "https://slack.test/p1"


def test_one_writer_never_conflicts_with_itself_and_reads_never_conflict(
    overlapping: tuple[NotionSandbox, Monotonic, str],
) -> None:
    sandbox, _clock, row = overlapping
    bot = sandbox.client()
    bot.pages.update(row, properties={"Slack thread": {"url": "https://slack.test/p1"}})
    bot.pages.update(row, properties={"Impact": {"rich_text": _text("EU")}})
    bot.blocks.children.append(row, children=[_paragraph("first")])
    # A person reads what the bot just wrote, at once.
    person = sandbox.client("aiko")
    assert person.pages.retrieve(row)["properties"]["Impact"]["rich_text"]
    assert len(person.blocks.children.list(row)["results"]) == 1


def test_appends_and_sub_pages_overlap_with_other_writes_to_their_page(
    overlapping: tuple[NotionSandbox, Monotonic, str],
) -> None:
    sandbox, clock, row = overlapping
    bot, chidi = sandbox.client(), sandbox.client("chidi")
    toggle = bot.blocks.children.append(
        row, children=[{"toggle": {"rich_text": _text("Entries")}}]
    )["results"][0]["id"]
    clock.now += 10
    chidi.pages.update(row, properties={"Impact": {"rich_text": _text("EU")}})
    # Blocks anywhere inside the page, and a page created under it, are writes to it.
    _conflict(lambda: bot.blocks.children.append(toggle, children=[_paragraph("nested")]))
    _conflict(lambda: bot.blocks.children.append(row, children=[_paragraph("top")]))
    _conflict(
        lambda: bot.pages.create(
            parent={"page_id": row}, properties={"title": _text("API down — Timeline")}
        )
    )
    assert [b["type"] for b in chidi.blocks.children.list(row)["results"]] == ["toggle"]
    assert chidi.blocks.children.list(toggle)["results"] == []
    # A person's append conflicts with the bot's property write just before it, too.
    clock.now += 10
    bot.pages.update(row, properties={"Slack thread": {"url": "https://slack.test/p1"}})
    _conflict(lambda: chidi.blocks.children.append(row, children=[_paragraph("by hand")]))


def test_rows_created_at_once_in_one_data_source_overlap(
    overlapping: tuple[NotionSandbox, Monotonic, str],
) -> None:
    sandbox, clock, row = overlapping
    source_id = sandbox.client().pages.retrieve(row)["parent"]["data_source_id"]
    sandbox.client("ben").pages.create(
        parent={"data_source_id": source_id}, properties={"Name": {"title": _text("Second")}}
    )
    _conflict(
        lambda: sandbox.client().pages.create(
            parent={"data_source_id": source_id}, properties={"Name": {"title": _text("Third")}}
        )
    )
    query = sandbox.client("ben").data_sources.query(source_id)
    assert len(query["results"]) == 2
    clock.now += 2
    sandbox.client().pages.create(
        parent={"data_source_id": source_id}, properties={"Name": {"title": _text("Third")}}
    )


def test_forced_conflicts_refuse_the_next_writes_and_notion_client_does_not_retry_them(
    notion_sandbox: NotionSandbox,
) -> None:
    """notion-client 3.x retries 429 on every method and 500/503 on GET/DELETE only, never
    409 (`_can_retry`, ../shared/reference/notion/notion-api.md §1): a refused create is
    raised at once, so its caller decides whether to send it again."""
    _, source_id = notion_sandbox.create_incidents()
    bot = notion_sandbox.client()
    notion_sandbox.emulator.force_conflicts("pages.create", count=2)

    def create() -> Any:
        return bot.pages.create(
            parent={"data_source_id": source_id}, properties={"Name": {"title": _text("Once")}}
        )

    _conflict(create)
    _conflict(create)  # had the SDK retried, the first call would have used up both
    create()
    assert len(bot.data_sources.query(source_id)["results"]) == 1


def test_forced_conflicts_can_target_one_page(notion_sandbox: NotionSandbox) -> None:
    parent = notion_sandbox.workspace.parent_page_id
    bot = notion_sandbox.client()
    first, second = (
        bot.pages.create(parent={"page_id": parent}, properties={"title": _text(name)})["id"]
        for name in ("First", "Second")
    )
    notion_sandbox.emulator.force_conflicts("blocks.children.append", count=1, target=second)
    bot.blocks.children.append(first, children=[_paragraph("fine")])
    _conflict(lambda: bot.blocks.children.append(second, children=[_paragraph("refused")]))
    bot.blocks.children.append(second, children=[_paragraph("then fine")])
    texts = [
        b["paragraph"]["rich_text"][0]["plain_text"]
        for b in bot.blocks.children.list(second)["results"]
    ]
    assert texts == ["then fine"]


def test_conflicts_are_forced_over_http_too(notion_sandbox: NotionSandbox) -> None:
    """`POST /_sandbox/conflicts` is the same hook for a worker in another process."""
    with httpx.Client(base_url=notion_sandbox.base_url) as http:
        answer = http.post("/_sandbox/conflicts", json={"operation": "pages.update", "count": 1})
        assert answer.json() == {"ok": True}
        refused = http.post("/_sandbox/conflicts", json={"operation": "pages.upd", "count": 1})
        assert refused.status_code == 400
        assert "pages.update" in refused.json()["error"]  # says which operations there are
    row = notion_sandbox.workspace.parent_page_id
    _conflict(
        lambda: notion_sandbox.client().pages.update(row, properties={"title": _text("Renamed")})
    )


def test_forced_refusals_answer_400_and_save_nothing(notion_sandbox: NotionSandbox) -> None:
    """A test hook beside `force_conflicts`: Notion refusing a request for good (400
    `validation_error`, as it refuses content it does not take), nothing saved."""
    parent = notion_sandbox.workspace.parent_page_id
    bot = notion_sandbox.client()
    notion_sandbox.emulator.force_refusals("pages.create", target=parent)

    def create(name: str) -> Any:
        return bot.pages.create(parent={"page_id": parent}, properties={"title": _text(name)})

    with pytest.raises(APIResponseError) as refused:
        create("Refused")
    assert refused.value.status == 400
    assert refused.value.code == "validation_error"
    create("Then fine")
    titles = [
        b["child_page"]["title"]
        for b in bot.blocks.children.list(parent)["results"]
        if b["type"] == "child_page"
    ]
    assert "Refused" not in titles
    assert "Then fine" in titles
