"""Notion emulator: who can be named — people values and user mentions are people only, and
an unknown user is refused the same way wherever it is named.

Sources:
- Notion's changelog "User mentions can only be of people"
  (https://developers.notion.com/changelog/user-mentions-can-only-be-of-people, 2021-08,
  quoted in notion-dotnet/notion-sdk-net#59): "only users of type person can be mentioned in
  rich text objects or in people properties of databases. Trying to include users of type
  bot will return a validation error." Notion's wording of that error was not found quoted
  anywhere; the emulator's says what is wrong and what to do.
- The request shape of a user (`partialUserObjectRequest` in
  ../shared/reference/notion/openapi-official.json: `id` and `object: "user"`); live Notion
  refuses anything else in it, e.g. "body.children[0].paragraph.rich_text[0].mention.user.name
  should be not present, instead was `\"Unknown User\"`." (ultimate-notion/ultimate-notion#166).
- The unknown-user wording: `GET /v1/users/{id}` answers 404 `object_not_found` "Could not
  find user with ID: <id>. Make sure your integration has capabilities to read user
  information. With those capabilities, only members and guests in the integration's
  workspace are visible." (outline/outline#8800, 2025-03); a mention of such a user in
  appended blocks is refused with `400 validation_error: Could not find user with ID …
  capabilities to read user information` (a project's operating notes quoting the live error).
"""

from __future__ import annotations

from typing import Any

import pytest
from notion_client import APIResponseError

from tests.sandbox.conftest import NotionSandbox

NOBODY = "00000000-0000-4000-8000-000000000000"


def _unknown_user_message(user_id: str) -> str:
    return (
        f"Could not find user with ID: {user_id}. Make sure your integration has capabilities "
        "to read user information. With those capabilities, only members and guests in the "
        "integration's workspace are visible."
    )


def _refused(call: Any) -> str:
    with pytest.raises(APIResponseError) as caught:
        call()
    assert caught.value.status == 400
    assert caught.value.code == "validation_error"
    return str(caught.value)


def _mention(user_id: str) -> list[dict[str, Any]]:
    return [{"text": {"content": "by "}}, {"mention": {"user": {"id": user_id}}}]


def test_a_bot_in_a_people_property_is_a_validation_error(notion_sandbox: NotionSandbox) -> None:
    _, source_id = notion_sandbox.create_incidents()
    bot_id = notion_sandbox.workspace.notion_bot_id
    aiko = notion_sandbox.workspace.person("aiko").notion_id
    for who in (None, "aiko"):  # whoever sends it, the integration itself or a person
        client = notion_sandbox.client(who)
        message = _refused(
            lambda client=client: client.pages.create(
                parent={"data_source_id": source_id},
                properties={"Commander": {"people": [{"id": aiko}, {"id": bot_id}]}},
            )
        )
        assert bot_id in message
        assert "bot" in message
    row = notion_sandbox.client().pages.create(parent={"data_source_id": source_id}, properties={})
    _refused(
        lambda: notion_sandbox.client().pages.update(
            row["id"], properties={"Commander": {"people": [{"object": "user", "id": bot_id}]}}
        )
    )
    assert notion_sandbox.client().pages.retrieve(row["id"])["properties"]["Commander"] == {
        "id": row["properties"]["Commander"]["id"],
        "type": "people",
        "people": [],
    }


def test_a_bot_mention_is_a_validation_error_in_blocks_and_properties(
    notion_sandbox: NotionSandbox,
) -> None:
    _, source_id = notion_sandbox.create_incidents()
    bot = notion_sandbox.client()
    bot_id = notion_sandbox.workspace.notion_bot_id
    page = bot.pages.create(
        parent={"page_id": notion_sandbox.workspace.parent_page_id},
        properties={"title": [{"text": {"content": "Timeline"}}]},
    )
    message = _refused(
        lambda: bot.blocks.children.append(
            page["id"], children=[{"paragraph": {"rich_text": _mention(bot_id)}}]
        )
    )
    assert bot_id in message
    _refused(
        lambda: bot.pages.create(
            parent={"data_source_id": source_id},
            properties={"Impact": {"rich_text": _mention(bot_id)}},
        )
    )
    assert bot.blocks.children.list(page["id"])["results"] == []
    # A person mentioned is fine.
    aiko = notion_sandbox.workspace.person("aiko")
    appended = bot.blocks.children.append(
        page["id"], children=[{"paragraph": {"rich_text": _mention(aiko.notion_id)}}]
    )
    assert appended["results"][0]["paragraph"]["rich_text"][1]["plain_text"] == f"@{aiko.name}"


def test_an_unknown_user_is_refused_alike_in_a_people_value_and_in_a_mention(
    notion_sandbox: NotionSandbox,
) -> None:
    _, source_id = notion_sandbox.create_incidents()
    bot = notion_sandbox.client()
    in_people = _refused(
        lambda: bot.pages.create(
            parent={"data_source_id": source_id},
            properties={"Commander": {"people": [{"id": NOBODY}]}},
        )
    )
    in_mention = _refused(
        lambda: bot.blocks.children.append(
            notion_sandbox.workspace.parent_page_id,
            children=[{"paragraph": {"rich_text": _mention(NOBODY)}}],
        )
    )
    assert in_people == in_mention == _unknown_user_message(NOBODY)


def test_a_people_item_takes_only_an_id_and_object(notion_sandbox: NotionSandbox) -> None:
    _, source_id = notion_sandbox.create_incidents()
    aiko = notion_sandbox.workspace.person("aiko")
    bot = notion_sandbox.client()
    message = _refused(
        lambda: bot.pages.create(
            parent={"data_source_id": source_id},
            properties={"Commander": {"people": [{"id": aiko.notion_id, "name": aiko.name}]}},
        )
    )
    assert message == (
        "body failed validation: body.properties.Commander.people[0].name should be not "
        f'present, instead was `"{aiko.name}"`.'
    )
    message = _refused(
        lambda: bot.blocks.children.append(
            notion_sandbox.workspace.parent_page_id,
            children=[
                {
                    "paragraph": {
                        "rich_text": [
                            {"mention": {"user": {"id": aiko.notion_id, "type": "person"}}}
                        ]
                    }
                }
            ],
        )
    )
    assert "body.children[0].paragraph.rich_text[0].mention.user.type should be not present" in (
        message
    )
    row = bot.pages.create(
        parent={"data_source_id": source_id},
        properties={"Commander": {"people": [{"object": "user", "id": aiko.notion_id}]}},
    )
    assert [p["id"] for p in row["properties"]["Commander"]["people"]] == [aiko.notion_id]


def test_retrieving_an_unknown_user_names_the_user_information_capability(
    notion_sandbox: NotionSandbox,
) -> None:
    with pytest.raises(APIResponseError) as caught:
        notion_sandbox.client().users.retrieve(NOBODY)
    assert caught.value.status == 404
    assert caught.value.code == "object_not_found"
    assert str(caught.value) == _unknown_user_message(NOBODY)
    assert caught.value.additional_data == {
        "integration_id": notion_sandbox.workspace.notion_bot_id
    }
