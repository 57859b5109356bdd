"""Page effects: the pure parts of what the worker writes to Notion pages and rows."""

from __future__ import annotations

import pytest

from worker.pages.effects import postmortem_owner, postmortem_status
from worker.pages.parse import NotionPage
from worker.snapshot import Person, Value

AIKO = Person("22222222-2222-4222-8222-222222222222", "Aiko Tanaka")
BEN = Person("33333333-3333-4333-8333-333333333333", "Ben Carter", "ben@example.com")
ZAPIER = Person("44444444-4444-4444-8444-444444444444", "Zapier", is_bot=True)
HIDDEN = Person("55555555-5555-4555-8555-555555555555")  # Notion showed only the id


@pytest.mark.parametrize(
    ("commanders", "owner"),
    [
        ((), []),
        ((AIKO,), [{"id": AIKO.id}]),
        ((AIKO, BEN), [{"id": AIKO.id}]),
        # Notion refuses bots and users it does not show the integration in a people value
        # (tests/sandbox/test_notion_users.py): the first real person owns it, or nobody.
        ((ZAPIER, BEN), [{"id": BEN.id}]),
        ((HIDDEN, ZAPIER), []),
    ],
    ids=["nobody", "one", "the-first", "not-a-bot", "nobody-nameable"],
)
def test_the_postmortem_owner_is_the_first_commander_notion_takes(
    commanders: tuple[Person, ...], owner: list[dict[str, str]]
) -> None:
    assert postmortem_owner(commanders) == owner


@pytest.mark.parametrize(
    ("properties", "status", "owners"),
    [
        (
            {"Status": Value(text="In review"), "Owner": Value(people=(BEN,), is_people=True)},
            "In review",
            (BEN,),
        ),
        ({"Status": Value(text=""), "Owner": Value(is_people=True)}, None, ()),
        ({}, None, ()),
    ],
    ids=["set", "unset", "the-properties-are-gone"],
)
def test_a_postmortem_rows_status_and_owners(
    properties: dict[str, Value], status: str | None, owners: tuple[Person, ...]
) -> None:
    row = NotionPage(id="row-1", properties=properties)
    assert postmortem_status(row) == (status, owners)
